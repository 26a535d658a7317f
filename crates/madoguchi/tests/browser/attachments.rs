//! Files in the chat (SPEC V3) in Chromium: a visitor on a plain page of another origin
//! sends a photo from the widget (phone width), the operator sees its thumbnail in the
//! console and drops a PDF back, the visitor sees the named download; a file of a type
//! not allowed is refused with a clear message; axe-core finds nothing serious.

use crate::axe::{serious_violations, serious_violations_in};
use crate::chat::{
    create_portal, in_widget, login, wait_widget_log, widget_press, widget_type, HostSite,
};
use crate::harness::{click, find, screenshot, wait_js, wait_text, Browser};

const WIDGET: &str = "[data-madoguchi-widget]";

/// Defines `window.__file(kind, name)` in the page: a photo drawn on a canvas (a real
/// PNG), a small PDF, or a Windows program, as a `File`.
const MAKE_FILES: &str = r#"
window.__file = function (kind, name) {
  if (kind === 'photo') {
    var c = document.createElement('canvas'); c.width = 480; c.height = 320;
    var g = c.getContext('2d');
    var sky = g.createLinearGradient(0, 0, 0, 210);
    sky.addColorStop(0, '#6fa8dc'); sky.addColorStop(1, '#eaf3fb');
    g.fillStyle = sky; g.fillRect(0, 0, 480, 210);
    g.fillStyle = '#9c7a54'; g.fillRect(0, 210, 480, 110);
    g.fillStyle = '#ffd166'; g.beginPath(); g.arc(380, 70, 34, 0, Math.PI * 2); g.fill();
    g.fillStyle = '#c8955a'; g.fillRect(120, 120, 190, 140);
    g.strokeStyle = '#6e4a26'; g.lineWidth = 5; g.strokeRect(120, 120, 190, 140);
    g.beginPath(); g.moveTo(215, 120); g.lineTo(215, 260); g.stroke();
    g.strokeStyle = '#b42318'; g.lineWidth = 6;
    g.beginPath(); g.moveTo(150, 150); g.lineTo(185, 200); g.lineTo(165, 235); g.stroke();
    var bin = atob(c.toDataURL('image/png').split(',')[1]);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new File([bytes], name, { type: 'image/png' });
  }
  if (kind === 'pdf') {
    return new File(['%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n'],
      name, { type: 'application/pdf' });
  }
  var exe = new Uint8Array([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0, 0]);
  return new File([exe], name, { type: 'image/png' });
};
window.__files = function (file) { var dt = new DataTransfer(); dt.items.add(file); return dt; };
return true;
"#;

