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
 * The protocol (socket, reconnect, pings, seq order, requests, bubbles, uploads) is the
 * shared chat client, `MadoguchiChat` (assets/chat-client.js, also under console.js).
 *
 * Delivery (C3): every outgoing message gets a clientMessageId and stays "pending" (kept in
 * localStorage) until the server acknowledges it, i.e. has stored it. Pending messages are
 * resent with the same id after a reconnect or a page reload; the server dedupes by id.
 * Incoming messages are keyed by their per-chat `seq`, so a replay after a reconnect never
 * shows one twice.
 *
 * Files (V3): the attach button, dropping files on the panel or pasting them into the box
 * sends each as `POST …/chats/{id}/attachments` (multipart `file`, with progress). Files are
 * fetched with the visitor token (never put in a URL): images show as a thumbnail that
 * opens the full image in a viewer, other files as a named download.
 */
(function () {
  'use strict';

  // The shared chat client (chat-client.js), put in front of this script by the server.
  var C = MadoguchiChat;

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
  // The words, in every language of the catalog (`chatui-widget-*` in
  // madoguchi-core/locales): the server fills them in when it serves this script.
  var TEXT = '/*madoguchi:widget-labels*/';
  var T = TEXT[lang] || TEXT.ja;

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
    config: null,
    operatorSeen: false,
    chat: null,                     // the server's view of the chat (V6), when read
    email: saved.email || null      // what the visitor gave, for "we will reply to …"
  };

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || '{}') || {}; } catch (e) { return {}; }
  }
  function persist() {
    try {
      localStorage.setItem(storeKey, JSON.stringify({
        chatId: state.chatId, visitorId: state.visitorId, token: state.token,
        pending: state.pending, ended: state.ended, seenSeq: state.seenSeq, email: state.email
      }));
    } catch (e) { /* private mode: the chat still works for this page */ }
  }
  function panelWasOpen() {
    try { return sessionStorage.getItem(storeKey + '.open') === '1'; } catch (e) { return false; }
  }
  function rememberOpen(open) {
    try { sessionStorage.setItem(storeKey + '.open', open ? '1' : '0'); } catch (e) { /* ignore */ }
  }

  // ---------------------------------------------------------------- DOM
  // The styles (assets/widget.css) come in by the server, which fills in this string
  // when it serves the script. They are applied without a style element or a style
  // attribute, so a host page with a strict Content-Security-Policy (no 'unsafe-inline')
  // shows the widget as designed (Q6).
  var CSS = '/*madoguchi:widget.css*/';

  var CLIP_ICON = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
    'stroke-linejoin="round" aria-hidden="true"><path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 ' +
    '5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>';
  var CHAT_ICON = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
    'stroke-linejoin="round" aria-hidden="true"><path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

  var host = document.createElement('div');
  host.id = 'madoguchi-widget-' + portal;
  host.setAttribute('data-madoguchi-widget', portal);
  var root = host.attachShadow({ mode: 'open' });
  var esc = C.esc;
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
    '    <form class="offline-form" novalidate hidden>' +
    '      <p class="notice offline-title">' + esc(T['offline-title']) + '</p>' +
    '      <p class="next-open" hidden></p>' +
    '      <label class="odept-label" hidden>' + esc(T.department) + '<select name="departmentId"></select></label>' +
    '      <label>' + esc(T.name) + '<input name="name" autocomplete="name" maxlength="200"></label>' +
    '      <label>' + esc(T['email-required']) + '<input name="email" type="email" autocomplete="email" maxlength="320" required aria-required="true"></label>' +
    '      <label>' + esc(T.phone) + '<input name="phone" type="tel" autocomplete="tel" maxlength="50"></label>' +
    '      <label>' + esc(T.message) + '<textarea name="message" rows="4" maxlength="4000" required aria-required="true"></textarea></label>' +
    '      <p class="notice error offline-error" role="alert" hidden></p>' +
    '      <button type="submit" class="primary send-offline">' + esc(T['send-offline']) + '</button>' +
    '    </form>' +
    '    <div class="offline-done" role="status" hidden><p class="notice done-text"></p><p class="done-ticket" hidden></p>' +
    '      <p class="next-open done-next" hidden></p>' +
    '      <button type="button" class="secondary done-new">' + esc(T['new-chat']) + '</button></div>' +
    '    <div class="log" aria-live="polite"></div>' +
    '    <div class="contact-box" hidden><p class="contact-text"></p>' +
    '      <form class="contact-form" novalidate>' +
    '        <label>' + esc(T['email-optional']) + '<input name="email" type="email" autocomplete="email" maxlength="320"></label>' +
    '        <label>' + esc(T['phone-optional']) + '<input name="phone" type="tel" autocomplete="tel" maxlength="50"></label>' +
    '        <p class="notice error contact-error" role="alert" hidden></p>' +
    '        <button type="submit" class="primary save-contact">' + esc(T['save-contact']) + '</button></form></div>' +
    '    <div class="ended-box" hidden><p class="notice">' + esc(T.ended) + '</p>' +
    '      <div class="rating-box" hidden><form class="rating-form" novalidate>' +
    '        <fieldset class="rating-choices"><legend>' + esc(T['rate-question']) + '</legend>' +
    '          <label><input type="radio" name="rating" value="good">' + esc(T['rating-good']) + '</label>' +
    '          <label><input type="radio" name="rating" value="neutral">' + esc(T['rating-neutral']) + '</label>' +
    '          <label><input type="radio" name="rating" value="bad">' + esc(T['rating-bad']) + '</label></fieldset>' +
    '        <label>' + esc(T.comment) + '<textarea name="comment" rows="2" maxlength="2000"></textarea></label>' +
    '        <p class="notice error rating-error" role="alert" hidden></p>' +
    '        <button type="submit" class="primary send-rating">' + esc(T['rate-send']) + '</button></form>' +
    '        <p class="thanks" hidden>' + esc(T['rate-thanks']) + '</p></div>' +
    '      <button type="button" class="primary new-chat">' + esc(T['new-chat']) + '</button></div>' +
    '  </div>' +
    '  <div class="typing" aria-live="polite"></div>' +
    '  <form class="composer" hidden><button type="button" class="attach" aria-label="' + esc(T.attach) + '" title="' +
    esc(T.attach) + '">' + CLIP_ICON + '</button><input type="file" class="file-input" multiple hidden>' +
    '<textarea name="text" rows="1" placeholder="' + esc(T.placeholder) + '" aria-label="' +
    esc(T.placeholder) + '" maxlength="4000"></textarea><button type="submit" class="send">' + esc(T.send) + '</button></form>' +
    '  <div class="hint" hidden>' + esc(T.hint) + '</div>' +
    '  <div class="drop-hint" aria-hidden="true" hidden>' + esc(T['drop-here']) + '</div>' +
    '  <div class="viewer" role="dialog" aria-modal="true" aria-label="' + esc(T.image) + '" hidden>' +
    '    <button type="button" class="icon-btn viewer-close" aria-label="' + esc(T.close) + '" title="' + esc(T.close) +
    '">&#x2715;</button><img class="viewer-img" alt=""></div>' +
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
    hint: $('.hint'),
    offlineForm: $('.offline-form'), nextOpen: $('.offline-form .next-open'), odeptLabel: $('.odept-label'),
    odept: $('.offline-form select'), offlineError: $('.offline-error'), sendOffline: $('.send-offline'),
    offlineDone: $('.offline-done'), doneText: $('.done-text'), doneTicket: $('.done-ticket'), doneNext: $('.done-next'),
    doneNew: $('.done-new'), contactBox: $('.contact-box'), contactText: $('.contact-text'), contactForm: $('.contact-form'),
    contactError: $('.contact-error'), ratingBox: $('.rating-box'), ratingForm: $('.rating-form'),
    ratingError: $('.rating-error'), thanks: $('.rating-box .thanks'),
    attach: $('.composer .attach'), fileInput: $('.composer .file-input'), dropHint: $('.drop-hint'),
    viewer: $('.viewer'), viewerImg: $('.viewer-img'), viewerClose: $('.viewer-close')
  };

  function mount() {
    (document.body || document.documentElement).appendChild(host);
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  // ---------------------------------------------------------------- HTTP
  // The anonymous widget API: the visitor token as a Bearer header, never a cookie.
  var request = C.requester({
    base: api, lang: lang, mode: 'cors', credentials: 'omit',
    offline: T.error, failed: function () { return T.error; }
  });

  // ---------------------------------------------------------------- open / close
  var unread = 0;
  function setOpen(open) {
    el.panel.hidden = !open;
    host.classList.toggle('is-open', open);
    el.launcher.setAttribute('aria-expanded', open ? 'true' : 'false');
    rememberOpen(open);
    if (!open) followConfig(false);
    if (open) {
      unread = 0;
      markSeen();
      showBadge();
      ensureConfig();
      followConfig(true);
      setTimeout(function () {
        var target = state.chatId && !state.ended ? el.text : el.prechat.querySelector('textarea, input');
        if (target) target.focus();
        scrollDown();
      }, 0);
    }
  }
  function markSeen() {
    if (log.lastSeq > state.seenSeq) { state.seenSeq = log.lastSeq; persist(); }
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
        [el.dept, el.odept].forEach(function (select) {
          var keep = select.value;
          while (select.firstChild) select.removeChild(select.firstChild);
          deps.forEach(function (d) {
            var o = document.createElement('option');
            o.value = d.id; o.textContent = d.name;
            select.appendChild(o);
          });
          if (keep) select.value = keep;
        });
        // The department menu only when there is a choice to make.
        el.deptLabel.hidden = deps.length < 2;
        el.odeptLabel.hidden = deps.length < 2;
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
    var offline = !inChat && offlineNow();
    el.prechat.hidden = inChat || offline || offlineSent;
    el.offlineForm.hidden = inChat || !offline || offlineSent;
    el.offlineDone.hidden = inChat || !offlineSent;
    renderNextOpen(el.nextOpen);
    el.log.hidden = !inChat;
    el.composer.hidden = !inChat || state.ended;
    el.hint.hidden = !inChat || state.ended;
    el.endedBox.hidden = !(inChat && state.ended);
    el.leave.hidden = !inChat || state.ended;
    el.offline.hidden = true;
    // V6: the header says what is happening now, not what happened first.
    var status = '';
    if (inChat && !state.ended) {
      if (state.operatorSeen) status = T.attended;
      else if (!state.missed) status = T.waiting;
    }
    el.status.textContent = status;
    renderContactBox(inChat);
    var rated = state.rated || !!(state.chat && state.chat.rating);
    el.ratingBox.hidden = !(inChat && state.ended) || (rated && !state.rated);
    el.ratingForm.hidden = rated;
    el.thanks.hidden = !rated;
  }

  // V2: the offline form, when nobody is online (for the chosen department) or the
  // portal is outside its business hours.
  var offlineSent = false;
  function offlineNow() {
    var cfg = state.config;
    if (!cfg) return false;
    if (cfg.offlineForm) return true;
    return !isOnline();
  }
  function renderNextOpen(node) {
    var h = state.config && state.config.hours;
    var text = '';
    if (h && !h.open) {
      text = T['closed-now'];
      if (h.nextOpenAt) {
        var d = new Date(h.nextOpenAt);
        if (!isNaN(d.getTime())) {
          var opts = { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
            timeZoneName: 'short' };
          var shown;
          // In the portal's time zone, named, so nobody misreads it.
          try { shown = d.toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-US', Object.assign({ timeZone: h.timeZone }, opts)); }
          catch (e) { shown = d.toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-US', opts); }
          text += ' ' + T['next-open'] + ' ' + shown;
        }
      }
    }
    node.textContent = text;
    node.hidden = !text;
  }

  // A missed chat: the answer can only come later, so ask how to reach the visitor
  // unless they already said.
  function renderContactBox(inChat) {
    var show = inChat && state.missed && !state.operatorSeen;
    el.contactBox.hidden = !show;
    if (!show) return;
    var known = state.email || (state.chat && state.chat.visitor && (state.chat.visitor.email || state.chat.visitor.phone));
    el.contactText.textContent = known ? C.fill(T['missed-known'], { contact: known }) : T['missed-ask'];
    el.contactForm.hidden = !!known;
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
  el.dept.addEventListener('change', function () { el.odept.value = el.dept.value; render(); });
  el.odept.addEventListener('change', function () { el.dept.value = el.odept.value; render(); });

  // ---------------------------------------------------------------- transcript
  function scrollDown() {
    el.body.scrollTop = el.body.scrollHeight;
  }

  function makeBubble(m) {
    return C.bubble(document, m, {
      own: 'visitor',
      who: function (sender, msg) { return sender === 'operator' ? msg.senderName || T.operator : null; },
      fileView: fileView
    });
  }

  // ack = stored on the server: one tick; pending: a clock; failed: an exclamation mark.
  function setTick(wrap, status) {
    C.setTick(wrap, status, T, true);
  }

  // The transcript, keyed by seq (lastSeq is the catch-up point). Our own message coming
  // back takes its pending bubble, with the server's time.
  var log = C.transcript({
    pane: el.log, own: 'visitor', render: makeBubble,
    stored: function (wrap) { setTick(wrap, 'stored'); },
    matched: function (cid, wrap, m) {
      dropPending(cid);
      var t = wrap.querySelector('time');
      if (t && m.createdAt) { t.textContent = C.clock(m.createdAt); t.setAttribute('datetime', m.createdAt); }
    }
  });

  function showPending(p) {
    var wrap = makeBubble({ sender: 'visitor', text: p.text, createdAt: p.createdAt });
    setTick(wrap, 'pending');
    log.addPending(p.clientMessageId, wrap);
    scrollDown();
  }

  /** A stored message from the server (replay or live). Idempotent by seq. */
  function receive(m) {
    var wrap = log.add(m);
    if (!wrap) return;
    wrap.setAttribute('data-sender', m.sender);
    if (m.sender === 'system') onSystemLine(m.systemKind);
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
    dropPending(clientMessageId);
    log.ack(clientMessageId, seq);
  }

  function dropPending(clientMessageId) {
    var before = state.pending.length;
    state.pending = state.pending.filter(function (p) { return p.clientMessageId !== clientMessageId; });
    if (state.pending.length !== before) persist();
  }

  // ---------------------------------------------------------------- files (V3)
  var blobUrls = new Map();   // file url -> Promise of an object URL (fetched once)

  // The bytes with the visitor token in the header (a token in a URL would end up in
  // histories and logs), kept as an object URL of this page.
  function fileBlobUrl(url) {
    if (!blobUrls.has(url)) {
      blobUrls.set(url, fetch(url, { headers: { Authorization: 'Bearer ' + state.token }, mode: 'cors', credentials: 'omit' })
        .then(function (res) {
          if (!res.ok) throw new Error(T.error);
          return res.blob();
        }).then(function (blob) { return URL.createObjectURL(blob); })
        .catch(function (e) { blobUrls.delete(url); throw e; }));
    }
    return blobUrls.get(url);
  }

  /** An image as a thumbnail opening the viewer; anything else a named download. */
  function fileView(a) {
    if (C.isInlineImage(a.contentType)) {
      var thumb = document.createElement('button');
      thumb.type = 'button';
      thumb.className = 'file-thumb';
      thumb.title = T['open-image'] + ': ' + a.name;
      var img = document.createElement('img');
      img.alt = a.name;
      thumb.appendChild(img);
      fileBlobUrl(a.url).then(function (src) { img.src = src; }, function () { img.alt = a.name + ' (' + T.error + ')'; });
      thumb.addEventListener('click', function () { openViewer(a, thumb); });
      return thumb;
    }
    var link = document.createElement('a');
    link.className = 'file-link';
    link.href = '#';
    link.title = T.download + ': ' + a.name;
    link.innerHTML = CLIP_ICON;
    C.fileLabel(link, a);
    link.addEventListener('click', function (e) {
      e.preventDefault();
      fileBlobUrl(a.url).then(function (href) {
        var save = document.createElement('a');
        save.href = href;
        save.download = a.name;
        root.appendChild(save);
        save.click();
        root.removeChild(save);
      }, function () { link.title = T.error; });
    });
    return link;
  }

  var viewerOpener = null;
  function openViewer(a, opener) {
    fileBlobUrl(a.url).then(function (src) {
      el.viewerImg.src = src;
      el.viewerImg.alt = a.name;
      el.viewer.setAttribute('aria-label', a.name);
      el.viewer.hidden = false;
      viewerOpener = opener;
      el.viewerClose.focus();
    });
  }
  function closeViewer() {
    if (el.viewer.hidden) return;
    el.viewer.hidden = true;
    if (viewerOpener) viewerOpener.focus();
    viewerOpener = null;
  }
  el.viewerClose.addEventListener('click', closeViewer);
  el.viewer.addEventListener('click', function (e) { if (e.target === el.viewer) closeViewer(); });
  el.viewer.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { e.stopPropagation(); closeViewer(); }
    if (e.key === 'Tab') { e.preventDefault(); el.viewerClose.focus(); }
  });

  function canSendFiles() {
    return !!(state.chatId && state.token && !state.ended);
  }

  function sendFiles(files) {
    if (!canSendFiles()) return;
    Array.prototype.forEach.call(files || [], uploadFile);
  }

  function shownFile(attachmentId) {
    var found = false;
    log.messages.forEach(function (w) { if (w.getAttribute('data-attachment-id') === attachmentId) found = true; });
    return found;
  }

  // A "sending" bubble with its progress, replaced by the message carrying the file.
  function uploadFile(file) {
    var wrap = makeBubble({ sender: 'visitor', text: '', createdAt: new Date().toISOString() });
    el.log.appendChild(wrap);
    C.upload({
      url: api + '/chats/' + encodeURIComponent(state.chatId) + '/attachments',
      headers: { Authorization: 'Bearer ' + state.token, 'Accept-Language': lang },
      file: file, wrap: wrap, max: state.config && state.config.maxAttachmentBytes,
      labels: {
        sending: T['file-sending'], failed: T['file-failed'], tooLarge: T['file-too-large'],
        unreachable: T['file-failed'], ticks: T, tickAria: true
      },
      shown: shownFile,
      failed: scrollDown,
      refused: function (status) { if (status === 409) refreshChat(); }
    });
    scrollDown();
  }

  C.fileInputs({
    attach: el.attach, input: el.fileInput, text: el.text, zone: el.panel,
    canSend: canSendFiles, send: sendFiles,
    show: function (on) { el.dropHint.hidden = !on; }
  });

  // ---------------------------------------------------------------- typing
  var typingTimer = null;
  function setTyping(on) {
    clearTimeout(typingTimer);
    el.typing.innerHTML = on ? esc(T.typing) + ' <span class="dots"><span>.</span><span>.</span><span>.</span></span>' : '';
    if (on) typingTimer = setTimeout(function () { setTyping(false); }, 5000);
  }
  // At most one typing signal every 2 s: enough for a live indicator, cheap for the server.
  var typingSignal = C.typingThrottle(2000);
  el.text.addEventListener('input', function () {
    if (typingSignal.due(Date.now(), el.text.value)) wsSend({ type: 'typing' });
  });

  // ---------------------------------------------------------------- WebSocket
  // Reconnects with backoff (0.5 s … 30 s; a socket refused for its limit, 1013, waits
  // 1 … 5 minutes instead while HTTP polling keeps the chat going) and pings.
  var pollTimer = null;
  var live = C.liveSocket({
    url: function () {
      if (!state.chatId || state.ended) return null;
      return api.replace(/^http/, 'ws') + '/chats/' + encodeURIComponent(state.chatId) + '/ws?token=' +
        encodeURIComponent(state.token) + '&afterSeq=' + log.lastSeq + '&lang=' + lang;
    },
    status: function (s) { host.setAttribute('data-connection', s); },
    refusedMax: 300000,
    onReady: function () {
      el.conn.hidden = true;
      stopPolling();
      flushPending();
    },
    onFrame: onFrame,
    onClose: function (code, attempt) {
      if (state.ended) return false;
      if (code === 1013) {
        // Too many sockets (other tabs, or a busy server): the chat carries on over HTTP;
        // try the socket again much later, and say nothing.
        el.conn.hidden = true;
        startPolling();
        return true;
      }
      el.conn.hidden = attempt < 1;   // stay quiet on the first quick retry
      return true;
    },
    // While the socket is down, poll over HTTP so nothing waits for the socket.
    onRetry: function (attempt) { if (attempt >= 2) startPolling(); }
  });
  var connect = live.connect;
  var wsSend = live.send;

  function onFrame(f) {
    switch (f.type) {
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
    if (s === 'ended') { if (!state.ended) endLocally(); }
    else if (s === 'missed' && !state.operatorSeen) { state.missed = true; render(); }
    else if (s === 'attended') { state.operatorSeen = true; render(); }
  }

  // System lines say what happened (V6): joined → an operator is with the visitor.
  function onSystemLine(kind) {
    if (kind === 'joined') { state.operatorSeen = true; render(); }
    else if (kind === 'missed' || kind === 'offline') { state.missed = true; render(); }
    else if ((kind === 'ended' || kind === 'ended_idle') && !state.ended) endLocally();
  }

  // The server's view of the chat: its state after a reload (V6), the rating (V5).
  function refreshChat() {
    if (!state.chatId || !state.token) return Promise.resolve(null);
    var id = state.chatId;
    return request('GET', '/chats/' + encodeURIComponent(id), undefined, state.token).then(function (c) {
      if (!c || state.chatId !== id) return c;
      state.chat = c;
      if (c.visitor && c.visitor.email && !state.email) { state.email = c.visitor.email; persist(); }
      if (c.state === 'attended') state.operatorSeen = true;
      if (c.outcome === 'missed' && !c.operatorId) state.missed = true;
      if (c.state === 'ended' && !state.ended) endLocally();
      else render();
      return c;
    });
  }

  /** The server refused a message. A rate limit leaves it pending (the next flush retries);
   *  a conflict means the chat takes no more messages (it ended); anything else (e.g. too
   *  long) will never succeed, so it is dropped and marked. */
  var retryTimer = null;
  function onRefused(clientMessageId, code, message) {
    var w = clientMessageId && log.pending.get(clientMessageId);
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
    return request('GET', '/chats/' + encodeURIComponent(state.chatId) + '/messages?afterSeq=' + log.lastSeq,
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
          var w = log.pending.get(p.clientMessageId);
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
    var p = { clientMessageId: C.newId(), text: text, createdAt: new Date().toISOString() };
    state.pending.push(p);
    persist();
    showPending(p);
    if (!wsSend({ type: 'message', text: p.text, clientMessageId: p.clientMessageId })) flushPending();
    typingSignal.reset();
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
    if (C.isSendKey(e)) {
      e.preventDefault();
      C.submit(el.composer);
    }
  });
  function autoGrow() {
    el.text.style.height = 'auto';
    el.text.style.height = Math.min(120, el.text.scrollHeight + 2) + 'px';
  }
  el.text.addEventListener('input', autoGrow);

  // Enter in the question box starts the chat too (Shift+Enter for a new line).
  el.prechat.querySelector('textarea').addEventListener('keydown', function (e) {
    if (C.isSendKey(e)) {
      e.preventDefault();
      C.submit(el.prechat);
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
    var body = { question: question, clientMessageId: C.newId() };
    ['name', 'email', 'phone'].forEach(function (k) { if (f[k].value.trim()) body[k] = f[k].value.trim(); });
    var bid = browserId();
    if (bid) body.browserId = bid;
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
      log.lastSeq = 0;
      state.seenSeq = 0;
      state.email = body.email || body.phone || null;
      persist();
      // The question is the chat's first message; it shows as soon as it comes back.
      var p = { clientMessageId: body.clientMessageId, text: question, createdAt: new Date().toISOString() };
      showPending(p);
      log.ack(p.clientMessageId);   // stored, numbered when it comes back
      el.prechat.reset();
      render();
      catchUp().catch(function () { /* the socket catches up */ });
      connect();
      reportPage();
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
    if (!window.confirm(T['leave-confirm'])) return;
    var id = state.chatId, token = state.token;
    request('POST', '/chats/' + encodeURIComponent(id) + '/leave', undefined, token)
      .catch(function () { /* ended locally anyway */ });
    endLocally();
  });

  function endLocally() {
    var wasEnded = state.ended;
    state.ended = true;
    persist();
    // The rating form needs to know whether the chat was rated (V5).
    if (!wasEnded && state.chatId) setTimeout(function () { refreshChat().catch(function () { /* shown unrated */ }); }, 0);
    setTyping(false);
    stopPolling();
    live.stop();
    render();
    scrollDown();
  }

  el.newChat.addEventListener('click', resetChat);

  function resetChat() {
    endLocally();
    state.chatId = state.visitorId = state.token = null;
    state.pending = [];
    state.ended = false;
    state.seenSeq = 0;
    state.operatorSeen = false;
    state.missed = false;
    state.rated = false;
    state.chat = null;
    state.email = null;
    lastPage = '';
    log.clear();
    el.log.innerHTML = '';
    persist();
    render();
  }

  // ---------------------------------------------------------------- V2 offline form
  function browserId() {
    try {
      var k = 'madoguchi.browser';
      var v = localStorage.getItem(k);
      if (!v || !/^[A-Za-z0-9_-]{1,100}$/.test(v)) {
        v = C.newId().replace(/[^A-Za-z0-9_-]/g, '');
        localStorage.setItem(k, v);
      }
      return v;
    } catch (e) { return null; }
  }

  var sendingOffline = false;
  el.offlineForm.addEventListener('submit', function (e) {
    e.preventDefault();
    if (sendingOffline) return;
    var f = el.offlineForm.elements;
    el.offlineError.hidden = true;
    var email = f.email.value.trim(), message = f.message.value.trim();
    if (!email) { showError(el.offlineError, T['need-email']); f.email.focus(); return; }
    if (!message) { showError(el.offlineError, T['need-message']); f.message.focus(); return; }
    var body = { email: email, message: message, clientMessageId: C.newId() };
    if (f.name.value.trim()) body.name = f.name.value.trim();
    if (f.phone.value.trim()) body.phone = f.phone.value.trim();
    var bid = browserId();
    if (bid) body.browserId = bid;
    if (!el.odeptLabel.hidden && f.departmentId.value) body.departmentId = f.departmentId.value;
    var attemptKey = storeKey + '.offline';
    try {
      var prev = JSON.parse(sessionStorage.getItem(attemptKey) || 'null');
      if (prev && prev.message === body.message && prev.email === body.email) body.clientMessageId = prev.clientMessageId;
      sessionStorage.setItem(attemptKey, JSON.stringify(body));
    } catch (err) { /* ignore */ }
    sendingOffline = true;
    el.sendOffline.disabled = true;
    request('POST', '/offline-messages', body).then(function (res) {
      try { sessionStorage.removeItem(attemptKey); } catch (err) { /* ignore */ }
      el.doneText.textContent = C.fill(T['offline-done'], { email: email });
      el.doneTicket.hidden = !(res && res.ticketNumber);
      el.doneTicket.textContent = res && res.ticketNumber ? C.fill(T['ticket-no'], { n: res.ticketNumber }) : '';
      renderNextOpen(el.doneNext);
      el.offlineForm.reset();
      offlineSent = true;
      render();
      el.doneNew.focus();
    }, function (err) {
      if (err.code === 'conflict' && err.field === 'clientMessageId') {
        try { sessionStorage.removeItem(attemptKey); } catch (e2) { /* ignore */ }
      }
      showError(el.offlineError, err.message || T.error);
      if (err.field && f[err.field]) f[err.field].focus();
    }).then(function () {
      sendingOffline = false;
      el.sendOffline.disabled = false;
    });
  });
  el.offlineForm.addEventListener('input', function () { el.offlineError.hidden = true; });
  el.doneNew.addEventListener('click', function () {
    offlineSent = false;
    refreshConfig();
    render();
  });
  function showError(node, msg) {
    node.textContent = msg;
    node.hidden = false;
  }
  // While the panel is open before a chat, follow who is online (V1: within 10 s).
  var configTimer = null;
  function refreshConfig() {
    configPromise = null;
    ensureConfig();
  }
  function followConfig(open) {
    clearInterval(configTimer);
    configTimer = null;
    if (open) configTimer = setInterval(function () { if (!state.chatId && !el.panel.hidden) refreshConfig(); }, 8000);
  }

  // ---------------------------------------------------------------- contact details
  el.contactForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var f = el.contactForm.elements;
    var email = f.email.value.trim(), phone = f.phone.value.trim();
    el.contactError.hidden = true;
    if (!email && !phone) { showError(el.contactError, T['contact-needed']); f.email.focus(); return; }
    var body = {};
    if (email) body.email = email;
    if (phone) body.phone = phone;
    request('POST', '/chats/' + encodeURIComponent(state.chatId) + '/contact', body, state.token).then(function () {
      state.email = email || phone;
      persist();
      render();
    }, function (err) {
      showError(el.contactError, err.message || T.error);
      if (err.field && f[err.field]) f[err.field].focus();
    });
  });

  // ---------------------------------------------------------------- V5 rating
  el.ratingForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var f = el.ratingForm.elements;
    var picked = el.ratingForm.querySelector('input[name=rating]:checked');
    el.ratingError.hidden = true;
    if (!picked) { showError(el.ratingError, T['rate-question']); return; }
    var body = { rating: picked.value };
    if (f.comment.value.trim()) body.comment = f.comment.value.trim();
    request('POST', '/chats/' + encodeURIComponent(state.chatId) + '/rating', body, state.token).then(function (c) {
      state.chat = c;
      state.rated = true;
      render();
    }, function (err) {
      if (err.status === 409 && state.chat) { refreshChat().catch(function () { /* ignore */ }); }
      showError(el.ratingError, err.message || T.error);
    });
  });

  // ---------------------------------------------------------------- V4 the visitor's page
  var lastPage = '';
  function reportPage() {
    if (!state.chatId || !state.token || state.ended) return;
    var url = location.href;
    if (!/^https?:/i.test(url)) return;
    var key = url + '\n' + document.title;
    if (key === lastPage) return;
    lastPage = key;
    var body = { url: url, title: document.title || '' };
    if (/^https?:/i.test(document.referrer || '')) body.referrer = document.referrer;
    request('POST', '/chats/' + encodeURIComponent(state.chatId) + '/page', body, state.token)
      .catch(function () { lastPage = ''; });
  }
  // Single-page sites change pages with the history API: report those too (the title
  // usually follows the URL a moment later).
  ['pushState', 'replaceState'].forEach(function (name) {
    var orig = history[name];
    if (typeof orig !== 'function') return;
    history[name] = function () {
      var r = orig.apply(this, arguments);
      setTimeout(reportPage, 150);
      return r;
    };
  });
  window.addEventListener('popstate', function () { setTimeout(reportPage, 150); });
  window.addEventListener('hashchange', function () { setTimeout(reportPage, 150); });

  // ---------------------------------------------------------------- start
  // Resume a chat from an earlier page (C3): catch up over HTTP (this also tells whether
  // the chat still exists), show messages that were never acknowledged, then go live. An
  // ended chat shows as ended, with its transcript, the rating and "new chat" (V6).
  if (state.chatId && state.token) {
    if (!state.ended) state.pending.forEach(showPending);
    catchUp().then(refreshChat).then(function () {
      if (state.ended) return;
      connect();
      flushPending();
      reportPage();
    }, function (e) {
      handleAuthError(e);
      if (state.chatId && !state.ended) connect();
    });
  } else if (state.chatId) {
    resetChat();
  }
  render();
  if (panelWasOpen()) setOpen(true);
  // Resume promptly when the tab comes back or the network returns.
  C.wakeOnReturn(live, window, document);

  // A tiny API for host pages: Madoguchi.open() / Madoguchi.close().
  window.Madoguchi = window.Madoguchi || {};
  window.Madoguchi.open = function () { setOpen(true); };
  window.Madoguchi.close = function () { setOpen(false); };
})();
