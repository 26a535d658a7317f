import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chat } from './load.mjs';

test('an event id counts for the cursor only once it is old enough', () => {
  const c = chat.eventCursor(10000);
  assert.equal(c.value(), null, 'nothing yet: read everything');
  assert.equal(c.ready(40), false, 'the first ready: read the lists');
  assert.equal(c.value(), 40);
  c.seen(42, 1000);
  c.seen(41, 2000);   // published out of order
  assert.equal(c.value(), 40, 'young ids wait');
  c.settle(11000);
  assert.equal(c.value(), 42);
  c.settle(12000);
  assert.equal(c.value(), 42, 'an older id that settles later never moves it back');
});

test('a drop keeps what settled and forgets the young ids (asked for again)', () => {
  const c = chat.eventCursor(10000);
  c.ready(10);
  c.seen(11, 0);
  c.seen(12, 9000);
  c.down(10500);
  assert.equal(c.value(), 11);
  c.settle(100000);
  assert.equal(c.value(), 11, 'forgotten, not counted later');
});

test('a resumable ready starts a resume round that ends with the last resumed', () => {
  const c = chat.eventCursor(10000);
  c.ready(5);
  assert.equal(c.ready(9), true, 'the server replays from our cursor');
  assert.equal(c.value(), 5);
  c.resumeSent(2);
  assert.ok(c.resuming());
  c.resumed();
  assert.ok(c.resuming());
  assert.equal(c.value(), 5);
  c.resumed();
  assert.ok(!c.resuming());
  assert.equal(c.value(), 9, 'everything up to the ready is held now');
  c.resumed();
  assert.equal(c.value(), 9, 'a stray resumed changes nothing');
});

test('a ready behind our cursor (the server lost its record) means reading again', () => {
  const c = chat.eventCursor(10000);
  c.ready(50);
  assert.equal(c.ready(3), false);
  assert.equal(c.value(), 3);
  assert.equal(c.ready(null), false, 'no id: read again');
  assert.equal(c.value(), null);
});

test('a drop during a resume round ends it', () => {
  const c = chat.eventCursor(10000);
  c.ready(1);
  c.ready(2);
  c.resumeSent(1);
  c.down(0);
  assert.ok(!c.resuming());
  c.resumed();
  assert.equal(c.value(), 1);
});

test('resume frames carry at most perFrame chats, and there is always one', () => {
  assert.deepEqual(chat.resumeFrames([], 1000), [{}]);
  assert.deepEqual(chat.resumeFrames([['a', 3], ['b', 0]], 1000), [{ a: 3, b: 0 }]);
  assert.deepEqual(chat.resumeFrames([['a', 1], ['b', 2], ['c', 3]], 2), [{ a: 1, b: 2 }, { c: 3 }]);
  const many = Array.from({ length: 2500 }, (_, i) => ['c' + i, i]);
  assert.deepEqual(chat.resumeFrames(many, 1000).map((f) => Object.keys(f).length), [1000, 1000, 500]);
});