/// V3: both ways through the real UI, with the phone-width screenshot of a photo in the
/// widget chat for the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_a_photo_from_the_widget_reaches_the_console_and_a_file_comes_back() {
    let Some((mut browser, app)) = Browser::with_app().await else {
        return;
    };
    let admin = app.signup("yamada@acme.example").await;
    create_portal(&app, &admin, "acme", "株式会社アクメ サポート").await;
    let site = HostSite::with_widget(&app, "acme", "ja").await;

    let op = browser.session().await;
    login(&op, &app, &admin, "/chat/acme").await;
    find(&op, "#console[data-connection=live]").await;

    // The visitor on a phone starts a chat; the operator accepts it.
    let visitor = browser.session().await;
    visitor.set_window_size(390, 844).await.unwrap();
    visitor.goto(&site.url).await.unwrap();
    widget_press(&visitor, ".launcher").await;
    widget_type(&visitor, "input[name=name]", "佐藤 花子").await;
    widget_type(
        &visitor,
        "textarea[name=question]",
        "届いた商品の箱が破れていました",
    )
    .await;
    widget_press(&visitor, "button.start").await;
    wait_widget_log(&visitor, "届いた商品の箱が破れていました").await;
    let item = ".q-section.waiting .q-item";
    wait_text(&op, item, "佐藤 花子").await;
    click(&op, item).await;
    click(&op, ".chat-actions .accept").await;
    wait_text(&op, ".q-section.attended .q-list", "佐藤 花子").await;
    wait_js(
        &visitor,
        "the operator joined",
        &in_widget("r.querySelector('.status').textContent.indexOf('オペレーター') >= 0"),
    )
    .await;

    // The visitor picks a photo with the attach button's file input.
    visitor.execute(MAKE_FILES, vec![]).await.unwrap();
    visitor
        .execute(
            &in_widget(
                "(function () { var input = r.querySelector('.composer .file-input'); \
                 input.files = window.__files(window.__file('photo', '破損した箱.png')).files; \
                 input.dispatchEvent(new Event('change', { bubbles: true })); return true; })()",
            ),
            vec![],
        )
        .await
        .unwrap();
    wait_js(
        &visitor,
        "the photo shown in the widget as a thumbnail",
        &in_widget(
            "(function () { var img = r.querySelector('.msg.visitor[data-seq] .file-thumb img'); \
             return !!img && img.complete && img.naturalWidth === 480 && \
             img.getBoundingClientRect().width <= 220 && img.getBoundingClientRect().height <= 180 && \
             !r.querySelector('.msg.file-pending'); })()",
        ),
    )
    .await;

    // The operator sees the thumbnail (bounded), linking to the full image.
    wait_js(
        &op,
        "the photo's thumbnail in the console",
        "var img = document.querySelector('.transcript:not([hidden]) .msg.visitor .file-thumb img'); \
         return !!img && img.complete && img.naturalWidth === 480 && img.alt === '破損した箱.png' && \
         img.getBoundingClientRect().width <= 240 && img.getBoundingClientRect().height <= 200 && \
         img.closest('a').getAttribute('href').indexOf('/attachments/') > 0",
    )
    .await;
    let violations = serious_violations(&op).await;
    assert!(
        violations.is_empty(),
        "axe-core found serious violations in the console:\n{}",
        violations.join("\n")
    );

    // The operator drops a PDF on the chat; the visitor gets a named download.
    op.execute(MAKE_FILES, vec![]).await.unwrap();
    op.execute(
        "var zone = document.querySelector('.chat-pane'); \
         var dt = window.__files(window.__file('pdf', '返品の手順.pdf')); \
         zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true })); \
         zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); \
         return true;",
        vec![],
    )
    .await
    .unwrap();
    wait_js(
        &op,
        "the PDF sent from the console",
        "var a = document.querySelector('.transcript:not([hidden]) .msg.operator[data-seq] .file-link'); \
         return !!a && a.textContent.indexOf('返品の手順.pdf') >= 0 && \
         !document.querySelector('.msg.file-pending') && \
         !document.querySelector('.chat-pane.drop-target')",
    )
    .await;
    wait_js(
        &visitor,
        "the PDF in the widget as a named download",
        &in_widget(
            "(function () { var a = r.querySelector('.msg.operator .file-link'); \
             return !!a && a.querySelector('.file-name').textContent === '返品の手順.pdf' && \
             /KB|B/.test(a.querySelector('.file-size').textContent); })()",
        ),
    )
    .await;

    // A program renamed .png is refused, and the visitor is told why (pasted).
    visitor
        .execute(
            &in_widget(
                "(function () { var ta = r.querySelector('.composer textarea'); \
                 ta.dispatchEvent(new ClipboardEvent('paste', { clipboardData: window.__files(window.__file('exe', 'photo.png')), \
                 bubbles: true, cancelable: true })); return true; })()",
            ),
            vec![],
        )
        .await
        .unwrap();
    wait_js(
        &visitor,
        "the refusal of a program",
        &in_widget(
            "(function () { var e = r.querySelector('.msg.file-failed .file-status.error'); \
             return !!e && e.textContent.indexOf('この種類のファイルは送信できません') >= 0; })()",
        ),
    )
    .await;
    let violations = serious_violations_in(&visitor, WIDGET).await;
    assert!(
        violations.is_empty(),
        "axe-core found serious violations in the widget:\n{}",
        violations.join("\n")
    );

    // The README's picture: the photo in the chat on a phone (the refusal aside).
    visitor
        .execute(
            &in_widget(
                "(function () { r.querySelectorAll('.msg.file-failed').forEach(function (m) { m.remove(); }); \
                 var b = r.querySelector('.body'); b.scrollTop = b.scrollHeight; return true; })()",
            ),
            vec![],
        )
        .await
        .unwrap();
    screenshot(&visitor, "widget-attachment").await;

    // The thumbnail opens the full image in the widget's viewer; Escape closes it.
    visitor
        .execute(
            &in_widget("(function () { r.querySelector('.msg.visitor .file-thumb').click(); return true; })()"),
            vec![],
        )
        .await
        .unwrap();
    wait_js(
        &visitor,
        "the full image in the viewer",
        &in_widget(
            "(function () { var v = r.querySelector('.viewer'); var img = v.querySelector('img'); \
             return !v.hidden && img.complete && img.naturalWidth === 480 && \
             img.getBoundingClientRect().width > 220 && r.activeElement === v.querySelector('.viewer-close'); })()",
        ),
    )
    .await;
    let violations = serious_violations_in(&visitor, WIDGET).await;
    assert!(
        violations.is_empty(),
        "axe-core found serious violations in the image viewer:\n{}",
        violations.join("\n")
    );
    visitor
        .execute(
            &in_widget(
                "(function () { r.querySelector('.viewer').dispatchEvent(new KeyboardEvent('keydown', \
                 { key: 'Escape', bubbles: true })); return true; })()",
            ),
            vec![],
        )
        .await
        .unwrap();
    wait_js(
        &visitor,
        "the viewer closed, focus back on the thumbnail",
        &in_widget(
            "r.querySelector('.viewer').hidden && r.activeElement === r.querySelector('.msg.visitor .file-thumb')",
        ),
    )
    .await;
}
