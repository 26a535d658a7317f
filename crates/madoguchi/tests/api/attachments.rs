//! Chat attachments (SPEC V3, API.md "Visitor experience and operator toolkit"):
//! files sent both ways as messages and delivered live, the type read from the
//! content, the per-portal size limit, who may download, the download headers, and
//! the copy onto the Desk ticket of the chat.

use crate::both_backends;
use crate::chat::{
    accept, api, end, operator, operator_ws, patch_settings, portal_with_admin, sales_and_support,
    start_chat, widget, VisitorChat, Ws,
};
use crate::helpers::{Res, TestApp, TestUser};
use crate::integration::World;
use crate::png::png;
use serde_json::{json, Value};

both_backends!(
    v3_files_go_both_ways_as_messages_delivered_live_and_downloadable,
    v3_the_type_comes_from_the_content_and_the_size_limit_is_a_portal_setting,
    v3_files_are_served_only_to_those_who_may_read_the_chat,
    v3_uploads_follow_the_owner_rule_and_stop_when_the_chat_ends,
    v3_files_are_copied_once_onto_the_desk_ticket_and_download_there,
);

/// The public URL of the test server (`url`s start with it).
const PUBLIC: &str = "http://madoguchi.test";

/// A 2 × 2 PNG.
pub fn tiny_png() -> Vec<u8> {
    png(2, 2, |x, y| [(x * 200) as u8, (y * 200) as u8, 90])
}

/// A Windows program's first bytes.
const EXE: &[u8] =
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8\x00\x00\x00PE\0\0";

