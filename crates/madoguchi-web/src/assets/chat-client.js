/* The chat client both chat scripts share (console.js for operators, widget.js for
 * visitors): the socket's lifecycle (connect, reconnect with backoff, pings), messages
 * kept in seq order without repeats, the catch-up cursors, the JSON request with its
 * error answer, bubbles, links and file uploads.
 *
 * How it reaches the page (decided for the widget, which is one third-party <script> tag
 * on someone else's website): the server puts this file in front of each script when it
 * serves it, both inside one function, so `MadoguchiChat` is a local name of that script
 * and nothing is added to the host page (pages/chat.rs, `with_chat_client`). ES modules
 * were weighed and refused: the embed tag would have to become type="module" (every
 * customer's snippet changes), a module loaded cross-origin needs CORS on every import
 * and one more request before the launcher shows, and `document.currentScript`, which
 * tells the widget its portal, is null in modules. A build step (esbuild) would buy
 * nothing a concatenation does not. So this file is a plain script with no imports and
 * no exports; the unit tests (crates/madoguchi-web/js-tests) evaluate this very file with
 * node's `vm` and test what it returns.
 *
 * Everything here is given what it touches (a document, a pane, the WebSocket
 * constructor, the timers): nothing reads the page when the file runs.
 */
var MadoguchiChat = (function () {
  'use strict';

  // ---------------------------------------------------------------- words
  /** Text for HTML built as a string: the five characters that matter, escaped. */
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  /** A catalog template with `{name}` placeholders, filled literally (no `$&` surprises). */
  function fill(template, args) {
    var out = String(template);
    Object.keys(args || {}).forEach(function (k) {
      out = out.split('{' + k + '}').join(String(args[k]));
    });
    return out;
  }

  function newId() {
    var c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && c.randomUUID) return c.randomUUID();
    return 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  /** "09:05" in local time; now when `iso` is missing, '' when it is not a time. */
  function clock(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) return '';
    return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }

  function fileSize(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(n >= 10485760 ? 0 : 1) + ' MB';
    if (n >= 1024) return Math.round(n / 1024) + ' KB';
    return n + ' B';
  }

  /** Types shown as a picture in the transcript; any other file is a download. */
  var INLINE_IMAGES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
  function isInlineImage(contentType) {
    return INLINE_IMAGES.indexOf(contentType) >= 0;
  }

  /** A file's name and size, appended to `node` (a download link). */
  function fileLabel(node, a) {
    var doc = node.ownerDocument;
    var name = doc.createElement('span');
    name.className = 'file-name';
    name.textContent = a.name;
    var size = doc.createElement('span');
    size.className = 'file-size';
    size.textContent = fileSize(a.size);
    node.appendChild(name);
    node.appendChild(size);
  }

  // V6: web and mail addresses in a message become links; only http, https and mailto.
  var LINK = /\b(?:https?:\/\/|mailto:)[^\s<>"'\u3000-\u303f\uff01-\uff0f]+/gi;

  /** A message cut into text and links: [{text}, {text, href}, …]. Closing punctuation
   *  stays out of a link; an address that does not parse stays text. */
  function linkParts(text) {
    text = String(text == null ? '' : text);
    var parts = [], last = 0;
    text.replace(LINK, function (match, offset) {
      var url = match.replace(/[.,;:!?)\]}]+$/, '');
      if (offset > last) parts.push({ text: text.slice(last, offset) });
      var safe = null;
      try {
        var u = new URL(url);
        if (u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'mailto:') safe = u.href;
      } catch (e) { safe = null; }
      parts.push(safe ? { text: url, href: safe } : { text: url });
      last = offset + url.length;
      return match;
    });
    if (last < text.length) parts.push({ text: text.slice(last) });
    return parts;
  }

  /** Appends the message to `node` node by node (never HTML from the text); links open
   *  without access to this page. */
  function linkify(node, text) {
    var doc = node.ownerDocument;
    linkParts(text).forEach(function (p) {
      if (!p.href) { node.appendChild(doc.createTextNode(p.text)); return; }
      var a = doc.createElement('a');
      a.href = p.href;
      a.textContent = p.text;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      node.appendChild(a);
    });
  }

  // ---------------------------------------------------------------- HTTP
  function parseJson(text) {
    try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
  }

  /** The error of a refused request: the API's `{error: {code, message, field}}` when
   *  the answer has one, else `fallback`; `status` 0 means the server was not reached. */
  function apiError(status, data, fallback) {
    var e = (data && data.error) || {};
    var err = new Error(e.message || fallback);
    err.status = status;
    err.code = e.code;
    err.field = e.field;
    return err;
  }

  /** The data of an answer, or its error thrown. */
  function readAnswer(res, text, fallback) {
    var data = parseJson(text);
    if (!res.ok) throw apiError(res.status, data, fallback(res));
    return data;
  }

  /** A `request(method, path, body, token)` against one API. Options: `base` (URL
   *  prefix), `lang`, `csrf` (sent on unsafe methods when given), `credentials`, `mode`,
   *  `offline` (the message when the server cannot be reached), `failed(res)` (the
   *  message of an error answer without one), `fetch`. */
  function requester(o) {
    return function request(method, path, body, token) {
      var headers = { 'Accept-Language': o.lang };
      if (o.csrf !== undefined && method !== 'GET') headers['X-CSRF-Token'] = o.csrf;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (token) headers.Authorization = 'Bearer ' + token;
      var init = {
        method: method, headers: headers, credentials: o.credentials,
        body: body === undefined ? undefined : JSON.stringify(body)
      };
      if (o.mode) init.mode = o.mode;
      var send = o.fetch || fetch;
      return send(o.base + path, init).catch(function () {
        // Offline or the server unreachable: status 0 tells callers to retry.
        throw apiError(0, null, o.offline);
      }).then(function (res) {
        return res.text().then(function (text) { return readAnswer(res, text, o.failed); });
      });
    };
  }

  // ---------------------------------------------------------------- bubbles
  /** Marks a sent message: stored (a tick), pending (a clock) or failed (!). */
  function setTick(wrap, status, labels, aria) {
    var tick = wrap.querySelector('.tick');
    if (!tick) return;
    tick.className = 'tick ' + status;
    tick.textContent = status === 'stored' ? '\u2713' : status === 'failed' ? '!' : '\u25F7';
    tick.title = labels[status];
    if (aria) tick.setAttribute('aria-label', labels[status]);
    wrap.setAttribute('data-status', status);
  }

  /** The bubble of a message `{sender, senderName, text, createdAt, attachment}`.
   *  Options: `own` (the sender this client writes as: its messages get a tick),
   *  `who(sender, m)` (the name above the bubble, or null), `systemTime` (a time under
   *  system lines too), `fileView(attachment)` (the node of a file). */
  function bubble(doc, m, o) {
    var sender = m.sender === 'visitor' || m.sender === 'system' ? m.sender : 'operator';
    var wrap = doc.createElement('div');
    wrap.className = 'msg ' + sender;
    var name = sender === 'system' ? null : o.who(sender, m);
    if (name) {
      var who = doc.createElement('div');
      who.className = 'who';
      who.textContent = name;
      wrap.appendChild(who);
    }
    var b = doc.createElement('div');
    b.className = 'bubble ' + sender;
    if (m.attachment) {
      b.classList.add('file');
      b.appendChild(o.fileView(m.attachment));
      wrap.setAttribute('data-attachment-id', m.attachment.id);
    } else {
      linkify(b, m.text);
    }
    wrap.appendChild(b);
    if (sender !== 'system' || o.systemTime) {
      var meta = doc.createElement('div');
      meta.className = 'meta';
      var time = doc.createElement('time');
      time.textContent = clock(m.createdAt);
      if (m.createdAt) time.setAttribute('datetime', m.createdAt);
      meta.appendChild(time);
      if (sender === o.own) {
        var tick = doc.createElement('span');
        tick.className = 'tick';
        meta.appendChild(tick);
      }
      wrap.appendChild(meta);
    }
    return wrap;
  }

  function seqOf(node) {
    var s = node.getAttribute('data-seq');
    return s ? Number(s) : Infinity;
  }

  function detach(node) {
    if (node.parentNode) node.parentNode.removeChild(node);
  }

  /** Puts `wrap` after the last bubble with a smaller seq. Bubbles without a seq (still
   *  sending) count as the newest, so they stay at the end. Usually the newest: the walk
   *  starts at the end. */
  function insertBySeq(pane, wrap, seq) {
    var n = pane.lastElementChild;
    while (n && !(seqOf(n) < seq)) n = n.previousElementSibling;
    pane.insertBefore(wrap, n ? n.nextElementSibling : pane.firstElementChild);
  }

  // ---------------------------------------------------------------- transcript
  /** One chat's messages on screen, keyed by seq, so a replay or a catch-up never shows
   *  one twice. Options: `own` (the sender this client writes as), `render(m)` (a new
   *  bubble), `stored(wrap)` (mark an own message stored), `matched(clientMessageId,
   *  wrap, m)` (an own message came back from the server). `pane` may come later; until
   *  then only `lastSeq` follows the messages. */
  function transcript(o) {
    var t = { pane: o.pane || null, messages: new Map(), pending: new Map(), lastSeq: 0 };

    /** A stored message (list, catch-up or live); the bubble, or null when it was already
     *  shown or there is no pane. Our own message coming back takes its pending bubble:
     *  the echo can beat the answer of the request, so the oldest one without a seq and
     *  with the same text is the one. */
    t.add = function (m) {
      if (typeof m.seq !== 'number') return null;
      if (m.seq > t.lastSeq) t.lastSeq = m.seq;
      if (!t.pane || t.messages.has(m.seq)) return null;
      var wrap = null;
      if (m.sender === o.own && !m.attachment) {
        var cid = null;
        t.pending.forEach(function (w, id) {
          if (!wrap && !w.getAttribute('data-seq') && textOf(w) === m.text) { wrap = w; cid = id; }
        });
        if (wrap) {
          t.pending.delete(cid);
          detach(wrap);
          if (o.matched) o.matched(cid, wrap, m);
        }
      }
      // V3: a file sent from here replaces its "sending" bubble.
      if (m.attachment) dropUpload(t.pane, m.attachment.id);
      if (!wrap) wrap = o.render(m);
      if (m.sender === o.own) o.stored(wrap);
      wrap.setAttribute('data-seq', String(m.seq));
      insertBySeq(t.pane, wrap, m.seq);
      t.messages.set(m.seq, wrap);
      return wrap;
    };

    /** An own message on its way: shown at the end until the server numbers it. */
    t.addPending = function (clientMessageId, wrap) {
      wrap.setAttribute('data-client-id', clientMessageId);
      t.pane.appendChild(wrap);
      t.pending.set(clientMessageId, wrap);
      return wrap;
    };

    /** The server stored an own message: its bubble takes its seq and place (or goes, when
     *  the echo was shown already). Without a seq it stays matched by text. */
    t.ack = function (clientMessageId, seq) {
      var wrap = t.pending.get(clientMessageId);
      if (!wrap) return null;
      o.stored(wrap);
      if (typeof seq !== 'number') return wrap;
      t.pending.delete(clientMessageId);
      if (t.messages.has(seq)) { detach(wrap); return null; }
      wrap.setAttribute('data-seq', String(seq));
      detach(wrap);
      insertBySeq(t.pane, wrap, seq);
      t.messages.set(seq, wrap);
      if (seq > t.lastSeq) t.lastSeq = seq;
      return wrap;
    };

    /** The seq up to which every message is on screen (the unbroken run from 1). */
    t.held = function () {
      var s = 0;
      while (t.messages.has(s + 1)) s++;
      return s;
    };

    t.clear = function () {
      t.messages.clear();
      t.pending.clear();
      t.lastSeq = 0;
    };
    return t;
  }

  function textOf(wrap) {
    var b = wrap.querySelector('.bubble');
    return b ? b.textContent : '';
  }

  function dropUpload(pane, attachmentId) {
    for (var n = pane.firstElementChild; n;) {
      var next = n.nextElementSibling;
      if (n.classList.contains('file-pending') && n.getAttribute('data-attachment-id') === attachmentId) detach(n);
      n = next;
    }
  }

  // ---------------------------------------------------------------- files (V3)
  /** Sends `file` as `POST url` (multipart `file`) and shows its progress in `wrap`
   *  (a bubble of this client, already on screen) until the message carrying it comes.
   *  Options: `url`, `headers`, `file`, `wrap`, `max` (bytes, or none), `labels`
   *  {sending, failed, tooLarge (with {max}), unreachable}, `shown(attachmentId)` (the
   *  message is on screen already), `failed(wrap)`, `refused(status, error)`. */
  function upload(o) {
    var doc = o.wrap.ownerDocument, file = o.file, wrap = o.wrap;
    var label = file.name || 'file';
    wrap.classList.add('file-pending');
    var b = wrap.querySelector('.bubble');
    b.classList.add('file');
    b.textContent = '';
    var name = doc.createElement('span');
    name.className = 'file-name';
    name.textContent = label;
    var bar = doc.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', o.labels.sending + ': ' + label);
    var status = doc.createElement('span');
    status.className = 'file-status';
    status.setAttribute('role', 'status');
    status.textContent = o.labels.sending + '…';
    b.appendChild(name);
    b.appendChild(bar);
    b.appendChild(status);
    setTick(wrap, 'pending', o.labels.ticks, o.labels.tickAria);

    function fail(message) {
      setTick(wrap, 'failed', o.labels.ticks, o.labels.tickAria);
      detach(bar);
      status.className = 'file-status error';
      status.setAttribute('role', 'alert');
      status.textContent = message;
      wrap.classList.add('file-failed');
      if (o.failed) o.failed(wrap);
    }
    if (o.max && file.size > o.max) { fail(fill(o.labels.tooLarge, { max: fileSize(o.max) })); return null; }
    var Xhr = o.XMLHttpRequest || XMLHttpRequest;
    var xhr = new Xhr();
    xhr.open('POST', o.url);
    Object.keys(o.headers).forEach(function (k) { xhr.setRequestHeader(k, o.headers[k]); });
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round(e.loaded * 100 / e.total);
    };
    xhr.onload = function () {
      var data = parseJson(xhr.responseText);
      if (xhr.status === 201 && data && data.id) {
        // The message carrying the file comes on the socket (maybe it already has).
        if (o.shown(data.id)) { detach(wrap); return; }
        wrap.setAttribute('data-attachment-id', data.id);
        bar.value = 100;
        return;
      }
      var err = (data && data.error) || {};
      fail(err.message || o.labels.failed);
      if (o.refused) o.refused(xhr.status, err);
    };
    xhr.onerror = function () { fail(o.labels.unreachable); };
    var form = new (o.FormData || FormData)();
    form.append('file', file, label);
    xhr.send(form);
    return xhr;
  }

  /** The ways in of files: the attach button (opens the hidden file input), pasting into
   *  the message box and dropping on `zone` (`show(bool)` says a drop is welcome).
   *  `canSend()` decides, `send(files)` sends. */
  function fileInputs(o) {
    o.attach.addEventListener('click', function () { if (o.canSend()) o.input.click(); });
    o.input.addEventListener('change', function () {
      o.send(o.input.files);
      o.input.value = '';
    });
    o.text.addEventListener('paste', function (e) {
      var files = e.clipboardData && e.clipboardData.files;
      if (files && files.length) { e.preventDefault(); o.send(files); }
    });
    var depth = 0;
    function hasFiles(e) {
      return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], 'Files') >= 0;
    }
    o.zone.addEventListener('dragenter', function (e) {
      if (!hasFiles(e) || !o.canSend()) return;
      e.preventDefault();
      depth++;
      o.show(true);
    });
    o.zone.addEventListener('dragover', function (e) {
      if (!hasFiles(e) || !o.canSend()) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    });
    o.zone.addEventListener('dragleave', function () {
      depth = Math.max(0, depth - 1);
      if (!depth) o.show(false);
    });
    o.zone.addEventListener('drop', function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      o.show(false);
      o.send(e.dataTransfer.files);
    });
  }

  // ---------------------------------------------------------------- the message box
  /** Enter sends, Shift+Enter is a new line; never while an IME is composing (Japanese
   *  input confirms its conversion with Enter). */
  function isSendKey(e) {
    return e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
  }

  function submit(form) {
    if (form.requestSubmit) form.requestSubmit();
    else form.dispatchEvent(new Event('submit'));
  }

  /** Whether to send a typing signal now: at most one every `ms`, only with text. */
  function typingThrottle(ms) {
    var last = 0;
    return {
      due: function (now, text) {
        if (now - last > ms && String(text).trim()) { last = now; return true; }
        return false;
      },
      reset: function () { last = 0; }
    };
  }

  // ---------------------------------------------------------------- the socket
  /** The longest wait before the next try: exponential, 0.5 s … 30 s; after a refusal for
   *  a limit (close code 1013) 60 s doubling per refusal in a row up to `refusedMax`. */
  function backoffCap(attempt, refusals, refused, refusedMax) {
    if (refused) return Math.min(refusedMax, 60000 * Math.pow(2, refusals));
    return Math.min(30000, 500 * Math.pow(2, attempt));
  }

  /** Full jitter in the upper half, so a restarted server is not hit by every client at
   *  the same instant. */
  function backoffDelay(cap, random) {
    return cap / 2 + random * cap / 2;
  }

  var PING_EVERY_MS = 25000;
  var SILENT_MAX_MS = 70000;

  /** A socket that stays up: reconnects with backoff, pings, and tells the page.
   *  Options: `url()` (where to connect, or null: not now), `onReady(frame)` (the server's
   *  `ready`), `onFrame(frame)` (any other frame), `onClose(code, attempt)` (return false
   *  to stay down), `onRetry(attempt)` (a reconnect is scheduled), `status(s)` ('live' or
   *  'down'), `refusedMax` (the longest wait after refusals), `env` (WebSocket, timers,
   *  `now()`, `random()`; the browser's by default). */
  function liveSocket(o) {
    var env = o.env || {
      WebSocket: WebSocket,
      now: function () { return Date.now(); },
      random: function () { return Math.random(); },
      setTimeout: function (f, ms) { return setTimeout(f, ms); },
      clearTimeout: function (t) { clearTimeout(t); },
      setInterval: function (f, ms) { return setInterval(f, ms); },
      clearInterval: function (t) { clearInterval(t); }
    };
    var ws = null, ready = false, attempt = 0, refusals = 0;
    var reconnectTimer = null, pingTimer = null, lastFrameAt = 0;

    function connect() {
      env.clearTimeout(reconnectTimer);
      if (ws) return;
      var url = o.url();
      if (!url) return;
      var sock;
      try { sock = new env.WebSocket(url); } catch (e) { schedule(false); return; }
      ws = sock;
      sock.onmessage = function (ev) {
        lastFrameAt = env.now();
        var f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (!f || typeof f !== 'object') return;
        if (f.type === 'ready') {
          ready = true;
          attempt = 0;
          if (o.status) o.status('live');
          startPings();
          if (o.onReady) o.onReady(f);
          return;
        }
        if (o.onFrame) o.onFrame(f);
      };
      sock.onclose = function (ev) {
        if (ws !== sock) return;
        ws = null;
        ready = false;
        env.clearInterval(pingTimer);
        if (o.status) o.status('down');
        var code = ev ? ev.code : 0;
        if (o.onClose && o.onClose(code, attempt) === false) return;
        schedule(code === 1013);
      };
      sock.onerror = function () { /* onclose follows */ };
    }

    function schedule(refused) {
      env.clearTimeout(reconnectTimer);
      var cap = backoffCap(attempt, refusals, refused, o.refusedMax || 60000);
      refusals = refused ? refusals + 1 : 0;
      attempt++;
      if (o.onRetry) o.onRetry(attempt);
      reconnectTimer = env.setTimeout(connect, backoffDelay(cap, env.random()));
    }

    // Browsers cannot send protocol pings; an application ping keeps proxies from closing
    // an idle socket. The server answers every frame, so silence means a dead socket.
    function startPings() {
      env.clearInterval(pingTimer);
      lastFrameAt = env.now();
      pingTimer = env.setInterval(function () {
        if (!ws || !ready) return;
        if (env.now() - lastFrameAt > SILENT_MAX_MS) { try { ws.close(); } catch (e) { /* closing anyway */ } return; }
        send({ type: 'ping' });
      }, PING_EVERY_MS);
    }

    /** Sends a frame when the socket is up; false when it is not (use HTTP instead). */
    function send(frame) {
      if (ws && ready && ws.readyState === 1) {
        try { ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
      }
      return false;
    }

    /** Closes for good (until `connect`): no reconnect, no pings. */
    function stop() {
      env.clearTimeout(reconnectTimer);
      env.clearInterval(pingTimer);
      if (ws) {
        var s = ws;
        ws = null;
        ready = false;
        try { s.close(); } catch (e) { /* closed already */ }
      }
    }

    /** Back at once (the network returned, the tab is visible again), no backoff. */
    function wake() {
      if (ws) return;
      attempt = 0;
      connect();
    }

    return {
      connect: connect, send: send, stop: stop, wake: wake,
      isOpen: function () { return !!ws; },
      attempts: function () { return attempt; }
    };
  }

  /** Reconnects at once when the network returns or the tab becomes visible. */
  function wakeOnReturn(live, win, doc) {
    win.addEventListener('online', function () { live.wake(); });
    doc.addEventListener('visibilitychange', function () { if (!doc.hidden) live.wake(); });
  }

  // ---------------------------------------------------------------- the console's catch-up
  /** The operator socket's lifecycle cursor (`afterEvent`) and the `resume` round.
   *  Events of different chats may be published out of id order, so an id counts for the
   *  cursor only once it is `settleMs` old: by then every older event has arrived too.
   *  Younger ones are asked for again after a drop (replays are harmless). */
  function eventCursor(settleMs) {
    var value = null, recent = [], resuming = 0, resumeUpTo = 0;

    function settle(now) {
      while (recent.length && now - recent[0][1] >= settleMs) {
        var id = recent.shift()[0];
        if (value === null || id > value) value = id;
      }
    }

    return {
      /** The `afterEvent` of the next connect, or null: read everything. */
      value: function () { return value; },
      seen: function (id, now) { recent.push([id, now]); settle(now); },
      settle: settle,
      /** The socket closed: what is old enough counts, the rest is asked for again. */
      down: function (now) { resuming = 0; settle(now); recent = []; },
      /** The server's `ready` up to `upTo`: true when it replays what we missed (then
       *  send `resume`); false when the lists must be read again from here. */
      ready: function (upTo) {
        if (value !== null && upTo !== null && upTo >= value) { resumeUpTo = upTo; return true; }
        value = upTo;
        return false;
      },
      resuming: function () { return resuming > 0; },
      /** `n` resume frames sent: each is answered by one `resumed`. */
      resumeSent: function (n) { resuming = n; },
      resumed: function () {
        if (resuming && --resuming === 0 && resumeUpTo > (value || 0)) value = resumeUpTo;
      }
    };
  }

  /** The `afterSeq` maps of the `resume` frames: [[chatId, seq], …] cut `perFrame` chats a
   *  frame; always at least one frame (its `resumed` ends the round). */
  function resumeFrames(entries, perFrame) {
    var frames = [{}], n = 0;
    entries.forEach(function (e) {
      if (n === perFrame) { frames.push({}); n = 0; }
      frames[frames.length - 1][e[0]] = e[1];
      n++;
    });
    return frames;
  }

  return {
    esc: esc, fill: fill, newId: newId, clock: clock, fileSize: fileSize, isInlineImage: isInlineImage, fileLabel: fileLabel,
    linkParts: linkParts, linkify: linkify,
    parseJson: parseJson, apiError: apiError, readAnswer: readAnswer, requester: requester,
    setTick: setTick, bubble: bubble, insertBySeq: insertBySeq, transcript: transcript,
    upload: upload, fileInputs: fileInputs,
    isSendKey: isSendKey, submit: submit, typingThrottle: typingThrottle,
    backoffCap: backoffCap, backoffDelay: backoffDelay, liveSocket: liveSocket, wakeOnReturn: wakeOnReturn,
    eventCursor: eventCursor, resumeFrames: resumeFrames
  };
})();
