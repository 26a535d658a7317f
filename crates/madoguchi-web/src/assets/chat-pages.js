/* Chat settings pages: forms that speak the JSON API, and the copy button.
 *
 * <form data-api="/chat/api/v1/…" data-method="POST|PUT|PATCH" data-then="reload|/path/{field}">
 * sends its named fields as a JSON object (data-type="int" for numbers, data-type="mb" for a
 * size shown in MB and sent in bytes, data-type="array" for checkbox groups; empty optional text fields are left out), with the session's CSRF
 * header. Errors show the server's message (already in the page's language) in the form's
 * .form-error and mark the field it names. data-notice="a.b" shows that response field
 * (e.g. the I13 auto-association notice) after the page reloads.
 */
(function () {
  'use strict';

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var FLASH = 'madoguchi.flash';

  function pick(obj, path) {
    return path.split('.').reduce(function (o, k) { return o == null ? o : o[k]; }, obj);
  }

  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === 'submit' || el.type === 'button') return;
      var type = el.getAttribute('data-type');
      if (type === 'array') {
        if (!body[el.name]) body[el.name] = [];
        if (el.checked) body[el.name].push(el.value);
        return;
      }
      if (el.type === 'checkbox') { body[el.name] = el.checked; return; }
      var v = el.value.trim();
      if (type === 'int') {
        body[el.name] = v === '' ? null : (/^-?\d+$/.test(v) ? parseInt(v, 10) : v);
        return;
      }
      if (type === 'mb') {
        // Shown in MB, sent in bytes (V3: maxAttachmentBytes).
        if (v === '') return;
        var mb = parseFloat(v.replace(',', '.'));
        body[el.name] = isNaN(mb) ? v : Math.round(mb * 1048576);
        return;
      }
      if (v === '' && !el.required) return;
      body[el.name] = v;
    });
    return body;
  }

  function showError(form, message, field) {
    var box = form.querySelector('.form-error');
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    if (box) { box.textContent = message; box.hidden = false; }
    var el = field && form.elements[field];
    if (el && el.focus) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
  }

  function submit(form) {
    var button = form.querySelector('[type=submit]');
    var box = form.querySelector('.form-error');
    if (box) box.hidden = true;
    if (button) button.disabled = true;
    fetch(form.getAttribute('data-api'), {
      method: form.getAttribute('data-method') || 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf,
        'Accept-Language': document.documentElement.lang || 'ja' },
      body: JSON.stringify(formBody(form))
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = (data && data.error) || {};
          showError(form, err.message || (res.status + ' ' + res.statusText), err.field);
          return;
        }
        var noticePath = form.getAttribute('data-notice');
        var notice = noticePath && data && pick(data, noticePath);
        if (notice) {
          // I13: "click here" removes the association just made (data-notice-undo is the
          // DELETE path with {id} for the new department's id).
          var undo = form.getAttribute('data-notice-undo');
          var saved = JSON.stringify({ text: notice, undo: undo && data.id ? undo.replace('{id}', encodeURIComponent(data.id)) : null,
            link: form.getAttribute('data-notice-link'), done: form.getAttribute('data-notice-done') });
          try { sessionStorage.setItem(FLASH, saved); } catch (e) { /* shown never */ }
        }
        var then = form.getAttribute('data-then') || 'reload';
        if (then === 'reload') { location.reload(); return; }
        location.href = then.replace(/\{(\w+)\}/g, function (_, k) {
          return encodeURIComponent(data && data[k] != null ? data[k] : '');
        });
      });
    }).catch(function () {
      showError(form, /^en/.test(document.documentElement.lang)
        ? 'Could not reach the server. Check the connection and try again.'
        : 'サーバーに接続できませんでした。接続を確認して、もう一度お試しください。');
    }).then(function () {
      if (button) button.disabled = false;
    });
  }

  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.matches || !form.matches('form[data-api]')) return;
    e.preventDefault();
    submit(form);
  });

  // Copy buttons: data-copy="<selector of the element whose text to copy>".
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-copy]');
    if (!btn) return;
    var src = document.querySelector(btn.getAttribute('data-copy'));
    if (!src) return;
    var text = src.textContent;
    var done = function () {
      var label = btn.textContent;
      btn.textContent = btn.getAttribute('data-copied') || label;
      btn.classList.add('copied');
      setTimeout(function () { btn.textContent = label; btn.classList.remove('copied'); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(src, done); });
    } else {
      fallbackCopy(src, done);
    }
  });

  // Plain-HTTP installs have no Clipboard API: select the text and use execCommand.
  function fallbackCopy(src, done) {
    var range = document.createRange();
    range.selectNodeContents(src);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { if (document.execCommand('copy')) done(); } catch (e) { /* the text stays selected */ }
  }

  /** I13: the words `flash.link` of the notice become a button that removes the
   *  association (the notice's own "click here"); without them, a button at the end. */
  function undoLink(p, flash) {
    var text = flash.text, at = text.indexOf(flash.link);
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'link undo-association';
    button.textContent = at >= 0 ? flash.link : flash.link;
    p.textContent = '';
    p.appendChild(document.createTextNode(at >= 0 ? text.slice(0, at) : text + ' '));
    p.appendChild(button);
    if (at >= 0) p.appendChild(document.createTextNode(text.slice(at + flash.link.length)));
    button.addEventListener('click', function () {
      button.disabled = true;
      fetch(flash.undo, { method: 'DELETE', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf, 'Accept-Language': document.documentElement.lang || 'ja' } })
        .then(function (res) {
          if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
          p.textContent = flash.done || '';
        }).catch(function (e) {
          button.disabled = false;
          p.appendChild(document.createTextNode(' ' + e.message));
        });
    });
  }

  // A notice saved before a reload (e.g. I13 auto-association).
  document.addEventListener('DOMContentLoaded', function () {
    // The server validates and answers in the page's language; the browser's own
    // validation bubbles would speak the browser's language instead.
    document.querySelectorAll('form[data-api]').forEach(function (f) { f.noValidate = true; });
    var notice = null;
    try { notice = sessionStorage.getItem(FLASH); sessionStorage.removeItem(FLASH); } catch (e) { /* ignore */ }
    if (!notice) return;
    var p = document.createElement('p');
    p.className = 'alert ok flash';
    p.setAttribute('role', 'status');
    var flash = { text: notice };
    try { flash = JSON.parse(notice); } catch (e) { /* a plain text notice */ }
    if (typeof flash !== 'object' || !flash || typeof flash.text !== 'string') flash = { text: String(notice) };
    p.textContent = flash.text;
    if (flash.undo && flash.link) undoLink(p, flash);
    var main = document.querySelector('main');
    if (main) main.insertBefore(p, main.firstChild);
    // The reload keeps the scroll position (at the form): bring the notice into view,
    // after the browser restored it.
    window.addEventListener('load', function () {
      setTimeout(function () { p.scrollIntoView({ block: 'center' }); }, 0);
    });
  });
})();
