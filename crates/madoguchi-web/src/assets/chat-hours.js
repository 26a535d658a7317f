/* Chat settings: business hours (SPEC V2). The form holds one text field per weekday
 * ("09:00-12:00, 13:00-18:00", empty: closed) and the closed dates one per line; this
 * script turns them into the JSON of PUT …/settings/hours and shows the server's error
 * (in the page's language) next to the field it names.
 */
(function () {
  'use strict';
  var form = document.querySelector('form.hours-form');
  if (!form) return;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

  function body() {
    var weekly = {};
    DAYS.forEach(function (d) {
      var v = form.elements['day-' + d].value.trim();
      if (!v) return;
      weekly[d] = v.split(/[,、，]/).map(function (part) {
        var m = part.trim().split(/\s*[-–〜~]\s*/);
        return [m[0] || '', m[1] || ''];
      }).filter(function (r) { return r[0] || r[1]; });
    });
    var closed = form.elements.closedDates.value.split(/[\s,]+/).filter(Boolean);
    return { timeZone: form.elements.timeZone.value.trim(), weekly: weekly, closedDates: closed };
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var err = form.querySelector('.form-error');
    var ok = form.querySelector('.saved-note');
    var button = form.querySelector('[type=submit]');
    err.hidden = true;
    ok.hidden = true;
    form.querySelectorAll('[aria-invalid]').forEach(function (x) { x.removeAttribute('aria-invalid'); });
    button.disabled = true;
    fetch(form.getAttribute('data-hours-api'), {
      method: 'PUT',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf,
        'Accept-Language': document.documentElement.lang || 'ja' },
      body: JSON.stringify(body())
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) { ok.hidden = false; return; }
        var e2 = (data && data.error) || {};
        err.textContent = e2.message || res.statusText;
        err.hidden = false;
        var field = e2.field === 'weekly' ? form.querySelector('[name^=day-]') : form.elements[e2.field];
        if (field && field.focus) { field.setAttribute('aria-invalid', 'true'); field.focus(); }
      });
    }, function () {
      err.textContent = form.getAttribute('data-network-error') || 'Network error';
      err.hidden = false;
    }).then(function () { button.disabled = false; });
  });
})();
