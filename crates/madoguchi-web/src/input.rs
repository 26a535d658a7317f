//! Q6: no input may carry NUL or other control characters. PostgreSQL refuses a NUL in
//! text (`invalid byte sequence for encoding "UTF8": 0x00`, a 500) while SQLite stores
//! it, so the check sits in front of both, at the edge:
//!
//! - [`reject_control_chars`], a middleware on the whole router, checks every
//!   percent-decoded path segment (`field: "path"`), every query parameter (`field`:
//!   its name) and every `application/x-www-form-urlencoded` body (the page forms;
//!   `field`: the form field);
//! - the JSON extractors (`ApiJson`, `OptionalApiJson`) check every string and key of
//!   the body ([`check_json`], `field`: the JSON path);
//! - the WebSockets check each text frame ([`parse_frame`]).
//!
//! Texts (JSON strings, form values) may hold tab, newline and carriage return
//! (message texts, descriptions, notes); paths, query parameters, keys and field names
//! may not. The answer is 400 `invalid_request` naming the field: JSON for the API,
//! an HTML error page for the pages.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use madoguchi_core::{Error, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Form bodies are read whole (the body limit of the router applies first).
const FORM_LIMIT: usize = 1024 * 1024;

/// A character no input may carry; `text` allows tab, newline and carriage return.
pub fn forbidden_char(c: char, text: bool) -> bool {
    c.is_control() && !(text && matches!(c, '\t' | '\n' | '\r'))
}

pub fn has_forbidden(s: &str, text: bool) -> bool {
    s.chars().any(|c| forbidden_char(c, text))
}

/// 400 `invalid_request` for a control character in `field`.
pub fn control_char_error(field: impl Into<String>) -> Error {
    let field = field.into();
    Error::invalid(field.clone(), "error-invalid_request-control").with_arg("field", field)
}

/// Could these JSON bytes hold a control character inside a string? Raw ones below
/// U+0020 are not JSON at all (the parser refuses them); the rest arrive as escapes
/// (`\u`, and `\b` `\f` `\n` `\r` `\t`: keys may hold none of them), as a raw DEL, or
/// as a raw C1 character (UTF-8 `C2 80`–`C2 9F`). Only `\"`, `\\` and `\/` are sure
/// to be harmless.
fn json_may_hold_controls(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| {
        (w[0] == b'\\' && !matches!(w[1], b'"' | b'\\' | b'/'))
            || w[0] == 0x7f
            || (w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
    }) || bytes.last() == Some(&0x7f)
}

/// The JSON path of the first string or key with a control character, in the form
/// the serde errors name fields (`visitor.name`, `items[2].text`).
pub fn check_json(value: &Value) -> Result<(), Error> {
    fn walk(value: &Value, path: &mut String) -> bool {
        match value {
            Value::String(s) => !has_forbidden(s, true),
            Value::Array(items) => items.iter().enumerate().all(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let ok = walk(item, path);
                if ok {
                    path.truncate(len);
                }
                ok
            }),
            Value::Object(map) => map.iter().all(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let ok = !has_forbidden(key, false) && walk(item, path);
                if ok {
                    path.truncate(len);
                }
                ok
            }),
            _ => true,
        }
    }
    let mut path = String::new();
    if walk(value, &mut path) {
        Ok(())
    } else {
        Err(control_char_error(path))
    }
}

/// Checks a JSON body before it is deserialized (so the field is named even when the
/// target type would accept the string). Bytes that are not JSON pass: the
/// deserializer names their fault.
pub fn check_json_bytes(bytes: &[u8]) -> Result<(), ApiError> {
    if !json_may_hold_controls(bytes) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => check_json(&value).map_err(ApiError),
        Err(_) => Ok(()),
    }
}

/// A refused WebSocket frame: the error and the frame's `clientMessageId`, if any.
pub struct FrameRejection {
    pub error: Error,
    pub client_message_id: Option<String>,
}

/// A WebSocket text frame as `T`: a control character answers an error naming the
/// field, with the frame's `clientMessageId` when it has one (the sender's message is
/// then refused, not retried forever).
pub fn parse_frame<T: DeserializeOwned>(text: &str) -> Result<T, Box<FrameRejection>> {
    let invalid = || {
        Box::new(FrameRejection {
            error: Error::new(ErrorCode::InvalidRequest),
            client_message_id: None,
        })
    };
    // Most frames hold nothing that could be a control character: parsed at once,
    // without the JSON tree the check walks.
    if !json_may_hold_controls(text.as_bytes()) {
        return serde_json::from_str(text).map_err(|_| invalid());
    }
    let value: Value = serde_json::from_str(text).map_err(|_| invalid())?;
    if let Err(error) = check_json(&value) {
        let client_message_id = value
            .get("clientMessageId")
            .and_then(Value::as_str)
            .filter(|id| !has_forbidden(id, false))
            .map(str::to_owned);
        return Err(Box::new(FrameRejection {
            error,
            client_message_id,
        }));
    }
    serde_json::from_value(value).map_err(|_| invalid())
}

