/* Chat settings pages: the copy button (the forms are server forms, pages/forms.rs).
 *
 * <button data-copy="<selector>" data-copied="<label after copying>"> copies the text of
 * the element the selector names.
 */
(function () {
  'use strict';

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
})();
