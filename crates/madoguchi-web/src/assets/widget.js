/* Madoguchi website chat widget (SPEC C3, API.md "Widget").
 *
 * Embed with one tag:
 *   <script src="https://chat.example.com/chat/widget.js" data-portal="acme" async></script>
 * Optional attributes: data-lang="ja|en" (else the page's <html lang>, else the browser's).
 *
 * Everything lives in a Shadow DOM, so the host page's CSS cannot reach in and ours cannot
 * leak out. No dependencies; speaks only the anonymous widget API of the server that served
 * this file (CORS).
 *
 * Delivery (C3): every outgoing message gets a clientMessageId and stays "pending" (kept in
 * localStorage) until the server acknowledges it, i.e. has stored it. Pending messages are
 * resent with the same id after a reconnect or a page reload; the server dedupes by id.
 * Incoming messages are keyed by their per-chat `seq`, so a replay after a reconnect never
 * shows one twice.
 */
(function () {
  'use strict';

  var script = document.currentScript ||
    document.querySelector('script[src*="/chat/widget.js"][data-portal]');
  if (!script) return;
  var portal = script.getAttribute('data-portal');
  if (!portal) return;
  // The API lives where this file came from, whatever page embeds it.
  var scriptUrl = new URL(script.src, location.href);
  var base = scriptUrl.origin + scriptUrl.pathname.replace(/\/chat\/widget\.js$/, '');
  var api = base + '/chat/widget/v1/' + encodeURIComponent(portal);

  // One widget per portal even if the tag is pasted twice.
  window.__madoguchiWidgets = window.__madoguchiWidgets || {};
  if (window.__madoguchiWidgets[portal]) return;
  window.__madoguchiWidgets[portal] = true;

  // ---------------------------------------------------------------- language
  function pickLang() {
    var wanted = script.getAttribute('data-lang') ||
      document.documentElement.getAttribute('lang') || navigator.language || 'ja';
    return /^en/i.test(wanted) ? 'en' : (/^ja/i.test(wanted) ? 'ja' : (/^ja/i.test(navigator.language || '') ? 'ja' : 'en'));
  }
  var lang = pickLang();
  var TEXT = {
    ja: {
      open: 'チャットで問い合わせる', close: '閉じる', title: 'お問い合わせ',
      intro: 'ご質問をお寄せください。担当者がお答えします。',
      offline: 'ただいま対応できるオペレーターがいません。メッセージは受け付けますので、後ほどご連絡します（メールアドレスのご記入をおすすめします）。',
      department: '部門', name: 'お名前（任意）', email: 'メールアドレス（任意）', phone: '電話番号（任意）',
      question: 'ご質問', start: 'チャットを開始', send: '送信', placeholder: 'メッセージを入力…',
      hint: 'Enter で送信、Shift+Enter で改行', waiting: 'オペレーターにおつなぎしています…',
      missed: 'オペレーターが対応できませんでした。メッセージは受け付けました。後ほどご連絡します。',
      typing: 'オペレーターが入力中…', pending: '送信中', stored: '送信済み', failed: '未送信（再送します）',
      reconnecting: '再接続しています…', leave: 'チャットを終了', leaveConfirm: 'チャットを終了しますか？',
      ended: 'チャットは終了しました。', newChat: '新しいチャットを開始',
      required: 'ご質問を入力してください。', error: 'エラーが発生しました。もう一度お試しください。',
      you: 'あなた', operator: 'オペレーター'
    },
    en: {
      open: 'Chat with us', close: 'Close', title: 'Contact us',
      intro: 'Ask us anything. A person will answer.',
      offline: 'No operator is available right now. Leave a message and we will get back to you (adding your email helps).',
      department: 'Department', name: 'Name (optional)', email: 'Email (optional)', phone: 'Phone (optional)',
      question: 'Your question', start: 'Start chat', send: 'Send', placeholder: 'Type a message…',
      hint: 'Enter sends, Shift+Enter adds a line', waiting: 'Connecting you to an operator…',
      missed: 'No operator could take your chat. Your message was received; we will get back to you.',
      typing: 'The operator is typing…', pending: 'Sending', stored: 'Sent', failed: 'Not sent yet (will retry)',
      reconnecting: 'Reconnecting…', leave: 'End chat', leaveConfirm: 'End this chat?',
      ended: 'This chat has ended.', newChat: 'Start a new chat',
      required: 'Please type your question.', error: 'Something went wrong. Please try again.',
      you: 'You', operator: 'Operator'
    }
  };
  var T = TEXT[lang];

  // ---------------------------------------------------------------- state
  // Persisted: the chat's credentials and the messages not yet acknowledged. Everything
  // else (the transcript) is fetched again from the server, which is the source of truth.
  var storeKey = 'madoguchi.widget.' + base + '.' + portal;
  var saved = load();
  var state = {
    chatId: saved.chatId || null,
    visitorId: saved.visitorId || null,
    token: saved.token || null,
    pending: saved.pending || [],   // [{clientMessageId, text, createdAt}] oldest first
    ended: !!saved.ended,
    seenSeq: saved.seenSeq || 0,    // highest seq the visitor has had on screen (unread badge)
    lastSeq: 0,                     // highest seq shown; the catch-up point
    config: null,
    operatorSeen: false
  };
  var bySeq = new Map();            // seq -> bubble element (dedupe)
  var byClientId = new Map();       // clientMessageId -> bubble element (pending / acked)

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || '{}') || {}; } catch (e) { return {}; }
  }
  function persist() {
    try {
      localStorage.setItem(storeKey, JSON.stringify({
        chatId: state.chatId, visitorId: state.visitorId, token: state.token,
        pending: state.pending, ended: state.ended, seenSeq: state.seenSeq
      }));
    } catch (e) { /* private mode: the chat still works for this page */ }
  }
  function panelWasOpen() {
    try { return sessionStorage.getItem(storeKey + '.open') === '1'; } catch (e) { return false; }
  }
  function rememberOpen(open) {
    try { sessionStorage.setItem(storeKey + '.open', open ? '1' : '0'); } catch (e) { /* ignore */ }
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  // ---------------------------------------------------------------- DOM
  // The styles (assets/widget.css) come in by the server, which fills in this string
  // when it serves the script. They are applied without a style element or a style
  // attribute, so a host page with a strict Content-Security-Policy (no 'unsafe-inline')
  // shows the widget as designed (Q6).
  var CSS = '/*madoguchi:widget.css*/';

  var CHAT_ICON = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
    'stroke-linejoin="round" aria-hidden="true"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

  var host = document.createElement('div');
  host.id = 'madoguchi-widget-' + portal;
  host.setAttribute('data-madoguchi-widget', portal);
  var root = host.attachShadow({ mode: 'open' });
  root.innerHTML =
    '<section class="panel" role="dialog" aria-label="' + esc(T.title) + '" hidden>' +
    '  <header class="head"><h2><span class="title">' + esc(T.title) + '</span><span class="status"></span></h2>' +
    '    <button type="button" class="leave" hidden>' + esc(T.leave) + '</button>' +
    '    <button type="button" class="icon-btn close" aria-label="' + esc(T.close) + '" title="' + esc(T.close) + '">&#x2715;</button></header>' +
    '  <div class="conn" hidden>' + esc(T.reconnecting) + '</div>' +
    '  <div class="body">' +
    '    <p class="notice offline" hidden>' + esc(T.offline) + '</p>' +
    '    <form class="prechat" novalidate hidden>' +
    '      <p class="intro">' + esc(T.intro) + '</p>' +
    '      <label class="dept-label" hidden>' + esc(T.department) + '<select name="departmentId"></select></label>' +
    '      <label>' + esc(T.name) + '<input name="name" autocomplete="name" maxlength="200"></label>' +
    '      <label>' + esc(T.email) + '<input name="email" type="email" autocomplete="email" maxlength="320"></label>' +
    '      <label>' + esc(T.phone) + '<input name="phone" type="tel" autocomplete="tel" maxlength="50"></label>' +
    '      <label>' + esc(T.question) + '<textarea name="question" rows="3" maxlength="4000"></textarea></label>' +
    '      <p class="notice error form-error" role="alert" hidden></p>' +
    '      <button type="submit" class="primary start">' + esc(T.start) + '</button>' +
    '    </form>' +
    '    <div class="log" aria-live="polite"></div>' +
    '    <div class="ended-box" hidden><p class="notice">' + esc(T.ended) + '</p>' +
    '      <button type="button" class="primary new-chat">' + esc(T.newChat) + '</button></div>' +
    '  </div>' +
    '  <div class="typing" aria-live="polite"></div>' +
    '  <form class="composer" hidden><textarea name="text" rows="1" placeholder="' + esc(T.placeholder) + '" aria-label="' +
    esc(T.placeholder) + '" maxlength="4000"></textarea><button type="submit" class="send">' + esc(T.send) + '</button></form>' +
    '  <div class="hint" hidden>' + esc(T.hint) + '</div>' +
    '</section>' +
    '<button type="button" class="launcher" aria-label="' + esc(T.open) + '" title="' + esc(T.open) + '">' + CHAT_ICON +
    '<span class="badge" hidden></span></button>';

  applyStyles(root);

  // A constructable stylesheet on the Shadow root (no CSP applies to it); else a
  // <link> to the served file, which a host's `style-src <this server>` allows.
  function applyStyles(shadow) {
    try {
      if (CSS.indexOf('/*madoguchi:') !== 0 && 'adoptedStyleSheets' in shadow &&
          typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        shadow.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (e) { /* fall back to the file */ }
    var link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = base + '/chat/widget.css';
    shadow.insertBefore(link, shadow.firstChild);
  }

  function $(sel) { return root.querySelector(sel); }
  var el = {
    panel: $('.panel'), launcher: $('.launcher'), badge: $('.badge'), close: $('.close'), leave: $('.leave'),
    title: $('.title'), status: $('.status'), conn: $('.conn'), body: $('.body'), offline: $('.offline'),
    prechat: $('.prechat'), deptLabel: $('.dept-label'), dept: $('select[name=departmentId]'),
    formError: $('.form-error'), start: $('.start'), log: $('.log'), endedBox: $('.ended-box'),
    newChat: $('.new-chat'), typing: $('.typing'), composer: $('.composer'), text: $('.composer textarea'),
    hint: $('.hint')
  };

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function mount() {
    (document.body || document.documentElement).appendChild(host);
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // ---------------------------------------------------------------- HTTP
  function request(method, path, body, token) {
    var headers = { 'Accept-Language': lang };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(api + path, {
      method: method, headers: headers, mode: 'cors', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).catch(function () {
      // Offline or the server unreachable: a message people understand; status 0 tells
      // callers to retry rather than give up.
      var err = new Error(T.error);
      err.status = 0;
      throw err;
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = new Error((data && data.error && data.error.message) || T.error);
          err.status = res.status;
          err.code = data && data.error && data.error.code;
          err.field = data && data.error && data.error.field;
          throw err;
        }
        return data;
      });
    });
  }

  // ---------------------------------------------------------------- open / close
  var unread = 0;
  function setOpen(open) {
    el.panel.hidden = !open;
    host.classList.toggle('is-open', open);
    el.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    rememberOpen(open);
    if (open) {
      unread = 0;
      markSeen();
      showBadge();
      ensureConfig();
      setTimeout(function () {
        var target = state.chatId && !state.ended ? el.text : el.prechat.querySelector('textarea, input');
        if (target) target.focus();
        scrollDown();
      }, 0);
    }
  }
  function markSeen() {
    if (state.lastSeq > state.seenSeq) { state.seenSeq = state.lastSeq; persist(); }
  }
  function showBadge() {
    el.badge.hidden = unread === 0;
    el.badge.textContent = unread > 9 ? '9+' : String(unread);
  }
  el.launcher.addEventListener('click', function () { setOpen(el.panel.hidden); });
  el.close.addEventListener('click', function () { setOpen(false); });

  // ---------------------------------------------------------------- config + views
  var configPromise = null;
  var configAt = 0;
  function ensureConfig() {
    // Fresh on every open before a chat: whether someone is online changes.
    if (configPromise && !state.chatId && Date.now() - configAt > 15000) configPromise = null;
    if (!configPromise) {
      configAt = Date.now();
      configPromise = request('GET', '/config').then(function (cfg) {
        state.config = cfg;
        if (cfg && cfg.displayName) el.title.textContent = cfg.displayName;
        var deps = (cfg && cfg.departments) || [];
        el.dept.innerHTML = '';
        deps.forEach(function (d) {
          var o = document.createElement('option');
          o.value = d.id; o.textContent = d.name;
          el.dept.appendChild(o);
        });
        // The department menu only when there is a choice to make.
        el.deptLabel.hidden = deps.length < 2;
        render();
        return cfg;
      }, function (e) {
        configPromise = null;  // try again next time the panel opens
        throw e;
      });
    }
    return configPromise.catch(function () { return null; });
  }

  function render() {
    var inChat = !!state.chatId;
    el.prechat.hidden = inChat;
    el.log.hidden = !inChat;
    el.composer.hidden = !inChat || state.ended;
    el.hint.hidden = !inChat || state.ended;
    el.endedBox.hidden = !(inChat && state.ended);
    el.leave.hidden = !inChat || state.ended;
    var online = isOnline();
    el.offline.hidden = inChat || online;
    el.status.textContent = '';
    if (inChat && !state.ended && !state.operatorSeen) el.status.textContent = online ? T.waiting : '';
  }

  // Whether someone can answer now: for the chosen department when there is a choice.
  function isOnline() {
    var cfg = state.config;
    if (!cfg) return true;
    var deps = cfg.departments || [];
    if (deps.length > 1 && el.dept.value) {
      for (var i = 0; i < deps.length; i++) {
        if (deps[i].id === el.dept.value) return deps[i].online !== false;
      }
    }
    return !!cfg.online;
  }
  el.dept.addEventListener('change', render);

  // ---------------------------------------------------------------- transcript
  function fmtTime(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) return '';
    return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }

  function scrollDown() {
    el.body.scrollTop = el.body.scrollHeight;
  }

  function makeBubble(sender, name, text, createdAt) {
    var wrap = document.createElement('div');
    wrap.className = 'msg ' + (sender === 'visitor' ? 'visitor' : sender === 'system' ? 'system' : 'operator');
    if (sender === 'operator') {
      var who = document.createElement('div');
      who.className = 'who';
      who.textContent = name || T.operator;
      wrap.appendChild(who);
    }
    var b = document.createElement('div');
    b.className = 'bubble';
    b.textContent = text;
    wrap.appendChild(b);
    if (sender !== 'system') {
      var meta = document.createElement('div');
      meta.className = 'meta';
      var time = document.createElement('time');
      time.textContent = fmtTime(createdAt);
      if (createdAt) time.setAttribute('datetime', createdAt);
      meta.appendChild(time);
      if (sender === 'visitor') {
        var tick = document.createElement('span');
        tick.className = 'tick';
        meta.appendChild(tick);
      }
      wrap.appendChild(meta);
    }
    return wrap;
  }

  // ack = stored on the server: one tick; pending: a clock; failed: an exclamation mark.
  function setTick(wrap, status) {
    var tick = wrap.querySelector('.tick');
    if (!tick) return;
    tick.className = 'tick ' + status;
    tick.textContent = status === 'stored' ? '\u2713' : status === 'failed' ? '!' : '\u25F7';
    tick.title = T[status];
    tick.setAttribute('aria-label', T[status]);
    wrap.setAttribute('data-status', status);
  }

  // Inserts a bubble keeping seq order; pending bubbles (no seq yet) stay at the end.
  function insertBySeq(wrap, seq) {
    var kids = el.log.children;
    for (var i = 0; i < kids.length; i++) {
      var s = Number(kids[i].getAttribute('data-seq') || Infinity);
      if (s > seq) { el.log.insertBefore(wrap, kids[i]); return; }
    }
    el.log.appendChild(wrap);
  }

  function showPending(p) {
    var wrap = makeBubble('visitor', null, p.text, p.createdAt);
    wrap.setAttribute('data-client-id', p.clientMessageId);
    setTick(wrap, 'pending');
    el.log.appendChild(wrap);
    byClientId.set(p.clientMessageId, wrap);
    scrollDown();
  }

  /** A stored message from the server (replay or live). Idempotent by seq. */
  function receive(m) {
    if (typeof m.seq !== 'number' || bySeq.has(m.seq)) return;
    var wrap = null;
    if (m.sender === 'visitor') {
      // Our own message coming back: attach it to its pending or acked bubble. The echo can
      // beat the ack, so also match the oldest un-numbered bubble with the same text.
      var match = null;
      byClientId.forEach(function (w) {
        if (match) return;
        var s = w.getAttribute('data-seq');
        if (s === String(m.seq) || (!s && w.querySelector('.bubble').textContent === m.text)) match = w;
      });
      if (match) {
        wrap = match;
        var cid = wrap.getAttribute('data-client-id');
        dropPending(cid);
        wrap.parentNode && wrap.parentNode.removeChild(wrap);
        var t = wrap.querySelector('time');
        if (t && m.createdAt) { t.textContent = fmtTime(m.createdAt); t.setAttribute('datetime', m.createdAt); }
      }
    }
    if (!wrap) wrap = makeBubble(m.sender, m.senderName, m.text, m.createdAt);
    if (m.sender === 'visitor') setTick(wrap, 'stored');
    wrap.setAttribute('data-seq', String(m.seq));
    wrap.setAttribute('data-sender', m.sender);
    insertBySeq(wrap, m.seq);
    bySeq.set(m.seq, wrap);
    if (m.seq > state.lastSeq) state.lastSeq = m.seq;
    if (m.sender === 'operator') {
      state.operatorSeen = true;
      setTyping(false);
      // Unread: operator messages the visitor has not had on screen, also after a reload.
      if (el.panel.hidden && m.seq > state.seenSeq) { unread++; showBadge(); }
      else if (!el.panel.hidden) markSeen();
      render();
    }
    scrollDown();
  }

  function ack(clientMessageId, seq) {
    var wrap = byClientId.get(clientMessageId);
    dropPending(clientMessageId);
    if (!wrap) return;
    setTick(wrap, 'stored');
    if (typeof seq === 'number' && !bySeq.has(seq)) {
      // Numbered now, so a later echo of the same seq is recognised; keep it in order.
      wrap.setAttribute('data-seq', String(seq));
      wrap.parentNode && wrap.parentNode.removeChild(wrap);
      insertBySeq(wrap, seq);
      bySeq.set(seq, wrap);
      if (seq > state.lastSeq) state.lastSeq = seq;
    }
  }

  function dropPending(clientMessageId) {
    var before = state.pending.length;
    state.pending = state.pending.filter(function (p) { return p.clientMessageId !== clientMessageId; });
    if (state.pending.length !== before) persist();
  }

  // ---------------------------------------------------------------- typing
  var typingTimer = null;
  function setTyping(on) {
    clearTimeout(typingTimer);
    el.typing.innerHTML = on ? esc(T.typing) + ' <span class="dots"><span>.</span><span>.</span><span>.</span></span>' : '';
    if (on) typingTimer = setTimeout(function () { setTyping(false); }, 5000);
  }
  var lastTypingSent = 0;
  el.text.addEventListener('input', function () {
    var now = Date.now();
    // At most one typing signal every 2 s: enough for a live indicator, cheap for the server.
    if (now - lastTypingSent > 2000 && el.text.value.trim()) {
      lastTypingSent = now;
      wsSend({ type: 'typing' });
    }
  });

  // ---------------------------------------------------------------- WebSocket
  var ws = null;
  var wsReady = false;
  var attempt = 0;
  var reconnectTimer = null;
  var pingTimer = null;
  var pollTimer = null;
  var lastFrameAt = 0;
  var refusals = 0;   // sockets refused in a row for their limit (close code 1013)

  function wsUrl() {
    return api.replace(/^http/, 'ws') + '/chats/' + encodeURIComponent(state.chatId) + '/ws?token=' +
      encodeURIComponent(state.token) + '&afterSeq=' + state.lastSeq + '&lang=' + lang;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (!state.chatId || state.ended || ws) return;
    var sock;
    try { sock = new WebSocket(wsUrl()); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sock.onmessage = function (ev) {
      lastFrameAt = Date.now();
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      wsReady = false;
      host.setAttribute('data-connection', 'down');
      clearInterval(pingTimer);
      if (state.ended) return;
      if (ev && ev.code === 1013) {
        // Too many sockets (other tabs, or a busy server): the chat carries on over HTTP;
        // try the socket again much later, and say nothing.
        el.conn.hidden = true;
        startPolling();
        scheduleReconnect(true);
        return;
      }
      el.conn.hidden = attempt < 1;   // stay quiet on the first quick retry
      scheduleReconnect();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function onFrame(f) {
    switch (f.type) {
      case 'ready':
        wsReady = true;
        host.setAttribute('data-connection', 'live');
        attempt = 0;
        el.conn.hidden = true;
        stopPolling();
        startPings();
        flushPending();
        break;
      case 'message':
        receive(f.message || f);
        break;
      case 'ack':
        ack(f.clientMessageId, f.seq);
        break;
      case 'typing':
        if ((f.sender || 'operator') !== 'visitor') setTyping(true);
        break;
      case 'error':
        onRefused(f.clientMessageId, f.code, f.message);
        break;
      default:
        // State frames (chat.ended, chat.missed …), when the server sends them.
        if (f.chat && f.chat.state) onChatState(f.chat.state);
        else if (f.state) onChatState(f.state);
        else if (/^chat\./.test(f.type || '')) onChatState(f.type.slice(5));
    }
  }

  function onChatState(s) {
    if (s === 'ended') endLocally();
    else if (s === 'missed' && !state.operatorSeen) el.status.textContent = T.missed;
  }

  // Exponential backoff with full jitter (0.5 s … 30 s), so a restarted server is not
  // hit by every widget at the same instant. A socket refused for its limit (1013) waits
  // 1 … 5 minutes instead; HTTP polling keeps the chat going meanwhile.
  function scheduleReconnect(refused) {
    clearTimeout(reconnectTimer);
    var cap = Math.min(30000, 500 * Math.pow(2, attempt));
    if (refused) cap = Math.min(300000, 60000 * Math.pow(2, refusals++));
    else refusals = 0;
    var delay = cap / 2 + Math.random() * cap / 2;
    attempt++;
    // While the socket is down, poll over HTTP so nothing waits for the socket.
    if (attempt >= 2) startPolling();
    reconnectTimer = setTimeout(connect, delay);
  }

  // Browsers cannot send protocol pings; an application ping keeps proxies from closing an
  // idle socket. If the server answers (any frame), silence for 70 s means a dead socket.
  function startPings() {
    clearInterval(pingTimer);
    lastFrameAt = Date.now();
    pingTimer = setInterval(function () {
      if (!ws || !wsReady) return;
      if (Date.now() - lastFrameAt > 70000) { try { ws.close(); } catch (e) { /* ignore */ } return; }
      wsSend({ type: 'ping' });
    }, 25000);
  }

  function wsSend(frame) {
    if (ws && wsReady && ws.readyState === 1) {
      try { ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
    }
    return false;
  }

  /** The server refused a message. A rate limit leaves it pending (the next flush retries);
   *  a conflict means the chat takes no more messages (it ended); anything else (e.g. too
   *  long) will never succeed, so it is dropped and marked. */
  var retryTimer = null;
  function onRefused(clientMessageId, code, message) {
    var w = clientMessageId && byClientId.get(clientMessageId);
    if (code === 'rate_limited') {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(flushPending, 2000);
      return;
    }
    if (w) setTick(w, 'failed');
    if (code === 'conflict') { endLocally(); return; }
    if (clientMessageId) dropPending(clientMessageId);
    if (message && w) w.title = message;
  }

  // ---------------------------------------------------------------- HTTP fallback
  function catchUp() {
    if (!state.chatId) return Promise.resolve();
    return request('GET', '/chats/' + encodeURIComponent(state.chatId) + '/messages?afterSeq=' + state.lastSeq,
      undefined, state.token).then(function (res) {
      ((res && res.data) || []).forEach(receive);
    });
  }
  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(function () {
      catchUp().catch(handleAuthError);
      flushPending();
    }, 4000);
  }
  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  // Sends every pending message, oldest first: over the socket when it is up (ack frame),
  // else over HTTP (201 = stored). The same clientMessageId makes a double send harmless.
  var httpInFlight = new Set();
  function flushPending() {
    state.pending.slice().forEach(function (p) {
      if (wsSend({ type: 'message', text: p.text, clientMessageId: p.clientMessageId })) return;
      if (httpInFlight.has(p.clientMessageId)) return;
      httpInFlight.add(p.clientMessageId);
      request('POST', '/chats/' + encodeURIComponent(state.chatId) + '/messages',
        { text: p.text, clientMessageId: p.clientMessageId }, state.token)
        .then(function (res) { ack(p.clientMessageId, res && res.seq); })
        .catch(function (e) {
          var w = byClientId.get(p.clientMessageId);
          if (w) setTick(w, 'failed');
          if (e && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 404) {
            onRefused(p.clientMessageId, e.code, e.message);
          }
          handleAuthError(e);
        })
        .then(function () { httpInFlight.delete(p.clientMessageId); });
    });
  }

  // A chat the server no longer knows (or a revoked token): start over.
  function handleAuthError(e) {
    if (e && (e.status === 401 || e.status === 404)) resetChat();
  }

  // ---------------------------------------------------------------- actions
  function send(text) {
    text = text.replace(/\s+$/, '');
    if (!text.trim() || !state.chatId || state.ended) return;
    var p = { clientMessageId: newId(), text: text, createdAt: new Date().toISOString() };
    state.pending.push(p);
    persist();
    showPending(p);
    if (!wsSend({ type: 'message', text: p.text, clientMessageId: p.clientMessageId })) flushPending();
    lastTypingSent = 0;
  }

  el.composer.addEventListener('submit', function (e) {
    e.preventDefault();
    send(el.text.value);
    el.text.value = '';
    autoGrow();
  });
  // Enter sends, Shift+Enter is a new line. Never while an IME is composing (Japanese
  // input confirms its conversion with Enter).
  el.text.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      el.composer.requestSubmit ? el.composer.requestSubmit() : el.composer.dispatchEvent(new Event('submit'));
    }
  });
  function autoGrow() {
    el.text.style.height = 'auto';
    el.text.style.height = Math.min(120, el.text.scrollHeight + 2) + 'px';
  }
  el.text.addEventListener('input', autoGrow);

  // Enter in the question box starts the chat too (Shift+Enter for a new line).
  el.prechat.querySelector('textarea').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      el.prechat.requestSubmit ? el.prechat.requestSubmit() : el.prechat.dispatchEvent(new Event('submit'));
    }
  });

  var starting = false;
  el.prechat.addEventListener('submit', function (e) {
    e.preventDefault();
    if (starting) return;
    var f = el.prechat.elements;
    var question = f.question.value.trim();
    el.formError.hidden = true;
    if (!question) { showFormError(T.required); f.question.focus(); return; }
    var body = { question: question, clientMessageId: newId() };
    ['name', 'email', 'phone'].forEach(function (k) { if (f[k].value.trim()) body[k] = f[k].value.trim(); });
    if (!el.deptLabel.hidden && f.departmentId.value) body.departmentId = f.departmentId.value;
    else if (state.config && state.config.departments && state.config.departments.length === 1) {
      body.departmentId = state.config.departments[0].id;
    }
    starting = true;
    el.start.disabled = true;
    // Remember the attempt, so a reload during the request resends the same clientMessageId.
    var attemptKey = storeKey + '.starting';
    try {
      var prev = JSON.parse(sessionStorage.getItem(attemptKey) || 'null');
      if (prev && prev.question === body.question) body.clientMessageId = prev.clientMessageId;
      sessionStorage.setItem(attemptKey, JSON.stringify(body));
    } catch (err) { /* ignore */ }
    request('POST', '/chats', body).then(function (res) {
      try { sessionStorage.removeItem(attemptKey); } catch (err) { /* ignore */ }
      state.chatId = res.chatId;
      state.visitorId = res.visitorId;
      state.token = res.visitorToken;
      state.ended = false;
      state.lastSeq = 0;
      state.seenSeq = 0;
      persist();
      // The question is the chat's first message; it shows as soon as it comes back.
      var p = { clientMessageId: body.clientMessageId, text: question, createdAt: new Date().toISOString() };
      showPending(p);
      setTick(byClientId.get(p.clientMessageId), 'stored');
      el.prechat.reset();
      render();
      catchUp().catch(function () { /* the socket catches up */ });
      connect();
      el.text.focus();
    }, function (err) {
      // The remembered attempt may no longer be retried (another address, too late):
      // the next submit starts a new chat with a new clientMessageId.
      if (err.code === 'conflict' && err.field === 'clientMessageId') {
        try { sessionStorage.removeItem(attemptKey); } catch (e2) { /* ignore */ }
      }
      showFormError(err.message || T.error);
      if (err.field && f[err.field]) f[err.field].focus();
    }).then(function () {
      starting = false;
      el.start.disabled = false;
    });
  });

  function showFormError(msg) {
    el.formError.textContent = msg;
    el.formError.hidden = false;
  }

  el.leave.addEventListener('click', function () {
    if (!window.confirm(T.leaveConfirm)) return;
    var id = state.chatId, token = state.token;
    request('POST', '/chats/' + encodeURIComponent(id) + '/leave', undefined, token)
      .catch(function () { /* ended locally anyway */ });
    endLocally();
  });

  function endLocally() {
    state.ended = true;
    persist();
    setTyping(false);
    stopPolling();
    clearTimeout(reconnectTimer);
    clearInterval(pingTimer);
    if (ws) { var s = ws; ws = null; wsReady = false; try { s.close(); } catch (e) { /* ignore */ } }
    render();
    scrollDown();
  }

  el.newChat.addEventListener('click', resetChat);

  function resetChat() {
    endLocally();
    state.chatId = state.visitorId = state.token = null;
    state.pending = [];
    state.ended = false;
    state.lastSeq = 0;
    state.seenSeq = 0;
    state.operatorSeen = false;
    bySeq.clear();
    byClientId.clear();
    el.log.innerHTML = '';
    persist();
    render();
  }

  // ---------------------------------------------------------------- start
  // Resume a chat from an earlier page (C3): catch up over HTTP (this also tells whether
  // the chat still exists), show messages that were never acknowledged, then go live.
  if (state.chatId && state.token && !state.ended) {
    state.pending.forEach(showPending);
    catchUp().then(function () {
      connect();
      flushPending();
    }, function (e) {
      handleAuthError(e);
      if (state.chatId) connect();
    });
  } else if (state.ended) {
    // An ended chat is not shown again after a reload: a fresh form.
    resetChat();
  }
  render();
  if (panelWasOpen()) setOpen(true);
  // Resume promptly when the tab comes back or the network returns.
  window.addEventListener('online', function () { if (!ws && state.chatId) { attempt = 0; connect(); } });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && !ws && state.chatId && !state.ended) { attempt = 0; connect(); }
  });

  // A tiny API for host pages: Madoguchi.open() / Madoguchi.close().
  window.Madoguchi = window.Madoguchi || {};
  window.Madoguchi.open = function () { setOpen(true); };
  window.Madoguchi.close = function () { setOpen(false); };
})();
