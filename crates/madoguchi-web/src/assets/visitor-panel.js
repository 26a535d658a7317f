/* The visitor's page, trail, past chats and rating in the operator console (SPEC V4, V5).
 *
 * Listens for the console's `madoguchi:chat-selected` and `madoguchi:chat-visitor`
 * events (console.js) and renders into <section id="visitor-extra">. Reads the same
 * JSON API as the console (session cookie); opens a past chat with
 * window.MadoguchiConsole.open(id). Everything is built with DOM APIs: page titles
 * and URLs come from visitors' browsers.
 */
(function () {
  'use strict';
  var box = document.getElementById('visitor-extra');
  var cfgEl = document.getElementById('visitor-panel-config');
  if (!box || !cfgEl) return;
  var cfg;
  try { cfg = JSON.parse(cfgEl.textContent); } catch (e) { return; }
  var L = cfg.labels || {};
  var current = null;

  function get(path) {
    return fetch(cfg.api + path, { credentials: 'same-origin', headers: { 'Accept-Language': cfg.lang } })
      .then(function (res) { return res.ok ? res.json() : null; });
  }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }
  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    return d.toLocaleString(cfg.lang === 'ja' ? 'ja-JP' : 'en-US',
      { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }
  // Only http(s) pages become links, opened without access to the console.
  function pageLink(p) {
    var safe = null;
    try {
      var u = new URL(p.url);
      if (u.protocol === 'http:' || u.protocol === 'https:') safe = u.href;
    } catch (e) { safe = null; }
    var text = p.title || p.url;
    if (!safe) return el('span', null, text);
    var a = el('a', null, text);
    a.href = safe;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.title = p.url;
    return a;
  }

  function render(chat, past) {
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!chat) { box.hidden = true; return; }
    box.hidden = false;
    var pages = (chat.visitor && chat.visitor.pages) || [];
    var cur = el('div', 've-current');
    cur.appendChild(el('h4', null, L['current-page']));
    if (pages.length) {
      var last = pages[pages.length - 1];
      var p = el('p', 've-page');
      p.appendChild(pageLink(last));
      cur.appendChild(p);
    } else {
      cur.appendChild(el('p', 'muted', '—'));
    }
    box.appendChild(cur);
    if (pages.length > 1) {
      var trail = el('div', 've-trail');
      trail.appendChild(el('h4', null, L['pages-visited']));
      var ol = el('ol', 've-trail-list');
      pages.slice().reverse().forEach(function (pg) {
        var li = el('li');
        li.appendChild(pageLink(pg));
        li.appendChild(el('small', 'muted', ' ' + when(pg.at)));
        ol.appendChild(li);
      });
      trail.appendChild(ol);
      box.appendChild(trail);
    }
    if (chat.rating) {
      var r = el('div', 've-rating');
      r.appendChild(el('h4', null, L['rating']));
      var word = L['rating-' + chat.rating.rating] || chat.rating.rating;
      r.appendChild(el('p', 've-rating-value rating-' + chat.rating.rating, word));
      if (chat.rating.comment) r.appendChild(el('p', 've-rating-comment', chat.rating.comment));
      box.appendChild(r);
    }
    var pc = el('div', 've-past');
    pc.appendChild(el('h4', null, L['past-chats']));
    if (past && past.length) {
      var ul = el('ul', 've-past-list');
      past.forEach(function (c) {
        var li = el('li');
        var b = el('button', 'link ve-open', when(c.createdAt) + ' · ' + (c.question || '—'));
        b.type = 'button';
        b.setAttribute('data-chat-id', c.id);
        li.appendChild(b);
        if (c.rating) li.appendChild(el('small', 'muted', ' ' + (L['rating-' + c.rating.rating] || '')));
        ul.appendChild(li);
      });
      pc.appendChild(ul);
    } else {
      pc.appendChild(el('p', 'muted', L['no-past-chats']));
    }
    box.appendChild(pc);
  }

  function load(id) {
    current = id;
    if (!id) { render(null); return; }
    Promise.all([
      get('/chats/' + encodeURIComponent(id)),
      get('/chats/' + encodeURIComponent(id) + '/past-chats')
    ]).then(function (res) {
      if (current !== id) return;
      render(res[0], res[1] && res[1].data);
    }, function () { /* keep what is shown */ });
  }

  box.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('.ve-open') : null;
    if (!b) return;
    var id = b.getAttribute('data-chat-id');
    if (id && window.MadoguchiConsole && window.MadoguchiConsole.open) window.MadoguchiConsole.open(id);
  });
  document.addEventListener('madoguchi:chat-selected', function (e) {
    var chat = e.detail && e.detail.chat;
    load(chat ? chat.id : null);
  });
  document.addEventListener('madoguchi:chat-visitor', function (e) {
    if (e.detail && e.detail.chatId === current) load(current);
  });
})();