/// A multipart form with the field `field` holding `data` as a file called `name`,
/// with the (untrusted) part content type `claimed`; answers its content type and body.
pub fn form(field: &str, name: &str, claimed: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("----madoguchi{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: {claimed}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs `data` as the file `name` to `path` with the bearer `token`.
pub async fn upload(app: &TestApp, path: &str, token: &str, name: &str, data: &[u8]) -> Res {
    let (content_type, body) = form("file", name, "application/octet-stream", data);
    app.request(
        app.http
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

pub async fn visitor_upload(
    app: &TestApp,
    portal: &str,
    chat: &VisitorChat,
    name: &str,
    data: &[u8],
) -> Res {
    upload(
        app,
        &widget(portal, &format!("/chats/{}/attachments", chat.chat_id)),
        &chat.token,
        name,
        data,
    )
    .await
}

pub async fn operator_upload(
    app: &TestApp,
    user: &TestUser,
    portal: &str,
    chat_id: &str,
    name: &str,
    data: &[u8],
) -> Res {
    upload(
        app,
        &api(portal, &format!("/chats/{chat_id}/attachments")),
        &user.token,
        name,
        data,
    )
    .await
}

/// The path of a `url` the API answered.
pub fn path_of(url: &Value) -> String {
    url.as_str()
        .and_then(|u| u.strip_prefix(PUBLIC))
        .unwrap_or_else(|| panic!("a URL on the public URL: {url}"))
        .to_owned()
}

/// Downloads `path` with the bearer `token`: status, headers and bytes.
pub async fn download(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

/// The next `message` frame that carries a file (`message` inside for the console).
async fn next_file_frame(ws: &mut Ws) -> Value {
    loop {
        let f = ws.next_of("message").await;
        let m = if f["message"].is_object() {
            f["message"].clone()
        } else {
            f.clone()
        };
        if m["attachment"].is_object() {
            return m;
        }
    }
}

async fn v3_files_go_both_ways_as_messages_delivered_live_and_downloadable(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let chat = start_chat(&app, "acme", json!({"name": "森 花子"})).await;
    accept(&app, &admin, "acme", &chat.chat_id).await;
    let mut console = operator_ws(&app, &admin, "acme").await;
    let mut visitor = Ws::connect(&app, &chat.ws_path("acme", None)).await;
    assert_eq!(visitor.next().await["type"], "ready");

    // The visitor sends a PNG called .txt: the content says image/png.
    let picture = tiny_png();
    let sent = visitor_upload(&app, "acme", &chat, "スクリーンショット.txt", &picture).await;
    sent.assert_status(201);
    assert_eq!(sent["name"], "スクリーンショット.txt");
    assert_eq!(sent["contentType"], "image/png");
    assert_eq!(sent["size"], picture.len() as i64);
    let id = sent["id"].as_str().unwrap().to_owned();
    assert_eq!(
        path_of(&sent["url"]),
        widget("acme", &format!("/chats/{}/attachments/{id}", chat.chat_id))
    );

    // Live on both sockets, each with its own URL.
    let on_console = next_file_frame(&mut console).await;
    assert_eq!(on_console["sender"], "visitor");
    assert_eq!(on_console["senderName"], "森 花子");
    assert_eq!(on_console["text"], "スクリーンショット.txt");
    assert_eq!(on_console["attachment"]["id"], id.as_str());
    assert_eq!(on_console["attachment"]["contentType"], "image/png");
    let operator_path = api("acme", &format!("/chats/{}/attachments/{id}", chat.chat_id));
    assert_eq!(path_of(&on_console["attachment"]["url"]), operator_path);
    let on_widget = next_file_frame(&mut visitor).await;
    assert_eq!(on_widget["attachment"]["url"], sent["url"]);
    assert_eq!(on_widget["seq"], on_console["seq"]);

    // The operator downloads it: the bytes, its type, inline, and the safety headers.
    let (status, headers, bytes) = download(&app, &operator_path, Some(&admin.token)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, picture);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("inline; filename=\""),
        "{disposition}"
    );
    assert!(
        disposition.ends_with(
            "filename*=UTF-8''%E3%82%B9%E3%82%AF%E3%83%AA%E3%83%BC%E3%83%B3%E3%82%B7%E3%83%A7%E3%83%83%E3%83%88.txt"
        ),
        "{disposition}"
    );

    // The operator sends a PDF back; the visitor downloads it as an attachment.
    let pdf =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";
    let back = operator_upload(&app, &admin, "acme", &chat.chat_id, "見積書 2026.pdf", pdf).await;
    back.assert_status(201);
    assert_eq!(back["contentType"], "application/pdf");
    assert_eq!(
        path_of(&back["url"]),
        api(
            "acme",
            &format!(
                "/chats/{}/attachments/{}",
                chat.chat_id,
                back["id"].as_str().unwrap()
            )
        )
    );
    let frame = next_file_frame(&mut visitor).await;
    assert_eq!(frame["sender"], "operator");
    assert_eq!(frame["attachment"]["name"], "見積書 2026.pdf");
    let widget_path = path_of(&frame["attachment"]["url"]);
    assert!(
        widget_path.starts_with("/chat/widget/v1/acme/"),
        "{widget_path}"
    );
    let (status, headers, bytes) = download(&app, &widget_path, Some(&chat.token)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, pdf);
    assert_eq!(headers["content-type"], "application/pdf");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; "), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8%202026.pdf"),
        "{disposition}"
    );
    // The token in the query works too (an <img> or a link in the widget).
    let (status, _, _) = download(&app, &format!("{widget_path}?token={}", chat.token), None).await;
    assert_eq!(status, 200);

    // The files are messages of the transcript, for both readers.
    let listed = chat.get(&app, "acme", "/messages").await;
    let files: Vec<&Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["attachment"].is_object())
        .collect();
    assert_eq!(files.len(), 2, "{}", listed.text);
    assert!(path_of(&files[0]["attachment"]["url"]).starts_with("/chat/widget/"));
    let detail =
        crate::chat::api_get(&app, &admin, "acme", &format!("/chats/{}", chat.chat_id)).await;
    let with_file: Vec<&Value> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["attachment"].is_object())
        .collect();
    assert_eq!(with_file.len(), 2);
    assert_eq!(with_file[1]["attachment"]["name"], "見積書 2026.pdf");
    assert!(path_of(&with_file[0]["attachment"]["url"]).starts_with("/chat/api/v1/portals/acme/"));
    // A message without a file has no `attachment`.
    assert!(
        detail["messages"][0].get("attachment").is_none(),
        "{}",
        detail.text
    );
}

