import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chat } from './load.mjs';

test('backoff: exponential to 30 s; after refusals 60 s doubling to the cap', () => {
  assert.deepEqual([0, 1, 2, 5, 6, 10].map((a) => chat.backoffCap(a, 0, false, 300000)),
    [500, 1000, 2000, 16000, 30000, 30000]);
  assert.deepEqual([0, 1, 2, 3].map((r) => chat.backoffCap(9, r, true, 300000)), [60000, 120000, 240000, 300000]);
  assert.equal(chat.backoffCap(0, 4, true, 60000), 60000, 'the console waits 60 s every time');
  assert.equal(chat.backoffDelay(1000, 0), 500);
  assert.equal(chat.backoffDelay(1000, 0.999999), 999.9995);
});

/** A world of fake sockets and timers that a test moves by hand. */
function world() {
  const w = { now: 0, sockets: [], timers: [], nextId: 1, random: 0.5 };
  class FakeSocket {
    constructor(url) { this.url = url; this.readyState = 1; this.sent = []; this.closed = false; w.sockets.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() { this.closed = true; }
    frame(f) { this.onmessage({ data: typeof f === 'string' ? f : JSON.stringify(f) }); }
    drop(code) { this.readyState = 3; this.onclose({ code }); }
  }
  w.env = {
    WebSocket: FakeSocket,
    now: () => w.now,
    random: () => w.random,
    setTimeout: (fn, ms) => { const id = w.nextId++; w.timers.push({ id, fn, at: w.now + ms }); return id; },
    clearTimeout: (id) => { w.timers = w.timers.filter((t) => t.id !== id); },
    setInterval: (fn, ms) => { const id = w.nextId++; w.timers.push({ id, fn, at: w.now + ms, every: ms }); return id; },
    clearInterval: (id) => { w.timers = w.timers.filter((t) => t.id !== id); }
  };
  /** Moves the clock, running what falls due. */
  w.advance = (ms) => {
    const end = w.now + ms;
    for (;;) {
      const due = w.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      w.now = due.at;
      if (due.every) due.at += due.every; else w.timers = w.timers.filter((t) => t !== due);
      due.fn();
    }
    w.now = end;
  };
  w.last = () => w.sockets[w.sockets.length - 1];
  return w;
}

function liveIn(w, extra) {
  const seen = { ready: [], frames: [], status: [], closes: [], retries: [] };
  const live = chat.liveSocket(Object.assign({
    env: w.env,
    url: () => 'wss://x/ws?n=' + w.sockets.length,
    onReady: (f) => seen.ready.push(f),
    onFrame: (f) => seen.frames.push(f),
    onClose: (code, attempt) => { seen.closes.push([code, attempt]); return true; },
    onRetry: (attempt) => seen.retries.push(attempt),
    status: (s) => seen.status.push(s)
  }, extra));
  return { live, seen };
}

test('frames: ready is its own event, bad JSON is ignored, sending waits for ready', () => {
  const w = world();
  const { live, seen } = liveIn(w);
  live.connect();
  live.connect();
  assert.equal(w.sockets.length, 1, 'one socket at a time');
  assert.equal(live.send({ type: 'typing' }), false, 'not before ready');
  w.last().frame({ type: 'ready', lastEventId: 7 });
  w.last().frame('{not json');
  w.last().frame({ type: 'message', seq: 1 });
  assert.deepEqual(seen.ready, [{ type: 'ready', lastEventId: 7 }]);
  assert.deepEqual(seen.frames, [{ type: 'message', seq: 1 }]);
  assert.deepEqual(seen.status, ['live']);
  assert.equal(live.send({ type: 'typing' }), true);
  assert.deepEqual(w.last().sent, [{ type: 'typing' }]);
});

test('a dropped socket comes back with growing waits, and ready resets them', () => {
  const w = world();
  const { live, seen } = liveIn(w);
  live.connect();
  w.last().drop(1006);
  assert.deepEqual(seen.closes, [[1006, 0]]);
  assert.deepEqual(seen.status, ['down']);
  assert.equal(live.isOpen(), false);
  w.advance(374);
  assert.equal(w.sockets.length, 1, 'half the cap, plus the jitter half (random 0.5): 375 ms');
  w.advance(1);
  assert.equal(w.sockets.length, 2);
  w.last().drop(1006);
  w.advance(749);
  assert.equal(w.sockets.length, 2);
  w.advance(1);
  assert.equal(w.sockets.length, 3, 'the second wait is twice as long');
  assert.deepEqual(seen.retries, [1, 2]);
  w.last().frame({ type: 'ready' });
  assert.equal(live.attempts(), 0);
  w.last().drop(1006);
  assert.deepEqual(seen.closes[2], [1006, 0], 'after a ready, the first quick retry again');
});

test('refused for a limit (1013): a long wait, longer each time in a row', () => {
  const w = world();
  const { live } = liveIn(w, { refusedMax: 300000 });
  live.connect();
  w.last().drop(1013);
  w.advance(44999);
  assert.equal(w.sockets.length, 1);
  w.advance(1);
  assert.equal(w.sockets.length, 2, '60 s cap: 45 s with random 0.5');
  w.last().drop(1013);
  w.advance(89999);
  assert.equal(w.sockets.length, 2);
  w.advance(1);
  assert.equal(w.sockets.length, 3, '120 s cap the second time');
});

test('onClose returning false stays down (signed out, chat ended)', () => {
  const w = world();
  const { live } = liveIn(w, { onClose: () => false });
  live.connect();
  w.last().drop(4001);
  w.advance(10 * 60000);
  assert.equal(w.sockets.length, 1);
});

test('pings every 25 s; 70 s of silence closes the socket', () => {
  const w = world();
  const { live } = liveIn(w);
  live.connect();
  const sock = w.last();
  sock.frame({ type: 'ready' });
  w.advance(25000);
  assert.deepEqual(sock.sent, [{ type: 'ping' }]);
  sock.frame({ type: 'pong' });   // any frame counts as an answer
  w.advance(50000);
  assert.equal(sock.sent.length, 3);
  assert.equal(sock.closed, false);
  w.advance(25000);
  assert.equal(sock.closed, true, 'no frame for over 70 s');
  assert.equal(live.isOpen(), true, 'until the browser reports the close');
});

test('stop closes for good; wake reconnects at once', () => {
  const w = world();
  const { live, seen } = liveIn(w);
  live.connect();
  w.last().frame({ type: 'ready' });
  const first = w.last();
  live.stop();
  assert.equal(first.closed, true);
  first.drop(1000);
  assert.deepEqual(seen.closes, [], 'a stopped socket reports nothing');
  w.advance(10 * 60000);
  assert.equal(w.sockets.length, 1, 'no reconnect, no ping');
  live.wake();
  assert.equal(w.sockets.length, 2);
  live.wake();
  assert.equal(w.sockets.length, 2, 'awake already');
});

test('no url: nothing to connect to', () => {
  const w = world();
  const { live } = liveIn(w, { url: () => null });
  live.connect();
  live.wake();
  assert.equal(w.sockets.length, 0);
});

test('a socket that cannot be made is retried', () => {
  const w = world();
  let fail = true;
  const env = Object.assign({}, w.env, {
    WebSocket: function (url) { if (fail) throw new SyntaxError('bad url'); return new w.env.WebSocket(url); }
  });
  const live = chat.liveSocket({ env, url: () => 'wss://x' });
  live.connect();
  assert.equal(w.sockets.length, 0);
  fail = false;
  w.advance(500);
  assert.equal(w.sockets.length, 1);
});

test('wakeOnReturn: the network back or the tab visible again', () => {
  const handlers = {};
  const target = (name) => ({ addEventListener: (ev, fn) => { handlers[name + ':' + ev] = fn; } });
  const doc = Object.assign(target('doc'), { hidden: true });
  let wakes = 0;
  chat.wakeOnReturn({ wake: () => wakes++ }, target('win'), doc);
  handlers['win:online']();
  handlers['doc:visibilitychange']();
  assert.equal(wakes, 1, 'a hidden tab waits');
  doc.hidden = false;
  handlers['doc:visibilitychange']();
  assert.equal(wakes, 2);
});
