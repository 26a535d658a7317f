/* Madoguchi operator console (SPEC C4, C6; UI.md "operator console").
 *
 * Data: the JSON API (`/chat/api/v1/portals/{portal}/…`, session cookie + X-CSRF-Token on
 * unsafe requests) and the operator WebSocket (`…/ws`), whose events are
 *   {type:"ready", lastEventId} · {type:"chat.waiting"|"chat.attended"|"chat.missed"|"chat.ended", chat, eventId}
 *   {type:"message", chatId, message} · {type:"typing", chatId, sender} · {type:"resumed"}
 *
 * The first load reads the lists over REST. A reconnect reads nothing again: it passes
 * `afterEvent` (the last eventId seen) and the socket sends every chat that changed meanwhile
 * in its current state; then one `resume` frame with the last seq held per open chat brings
 * the messages said meanwhile, in order.
 *
 * Built for hundreds of open chats: every chat lives in one Map entry with its own list
 * item and (once opened) its own transcript element; an event touches only those nodes,
 * never re-renders a list or a transcript. Messages are keyed by seq, so a replay or a
 * catch-up after a reconnect never shows one twice.
 *
 * For the Desk panel (integration): the right column holds <div id="desk-panel">. On
 * every selection the console sets its data-chat-id and dispatches on `document`
 *   madoguchi:chat-selected  detail {portal, chat}   (chat = the API chat object, or null)
 *   madoguchi:chat-updated   detail {portal, chat}   (state change, visitor edited, …)
 * `window.MadoguchiConsole` exposes {portal, api, request, selectedChat()} for it.
 *
 * The protocol (socket, reconnect, pings, seq order, catch-up cursors, requests, bubbles,
 * uploads) is the shared chat client, `MadoguchiChat` (assets/chat-client.js, which the
 * server puts in front of this file and of widget.js).
 *
 * Files (V3): the attach button, dropping files on the chat or pasting them into the box
 * sends each as `POST …/chats/{id}/attachments` (multipart `file`), shown as "sending" with
 * its progress until the message carrying it arrives; images show as a thumbnail that opens
 * the full image, other files as a named download link.
 */