/// `%XY` decoding of one path segment or query part (no `+`: paths keep it).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first form or query parameter with a control character in its name, or in its
/// value (`text`: values may hold tab and newlines).
fn check_pairs(encoded: &[u8], text: bool) -> Result<(), Error> {
    for (name, value) in form_urlencoded::parse(encoded) {
        if has_forbidden(&name, false) {
            return Err(control_char_error(
                name.chars().filter(|c| !c.is_control()).collect::<String>(),
            ));
        }
        if has_forbidden(&value, text) {
            return Err(control_char_error(name.into_owned()));
        }
    }
    Ok(())
}

/// API paths answer JSON; everything else is a page and answers a page.
fn is_api(path: &str) -> bool {
    ["/api/", "/desk/api/", "/chat/api/", "/chat/widget/"]
        .iter()
        .any(|p| path.starts_with(p))
}

fn rejection(req_headers: &axum::http::HeaderMap, path: &str, error: Error) -> Response {
    if is_api(path) {
        return ApiError(error).into_response();
    }
    let ctx = crate::pages::PageContext {
        user: None,
        csrf: String::new(),
        lang: crate::pages::page_lang(None, req_headers),
        path: "/".into(),
    };
    let message = error.message(ctx.lang);
    crate::pages::error_page(&ctx, StatusCode::BAD_REQUEST, &message)
}

/// Middleware: a control character in the path, the query or a form body is a 400
/// before any handler runs (see the module comment).
pub async fn reject_control_chars(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path
        .split('/')
        .any(|seg| seg.contains('%') && has_forbidden(&percent_decode(seg), false))
    {
        return rejection(req.headers(), &path, control_char_error("path"));
    }
    if let Some(query) = req.uri().query() {
        if let Err(e) = check_pairs(query.as_bytes(), false) {
            return rejection(req.headers(), &path, e);
        }
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, FORM_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError(Error::new(ErrorCode::PayloadTooLarge)).into_response(),
    };
    if let Err(e) = check_pairs(&bytes, true) {
        return rejection(&parts.headers, &path, e);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn q6_control_characters_are_named_by_their_json_path() {
        assert!(check_json(&json!({"text": "a\tb\r\nc"})).is_ok());
        let e = check_json(&json!({"visitor": {"name": "a\u{0}"}})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("visitor.name"));
        let e = check_json(&json!({"items": [{"x": "ok"}, {"x": "\u{7f}"}]})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("items[1].x"));
        let e = check_json(&json!({"a\u{1}": 1})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("a\u{1}"));
        assert!(json_may_hold_controls(br#"{"a":"\u0000"}"#));
        assert!(json_may_hold_controls("{\"a\":\"\u{85}\"}".as_bytes()));
        assert!(!json_may_hold_controls("{\"a\":\"日本語\"}".as_bytes()));
        // The short escapes of control characters too (a backspace is one).
        for escape in [r#"\b"#, r#"\f"#, r#"\n"#, r#"\r"#, r#"\t"#] {
            let body = format!(r#"{{"text":"a{escape}b"}}"#);
            assert!(json_may_hold_controls(body.as_bytes()), "{body}");
        }
        assert!(!json_may_hold_controls(br#"{"a":"say \"hi\" \/"}"#));
    }

    #[test]
    fn q6_a_frame_with_a_backspace_or_a_control_key_is_refused_naming_the_field() {
        #[derive(serde::Deserialize)]
        struct Frame {
            #[allow(dead_code)]
            text: String,
        }
        let refused = |text: &str| parse_frame::<Frame>(text).err().map(|r| r.error.field);
        assert_eq!(refused(r#"{"text":"a\bb"}"#), Some(Some("text".to_owned())));
        assert_eq!(
            refused(r#"{"text":"ok","k\n":1}"#),
            Some(Some("k\n".to_owned()))
        );
        // Newlines in a text are fine; a frame without escapes takes the fast path.
        assert!(parse_frame::<Frame>(r#"{"text":"a\nb"}"#).is_ok());
        assert!(parse_frame::<Frame>(r#"{"text":"こんにちは"}"#).is_ok());
        assert!(parse_frame::<Frame>(r#"{"text":5}"#).is_err());
    }

    #[test]
    fn q6_paths_and_queries_are_checked_decoded() {
        assert_eq!(percent_decode("%00x"), "\u{0}x");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert!(check_pairs(b"q=a%09b", false).is_err());
        assert!(check_pairs(b"q=a%09b", true).is_ok());
        assert_eq!(
            check_pairs(b"ok=1&next=%2F%0AX", false)
                .unwrap_err()
                .field
                .as_deref(),
            Some("next")
        );
    }
}
