import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chat } from './load.mjs';
import { Document, paneWith, order } from './dom.mjs';

const doc = new Document();

function bubbleAt(seq) {
  const el = doc.createElement('div');
  el.setAttribute('data-seq', String(seq));
  el.setAttribute('data-name', 'new ' + seq);
  return el;
}

test('insertBySeq keeps seq order and leaves bubbles still sending at the end', () => {
  const cases = [
    [[], 1, ['new 1']],
    [[1, 2], 3, ['1', '2', 'new 3']],
    [[2, 3], 1, ['new 1', '2', '3']],
    [[1, 3], 2, ['1', 'new 2', '3']],
    [[1, 2, null, null], 3, ['1', '2', 'new 3', 'pending', 'pending']],
    [[3, null], 1, ['new 1', '3', 'pending']],
    [[null], 5, ['new 5', 'pending']]
  ];
  for (const [seqs, seq, want] of cases) {
    const pane = paneWith(doc, seqs);
    chat.insertBySeq(pane, bubbleAt(seq), seq);
    assert.deepEqual(order(pane), want, `insert ${seq} into ${JSON.stringify(seqs)}`);
  }
});

function bubble(m) {
  return chat.bubble(doc, m, {
    own: 'visitor',
    who: (sender, msg) => (sender === 'operator' ? msg.senderName || 'Operator' : null),
    fileView: (a) => { const s = doc.createElement('span'); s.textContent = a.name; return s; }
  });
}

function log() {
  const matched = [];
  const t = chat.transcript({
    pane: doc.createElement('div'), own: 'visitor', render: bubble,
    stored: (w) => w.setAttribute('data-status', 'stored'),
    matched: (cid) => matched.push(cid)
  });
  return { t, matched, texts: () => t.pane.children.map((w) => w.querySelector('.bubble').textContent) };
}

const msg = (seq, sender, text, extra) => Object.assign({ seq, sender, text, createdAt: '2026-01-02T03:04:05Z' }, extra);

test('a message replayed or caught up twice shows once', () => {
  const { t, texts } = log();
  assert.ok(t.add(msg(2, 'operator', 'b')));
  assert.ok(t.add(msg(1, 'visitor', 'a')));
  assert.equal(t.add(msg(2, 'operator', 'b')), null, 'the replay is ignored');
  assert.equal(t.add({ sender: 'operator', text: 'no seq' }), null);
  assert.deepEqual(texts(), ['a', 'b']);
  assert.equal(t.lastSeq, 2);
  assert.equal(t.messages.size, 2);
});

test('our own message coming back takes its pending bubble, oldest first', () => {
  const { t, matched, texts } = log();
  t.add(msg(1, 'visitor', 'question'));
  t.addPending('c1', bubble({ sender: 'visitor', text: 'same' }));
  t.addPending('c2', bubble({ sender: 'visitor', text: 'same' }));
  t.addPending('c3', bubble({ sender: 'visitor', text: 'other' }));
  t.add(msg(2, 'operator', 'hello'));
  assert.deepEqual(texts(), ['question', 'hello', 'same', 'same', 'other'], 'pending stay at the end');
  const echoed = t.add(msg(3, 'visitor', 'same'));
  assert.equal(echoed.getAttribute('data-client-id'), 'c1');
  assert.equal(echoed.getAttribute('data-status'), 'stored');
  assert.deepEqual(matched, ['c1']);
  assert.deepEqual([...t.pending.keys()], ['c2', 'c3']);
  assert.deepEqual(texts(), ['question', 'hello', 'same', 'same', 'other']);
  // Someone else's message with the same text is theirs.
  const theirs = t.add(msg(4, 'operator', 'other'));
  assert.equal(theirs.getAttribute('data-client-id'), null);
  assert.deepEqual([...t.pending.keys()], ['c2', 'c3']);
});

test('an ack numbers the pending bubble and puts it in its place', () => {
  const { t, texts } = log();
  t.addPending('c1', bubble({ sender: 'visitor', text: 'mine' }));
  t.add(msg(1, 'operator', 'first'));
  t.add(msg(3, 'operator', 'third'));
  const w = t.ack('c1', 2);
  assert.equal(w.getAttribute('data-seq'), '2');
  assert.equal(w.getAttribute('data-status'), 'stored');
  assert.deepEqual(texts(), ['first', 'mine', 'third']);
  assert.equal(t.pending.size, 0);
  assert.equal(t.add(msg(2, 'visitor', 'mine')), null, 'its echo is known by seq');
  assert.equal(t.ack('c1', 2), null, 'a second ack changes nothing');
});

