//! Files in and out: uploads read from a multipart form under a size limit, and
//! downloads of stored files (chat attachments V3, mail attachments E6) with headers
//! that keep a file from ever running as part of this site:
//!
//! - the stored content type, and `X-Content-Type-Options: nosniff`, so the browser
//!   never guesses another type;
//! - `Content-Disposition`: `inline` only for raster images (shown in the chat),
//!   `attachment` for everything else, with an ASCII `filename` and the exact UTF-8
//!   name in `filename*` (RFC 6266, RFC 8187);
//! - `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; sandbox`:
//!   a file opened in a tab is a sandboxed document of its own origin, without script.
//!
//! Upload routes take larger bodies than the 1 MB of every other route:
//! [`request_limits`] gives them [`UPLOAD_BODY_LIMIT`] (the largest per-portal limit
//! plus the form's own bytes) and a longer time, and [`read_file`] holds each upload
//! to its portal's limit while it streams, answering 413 `file_too_large` at the first
//! byte over it.

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use madoguchi_core::Error;
use std::time::Duration;

/// The body limit of every route but the uploads.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// What a multipart form adds around its file (boundaries, part headers, a name).
pub const FORM_OVERHEAD: usize = 64 * 1024;
/// The body limit of the upload routes: the largest file any portal may allow, plus
/// the form around it.
pub const UPLOAD_BODY_LIMIT: usize =
    *madoguchi_chat::attachments::LIMIT_RANGE.end() as usize + FORM_OVERHEAD;
/// How long a request may take; uploads get longer (a slow phone line).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// The content security policy of every downloaded file.
pub const FILE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Whether a request is an upload: a POST of a chat file (operator or widget), or the
/// integration's PUT of a chat file onto a Desk ticket.
pub fn is_upload(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        // /chat/api/v1/portals/{portal}/chats/{id}/attachments
        (&Method::POST, ["", "chat", "api", "v1", "portals", _, "chats", _, "attachments"]) => true,
        // /chat/widget/v1/{portal}/chats/{id}/attachments
        (&Method::POST, ["", "chat", "widget", "v1", _, "chats", _, "attachments"]) => true,
        // /desk/api/v1/portals/{portal}/tickets/{id}/chat-threads/{chatId}/attachments/{key}
        (
            &Method::PUT,
            ["", "desk", "api", "v1", "portals", _, "tickets", _, "chat-threads", _, "attachments", _],
        ) => true,
        _ => false,
    }
}

/// Middleware: the body limit and the time limit of a request by its route (uploads
/// get [`UPLOAD_BODY_LIMIT`] and [`UPLOAD_TIMEOUT`]). A declared length over the limit
/// is refused at once; a body that grows past it fails while it is read (413).
pub async fn request_limits(req: Request, next: Next) -> Response {
    let upload = is_upload(req.method(), req.uri().path());
    let (limit, time) = if upload {
        (UPLOAD_BODY_LIMIT, UPLOAD_TIMEOUT)
    } else {
        (BODY_LIMIT, REQUEST_TIMEOUT)
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut res = if declared.is_some_and(|n| n > limit as u64) {
        StatusCode::PAYLOAD_TOO_LARGE.into_response()
    } else {
        let (parts, body) = req.into_parts();
        let body = Body::new(http_body_util::Limited::new(body, limit));
        match tokio::time::timeout(time, next.run(Request::from_parts(parts, body))).await {
            Ok(res) => res,
            Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
        }
    };
    // A refused upload may leave most of its body unread, and the server then closes
    // the connection: saying so keeps the client from sending its next request on it.
    if upload && !res.status().is_success() {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// A file read from a multipart form.
pub struct Upload {
    /// The name the client gave (the domain keeps its last path segment).
    pub name: Option<String>,
    pub data: Vec<u8>,
}

/// Reads the form field `file` of at most `limit` bytes: 413 `file_too_large` past
/// it (without reading the rest), 400 naming `file` when it is missing or the form is
/// broken. A declared body length far over the limit is refused before reading.
pub async fn read_file(
    headers: &HeaderMap,
    mut form: Multipart,
    limit: i64,
) -> Result<Upload, ApiError> {
    let limit = limit.max(0) as usize;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(madoguchi_chat::attachments::too_large(limit as i64).into());
    }
    let broken = |e: MultipartError| -> ApiError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            madoguchi_chat::attachments::too_large(limit as i64).into()
        } else {
            Error::invalid("file", "chat-error-file-missing").into()
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(broken)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().map(str::to_owned);
        let mut data = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(broken)? {
            if data.len() + chunk.len() > limit {
                return Err(madoguchi_chat::attachments::too_large(limit as i64).into());
            }
            data.extend_from_slice(&chunk);
        }
        return Ok(Upload { name, data });
    }
    Err(Error::invalid("file", "chat-error-file-missing").into())
}

/// `Content-Disposition` for `name`: `inline` or `attachment`, an ASCII fallback
/// `filename` (other characters as `_`) and the exact name as UTF-8 in `filename*`.
pub fn content_disposition(name: &str, inline: bool) -> HeaderValue {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()[]+@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = ascii.trim();
    let ascii = if ascii.is_empty() { "file" } else { ascii };
    // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else %XX of UTF-8.
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

/// A stored file as a download (see the module's headers).
pub fn file_response(name: &str, content_type: &str, data: Vec<u8>) -> Response {
    let inline = madoguchi_chat::attachments::INLINE_IMAGES.contains(&content_type);
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(name, inline),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(FILE_CSP),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        data,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_content_disposition_has_an_ascii_and_a_utf8_name() {
        let v = content_disposition("見積書 (最終).pdf", false);
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"___ (__).pdf\"; \
             filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8%20%28%E6%9C%80%E7%B5%82%29.pdf"
        );
        let v = content_disposition("a\"b\\c.png", true);
        assert_eq!(
            v.to_str().unwrap(),
            "inline; filename=\"a_b_c.png\"; filename*=UTF-8''a%22b%5Cc.png"
        );
        assert!(content_disposition("写真", true)
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"__\""));
    }

    #[test]
    fn v3_only_the_upload_routes_take_large_bodies() {
        let post = Method::POST;
        assert!(is_upload(
            &post,
            "/chat/api/v1/portals/acme/chats/c1/attachments"
        ));
        assert!(is_upload(
            &post,
            "/chat/widget/v1/acme/chats/c1/attachments"
        ));
        assert!(is_upload(
            &Method::PUT,
            "/desk/api/v1/portals/acme/tickets/t1/chat-threads/c1/attachments/a1"
        ));
        assert!(!is_upload(
            &Method::GET,
            "/chat/widget/v1/acme/chats/c1/attachments"
        ));
        assert!(!is_upload(&post, "/chat/widget/v1/acme/chats/c1/messages"));
        assert!(!is_upload(
            &post,
            "/chat/api/v1/portals/acme/chats/c1/attachments/x"
        ));
    }
}
