/* Settings > Channels > Email (SPEC E1): "Test connection" on a mailbox row calls
 * POST …/mailboxes/{id}/test (session cookie + X-CSRF-Token, the page's language) and
 * shows, per server, OK or what failed. */
(function () {
  'use strict';

  var root = document.getElementById('mailboxes');
  if (!root) return;
  var api = root.getAttribute('data-api');
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var lang = document.documentElement.lang || 'ja';

  function line(label, check) {
    var p = document.createElement('p');
    p.className = check.ok ? 'test-ok' : 'test-failed';
    p.setAttribute('data-server', label.toLowerCase());
    p.textContent = label + ': ' + (check.ok ? 'OK' : (check.error || '?'));
    return p;
  }

  root.querySelectorAll('.test-connection').forEach(function (button) {
    button.addEventListener('click', function () {
      var row = button.closest('tr');
      var out = row.querySelector('.test-result');
      button.disabled = true;
      out.hidden = false;
      out.textContent = '…';
      fetch(api + '/' + encodeURIComponent(button.getAttribute('data-id')) + '/test', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf, 'Accept-Language': lang }
      }).then(function (res) { return res.json(); }).then(function (data) {
        out.textContent = '';
        if (data && data.imap && data.smtp) {
          out.appendChild(line('IMAP', data.imap));
          out.appendChild(line('SMTP', data.smtp));
          out.setAttribute('data-done', data.imap.ok && data.smtp.ok ? 'ok' : 'failed');
        } else {
          out.textContent = (data && data.error && data.error.message) || 'error';
          out.setAttribute('data-done', 'failed');
        }
      }, function () {
        out.textContent = 'network error';
        out.setAttribute('data-done', 'failed');
      }).then(function () { button.disabled = false; });
    });
  });
})();