test('an ack after the echo drops the extra bubble; one without a seq keeps it matchable', () => {
  const { t, texts } = log();
  t.addPending('c1', bubble({ sender: 'visitor', text: 'x' }));
  t.addPending('c2', bubble({ sender: 'visitor', text: 'x' }));
  t.add(msg(1, 'visitor', 'x'));          // matched c1
  assert.equal(t.ack('c2', 1), null, 'seq 1 is on screen already');
  assert.deepEqual(texts(), ['x']);

  const other = log();
  other.t.addPending('q', bubble({ sender: 'visitor', text: 'question' }));
  assert.ok(other.t.ack('q'), 'stored, not numbered');
  assert.ok(other.t.pending.has('q'));
  other.t.add(msg(1, 'visitor', 'question'));
  assert.deepEqual(other.texts(), ['question']);
  assert.equal(other.t.pending.size, 0);
});

test('held is the unbroken run of seqs from 1', () => {
  const { t } = log();
  assert.equal(t.held(), 0);
  [1, 2, 4].forEach((s) => t.add(msg(s, 'operator', 'm' + s)));
  assert.equal(t.held(), 2);
  assert.equal(t.lastSeq, 4);
  t.add(msg(3, 'operator', 'm3'));
  assert.equal(t.held(), 4);
  t.clear();
  assert.equal(t.held(), 0);
  assert.equal(t.lastSeq, 0);
});

test('without a pane only lastSeq follows', () => {
  const t = chat.transcript({ own: 'operator', render: bubble, stored: () => {} });
  assert.equal(t.add(msg(7, 'visitor', 'hi')), null);
  assert.equal(t.lastSeq, 7);
  assert.equal(t.messages.size, 0);
});

test('a file message replaces its "sending" bubble', () => {
  const { t } = log();
  const sending = bubble({ sender: 'visitor', text: '' });
  sending.classList.add('file-pending');
  sending.setAttribute('data-attachment-id', 'att1');
  t.pane.appendChild(sending);
  const other = bubble({ sender: 'visitor', text: '' });
  other.classList.add('file-pending');
  other.setAttribute('data-attachment-id', 'att2');
  t.pane.appendChild(other);
  const w = t.add(msg(1, 'visitor', '', { attachment: { id: 'att1', name: 'a.pdf' } }));
  assert.equal(sending.parentNode, null);
  assert.deepEqual(t.pane.children, [w, other]);
  assert.equal(w.getAttribute('data-attachment-id'), 'att1');
});

test('bubbles: names, own ticks and system lines', () => {
  const op = bubble(msg(1, 'operator', 'hi', { senderName: '鈴木' }));
  assert.equal(op.className, 'msg operator');
  assert.equal(op.querySelector('.who').textContent, '鈴木');
  assert.equal(op.querySelector('.tick'), null, 'only own messages get a tick');
  assert.equal(op.querySelector('time').getAttribute('datetime'), '2026-01-02T03:04:05Z');

  const mine = bubble(msg(2, 'visitor', 'yo'));
  assert.equal(mine.querySelector('.who'), null);
  assert.ok(mine.querySelector('.tick'));
  assert.equal(mine.querySelector('.bubble').className, 'bubble visitor');

  const sys = bubble(msg(3, 'system', 'joined'));
  assert.equal(sys.className, 'msg system');
  assert.equal(sys.querySelector('.meta'), null, 'the widget shows system lines without a time');
  const sysConsole = chat.bubble(doc, msg(3, 'system', 'joined'), { own: 'operator', systemTime: true, who: () => 'x' });
  assert.ok(sysConsole.querySelector('time'), 'the console shows when');
  assert.equal(sysConsole.querySelector('.who'), null);

  const odd = bubble(msg(4, 'bot', 'hm'));
  assert.equal(odd.className, 'msg operator', 'any other sender shows as the other side');
});

test('setTick marks the state, with an accessible name when asked', () => {
  const w = bubble(msg(1, 'visitor', 'x'));
  const labels = { pending: 'Sending', stored: 'Sent', failed: 'Not sent' };
  chat.setTick(w, 'pending', labels, true);
  const tick = w.querySelector('.tick');
  assert.equal(tick.textContent, '\u25F7');
  assert.equal(tick.getAttribute('aria-label'), 'Sending');
  chat.setTick(w, 'failed', labels, false);
  assert.equal(tick.textContent, '!');
  assert.equal(tick.className, 'tick failed');
  assert.equal(tick.title, 'Not sent');
  assert.equal(w.getAttribute('data-status'), 'failed');
  chat.setTick(w, 'stored', labels);
  assert.equal(tick.textContent, '\u2713');
});
