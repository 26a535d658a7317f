// Desk pages: small comforts on top of server-rendered forms (every page works without it).
// - <time datetime> in the browser's time zone and the page language;
// - filter menus that apply on change;
// - forms with data-confirm ask first (a new service key stops the old one at once);
// - Settings > API: reveal and copy the service key through the JSON API
//   (session cookie; GET needs no CSRF header).
(function () {
  "use strict";
  var lang = document.documentElement.lang || "ja";

  function localTimes() {
    var fmt;
    try {
      fmt = lang === "ja"
        ? new Intl.DateTimeFormat("ja-JP", {
          year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
        })
        : new Intl.DateTimeFormat("en-GB", {
          year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
        });
    } catch (e) { return; }
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) { el.textContent = fmt.format(d); }
    });
  }

  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { if (sel.form) { sel.form.submit(); } });
    });
  }

  function confirms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });
  }

  // Ctrl/⌘+Enter in a reply sends it as a reply.
  function replyShortcut() {
    var area = document.querySelector("#reply textarea[name=content]");
    if (!area) { return; }
    area.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        var send = area.form.querySelector("button[value=reply]");
        if (send) { send.click(); }
      }
    });
  }

  function serviceKey() {
    var card = document.getElementById("service-key-card");
    var code = document.getElementById("service-key");
    if (!card || !code) { return; }
    var api = card.getAttribute("data-api");
    var revealForm = document.getElementById("reveal-form");
    var revealBtn = document.getElementById("reveal-key");
    var copyBtn = document.getElementById("copy-key");
    var key = code.getAttribute("data-shown") === "1" ? code.textContent.trim() : null;

    function fetchKey() {
      if (key) { return Promise.resolve(key); }
      return fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (res) {
          return res.json().then(function (body) {
            if (!res.ok) { throw new Error((body.error && body.error.message) || res.status); }
            key = body.serviceKey;
            return key;
          });
        });
    }

    function show(on) {
      code.setAttribute("data-shown", on ? "1" : "0");
      code.textContent = on ? key : code.getAttribute("data-masked");
      revealBtn.textContent = revealBtn.getAttribute(on ? "data-hide" : "data-show");
    }

    if (revealForm && revealBtn) {
      revealForm.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (code.getAttribute("data-shown") === "1") { show(false); return; }
        fetchKey().then(function () { show(true); }, function (e) { code.textContent = String(e.message || e); });
      });
    }

    if (copyBtn) {
      copyBtn.addEventListener("click", function () {
        var label = copyBtn.textContent;
        function done(ok) {
          copyBtn.textContent = copyBtn.getAttribute(ok ? "data-copied" : "data-failed");
          setTimeout(function () { copyBtn.textContent = label; }, 2000);
        }
        fetchKey().then(function (k) {
          if (navigator.clipboard && window.isSecureContext) {
            return navigator.clipboard.writeText(k).then(function () { done(true); });
          }
          var ta = document.createElement("textarea");
          ta.value = k;
          ta.setAttribute("readonly", "");
          ta.style.position = "fixed";
          ta.style.opacity = "0";
          document.body.appendChild(ta);
          ta.select();
          var ok = false;
          try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
          document.body.removeChild(ta);
          done(ok);
        }).catch(function () { done(false); });
      });
    }
  }

  function init() {
    localTimes();
    autosubmit();
    confirms();
    replyShortcut();
    serviceKey();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