(function () {
  'use strict';

  var C = MadoguchiChat;
  var cfgEl = document.getElementById('console-config');
  var root = document.getElementById('console');
  if (!cfgEl || !root) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var L = cfg.labels;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var me = cfg.me;
  var deptNames = new Map(cfg.departments.map(function (d) { return [d.id, d.name]; }));

  function $(sel, from) { return (from || root).querySelector(sel); }
  var ui = {
    lists: {
      waiting: $('.q-section.waiting .q-list'), attended: $('.q-section.attended .q-list'),
      missed: $('.q-section.missed .q-list'), ended: $('.q-section.history .q-list')
    },
    sections: {
      waiting: $('.q-section.waiting'), attended: $('.q-section.attended'),
      missed: $('.q-section.missed'), ended: $('.q-section.history')
    },
    availability: $('#availability'), statusDot: $('.status-dot'), sound: $('#sound'),
    historySearch: $('#history-search'),
    conn: $('.conn-banner'), toast: $('.toast'), empty: $('.chat-empty'), head: $('.chat-head'),
    visitorTitle: $('.visitor-title'), department: $('.chat-title .department'), state: $('.chat-title .state'),
    accept: $('.chat-actions .accept'), end: $('.chat-actions .end'), transcripts: $('.transcripts'),
    notice: $('.chat-notice'), typing: $('.typing-line'), composer: $('.composer'),
    text: $('.composer textarea'),
    card: $('.visitor-card'), vName: $('.v-name'), vEmail: $('.v-email'), vPhone: $('.v-phone'),
    vDept: $('.v-department'), vQuestion: $('.v-question'), pencil: $('.pencil'), vView: $('.visitor-view'),
    vEdit: $('.visitor-edit'), vError: $('.visitor-edit .form-error'), vCancel: $('.visitor-edit .cancel'),
    saved: $('.saved-note'), desk: document.getElementById('desk-panel')
  };

  // ---------------------------------------------------------------- state
  /** chat id -> record: the chat's transcript (C.transcript: pane, messages by seq,
   *  pending by clientMessageId, lastSeq) with {chat, item, loaded, stale, unread, typingUntil} */
  var chats = new Map();
  var selectedId = null;
  var historyIds = new Set();   // ids currently shown in the History list

  function record(id) {
    var r = chats.get(id);
    if (!r) {
      r = C.transcript({ own: 'operator', render: makeBubble, stored: function (w) { setTick(w, 'stored'); } });
      Object.assign(r, { chat: null, item: null, loaded: false, stale: false, unread: 0, typingUntil: 0 });
      chats.set(id, r);
    }
    return r;
  }

  // ---------------------------------------------------------------- HTTP
  var request = C.requester({
    base: cfg.api, lang: cfg.lang, csrf: csrf, credentials: 'same-origin',
    offline: L['network-error'],
    failed: function (res) { return res.status + ' ' + res.statusText; }
  });

  var toastTimer = null;
  function toast(msg) {
    ui.toast.textContent = msg;
    ui.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { ui.toast.hidden = true; }, 6000);
  }

  // ---------------------------------------------------------------- formatting
  function visitorName(chat) {
    return (chat.visitor && chat.visitor.name) || L.visitor;
  }
  function honorific(chat) {
    if (!(chat.visitor && chat.visitor.name)) return L.visitor;
    return C.fill(L['visitor-honorific'], { name: chat.visitor.name });
  }
  function deptName(chat) {
    return chat.departmentName || (chat.departmentId && deptNames.get(chat.departmentId)) || L['no-department'];
  }
  function dayClock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    var today = new Date();
    if (d.toDateString() === today.toDateString()) return C.clock(iso);
    return (d.getMonth() + 1) + '/' + d.getDate() + ' ' + C.clock(iso);
  }
  function elapsed(iso) {
    var s = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? ('0' + m).slice(-2) : String(m);
    return (h ? h + ':' : '') + mm + ':' + ('0' + sec).slice(-2);
  }
  function stateLabel(state) {
    return { waiting: L['queue-waiting'], attended: L['queue-attended'], missed: L['queue-missed'],
      ended: L['queue-history'] }[state] || state;
  }

  // ---------------------------------------------------------------- queue lists
  function listFor(chat) {
    // O3: a waiting chat offered to another operator is theirs (supervisors still see it).
    if (chat.state === 'waiting' && chat.offeredTo && chat.offeredTo !== me.id && !supervises) return null;
    // O3: an operator at the cap is offered nothing (the server refuses the accept too).
    if (chat.state === 'waiting' && capReached) return null;
    return ui.lists[chat.state] || null;
  }

  // O3: the portal's cap of concurrent chats per operator (null: none).
  var cap = typeof cfg.maxChatsPerOperator === 'number' ? cfg.maxChatsPerOperator : null;
  var capReached = false;
  /** After any chat changed: at the cap, waiting chats leave the queue (a notice says
   *  why); below it, they come back. */
  function checkCap() {
    if (cap === null) return;
    var held = 0;
    chats.forEach(function (r) {
      if (r.chat && r.chat.state === 'attended' && r.chat.operatorId === me.id) held++;
    });
    var reached = held >= cap;
    if (reached === capReached) return;
    capReached = reached;
    var notice = $('.q-section.waiting .cap-notice');
    if (notice) notice.hidden = !reached;
    chats.forEach(function (r) { if (r.chat && r.chat.state === 'waiting') placeItem(r); });
  }

  function makeItem(id) {
    var li = document.createElement('li');
    li.className = 'q-item';
    li.setAttribute('data-chat-id', id);
    li.tabIndex = 0;
    li.innerHTML = '<span class="q-name"></span><span class="q-time"></span><span class="q-sub"></span>';
    return li;
  }

  /** Puts the chat's list item where its state says, with fresh text. O(1) per chat, except
   *  the ordered insert (waiting: oldest first, like a queue; others: newest first). */
  function placeItem(r) {
    var chat = r.chat;
    var list = chat.state === 'ended' ? (historyIds.has(chat.id) ? ui.lists.ended : null) : listFor(chat);
    if (!list) {
      if (r.item && r.item.parentNode) r.item.parentNode.removeChild(r.item);
      updateCounts();
      return;
    }
    if (!r.item) r.item = makeItem(chat.id);
    var li = r.item;
    li.classList.toggle('mine', chat.state === 'attended' && chat.operatorId === me.id);
    li.classList.toggle('selected', chat.id === selectedId);
    li.querySelector('.q-name').textContent = visitorName(chat);
    var sub = deptName(chat);
    if (chat.state === 'attended' && chat.operatorName && chat.operatorId !== me.id) sub += ' · ' + chat.operatorName;
    if (chat.question) sub += ' · ' + chat.question.replace(/\s+/g, ' ').slice(0, 80);
    li.querySelector('.q-sub').textContent = sub;
    renderItemTime(r);
    renderUnread(r);
    if (li.parentNode !== list) {
      var key = sortKey(chat);
      var before = null;
      for (var n = list.firstElementChild; n; n = n.nextElementSibling) {
        var other = chats.get(n.getAttribute('data-chat-id'));
        if (!other || !other.chat) continue;
        if (chat.state === 'waiting' ? sortKey(other.chat) > key : sortKey(other.chat) < key) { before = n; break; }
      }
      list.insertBefore(li, before);
    }
    updateCounts();
  }

  function sortKey(chat) {
    return chat.state === 'ended' ? (chat.endedAt || chat.createdAt) : chat.createdAt;
  }

  function renderItemTime(r) {
    var t = r.item && r.item.querySelector('.q-time');
    if (!t) return;
    var c = r.chat;
    t.textContent = c.state === 'waiting' ? elapsed(c.createdAt) : dayClock(c.endedAt || c.acceptedAt || c.createdAt);
  }

  function renderUnread(r) {
    if (!r.item) return;
    var name = r.item.querySelector('.q-name');
    var badge = name.querySelector('.q-unread');
    if (r.unread > 0 && r.chat.id !== selectedId) {
      if (!badge) { badge = document.createElement('span'); badge.className = 'q-unread'; name.appendChild(badge); }
      badge.textContent = r.unread > 99 ? '99+' : String(r.unread);
    } else if (badge) {
      badge.parentNode.removeChild(badge);
    }
  }

  var waitingCount = 0;
  function updateCounts() {
    ['waiting', 'attended', 'missed'].forEach(function (s) {
      var list = ui.lists[s];
      var n = list.querySelectorAll('.q-item').length;
      ui.sections[s].querySelector('.count').textContent = '(' + n + ')';
      ui.sections[s].classList.toggle('has-chats', n > 0);
      var empty = list.querySelector('.empty');
      if (n === 0 && !empty) {
        empty = document.createElement('li');
        empty.className = 'empty';
        empty.textContent = L['queue-empty'];
        list.appendChild(empty);
      } else if (n > 0 && empty) {
        empty.parentNode.removeChild(empty);
      }
      if (s === 'waiting') waitingCount = n;
    });
    updateTitle();
  }

  // Title bar: "(3) 窓口 …" while chats wait, so a background tab still tells.
  var baseTitle = document.title;
  function updateTitle() {
    document.title = waitingCount > 0 ? '(' + waitingCount + ') ' + baseTitle : baseTitle;
  }

  // Waiting times tick every second; only the waiting list is touched.
  setInterval(function () {
    ui.lists.waiting.querySelectorAll('.q-item').forEach(function (li) {
      var r = chats.get(li.getAttribute('data-chat-id'));
      if (r && r.chat) renderItemTime(r);
    });
    // Typing indicators expire on their own.
    if (selectedId) renderTyping();
  }, 1000);

  // ---------------------------------------------------------------- chat updates
  /** A chat object from the API or an event: the single place a chat's state changes. */
  function upsertChat(chat, fromEvent) {
    var r = record(chat.id);
    var prev = r.chat;
    // Events may arrive out of order with a list response; never go back in the lifecycle.
    if (prev && rank(prev.state) > rank(chat.state)) return r;
    var merged = Object.assign({}, prev || {}, chat);
    if (!chat.messages) delete merged.messages;
    r.chat = merged;
    if (typeof chat.lastSeq === 'number' && r.loaded && chat.lastSeq > r.lastSeq) r.stale = true;
    if (fromEvent && chat.state === 'waiting' && (!prev || prev.state !== 'waiting')) notifyNewWaiting(merged);
    if (fromEvent && chat.state === 'ended' && (!prev || prev.state !== 'ended')) {
      historyIds.add(chat.id);   // a chat that just ended leads the history
    }
    placeItem(r);
    checkCap();
    if (chat.id === selectedId) {
      renderHead();
      renderVisitor();
      emit('madoguchi:chat-updated');
      if (r.stale) catchUp(r);
    }
    return r;
  }
  function rank(state) {
    return { waiting: 0, missed: 1, attended: 1, ended: 2 }[state] || 0;
  }

  // ---------------------------------------------------------------- transcript
  function paneFor(r) {
    if (!r.pane) {
      r.pane = document.createElement('div');
      r.pane.className = 'transcript';
      r.pane.setAttribute('data-chat-id', r.chat.id);
      r.pane.hidden = true;
      ui.transcripts.appendChild(r.pane);
    }
    return r.pane;
  }

  function makeBubble(m) {
    return C.bubble(document, m, {
      own: 'operator', systemTime: true, fileView: fileView,
      who: function (sender, msg) { return msg.senderName || (sender === 'visitor' ? L.visitor : L.operator); }
    });
  }

  // ---------------------------------------------------------------- files (V3)
  /** An image as a thumbnail opening the full image; anything else a named download. */
  function fileView(a) {
    var link = document.createElement('a');
    link.href = a.url;
    if (C.isInlineImage(a.contentType)) {
      link.className = 'file-thumb';
      link.target = '_blank';
      link.rel = 'noopener';
      link.title = L['open-image'] + ': ' + a.name;
      var img = document.createElement('img');
      img.src = a.url;
      img.alt = a.name;
      img.loading = 'lazy';
      link.appendChild(img);
      return link;
    }
    link.className = 'file-link';
    link.setAttribute('download', a.name);
    link.title = L.download + ': ' + a.name;
    var icon = document.createElement('span');
    icon.className = 'file-icon';
    icon.setAttribute('aria-hidden', 'true');
    icon.innerHTML = CLIP;
    link.appendChild(icon);
    C.fileLabel(link, a);
    return link;
  }
  var CLIP = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
    'stroke-linejoin="round"><path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>';

  function canSendFiles() {
    var r = chats.get(selectedId);
    return r && r.chat && !ui.text.disabled && (r.chat.state === 'attended' || r.chat.state === 'missed');
  }

  function sendFiles(files) {
    var r = chats.get(selectedId);
    if (!r || !canSendFiles()) return;
    Array.prototype.forEach.call(files || [], function (f) { uploadFile(r, f); });
  }

  /** The stored message of a file, when it is on screen. */
  function shownFile(r, attachmentId) {
    if (!r.pane) return null;
    var found = null;
    r.pane.querySelectorAll('.msg[data-seq][data-attachment-id]').forEach(function (w) {
      if (w.getAttribute('data-attachment-id') === attachmentId) found = w;
    });
    return found;
  }

  // A "sending" bubble with its progress, replaced by the message carrying the file.
  function uploadFile(r, file) {
    var wrap = makeBubble({ sender: 'operator', senderName: me.name, text: file.name, createdAt: new Date().toISOString() });
    paneFor(r).appendChild(wrap);
    C.upload({
      url: cfg.api + '/chats/' + encodeURIComponent(r.chat.id) + '/attachments',
      headers: { 'X-CSRF-Token': csrf, 'Accept-Language': cfg.lang },
      file: file, wrap: wrap, max: cfg.maxAttachmentBytes,
      labels: {
        sending: L['file-sending'], failed: L['file-failed'], tooLarge: L['file-too-large'],
        unreachable: L['network-error'], ticks: L
      },
      shown: function (id) { return !!shownFile(r, id); },
      // Not a message to click and resend.
      failed: function (w) { w.removeAttribute('data-status'); },
      refused: function (status, err) { if (err.code === 'not_chat_owner') refreshChat(r.chat.id); }
    });
    scrollDown(true);
  }

  ui.attach = $('.composer .attach');
  ui.fileInput = $('.composer .file-input');
  var dropZone = ui.transcripts.parentNode;
  dropZone.setAttribute('data-drop-label', L['drop-here']);
  C.fileInputs({
    attach: ui.attach, input: ui.fileInput, text: ui.text, zone: dropZone,
    canSend: canSendFiles, send: sendFiles,
    show: function (on) { dropZone.classList.toggle('drop-target', on); }
  });

  function setTick(wrap, status) {
    C.setTick(wrap, status, L, false);
  }

  function scrollDown(force) {
    var t = ui.transcripts;
    // Keep the reader's place when they scrolled up to read; follow when at the bottom.
    if (force || t.scrollHeight - t.scrollTop - t.clientHeight < 120) t.scrollTop = t.scrollHeight;
  }

  function loadTranscript(r) {
    var id = r.chat.id;
    return request('GET', '/chats/' + encodeURIComponent(id)).then(function (chat) {
      var msgs = chat.messages || [];
      paneFor(r);
      r.loaded = true;
      r.stale = false;
      msgs.forEach(function (m) { r.add(m); });
      upsertChat(chat);
      if (id === selectedId) scrollDown(true);
    });
  }
  var catchingUp = new Set();
  function catchUp(r) {
    if (catchingUp.has(r.chat.id)) return;
    catchingUp.add(r.chat.id);
    loadTranscript(r).catch(function (e) { toast(e.message); }).then(function () {
      catchingUp.delete(r.chat.id);
    });
  }

  // ---------------------------------------------------------------- selection
  function select(id) {
    var r = chats.get(id);
    if (!r || !r.chat) return;
    if (selectedId && chats.get(selectedId)) {
      var old = chats.get(selectedId);
      if (old.pane) old.pane.hidden = true;
      if (old.item) old.item.classList.remove('selected');
    }
    selectedId = id;
    r.unread = 0;
    if (r.item) { r.item.classList.add('selected'); renderUnread(r); }
    ui.empty.hidden = true;
    ui.head.hidden = false;
    paneFor(r).hidden = false;
    closeEditor();
    renderHead();
    renderVisitor();
    renderTyping();
    if (!r.loaded || r.stale) loadTranscript(r).catch(function (e) { toast(e.message); });
    else scrollDown(true);
    if (ui.desk) ui.desk.setAttribute('data-chat-id', id);
    emit('madoguchi:chat-selected');
    setDrawer('queue', false);
    if (!ui.composer.hidden) ui.text.focus();
  }

  function renderHead() {
    var r = chats.get(selectedId);
    if (!r) return;
    var c = r.chat;
    ui.visitorTitle.textContent = honorific(c);
    ui.department.textContent = deptName(c);
    ui.state.textContent = stateLabel(c.state);
    ui.state.className = 'state badge ' + c.state;
    ui.accept.hidden = c.state !== 'waiting';
    ui.end.hidden = c.state === 'ended';
    var canWrite = c.state === 'attended' || c.state === 'missed';
    ui.composer.hidden = c.state === 'ended';
    ui.text.disabled = !canWrite;
    ui.composer.querySelector('.send').disabled = !canWrite;
    ui.composer.querySelector('.attach').disabled = !canWrite;
    var notice = c.state === 'ended' ? L['chat-ended'] : c.state === 'missed' ? L['chat-missed']
      : c.state === 'waiting' ? L['accept-first'] : '';
    ui.notice.textContent = notice;
    ui.notice.hidden = !notice;
    renderToolkit(c);
  }

  function renderVisitor() {
    var r = chats.get(selectedId);
    if (!r) { ui.card.hidden = true; return; }
    var c = r.chat, v = c.visitor || {};
    ui.card.hidden = false;
    ui.vName.textContent = v.name || L.visitor;
    ui.vEmail.textContent = v.email || '—';
    ui.vPhone.textContent = v.phone || '—';
    ui.vDept.textContent = deptName(c);
    ui.vQuestion.textContent = c.question || '—';
  }

  function renderTyping() {
    var r = chats.get(selectedId);
    var on = r && r.typingUntil > Date.now();
    var text = on ? L['visitor-typing'] : '';
    if (ui.typing.textContent !== text) ui.typing.textContent = text;
  }

  function emit(name) {
    var r = chats.get(selectedId);
    document.dispatchEvent(new CustomEvent(name, { detail: { portal: cfg.portal, chat: r ? r.chat : null } }));
  }

  ['waiting', 'attended', 'missed', 'ended'].forEach(function (s) {
    ui.lists[s].addEventListener('click', function (e) {
      var li = e.target.closest('.q-item');
      if (li) select(li.getAttribute('data-chat-id'));
    });
    ui.lists[s].addEventListener('keydown', function (e) {
      var li = e.target.closest('.q-item');
      if (li && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); select(li.getAttribute('data-chat-id')); }
    });
  });

  // ---------------------------------------------------------------- actions
  ui.accept.addEventListener('click', function () {
    var id = selectedId;
    ui.accept.disabled = true;
    request('POST', '/chats/' + encodeURIComponent(id) + '/accept').then(function (chat) {
      upsertChat(chat);
      if (id === selectedId) { var r = chats.get(id); if (r.loaded) catchUp(r); ui.text.focus(); }
    }, function (e) {
      toast(e.message);
      // O4: the race is lost: show the chat as taken at once.
      if (e.status === 409) refreshChat(id);
    }).then(function () { ui.accept.disabled = false; });
  });

  ui.end.addEventListener('click', function () {
    var id = selectedId;
    if (!window.confirm(L['end-confirm'])) return;
    ui.end.disabled = true;
    request('POST', '/chats/' + encodeURIComponent(id) + '/end').then(function (chat) {
      historyIds.add(chat.id);
      upsertChat(chat);
      var r = chats.get(id);
      if (r && r.loaded) catchUp(r);
    }, function (e) { toast(e.message); }).then(function () { ui.end.disabled = false; });
  });

  function send(text) {
    var r = chats.get(selectedId);
    text = text.replace(/\s+$/, '');
    if (!r || !text.trim()) return;
    var cid = C.newId();
    var wrap = makeBubble({ sender: 'operator', senderName: me.name, text: text, createdAt: new Date().toISOString() });
    setTick(wrap, 'pending');
    paneFor(r);
    r.addPending(cid, wrap);
    scrollDown(true);
    postMessage(r, cid, text, 0);
  }

  // Resends keep the clientMessageId, so the server stores the message once (C3).
  function postMessage(r, cid, text, tries) {
    var id = r.chat.id;
    request('POST', '/chats/' + encodeURIComponent(id) + '/messages', { text: text, clientMessageId: cid })
      .then(function (res) {
        // Numbered and in its place now, unless its echo came first.
        r.ack(cid, res && res.seq);
      }, function (e) {
        var wrap = r.pending.get(cid);
        if (wrap) setTick(wrap, 'failed');
        // Network trouble or a server hiccup: the same clientMessageId again later; a
        // refusal (4xx) is final.
        if ((!e.status || e.status >= 500 || e.status === 429) && tries < 8) {
          setTimeout(function () { postMessage(r, cid, text, tries + 1); }, Math.min(30000, 1000 * Math.pow(2, tries)));
        } else {
          toast(e.message);
          if (wrap && e.status !== 409) wrap.title = L.retry;
          if (e.code === 'not_chat_owner') refreshChat(id);
        }
      });
  }

  // A message that could not be sent: click it to try again (same clientMessageId).
  ui.transcripts.addEventListener('click', function (e) {
    var wrap = e.target.closest('.msg[data-status=failed][data-client-id]');
    var r = chats.get(selectedId);
    if (!wrap || !r || !r.pending.has(wrap.getAttribute('data-client-id'))) return;
    setTick(wrap, 'pending');
    postMessage(r, wrap.getAttribute('data-client-id'), wrap.querySelector('.bubble').textContent, 0);
  });

  ui.composer.addEventListener('submit', function (e) {
    e.preventDefault();
    if (ui.text.disabled) return;
    send(ui.text.value);
    ui.text.value = '';
    typingSignal.reset();
  });
  // Enter sends, Shift+Enter is a new line; never while an IME is composing.
  ui.text.addEventListener('keydown', function (e) {
    if (C.isSendKey(e)) {
      e.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  var typingSignal = C.typingThrottle(2000);
  ui.text.addEventListener('input', function () {
    if (selectedId && typingSignal.due(Date.now(), ui.text.value)) wsSend({ type: 'typing', chatId: selectedId });
  });

  // Availability (C4): only available operators are offered new chats.
  ui.availability.addEventListener('change', function () {
    var status = ui.availability.value;
    request('PUT', '/me/availability', { status: status }).then(function (op) {
      showAvailability(op || { status: status });
    }, function (e) {
      ui.availability.value = me.status;
      toast(e.message);
    });
  });

  function showAvailability(op) {
    if (!op || !op.status) return;
    me.status = op.status;
    ui.availability.value = op.status;
    ui.statusDot.classList.toggle('available', op.status === 'available');
  }

  // ---------------------------------------------------------------- visitor editor (C6)
  ui.pencil.addEventListener('click', function () {
    var r = chats.get(selectedId);
    if (!r) return;
    var v = r.chat.visitor || {};
    var f = ui.vEdit.elements;
    f.name.value = v.name || '';
    f.email.value = v.email || '';
    f.phone.value = v.phone || '';
    ui.vError.hidden = true;
    ui.saved.hidden = true;
    ui.vView.hidden = true;
    ui.vEdit.hidden = false;
    f.name.focus();
  });
  function closeEditor() {
    ui.vEdit.hidden = true;
    ui.vView.hidden = false;
    ui.saved.hidden = true;
  }
  ui.vCancel.addEventListener('click', closeEditor);
  ui.vEdit.addEventListener('submit', function (e) {
    e.preventDefault();
    var r = chats.get(selectedId);
    if (!r || !r.chat.visitor) return;
    var f = ui.vEdit.elements;
    var body = { name: f.name.value.trim(), email: f.email.value.trim(), phone: f.phone.value.trim() };
    var btn = ui.vEdit.querySelector('[type=submit]');
    btn.disabled = true;
    ui.vError.hidden = true;
    ui.vEdit.querySelectorAll('[aria-invalid]').forEach(function (x) { x.removeAttribute('aria-invalid'); });
    request('PATCH', '/visitors/' + encodeURIComponent(r.chat.visitor.id), body).then(function (visitor) {
      // The same visitor may have several chats open: update each.
      chats.forEach(function (other) {
        if (other.chat && other.chat.visitor && other.chat.visitor.id === visitor.id) {
          other.chat = Object.assign({}, other.chat, { visitor: visitor });
          placeItem(other);
        }
      });
      closeEditor();
      renderHead();
      renderVisitor();
      ui.saved.hidden = false;
      setTimeout(function () { ui.saved.hidden = true; }, 3000);
      emit('madoguchi:chat-updated');
    }, function (err) {
      ui.vError.textContent = err.message;
      ui.vError.hidden = false;
      var field = err.field && f[err.field];
      if (field) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
    }).then(function () { btn.disabled = false; });
  });

  // ---------------------------------------------------------------- history (C4)
  var historyTimer = null;
  var historySeq = 0;
  function loadHistory() {
    var q = ui.historySearch.value.trim();
    var mine = ++historySeq;
    var path = '/chats?state=ended&limit=50' + (q ? '&q=' + encodeURIComponent(q) : '');
    return request('GET', path).then(function (res) {
      if (mine !== historySeq) return;   // a newer search answered first
      historyIds.forEach(function (id) {
        var r = chats.get(id);
        if (r && r.item && r.chat.state === 'ended' && r.item.parentNode === ui.lists.ended) {
          r.item.parentNode.removeChild(r.item);
        }
      });
      historyIds = new Set();
      var data = (res && res.data) || [];
      data.forEach(function (c) { historyIds.add(c.id); });
      data.forEach(function (c) { upsertChat(c); });
      var empty = ui.lists.ended.querySelector('.empty');
      if (!data.length && !empty) {
        empty = document.createElement('li');
        empty.className = 'empty';
        empty.textContent = L['history-empty'];
        ui.lists.ended.appendChild(empty);
      } else if (data.length && empty) {
        empty.parentNode.removeChild(empty);
      }
    }).catch(function (e) { toast(e.message); });
  }
  ui.historySearch.addEventListener('input', function () {
    clearTimeout(historyTimer);
    historyTimer = setTimeout(loadHistory, 300);
  });

  // ---------------------------------------------------------------- notification sound
  // A short two-tone chime made with WebAudio: no sound file to ship. Browsers only allow
  // audio after a user gesture, so the context is created on the first click or key.
  var audio = null;
  function unlockAudio() {
    if (audio) return;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) { try { audio = new Ctx(); } catch (e) { audio = null; } }
  }
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  document.addEventListener('keydown', unlockAudio, { once: true });
  try { ui.sound.checked = localStorage.getItem('madoguchi.console.sound') !== 'off'; } catch (e) { /* ignore */ }
  ui.sound.addEventListener('change', function () {
    try { localStorage.setItem('madoguchi.console.sound', ui.sound.checked ? 'on' : 'off'); } catch (e) { /* ignore */ }
  });
  function chime() {
    if (!ui.sound.checked || !audio) return;
    try {
      if (audio.state === 'suspended') audio.resume();
      var t = audio.currentTime;
      [[880, 0], [1320, 0.16]].forEach(function (tone) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = 'sine';
        osc.frequency.value = tone[0];
        gain.gain.setValueAtTime(0.0001, t + tone[1]);
        gain.gain.exponentialRampToValueAtTime(0.25, t + tone[1] + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + tone[1] + 0.35);
        osc.connect(gain).connect(audio.destination);
        osc.start(t + tone[1]);
        osc.stop(t + tone[1] + 0.4);
      });
    } catch (e) { /* no sound, the title still counts */ }
  }
  var lastChime = 0;
  function notifyNewWaiting(chat) {
    if (chat && chat.offeredTo && chat.offeredTo !== me.id) return;
    if (capReached) return;
    // One chime per burst: ten chats arriving together ring once.
    if (Date.now() - lastChime > 1500) { lastChime = Date.now(); chime(); }
    if (chat) desktopNotify(C.fill(L['notify-new-chat'], { name: visitorName(chat) }), chat.question || '', chat.id);
  }

  // ---------------------------------------------------------------- WebSocket
  // Reconnects with backoff (0.5 s … 30 s; 60 s after a refusal, 1013) and pings. The
  // lifecycle cursor (afterEvent) counts an event id once it is 10 s old; between `ready`
  // and the last `resumed` the socket replays what we missed (C.eventCursor).
  var everConnected = false;
  var cursor = C.eventCursor(10000);
  var live = C.liveSocket({
    url: function () {
      var url = location.origin.replace(/^http/, 'ws') + cfg.api + '/ws?lang=' + cfg.lang;
      if (cursor.value() !== null) url += '&afterEvent=' + cursor.value();
      return url;
    },
    status: function (s) { root.setAttribute('data-connection', s); },
    refusedMax: 60000,
    onReady: onReady,
    onFrame: onFrame,
    onClose: function (code, attempt) {
      cursor.down(Date.now());
      if (code === 4001) {
        // Signed out (here, in another tab, or the session ended): no reconnecting; the
        // login page brings the operator back here.
        root.setAttribute('data-connection', 'signed-out');
        location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
        return false;
      }
      ui.conn.hidden = attempt < 1;
      // 1013: too many sockets for this operator (other tabs) or a busy server: wait long.
      return true;
    }
  });
  var connect = live.connect;
  var wsSend = live.send;

  function onReady(f) {
    ui.conn.hidden = true;
    var upTo = typeof f.lastEventId === 'number' ? f.lastEventId : null;
    if (cursor.ready(upTo)) {
      // The socket replays what we missed; availability may have changed elsewhere.
      resume();
      request('GET', '/me').then(showAvailability, function () { /* keep what we show */ });
    } else {
      // Subscribed first, then read: whatever happened before (or while the server's
      // record was replaced) is in these answers, and the events from now on are live.
      resync(everConnected);
    }
    everConnected = true;
  }

  function onFrame(f) {
    var type = f.type || '';
    if (type === 'chat.visitor') { onVisitorChanged(f.chatId); return; }
    if (type.indexOf('chat.') === 0 && f.chat) {
      if (typeof f.eventId === 'number') cursor.seen(f.eventId, Date.now());
      var c = f.chat;
      if (cursor.resuming() && chats.has(c.id)) {
        // Replayed: its messages follow (and count as unread), so keep our lastSeq.
        c = Object.assign({}, c);
        delete c.lastSeq;
      }
      if (type === 'chat.transferred') onTransferred(c);
      upsertChat(c, true);
      return;
    }
    if (type === 'resumed') {
      cursor.resumed();
      return;
    }
    if (type === 'message' && f.message) {
      var r = chats.get(f.chatId);
      if (!r || !r.chat) {
        // A chat we do not show yet (e.g. a list answer still in flight): fetch it.
        refreshChat(f.chatId);
        return;
      }
      var m = f.message;
      var isNew = m.seq > Math.max(r.lastSeq, r.chat.lastSeq || 0);
      r.add(m);
      if (r.pane && f.chatId === selectedId) scrollDown(m.sender === 'operator');
      if (m.sender === 'visitor') {
        r.typingUntil = 0;
        if (f.chatId !== selectedId && isNew) { r.unread++; renderUnread(r); }
        if (f.chatId === selectedId) renderTyping();
      }
      if (r.chat.lastSeq == null || m.seq > r.chat.lastSeq) r.chat.lastSeq = m.seq;
      return;
    }
    if (type === 'typing') {
      var t = chats.get(f.chatId);
      if (t && f.sender === 'visitor') {
        t.typingUntil = Date.now() + 5000;
        if (f.chatId === selectedId) renderTyping();
      }
      return;
    }
  }

  /** The seq up to which we hold every message of a chat: the unbroken run of the loaded
   *  transcript, else what the list or the events said. */
  function heldSeq(r) {
    if (!r.loaded) return Math.max(r.lastSeq, r.chat.lastSeq || 0);
    return r.held();
  }

  /** After a reconnect: asks for the messages of every open chat after the seq we hold
   *  (1000 chats a frame); each frame is answered with `resumed`. */
  function resume() {
    var open = [];
    chats.forEach(function (r, id) {
      if (r.chat && r.chat.state !== 'ended') open.push([id, heldSeq(r)]);
    });
    var frames = C.resumeFrames(open, 1000);
    cursor.resumeSent(frames.length);
    frames.forEach(function (afterSeq) { wsSend({ type: 'resume', afterSeq: afterSeq }); });
  }

  /** Loads the open chats (and the history on the first connect). After a reconnect, chats
   *  that left the open states are re-read, and the open transcript catches up. */
  function resync(again) {
    var states = ['waiting', 'attended', 'missed'];
    // Availability may have been changed in another tab or by the server.
    request('GET', '/me').then(showAvailability, function () { /* keep what we show */ });
    return Promise.all(states.map(function (s) {
      return request('GET', '/chats?state=' + s + '&limit=500').then(function (res) { return (res && res.data) || []; });
    })).then(function (lists) {
      var seen = new Set();
      lists.forEach(function (list) {
        list.forEach(function (c) {
          seen.add(c.id);
          var r = chats.get(c.id);
          // New messages while away count as unread.
          if (again && r && r.chat && typeof c.lastSeq === 'number' && c.lastSeq > (r.chat.lastSeq || 0) && c.id !== selectedId) {
            r.unread += c.lastSeq - (r.chat.lastSeq || 0);
          }
          upsertChat(c);
        });
      });
      if (again) {
        // Chats that were open before and are not any more ended (or were taken elsewhere).
        chats.forEach(function (r, id) {
          if (r.chat && r.chat.state !== 'ended' && !seen.has(id)) refreshChat(id);
        });
        var sel = chats.get(selectedId);
        if (sel && sel.loaded) catchUp(sel);
        loadHistory();
      } else {
        loadHistory();
        // Start where an operator would: the oldest waiting chat, else my newest chat.
        if (!selectedId) {
          var first = ui.lists.waiting.querySelector('.q-item') || ui.lists.attended.querySelector('.q-item.mine');
          if (first && location.hash.length < 2) select(first.getAttribute('data-chat-id'));
        }
      }
      if (location.hash.length > 1 && !selectedId) openFromHash();
    }).catch(function (e) { toast(e.message); });
  }

  // /chat/{portal}#chat=<id> opens that chat (links from elsewhere, e.g. Desk).
  function openFromHash() {
    var m = /chat=([^&]+)/.exec(location.hash);
    if (!m) return;
    var id = decodeURIComponent(m[1]);
    var r = chats.get(id);
    if (r && r.chat) { select(id); return; }
    request('GET', '/chats/' + encodeURIComponent(id)).then(function (c) {
      delete c.messages;
      historyIds.add(c.id);
      upsertChat(c);
      select(id);
    }, function (e) { toast(e.message); });
  }

  C.wakeOnReturn(live, window, document);

  // ---------------------------------------------------------------- canned responses (O1)
  // In the message box, "/" (at the start or after a space) opens the canned responses
  // the operator may use, filtered by what follows; arrows move, Enter or Tab picks, Esc
  // closes. {visitor.name} and {operator.name} are filled in.
  ui.canned = document.getElementById('canned-list');
  var canned = [], cannedShown = [], cannedAt = 0, cannedQ = null, cannedSeq = 0;

  function cannedQuery() {
    var caret = ui.text.selectionStart, before = ui.text.value.slice(0, caret);
    var m = /(^|\s)\/([^\s/]*)$/.exec(before);
    return m ? { start: caret - m[2].length - 1, end: caret, q: m[2] } : null;
  }
  function fillCanned(text) {
    var r = chats.get(selectedId);
    var visitor = (r && r.chat && r.chat.visitor && r.chat.visitor.name) || L.visitor;
    return text.split('{visitor.name}').join(visitor).split('{operator.name}').join(me.name);
  }
  function hideCanned() {
    if (ui.canned.hidden) return;
    ui.canned.hidden = true;
    cannedQ = null;
    ui.text.removeAttribute('aria-activedescendant');
  }
  function showCanned(q) {
    var needle = q.q.toLowerCase();
    var starts = [], other = [];
    canned.forEach(function (c) {
      var sc = c.shortcut.toLowerCase();
      if (sc.indexOf(needle) === 0) starts.push(c);
      else if (needle && (sc.indexOf(needle) >= 0 || c.text.toLowerCase().indexOf(needle) >= 0)) other.push(c);
    });
    cannedShown = starts.concat(other).slice(0, 8);
    cannedAt = Math.min(cannedAt, Math.max(0, cannedShown.length - 1));
    cannedQ = q;
    ui.canned.textContent = '';
    if (!cannedShown.length) {
      var none = document.createElement('li');
      none.className = 'canned-empty';
      none.setAttribute('role', 'option');
      none.setAttribute('aria-disabled', 'true');
      none.setAttribute('aria-selected', 'false');
      none.textContent = L['canned-empty'];
      ui.canned.appendChild(none);
    }
    cannedShown.forEach(function (c, i) {
      var li = document.createElement('li');
      li.id = 'canned-' + i;
      li.className = 'canned-item';
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', i === cannedAt ? 'true' : 'false');
      li.setAttribute('data-shortcut', c.shortcut);
      var sc = document.createElement('span');
      sc.className = 'canned-shortcut';
      sc.textContent = '/' + c.shortcut;
      var tx = document.createElement('span');
      tx.className = 'canned-text';
      tx.textContent = fillCanned(c.text).replace(/\s+/g, ' ').slice(0, 120);
      li.appendChild(sc);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(tx);
      li.addEventListener('mousedown', function (e) { e.preventDefault(); pickCanned(i); });
      ui.canned.appendChild(li);
    });
    ui.canned.hidden = false;
    if (cannedShown.length) ui.text.setAttribute('aria-activedescendant', 'canned-' + cannedAt);
    else ui.text.removeAttribute('aria-activedescendant');
  }
  function moveCanned(step) {
    if (!cannedShown.length) return;
    cannedAt = (cannedAt + step + cannedShown.length) % cannedShown.length;
    ui.canned.querySelectorAll('.canned-item').forEach(function (li, i) {
      li.setAttribute('aria-selected', i === cannedAt ? 'true' : 'false');
    });
    ui.text.setAttribute('aria-activedescendant', 'canned-' + cannedAt);
    var active = document.getElementById('canned-' + cannedAt);
    if (active && active.scrollIntoView) active.scrollIntoView({ block: 'nearest' });
  }
  function pickCanned(i) {
    var c = cannedShown[i], q = cannedQ;
    if (!c || !q) { hideCanned(); return; }
    var v = ui.text.value, text = fillCanned(c.text);
    ui.text.value = v.slice(0, q.start) + text + v.slice(q.end);
    var caret = q.start + text.length;
    hideCanned();
    ui.text.focus();
    ui.text.setSelectionRange(caret, caret);
  }
  ui.text.setAttribute('aria-autocomplete', 'list');
  ui.text.addEventListener('input', function () {
    var q = cannedQuery();
    if (!q) { hideCanned(); return; }
    if (!ui.canned.hidden) { showCanned(q); return; }
    // Opening: read the set fresh (an admin may have just added one).
    cannedAt = 0;
    var mine = ++cannedSeq;
    request('GET', '/canned-responses').then(function (res) {
      if (mine !== cannedSeq) return;
      canned = (res && res.data) || [];
      var now = cannedQuery();
      if (now) showCanned(now);
    }, function (e) { toast(e.message); });
  });
  // Capture on the form: before the box's own Enter-sends handler.
  ui.composer.addEventListener('keydown', function (e) {
    if (ui.canned.hidden || e.target !== ui.text || e.isComposing) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') moveCanned(e.key === 'ArrowDown' ? 1 : -1);
    else if (e.key === 'Enter' || e.key === 'Tab') { if (cannedShown.length) pickCanned(cannedAt); else hideCanned(); }
    else if (e.key === 'Escape') hideCanned();
    else return;
    e.preventDefault();
    e.stopPropagation();
  }, true);
  // Leaving the box closes the list, unless focus came back meanwhile (a click on an item
  // refocuses the box; some input methods and drivers blur and refocus it between keys).
  ui.text.addEventListener('blur', function () {
    setTimeout(function () { if (document.activeElement !== ui.text) hideCanned(); }, 150);
  });

  // ---------------------------------------------------------------- operator toolkit (O2, O4, O5)
  // One owner per chat (O4): only the owner and those who joined write in an attended chat;
  // supervisors and admins may join. Transfers (O2) hand a chat over with a note. The
  // visitor/desk panel and, on a phone, the queue are drawers (O5). Desktop notifications
  // beside the chime, off until the operator turns them on (asked once).
  var supervises = me.role === 'admin' || me.role === 'supervisor';
  ui.join = $('.chat-actions .join');
  ui.transferOpen = $('.chat-actions .transfer-open');
  ui.transferForm = $('.transfer-form');
  ui.notify = document.getElementById('notify');

  function isMine(c) {
    return !!c && (c.operatorId === me.id || (c.participantIds || []).indexOf(me.id) >= 0);
  }

  /** The parts of the chat head that follow ownership; called at the end of renderHead. */
  function renderToolkit(c) {
    var attended = c.state === 'attended';
    var mine = isMine(c);
    var theirs = attended && !mine;
    ui.join.hidden = !(theirs && supervises);
    ui.transferOpen.hidden = !(attended && (c.operatorId === me.id || supervises));
    if (ui.transferOpen.hidden) closeTransfer();
    if (theirs) {
      ui.composer.hidden = true;
      if (!supervises) ui.end.hidden = true;
      var who = c.operatorName || L.operator;
      ui.state.textContent = stateLabel(c.state) + ' · ' + who;
      ui.notice.textContent = C.fill(supervises ? L['taken-by'] : L['taken-by-operator'], { name: who });
      ui.notice.hidden = false;
    } else if (attended && c.transfer && c.transfer.toOperatorId === me.id && c.transfer.note) {
      ui.notice.textContent = L['transfer-note-label'] + ': ' + c.transfer.note +
        (c.transfer.fromOperatorName ? ' (' + c.transfer.fromOperatorName + ')' : '');
      ui.notice.hidden = false;
    }
    root.setAttribute('data-chat-owner', theirs ? 'other' : mine ? 'me' : 'none');
  }

  function refreshChat(id) {
    return request('GET', '/chats/' + encodeURIComponent(id)).then(function (c) {
      delete c.messages;
      upsertChat(c);
    }, function () { /* not ours to see any more */ });
  }

  /** A `chat.transferred` frame: the receiver hears of it (toast and notification). */
  function onTransferred(c) {
    var t = c.transfer || {};
    if (c.operatorId !== me.id || t.fromOperatorId === me.id) return;
    var r = chats.get(c.id);
    if (r && r.chat && r.chat.operatorId === me.id) return;   // a replay of what we know
    var msg = C.fill(L['transferred-to-you'], { name: t.fromOperatorName || L.operator });
    toast(t.note ? msg + ': ' + t.note : msg);
    chime();
    desktopNotify(C.fill(L['notify-transferred'], { name: visitorName(c) }), t.note || c.question || '', c.id);
  }

  ui.join.addEventListener('click', function () {
    var id = selectedId;
    ui.join.disabled = true;
    request('POST', '/chats/' + encodeURIComponent(id) + '/join').then(function (chat) {
      upsertChat(chat);
      if (id === selectedId && !ui.composer.hidden) ui.text.focus();
    }, function (e) { toast(e.message); }).then(function () { ui.join.disabled = false; });
  });

  function option(menu, value, text, disabled) {
    var o = document.createElement('option');
    o.value = value;
    o.textContent = text;
    if (disabled) o.disabled = true;
    menu.appendChild(o);
  }

  function openTransfer() {
    var r = chats.get(selectedId);
    if (!r || !r.chat) return;
    var c = r.chat, f = ui.transferForm.elements;
    f.departmentId.textContent = '';
    option(f.departmentId, '', L['transfer-keep']);
    cfg.departments.forEach(function (d) { option(f.departmentId, d.id, d.name); });
    f.operatorId.textContent = '';
    option(f.operatorId, '', L['transfer-any']);
    f.note.value = '';
    ui.transferForm.querySelector('.form-error').hidden = true;
    ui.transferForm.hidden = false;
    ui.transferOpen.setAttribute('aria-expanded', 'true');
    request('GET', '/operators').then(function (res) {
      var online = ((res && res.data) || []).filter(function (o) {
        return o.id !== c.operatorId && o.online;
      });
      online.forEach(function (o) { option(f.operatorId, o.id, o.name); });
      if (!online.length) option(f.operatorId, 'none', L['transfer-none-online'], true);
    }, function (e) { toast(e.message); });
    f.operatorId.focus();
  }

  function closeTransfer() {
    if (!ui.transferForm || ui.transferForm.hidden) return;
    ui.transferForm.hidden = true;
    ui.transferOpen.setAttribute('aria-expanded', 'false');
  }

  ui.transferOpen.addEventListener('click', function () {
    if (ui.transferForm.hidden) openTransfer(); else closeTransfer();
  });
  ui.transferForm.querySelector('.cancel').addEventListener('click', closeTransfer);
  ui.transferForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var id = selectedId, f = ui.transferForm.elements;
    var body = {};
    if (f.operatorId.value && f.operatorId.value !== 'none') body.operatorId = f.operatorId.value;
    if (f.departmentId.value) body.departmentId = f.departmentId.value;
    if (f.note.value.trim()) body.note = f.note.value.trim();
    var btn = ui.transferForm.querySelector('[type=submit]'), box = ui.transferForm.querySelector('.form-error');
    btn.disabled = true;
    box.hidden = true;
    request('POST', '/chats/' + encodeURIComponent(id) + '/transfer', body).then(function (chat) {
      closeTransfer();
      upsertChat(chat);
      toast(C.fill(L['transferred-away'], { name: chat.operatorName || '' }));
    }, function (err) {
      box.textContent = err.message;
      box.hidden = false;
    }).then(function () { btn.disabled = false; });
  });

  // Drawers (O5): below 1000 px the visitor/desk panel, on a phone also the queue.
  function setDrawer(name, open) {
    root.classList.toggle(name + '-open', open);
    var button = $(name === 'panel' ? '.panel-toggle' : '.queue-toggle');
    if (button) button.setAttribute('aria-expanded', open ? 'true' : 'false');
  }
  $('.panel-toggle').addEventListener('click', function () {
    setDrawer('panel', !root.classList.contains('panel-open'));
    if (root.classList.contains('panel-open')) $('.panel-close').focus();
  });
  $('.panel-close').addEventListener('click', function () { setDrawer('panel', false); $('.panel-toggle').focus(); });
  $('.queue-toggle').addEventListener('click', function () { setDrawer('queue', !root.classList.contains('queue-open')); });
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') return;
    if (root.classList.contains('panel-open')) setDrawer('panel', false);
    if (root.classList.contains('queue-open')) setDrawer('queue', false);
  });

  // Desktop notifications (O5): off by default; turning them on asks the browser once.
  var canNotify = 'Notification' in window;
  if (!canNotify) ui.notify.closest('label').hidden = true;
  try {
    ui.notify.checked = canNotify && Notification.permission === 'granted' &&
      localStorage.getItem('madoguchi.console.notify') === 'on';
  } catch (e) { ui.notify.checked = false; }
  function saveNotify() {
    try { localStorage.setItem('madoguchi.console.notify', ui.notify.checked ? 'on' : 'off'); } catch (e) { /* ignore */ }
  }
  ui.notify.addEventListener('change', function () {
    if (!ui.notify.checked || Notification.permission === 'granted') { saveNotify(); return; }
    if (Notification.permission === 'denied') { ui.notify.checked = false; saveNotify(); return; }
    var asked = Notification.requestPermission(function (p) { ui.notify.checked = p === 'granted'; saveNotify(); });
    if (asked && asked.then) asked.then(function (p) { ui.notify.checked = p === 'granted'; saveNotify(); });
  });
  function desktopNotify(title, body, chatId) {
    if (!canNotify || !ui.notify.checked || Notification.permission !== 'granted') return;
    if (!document.hidden && document.hasFocus()) return;   // the page itself tells
    try {
      var n = new Notification(title, { body: body, tag: 'madoguchi-' + chatId });
      n.onclick = function () { window.focus(); if (chats.has(chatId)) select(chatId); n.close(); };
    } catch (e) { /* a browser that refuses: the chime and the title still tell */ }
  }

  window.MadoguchiConsole = {
    portal: cfg.portal,
    api: cfg.api,
    request: request,
    selectedChat: function () { var r = chats.get(selectedId); return r ? r.chat : null; }
  };

  updateCounts();
  connect();
  // ---------------------------------------------------------------- visitor experience (V4–V6)
  // The visitor's page, contact details or rating changed: the visitor panel
  // (visitor-panel.js) reads the chat again; the card shows the new contact details.
  function onVisitorChanged(chatId) {
    var r = chats.get(chatId);
    if (r && r.chat) {
      request('GET', '/chats/' + encodeURIComponent(chatId)).then(function (c) {
        delete c.messages;
        upsertChat(c);
        if (chatId === selectedId) renderVisitor();
      }, function () { /* not ours to see */ });
    }
    document.dispatchEvent(new CustomEvent('madoguchi:chat-visitor', { detail: { chatId: chatId } }));
  }

  // Opens any chat the operator may see (a past chat of the visitor, V4).
  window.MadoguchiConsole = window.MadoguchiConsole || {};
  window.MadoguchiConsole.open = function (id) {
    if (chats.has(id) && chats.get(id).chat) { select(id); return; }
    request('GET', '/chats/' + encodeURIComponent(id)).then(function (c) {
      delete c.messages;
      upsertChat(c);
      select(id);
    }, function (e) { toast(e.message); });
  };
})();
