/* The Desk panel of the operator console (SPEC I10, I11, I15–I20; UI.md "operator console").
 *
 * Contract with the console (console.js): the page has <div id="desk-panel"> in the right
 * column and dispatches on `document`
 *   madoguchi:chat-selected  detail {portal, chat}   (chat = the API chat object, or null)
 *   madoguchi:chat-updated   detail {portal, chat}
 * The panel can also be driven directly:
 *   window.MadoguchiDeskPanel.show(portal, chatId) · .hide() · .reload()
 * Words: window.MadoguchiDeskPanelLabels[lang] (prepended by the server from the catalog).
 *
 * Data: GET …/chats/{id}/desk (permissions, contact with account/SLA/contract/owner,
 * recent and linked tickets) and the other …/chats/{id}/desk/… calls of API.md, with the
 * session cookie and X-CSRF-Token. Buttons the department's mode forbids are not shown
 * (the server refuses them anyway).
 */
(function () {
  'use strict';

  var ALL = window.MadoguchiDeskPanelLabels || {};
  var L = ALL[document.documentElement.lang] || ALL.ja || {};
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var st = { portal: null, chatId: null, chat: null, data: null, view: 'list', ticket: null,
    results: null, query: '', token: 0, error: null };

  function t(key) { return L[key] || key; }
  function slug(s) { return String(s || '').toLowerCase().replace(/\s+/g, '-'); }
  function statusLabel(s) { return L['status-' + slug(s)] || s || ''; }
  function priorityLabel(p) { return L['priority-' + slug(p)] || p || ''; }
  function classLabel(c) { return c ? (L['class-' + slug(c)] || c) : t('none'); }
  function panel() { return document.getElementById('desk-panel'); }
  /** A time for people, in the browser's time zone. */
  function when(s) {
    var d = s ? new Date(s) : null;
    if (!d || isNaN(d.getTime())) return '';
    var p = function (n) { return (n < 10 ? '0' : '') + n; };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes());
  }
  function base() {
    return '/chat/api/v1/portals/' + encodeURIComponent(st.portal) + '/chats/' +
      encodeURIComponent(st.chatId) + '/desk';
  }

  function call(method, path, body) {
    var opts = {
      method: method,
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrf, 'Accept-Language': document.documentElement.lang || 'ja' }
    };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(base() + path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = (data && data.error) || { message: res.status + ' ' + res.statusText };
          err.status = res.status;
          throw err;
        }
        return data;
      });
    }, function () {
      throw { message: navigator.onLine === false ? 'offline' : 'network error' };
    });
  }

  /* h('div.a.b', {title: 'x', onclick: f}, [children | text]) — text is always textContent. */
  function h(spec, attrs, children) {
    var parts = spec.split('.');
    var node = document.createElement(parts[0] || 'div');
    if (parts.length > 1) node.className = parts.slice(1).join(' ');
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k.indexOf('on') === 0) node.addEventListener(k.slice(2), v);
      else if (k === 'hidden' || k === 'disabled' || k === 'selected' || k === 'checked') node[k] = !!v;
      else node.setAttribute(k, v === true ? '' : v);
    });
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c == null || c === false) return;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function mount(content) {
    var el = panel();
    if (!el) return;
    el.textContent = '';
    if (content) el.appendChild(content);
  }

  function badge(status) {
    return h('span.badge.' + slug(status), { 'data-status': status }, statusLabel(status));
  }

  function errorNote(err) {
    return h('p.alert.error.desk-error', { role: 'alert' }, err.message || String(err));
  }

  // ------------------------------------------------------------------ loading
  function load() {
    if (!st.chatId) return;
    var token = ++st.token;
    call('GET', '').then(function (data) {
      if (token !== st.token) return;
      st.data = data;
      st.error = null;
      render();
    }, function (err) {
      if (token !== st.token) return;
      st.data = null;
      // No integration for this department, no plan, no access: no panel at all.
      if (err.status === 403 || err.status === 404 || err.status === 401) { mount(null); return; }
      st.error = err;
      mount(h('section.desk-panel', {}, [h('h3', {}, t('title')), errorNote(err)]));
    });
  }

  function render() {
    if (!st.data) return;
    if (st.view === 'ticket' && st.ticket) mount(ticketView(st.ticket));
    else if (st.view === 'convert') mount(convertView());
    else mount(listView());
  }

  // ------------------------------------------------------------------ list (I15, I16, I19)
  function fact(label, value) {
    return [h('dt', {}, label), h('dd', {}, value || '—')];
  }

  function listView() {
    var d = st.data, p = d.permissions || {};
    var root = h('section.desk-panel', { 'data-mode': d.mode });
    root.appendChild(h('h3', {}, t('title')));
    if (d.contact) {
      var dl = h('dl.facts.desk-facts');
      [].concat(
        fact(t('account-name'), d.contact.accountName),
        fact(t('sla-name'), d.contact.slaName),
        fact(t('contract-name'), d.contact.contractName),
        fact(t('contact-owner'), d.contact.contactOwner)
      ).forEach(function (n) { dl.appendChild(n); });
      root.appendChild(dl);
    } else if (d.visitorEmail) {
      root.appendChild(h('p.muted.no-contact', {}, t('no-contact')));
    }
    var auto = d.autoTicket || {};
    if (!d.visitorEmail) {
      // I18: why there is no ticket, and where to fix it (the pencil).
      root.appendChild(h('p.alert.warn.no-email', {}, auto.reason || t('no-email')));
    } else if (auto.status === 'pending') {
      root.appendChild(h('p.muted.auto-pending', {}, t('auto-pending')));
    } else if (auto.status === 'skipped' && auto.reason) {
      root.appendChild(h('p.alert.warn.auto-skipped', {}, auto.reason));
    }

    var head = h('div.related-head', {}, [
      h('h4', {}, t('related')),
      h('button.link.search-toggle', { type: 'button', title: t('search'), 'aria-label': t('search'),
        onclick: function () {
          var f = root.querySelector('.ticket-search');
          f.hidden = !f.hidden;
          if (!f.hidden) f.querySelector('input').focus();
        } }, '🔍')
    ]);
    root.appendChild(head);
    var input = h('input', { type: 'search', name: 'q', placeholder: t('search-placeholder'),
      'aria-label': t('search'), value: st.query });
    var search = h('form.ticket-search', { hidden: st.results == null, onsubmit: function (e) {
      e.preventDefault();
      var q = input.value.trim();
      st.query = q;
      if (!q) { st.results = null; render(); return; }
      call('GET', '/tickets/search?q=' + encodeURIComponent(q)).then(function (res) {
        st.results = res.data || [];
        render();
        var again = panel().querySelector('.ticket-search input');
        if (again) again.focus();
      }, function (err) { searchBox.appendChild(errorNote(err)); });
    } }, [input]);
    var searchBox = search;
    root.appendChild(search);

    var list = h('ul.ticket-list');
    var seen = {};
    var rows = [];
    if (st.results != null) {
      root.appendChild(h('p.muted.results-title', {}, t('search-results')));
      st.results.forEach(function (tk) { rows.push({ t: tk, linked: isLinked(tk.id) }); });
    } else {
      (d.linkedTickets || []).forEach(function (tk) { seen[tk.id] = 1; rows.push({ t: tk, linked: true }); });
      (d.recentTickets || []).forEach(function (tk) { if (!seen[tk.id]) rows.push({ t: tk, linked: false }); });
    }
    rows.forEach(function (r) {
      var tk = r.t;
      // A list of buttons (axe `list`: a list holds list items, not buttons).
      list.appendChild(h('li.ticket-item', { 'data-id': tk.id,
        onclick: function () { openTicket(tk.id); } }, [
        h('button.ticket-open', { type: 'button' }, [
          h('span.num', {}, '#' + tk.ticketNumber), ' ',
          h('span.subject', {}, tk.subject), ' ',
          badge(tk.status),
          r.linked ? h('span.badge.linked', {}, t('linked')) : null
        ])
      ]));
    });
    if (!rows.length) list.appendChild(h('li.muted.empty', {}, t('no-tickets')));
    root.appendChild(list);

    if (p.create && !(d.linkedTickets || []).length) {
      root.appendChild(h('button.primary.convert', { type: 'button', disabled: !d.visitorEmail,
        title: d.visitorEmail ? null : t('no-email'),
        onclick: function () { st.view = 'convert'; render(); } }, t('convert')));
    }
    return root;
  }

  function isLinked(id) {
    return ((st.data && st.data.linkedTickets) || []).some(function (tk) { return tk.id === id; });
  }

  // ------------------------------------------------------------------ ticket (I11, I16, I17, I20)
  function openTicket(id) {
    call('GET', '/tickets/' + encodeURIComponent(id)).then(function (tk) {
      st.ticket = tk;
      st.view = 'ticket';
      render();
    }, function (err) { mount(h('section.desk-panel', {}, [backButton(), errorNote(err)])); });
  }

  function backButton() {
    return h('button.link.back', { type: 'button', onclick: function () {
      st.view = 'list'; st.ticket = null; load();
    } }, '← ' + t('back'));
  }

  function transcript(thread) {
    var box = h('div.transcript.desk-transcript');
    (thread.messages || []).forEach(function (m) {
      var who = m.sender === 'visitor' || m.sender === 'system' ? m.sender : 'operator';
      box.appendChild(h('div.msg.' + who, {}, [
        who === 'system' ? null : h('span.who', {}, m.senderName || t(who)),
        h('p.bubble.' + who, {}, m.text),
        h('span.meta', {}, when(m.createdAt).slice(11))
      ]));
    });
    return box;
  }

  function ticketView(tk) {
    var d = st.data, p = d.permissions || {};
    var root = h('section.desk-panel.ticket-detail', { 'data-id': tk.id });
    root.appendChild(backButton());
    root.appendChild(h('h4.ticket-title', {}, ['#' + tk.ticketNumber + ' ', h('span.subject', {}, tk.subject)]));
    var dl = h('dl.facts');
    [].concat(
      fact(t('status'), badge(tk.status)),
      fact(t('priority'), priorityLabel(tk.priority)),
      fact(t('classification'), classLabel(tk.classification)),
      fact(t('department'), tk.departmentName || ''),
      fact(t('contact'), [tk.contactName, tk.email].filter(Boolean).join(' · ')),
      fact(t('created'), when(tk.createdTime))
    ).forEach(function (n) { dl.appendChild(n); });
    root.appendChild(dl);

    var actions = h('div.ticket-actions');
    if (p.changeStatus) {
      // I20: reopen or close instead of filing a new ticket.
      var sw = h('div.status-switch', { role: 'group', 'aria-label': t('status') });
      ['Open', 'Closed'].forEach(function (s) {
        sw.appendChild(h('button.status-' + slug(s), { type: 'button', 'aria-pressed': String(tk.status === s),
          onclick: function () {
            if (tk.status === s) return;
            call('PATCH', '/tickets/' + encodeURIComponent(tk.id), { status: s }).then(function (updated) {
              tk.status = updated.status;
              render();
            }, function (err) { root.appendChild(errorNote(err)); });
          } }, statusLabel(s)));
      });
      actions.appendChild(sw);
    }
    if (p.associate) {
      if (isLinked(tk.id)) {
        actions.appendChild(h('span.badge.linked', {}, t('associated')));
      } else {
        actions.appendChild(h('button.primary.associate', { type: 'button', onclick: function (e) {
          e.target.disabled = true;
          call('POST', '/associate', { ticketId: tk.id }).then(function (updated) {
            return call('GET', '').then(function (data) {
              st.data = data;
              st.ticket = updated;
              render();
              notifyConsole();
            });
          }, function (err) { e.target.disabled = false; root.appendChild(errorNote(err)); });
        } }, t('associate')));
      }
    }
    if (tk.webUrl && d.deskMember) {
      // I17: the ticket in the Desk app, in a new tab.
      actions.appendChild(h('a.button.view-details', { href: tk.webUrl, target: '_blank', rel: 'noopener' }, t('view-details')));
    }
    root.appendChild(actions);
    if (!d.deskMember) {
      // O6: Desk would answer 403 to a non-member; this view is theirs, read-only.
      root.appendChild(h('p.muted.view-details-note', { role: 'note' }, [
        h('span.badge.read-only', {}, t('read-only')), ' ', t('view-details-not-member')
      ]));
    }

    var threads = tk.threads || [];
    if (threads.length) {
      root.appendChild(h('h5', {}, t('threads')));
      threads.forEach(function (th) {
        if (th.kind === 'chat') {
          root.appendChild(h('div.thread.chat', { 'data-chat-id': th.chatId }, [
            h('div.meta', {}, t('chat-transcript') + ' · ' + when(th.createdAt)),
            transcript(th)
          ]));
        } else {
          root.appendChild(h('div.thread.' + th.kind, {}, [
            h('div.meta', {}, [th.authorName || '', ' · ', when(th.createdAt)]),
            h('div.content', {}, th.content || '')
          ]));
        }
      });
    }
    if (p.reply) {
      var text = h('textarea', { name: 'content', rows: '3', placeholder: t('reply-placeholder'), 'aria-label': t('reply') });
      root.appendChild(h('form.reply-form.stack', { onsubmit: function (e) {
        e.preventDefault();
        var content = text.value.trim();
        if (!content) return;
        var button = e.target.querySelector('button');
        button.disabled = true;
        call('POST', '/tickets/' + encodeURIComponent(tk.id) + '/replies', { content: content }).then(function () {
          openTicket(tk.id);
        }, function (err) { button.disabled = false; root.appendChild(errorNote(err)); });
      } }, [text, h('button.primary', { type: 'submit' }, t('send'))]));
    }
    return root;
  }

  // ------------------------------------------------------------------ convert (I10)
  function select(name, label, options, value) {
    var s = h('select', { name: name });
    options.forEach(function (o) {
      s.appendChild(h('option', { value: o[0], selected: o[0] === value }, o[1]));
    });
    return h('label', {}, [label, s]);
  }

  function convertView() {
    var d = st.data;
    var root = h('section.desk-panel.convert-dialog', { role: 'dialog', 'aria-label': t('convert') });
    root.appendChild(h('h4', {}, t('convert')));
    var departments = [['', t('default-department')]].concat((d.deskDepartments || []).map(function (x) {
      return [x.id, x.name];
    }));
    var classes = [['', t('none')]].concat((d.classifications || []).map(function (c) { return [c, classLabel(c)]; }));
    var error = h('p.alert.error.form-error', { role: 'alert', hidden: true });
    var form = h('form.stack', { onsubmit: function (e) {
      e.preventDefault();
      var body = {
        priority: form.elements.priority.value,
        status: form.elements.status.value,
        classification: form.elements.classification.value || null,
        departmentId: form.elements.departmentId.value || null
      };
      var button = form.querySelector('[type=submit]');
      button.disabled = true;
      call('POST', '/tickets', body).then(function (ticket) {
        return call('GET', '').then(function (data) {
          st.data = data;
          openTicket(ticket.id);
          notifyConsole();
        });
      }, function (err) {
        button.disabled = false;
        error.textContent = err.message;
        error.hidden = false;
      });
    } }, [
      select('priority', t('priority'), [['High', priorityLabel('High')], ['Medium', priorityLabel('Medium')], ['Low', priorityLabel('Low')]], 'Medium'),
      select('status', t('status'), ['Open', 'On Hold', 'Escalated', 'Closed'].map(function (s) { return [s, statusLabel(s)]; }), 'Open'),
      select('classification', t('classification'), classes, ''),
      select('departmentId', t('department'), departments, d.defaultDeskDepartmentId || ''),
      error,
      h('div.row', {}, [
        h('button.primary', { type: 'submit' }, t('create')),
        h('button.cancel', { type: 'button', onclick: function () { st.view = 'list'; render(); } }, t('cancel'))
      ])
    ]);
    root.appendChild(form);
    return root;
  }

  /** Lets the console refresh the chat (deskTicketIds) after a convert or associate. */
  function notifyConsole() {
    document.dispatchEvent(new CustomEvent('madoguchi:desk-changed', {
      detail: { portal: st.portal, chatId: st.chatId }
    }));
  }

  // ------------------------------------------------------------------ the console's events
  function show(portal, chatId) {
    var same = portal === st.portal && chatId === st.chatId;
    st.portal = portal;
    st.chatId = chatId;
    if (!same) {
      st.view = 'list'; st.ticket = null; st.results = null; st.query = ''; st.data = null;
      mount(h('p.muted.desk-loading', {}, t('loading')));
    }
    load();
  }

  function hide() {
    st.chatId = null; st.data = null; st.token++;
    mount(null);
  }

  /** What, when it changes, changes the panel. */
  function fingerprint(chat) {
    if (!chat) return '';
    var v = chat.visitor || {};
    return [chat.id, chat.state, v.email || '', v.name || '', (chat.autoTicket || {}).status || '',
      (chat.deskTicketIds || []).join(',')].join('|');
  }

  document.addEventListener('madoguchi:chat-selected', function (e) {
    var d = e.detail || {};
    st.chat = d.chat || null;
    if (!d.chat) { hide(); return; }
    show(d.portal, d.chat.id);
  });
  document.addEventListener('madoguchi:chat-updated', function (e) {
    var d = e.detail || {};
    if (!d.chat || d.chat.id !== st.chatId) return;
    var before = fingerprint(st.chat);
    st.chat = d.chat;
    if (fingerprint(d.chat) !== before && st.view === 'list') load();
  });

  // A console that selected a chat before this script ran.
  document.addEventListener('DOMContentLoaded', function () {
    var c = window.MadoguchiConsole;
    var chat = c && c.selectedChat && c.selectedChat();
    if (chat && !st.chatId) show(c.portal, chat.id);
  });

  window.MadoguchiDeskPanel = { show: show, hide: hide, reload: load };
})();