async fn v3_the_type_comes_from_the_content_and_the_size_limit_is_a_portal_setting(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let settings = crate::chat::api_get(&app, &admin, "acme", "/settings").await;
    assert_eq!(
        settings["maxAttachmentBytes"],
        10 * 1024 * 1024,
        "{}",
        settings.text
    );
    let chat = start_chat(&app, "acme", json!({})).await;

    // Refused by content, whatever the name says.
    for (name, data) in [
        ("photo.png", EXE.to_vec()),
        ("readme.txt", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec()),
        ("page.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec()),
        ("logo.png", b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"></svg>".to_vec()),
        ("data.bin", vec![0u8, 1, 2, 3, 250, 251]),
    ] {
        let res = visitor_upload(&app, "acme", &chat, name, &data).await;
        res.assert_error(415, "file_type_not_allowed");
        assert_eq!(res.body["error"]["field"], "file");
    }
    // Taken: text (UTF-8) and the office/zip family, typed by content.
    let text = visitor_upload(
        &app,
        "acme",
        &chat,
        "memo.png",
        "注文番号 A-1024\n".as_bytes(),
    )
    .await;
    text.assert_status(201);
    assert_eq!(text["contentType"], "text/plain; charset=utf-8");
    let zip = visitor_upload(
        &app,
        "acme",
        &chat,
        "logs",
        b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    )
    .await;
    zip.assert_status(201);
    assert_eq!(zip["contentType"], "application/zip");
    // A path in the name is dropped.
    let named = visitor_upload(&app, "acme", &chat, "C:\\Users\\mori\\a.png", &tiny_png()).await;
    assert_eq!(named["name"], "a.png");

    // No file, an empty file.
    let (content_type, body) = form("other", "x.png", "image/png", &tiny_png());
    app.request(
        app.http
            .post(app.url(&widget(
                "acme",
                &format!("/chats/{}/attachments", chat.chat_id),
            )))
            .bearer_auth(&chat.token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
    .assert_error(400, "invalid_request");
    visitor_upload(&app, "acme", &chat, "empty.txt", b"")
        .await
        .assert_error(400, "invalid_request");

    // The limit is a portal setting (admins), within 1 KB to 50 MB.
    for bad in [json!(100), json!(60 * 1024 * 1024)] {
        let res = patch_settings(&app, &admin, "acme", json!({"maxAttachmentBytes": bad})).await;
        res.assert_error(400, "invalid_request");
        assert_eq!(res.body["error"]["field"], "maxAttachmentBytes");
    }
    let set = patch_settings(&app, &admin, "acme", json!({"maxAttachmentBytes": 2048})).await;
    set.assert_status(200);
    assert_eq!(set["maxAttachmentBytes"], 2048);
    let exactly = "あ".repeat(2048 / 3).into_bytes();
    assert!(exactly.len() <= 2048);
    visitor_upload(&app, "acme", &chat, "ok.txt", &exactly)
        .await
        .assert_status(201);
    let over = vec![b'a'; 2049];
    let res = visitor_upload(&app, "acme", &chat, "big.txt", &over).await;
    res.assert_error(413, "file_too_large");
    assert_eq!(res.body["error"]["maxBytes"], 2048);
    res.assert_text_at("/error/message", "2 KB");
    // In English too.
    let (ct, body) = form("file", "big.txt", "text/plain", &over);
    let res = app
        .request(
            app.http
                .post(app.url(&widget(
                    "acme",
                    &format!("/chats/{}/attachments", chat.chat_id),
                )))
                .bearer_auth(&chat.token)
                .header("accept-language", "en")
                .header("content-type", ct)
                .body(body),
        )
        .await;
    res.assert_error(413, "file_too_large");
    assert_eq!(
        res.body["error"]["message"],
        "The file is too large. Files up to 2 KB can be sent."
    );
    // A body far over the limit is refused from its declared length alone.
    let huge = vec![b'a'; 200 * 1024];
    visitor_upload(&app, "acme", &chat, "huge.txt", &huge)
        .await
        .assert_error(413, "file_too_large");
    // Operators may not change the setting.
    let op = operator(&app, &admin, "acme", "o@acme.example", "operator", &[]).await;
    patch_settings(&app, &op, "acme", json!({"maxAttachmentBytes": 4096}))
        .await
        .assert_error(403, "forbidden");
}

async fn v3_files_are_served_only_to_those_who_may_read_the_chat(app: TestApp) {
    let (admin, _, support, seller) = sales_and_support(&app).await;
    let chat = start_chat(&app, "acme", json!({"departmentId": support})).await;
    let other = start_chat(&app, "acme", json!({"departmentId": support})).await;
    let sent = visitor_upload(&app, "acme", &chat, "a.png", &tiny_png()).await;
    sent.assert_status(201);
    let id = sent["id"].as_str().unwrap();
    let widget_path = path_of(&sent["url"]);
    let operator_path = api("acme", &format!("/chats/{}/attachments/{id}", chat.chat_id));

    // The visitor with its token; no token → 401; another chat's token → 404.
    assert_eq!(download(&app, &widget_path, Some(&chat.token)).await.0, 200);
    assert_eq!(download(&app, &widget_path, None).await.0, 401);
    assert_eq!(
        download(&app, &widget_path, Some(&other.token)).await.0,
        404
    );
    // Another chat's token cannot send into this chat either.
    visitor_upload(
        &app,
        "acme",
        &VisitorChat {
            token: other.token.clone(),
            ..chat.clone()
        },
        "b.png",
        &tiny_png(),
    )
    .await
    .assert_error(404, "not_found");
    // The file id under another chat is not found, even with that chat's own token.
    let crossed = widget(
        "acme",
        &format!("/chats/{}/attachments/{id}", other.chat_id),
    );
    assert_eq!(download(&app, &crossed, Some(&other.token)).await.0, 404);

    // Operators: the admin sees every department; an operator outside it gets 404.
    assert_eq!(
        download(&app, &operator_path, Some(&admin.token)).await.0,
        200
    );
    assert_eq!(
        download(&app, &operator_path, Some(&seller.token)).await.0,
        404
    );
    assert_eq!(download(&app, &operator_path, None).await.0, 401);

    // An operator of another portal: 404 on this portal's path and on their own.
    let stranger = portal_with_admin(&app, "x@beta.example", "beta").await;
    assert_eq!(
        download(&app, &operator_path, Some(&stranger.token))
            .await
            .0,
        404
    );
    let via_own = api("beta", &format!("/chats/{}/attachments/{id}", chat.chat_id));
    assert_eq!(download(&app, &via_own, Some(&stranger.token)).await.0, 404);
    // And the widget path of another portal.
    let via_beta = widget("beta", &format!("/chats/{}/attachments/{id}", chat.chat_id));
    assert_eq!(download(&app, &via_beta, Some(&chat.token)).await.0, 404);
}

async fn v3_uploads_follow_the_owner_rule_and_stop_when_the_chat_ends(app: TestApp) {
    let admin = portal_with_admin(&app, "a@acme.example", "acme").await;
    let dept = crate::chat::department(&app, &admin, "acme", "サポート").await;
    let one = operator(
        &app,
        &admin,
        "acme",
        "one@acme.example",
        "operator",
        &[&dept],
    )
    .await;
    let two = operator(
        &app,
        &admin,
        "acme",
        "two@acme.example",
        "operator",
        &[&dept],
    )
    .await;
    let chat = start_chat(&app, "acme", json!({"departmentId": dept})).await;
    // Not accepted yet: operators cannot write (as with messages).
    operator_upload(&app, &one, "acme", &chat.chat_id, "a.png", &tiny_png())
        .await
        .assert_error(409, "conflict");
    accept(&app, &one, "acme", &chat.chat_id).await;
    // O4: only the owner (or someone who joined) writes in an attended chat.
    operator_upload(&app, &two, "acme", &chat.chat_id, "a.png", &tiny_png())
        .await
        .assert_error(403, "not_chat_owner");
    operator_upload(&app, &admin, "acme", &chat.chat_id, "a.png", &tiny_png())
        .await
        .assert_error(403, "not_chat_owner");
    operator_upload(&app, &one, "acme", &chat.chat_id, "a.png", &tiny_png())
        .await
        .assert_status(201);
    crate::chat::act(&app, &admin, "acme", &chat.chat_id, "join")
        .await
        .assert_status(200);
    operator_upload(&app, &admin, "acme", &chat.chat_id, "b.png", &tiny_png())
        .await
        .assert_status(201);
    // Ended: refused both ways, like messages; files sent before stay readable.
    end(&app, &one, "acme", &chat.chat_id).await;
    let res = visitor_upload(&app, "acme", &chat, "c.png", &tiny_png()).await;
    res.assert_error(409, "conflict");
    operator_upload(&app, &one, "acme", &chat.chat_id, "c.png", &tiny_png())
        .await
        .assert_error(409, "conflict");
    let detail =
        crate::chat::api_get(&app, &one, "acme", &format!("/chats/{}", chat.chat_id)).await;
    let names: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["attachment"]["name"].as_str())
        .collect();
    assert_eq!(names, ["a.png", "b.png"]);
    let url = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["attachment"].is_object())
        .unwrap()["attachment"]["url"]
        .clone();
    assert_eq!(
        download(&app, &path_of(&url), Some(&chat.token)).await.0,
        401,
        "the operator's URL needs an operator"
    );
    assert_eq!(
        download(&app, &path_of(&url), Some(&one.token)).await.0,
        200
    );
}

/// The chat-thread files of a ticket: (seq of the message, the file).
fn chat_files(threads: &[Value], chat_id: &str) -> Vec<(i64, Value)> {
    threads
        .iter()
        .filter(|t| t["kind"] == "chat" && t["chatId"] == chat_id)
        .flat_map(|t| t["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["attachment"].is_object())
        .map(|m| (m["seq"].as_i64().unwrap(), m["attachment"].clone()))
        .collect()
}

async fn v3_files_are_copied_once_onto_the_desk_ticket_and_download_there(app: TestApp) {
    let w = World::linked(app).await;
    w.settings(json!({"autoTicket": "none"})).await;
    let chat = w.visitor_chat(json!({"name": "佐藤 花子", "email": "sato@example.jp", "question": "壊れた商品の写真です"}))
    .await;
    let chat_id = chat.chat_id.clone();
    w.accept(&chat_id).await;
    let photo = tiny_png();
    visitor_upload(&w.app, &w.chat, &chat, "破損.png", &photo)
        .await
        .assert_status(201);
    let converted = w
        .app
        .post(&w.desk_of(&chat_id, "/tickets"), w.token(), json!({}))
        .await;
    let ticket = converted.expect_str(201, "id");
    let threads = w.threads(&ticket).await;
    let files = chat_files(&threads, &chat_id);
    assert_eq!(files.len(), 1, "{threads:?}");
    let (seq, file) = &files[0];
    let line = threads
        .iter()
        .flat_map(|t| t["messages"].as_array().cloned().unwrap_or_default())
        .find(|m| m["seq"] == *seq)
        .unwrap();
    assert_eq!(line["text"], "破損.png", "the file's message is its line");
    assert_eq!(line["sender"], "visitor");
    assert_eq!(file["name"], "破損.png");
    assert_eq!(file["contentType"], "image/png");
    assert_eq!(file["size"], photo.len() as i64);
    let thread = threads.iter().find(|t| t["kind"] == "chat").unwrap();
    assert_eq!(thread["attachments"].as_array().unwrap().len(), 1);
    let desk_path = path_of(&file["url"]);
    assert!(
        desk_path.starts_with(&format!(
            "/desk/api/v1/portals/{}/tickets/{ticket}/attachments/",
            w.desk
        )),
        "{desk_path}"
    );
    let (status, headers, bytes) = download(&w.app, &desk_path, w.token()).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, photo);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));

    // Later files follow the linked chat onto the same thread (I11), each once, even
    // when the sync runs again from the start.
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\ntrailer << >>\n%%EOF\n";
    let res = w
        .app
        .post(
            &w.chat_api(&format!("/chats/{chat_id}/attachments")),
            None,
            json!({}),
        )
        .await;
    res.assert_status(401);
    operator_upload(&w.app, &w.admin, &w.chat, &chat_id, "返品の手順.pdf", pdf)
        .await
        .assert_status(201);
    w.end(&chat_id).await;
    madoguchi_testkit::wait::until(
        std::time::Duration::from_secs(30),
        "the second file to reach the ticket",
        || async {
            w.quiesce().await;
            (chat_files(&w.threads(&ticket).await, &chat_id).len() == 2).then_some(())
        },
    )
    .await;
    // Associating the chat again appends the whole transcript again: nothing doubles.
    w.app
        .post(
            &w.desk_of(&chat_id, "/associate"),
            w.token(),
            json!({"ticketId": ticket}),
        )
        .await
        .assert_status(200);
    w.quiesce().await;
    let files = chat_files(&w.threads(&ticket).await, &chat_id);
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[1].1["name"], "返品の手順.pdf");
    let (status, headers, bytes) = download(&w.app, &path_of(&files[1].1["url"]), w.token()).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, pdf);
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; "));
}
