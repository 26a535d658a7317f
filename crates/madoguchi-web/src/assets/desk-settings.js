/* Settings > Integrations > Desk (SPEC I1–I14; UI.md). Every action calls the JSON API
 * (`data-api` of #desk-integration, session cookie + X-CSRF-Token, Accept-Language of
 * the page) and reloads the page on success; errors show the server's message.
 *
 *  #enable-first        POST …/enable (no body)  → 422 not_desk_admin: the I3 message and
 *                       the three fields; 409 choose_desk_portal: a chooser (I4)
 *  .link-form[enable]   POST …/enable {adminEmail, serviceKey, deskPortalName} (I3)
 *  .link-form[link]     PUT  …/link (I5, "Change" → "Save")
 *  #disable / #enable   POST …/disable · POST …/enable (I6)
 *  settings controls    PATCH …/settings on change (I7, I8, I14)
 *  .dept-mode           PUT …/departments/{id} on change (I9)
 *  .remove-association  DELETE …/departments/{id}/association (I13)
 */
(function () {
  'use strict';

  var root = document.getElementById('desk-integration');
  if (!root) return;
  var api = root.getAttribute('data-api');
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var FLASH = 'madoguchi.desk.flash';

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
    return fetch(api + path, opts).then(function (res) {
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

  function pageError(err) {
    var box = root.querySelector('.page-error');
    if (!box) return;
    box.textContent = err.message || String(err);
    box.hidden = false;
    box.scrollIntoView({ block: 'nearest' });
  }

  function formError(form, err) {
    var box = form.querySelector('.form-error');
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    if (box) { box.textContent = err.message || String(err); box.hidden = false; }
    var el = err.field && form.elements[err.field];
    if (el && el.focus) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
  }

  function reload(message) {
    try { if (message) sessionStorage.setItem(FLASH, message); } catch (e) { /* no flash */ }
    location.reload();
  }

  function busy(el, on) { if (el) el.disabled = on; }

  /** I3: the message's last words ("登録してください" / "sign up") link to the signup page. */
  function signupMessage(box, text) {
    var words = box.getAttribute('data-signup-link') || '';
    var at = words ? text.lastIndexOf(words) : -1;
    box.textContent = '';
    var a = document.createElement('a');
    a.href = '/signup';
    a.className = 'signup-link';
    a.textContent = at >= 0 ? words : words || '/signup';
    box.appendChild(document.createTextNode(at >= 0 ? text.slice(0, at) : text + ' '));
    box.appendChild(a);
    if (at >= 0) box.appendChild(document.createTextNode(text.slice(at + words.length)));
  }

  // ---- not linked: enable as the desk admin (I2), or the I3 fields, or the I4 chooser
  var enableFirst = document.getElementById('enable-first');
  if (enableFirst) {
    enableFirst.addEventListener('click', function () {
      busy(enableFirst, true);
      root.querySelector('.page-error').hidden = true;
      call('POST', '/enable').then(function () { reload(); }, function (err) {
        busy(enableFirst, false);
        if (err.code === 'not_desk_admin') {
          var box = document.getElementById('manual-link');
          signupMessage(document.getElementById('not-desk-admin-message'), err.message);
          document.getElementById('choose-portal').hidden = true;
          box.hidden = false;
          var first = box.querySelector('input');
          if (first) first.focus();
        } else if (err.code === 'choose_desk_portal') {
          showChooser(err.candidates || []);
        } else {
          pageError(err);
        }
      });
    });
  }

  function showChooser(candidates) {
    var box = document.getElementById('choose-portal');
    var list = box.querySelector('.candidates');
    list.textContent = '';
    candidates.forEach(function (name, i) {
      var label = document.createElement('label');
      label.className = 'check';
      var input = document.createElement('input');
      input.type = 'radio';
      input.name = 'deskPortalName';
      input.value = name;
      input.checked = i === 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(' ' + name));
      list.appendChild(label);
      list.appendChild(document.createElement('br'));
    });
    document.getElementById('manual-link').hidden = true;
    box.hidden = false;
  }

  root.addEventListener('submit', function (e) {
    var form = e.target;
    if (form.classList.contains('choose-form')) {
      e.preventDefault();
      var picked = form.querySelector('input[name=deskPortalName]:checked');
      if (!picked) return;
      var button = form.querySelector('[type=submit]');
      busy(button, true);
      call('POST', '/enable', { deskPortalName: picked.value }).then(function () { reload(); }, function (err) {
        busy(button, false);
        formError(form, err);
      });
      return;
    }
    if (form.classList.contains('link-form')) {
      e.preventDefault();
      var body = {
        adminEmail: form.elements.adminEmail.value.trim(),
        serviceKey: form.elements.serviceKey.value.trim(),
        deskPortalName: form.elements.deskPortalName.value.trim()
      };
      var action = form.getAttribute('data-action');
      var submit = form.querySelector('[type=submit]');
      busy(submit, true);
      var done = action === 'link' ? call('PUT', '/link', body) : call('POST', '/enable', body);
      done.then(function () { reload(); }, function (err) {
        busy(submit, false);
        formError(form, err);
      });
    }
  });

  // ---- linked: change (I5), disable/enable (I6)
  var change = document.getElementById('change-link');
  var changeForm = document.getElementById('change-form');
  if (change && changeForm) {
    change.addEventListener('click', function () {
      changeForm.hidden = !changeForm.hidden;
      if (!changeForm.hidden) {
        var key = changeForm.querySelector('input[name=serviceKey]');
        if (key) key.focus();
      }
    });
  }
  root.addEventListener('click', function (e) {
    if (e.target.classList && e.target.classList.contains('cancel-change') && changeForm) {
      changeForm.hidden = true;
    }
  });
  [['disable', '/disable'], ['enable', '/enable']].forEach(function (pair) {
    var button = document.getElementById(pair[0]);
    if (!button) return;
    button.addEventListener('click', function () {
      busy(button, true);
      call('POST', pair[1]).then(function () { reload(); }, function (err) {
        busy(button, false);
        pageError(err);
      });
    });
  });

  // ---- settings (I7, I8, I14): saved as soon as they change
  function saved() {
    var box = root.querySelector('.page-saved');
    if (!box) return;
    box.textContent = root.getAttribute('data-saved');
    box.hidden = false;
    clearTimeout(saved.t);
    saved.t = setTimeout(function () { box.hidden = true; }, 2000);
  }

  function patchSetting(name, value, control) {
    var body = {};
    body[name] = value;
    call('PATCH', '/settings', body).then(saved, function (err) {
      pageError(err);
      if (control) control.focus();
    });
  }

  root.querySelectorAll('input[name=autoTicket]').forEach(function (radio) {
    radio.addEventListener('change', function () { if (radio.checked) patchSetting('autoTicket', radio.value, radio); });
  });
  ['ticket-status', 'view-scope'].forEach(function (id) {
    var select = document.getElementById(id);
    if (select) select.addEventListener('change', function () { patchSetting(select.name, select.value, select); });
  });

  // ---- department settings (I9, I13)
  root.querySelectorAll('select.dept-mode').forEach(function (select) {
    select.addEventListener('change', function () {
      var id = select.closest('tr').getAttribute('data-id');
      var v = select.value;
      var body = v.indexOf('mapped:') === 0 ? { mode: 'mapped', deskDepartmentId: v.slice(7) } : { mode: v };
      busy(select, true);
      call('PUT', '/departments/' + encodeURIComponent(id), body).then(function () { reload(); }, function (err) {
        busy(select, false);
        pageError(err);
      });
    });
  });
  root.querySelectorAll('.remove-association').forEach(function (button) {
    button.addEventListener('click', function () {
      var id = button.closest('tr').getAttribute('data-id');
      busy(button, true);
      call('DELETE', '/departments/' + encodeURIComponent(id) + '/association').then(function () { reload(); }, function (err) {
        busy(button, false);
        pageError(err);
      });
    });
  });

  // A message saved before a reload.
  try {
    var flash = sessionStorage.getItem(FLASH);
    if (flash) {
      sessionStorage.removeItem(FLASH);
      var box = root.querySelector('.page-saved');
      if (box) { box.textContent = flash; box.hidden = false; }
    }
  } catch (e) { /* ignore */ }
})();
