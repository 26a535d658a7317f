//! V3: files and images sent in a chat, by the visitor or an operator.
//!
//! A file is a message: its text is the file's name and it carries `attachment`
//! (`{id, name, contentType, size}`), so it takes the chat's next `seq`, reaches every
//! socket like any message and joins the Desk transcript. The bytes are stored in the
//! database (`chat_attachments`), in the same transaction as the message: every node
//! of a PostgreSQL installation serves them, and backup, restore and migrate, which
//! copy every table, carry them.
//!
//! The type is read from the content ([`detect_type`]), never from the name or the
//! client's content type; only the types of [`ALLOWED`] and plain UTF-8 text are taken.
//! Markup (HTML, SVG, XML) and programs are refused: a browser could run their script.

mod store;

use crate::chats::{ChatState, VisitorSession};
use crate::messages::{Author, Message, Sender};
use crate::operators::OperatorCtx;
use crate::Chat;
use madoguchi_core::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use utoipa::ToSchema;

/// The file size limit of a new portal: 10 MB.
pub const DEFAULT_MAX_BYTES: i64 = 10 * 1024 * 1024;
/// What a portal's limit may be set to: 1 KB to 50 MB.
pub const LIMIT_RANGE: RangeInclusive<i64> = 1024..=50 * 1024 * 1024;
/// File names are kept to this many characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The content type of a plain-text file.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The types taken besides plain text, as [`infer`] names them: common images, PDF,
/// ZIP and office documents (Microsoft Office, both formats, and OpenDocument).
pub const ALLOWED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/zip",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
];

/// Images a browser may show inline (thumbnails, `Content-Disposition: inline`).
pub const INLINE_IMAGES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The file of a message, as the domain and the bus carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
}

/// A message's file in the API: `{id, name, contentType, size, url}`; `url` is the
/// route the reader downloads it by (the operator's or the widget's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub url: String,
}

/// A stored file with its bytes.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub attachment: Attachment,
    pub data: Vec<u8>,
}

/// Who reads messages, for the URL of their files: operators download through the
/// portal's API, the visitor through the widget's (with its token).
#[derive(Debug, Clone)]
pub struct Reader {
    base: String,
}

impl Reader {
    /// An operator of `portal` (names are lowercase letters, digits and hyphens).
    pub fn operator(public_url: &str, portal: &str) -> Self {
        Self {
            base: format!(
                "{}/chat/api/v1/portals/{portal}",
                public_url.trim_end_matches('/')
            ),
        }
    }

    /// The visitor of a chat of `portal`.
    pub fn visitor(public_url: &str, portal: &str) -> Self {
        Self {
            base: format!(
                "{}/chat/widget/v1/{portal}",
                public_url.trim_end_matches('/')
            ),
        }
    }

    pub fn url(&self, chat_id: &str, attachment_id: &str) -> String {
        format!("{}/chats/{chat_id}/attachments/{attachment_id}", self.base)
    }

    pub fn view(&self, chat_id: &str, a: &Attachment) -> AttachmentView {
        AttachmentView {
            url: self.url(chat_id, &a.id),
            id: a.id.clone(),
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
        }
    }
}

fn not_allowed() -> Error {
    Error::new(ErrorCode::FileTypeNotAllowed).with_field("file")
}

/// 413 `file_too_large`, saying the limit (in MB, or KB below 1 MB).
pub fn too_large(limit: i64) -> Error {
    let shown = if limit >= 1024 * 1024 {
        let mb = limit as f64 / (1024.0 * 1024.0);
        if mb.fract() == 0.0 {
            format!("{mb:.0} MB")
        } else {
            format!("{mb:.1} MB")
        }
    } else {
        format!("{} KB", (limit / 1024).max(1))
    };
    Error::new(ErrorCode::FileTooLarge)
        .with_field("file")
        .with_message("chat-error-file-too-large")
        .with_arg("max", shown)
        .with_extra("maxBytes", limit)
}

/// The content type of `data`, read from its bytes; 415 `file_type_not_allowed` for
/// anything but [`ALLOWED`] types and plain text.
pub fn detect_type(data: &[u8]) -> Result<&'static str> {
    if let Some(kind) = infer::get(data) {
        let mime = kind.mime_type();
        return ALLOWED
            .iter()
            .find(|a| **a == mime)
            .copied()
            .ok_or_else(not_allowed);
    }
    if is_plain_text(data) {
        Ok(TEXT_PLAIN)
    } else {
        Err(not_allowed())
    }
}

/// UTF-8 text without control characters (tabs, line and page breaks aside) that does
/// not open with markup (`<html`, `<svg`, `<?xml`, `<!DOCTYPE`, …) or a `#!` line.
fn is_plain_text(data: &[u8]) -> bool {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
    {
        return false;
    }
    let start = text.trim_start();
    let mut chars = start.chars();
    let markup = chars.next() == Some('<')
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '!' | '?' | '/'));
    !markup && !start.starts_with("#!")
}

/// The name to keep: the last path segment of what the client sent, without control
/// or direction-override characters, at most [`MAX_NAME_CHARS`] (the extension kept);
/// `file` with the type's extension when nothing is left.
pub fn clean_name(raw: Option<&str>, content_type: &str) -> String {
    let last = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        return format!("file.{}", extension_of(content_type));
    }
    if cleaned.chars().count() <= MAX_NAME_CHARS {
        return cleaned.to_owned();
    }
    let ext: String = match cleaned.rsplit_once('.') {
        Some((_, e)) if !e.is_empty() && e.chars().count() <= 10 => format!(".{e}"),
        _ => String::new(),
    };
    let keep = MAX_NAME_CHARS - ext.chars().count();
    let stem: String = cleaned.chars().take(keep).collect();
    format!("{}{ext}", stem.trim_end())
}

fn extension_of(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        t if t.starts_with("text/plain") => "txt",
        _ => "bin",
    }
}

/// Visitors send files while the chat is open (as messages).
const VISITOR_STATES: &[ChatState] = &[ChatState::Waiting, ChatState::Attended, ChatState::Missed];
/// Operators send files in a chat they answer (as messages).
const OPERATOR_STATES: &[ChatState] = &[ChatState::Attended, ChatState::Missed];

impl Chat {
    /// The largest file `portal_id` takes (the default for an unknown portal).
    pub async fn attachment_limit(&self, portal_id: &str) -> Result<i64> {
        Ok(self
            .portal_by_id(portal_id)
            .await?
            .map_or(DEFAULT_MAX_BYTES, |p| p.max_attachment_bytes))
    }

    /// Checks before reading an upload that the visitor may send a file now (409 once
    /// the chat ended); answers the portal's limit.
    pub async fn visitor_upload_limit(&self, session: &VisitorSession) -> Result<i64> {
        self.require_writable(&session.chat_id, VISITOR_STATES)
            .await?;
        self.attachment_limit(&session.portal_id).await
    }

    /// Checks before reading an upload that the operator may send a file in the chat
    /// (404, 403 `not_chat_owner`, 409 once ended); answers the portal's limit.
    pub async fn operator_upload_limit(&self, op: &OperatorCtx, chat_id: &str) -> Result<i64> {
        let chat = self.chat_for_operator(op, chat_id).await?;
        crate::toolkit::require_writer(op, &chat)?;
        self.require_writable(chat_id, OPERATOR_STATES).await?;
        Ok(op.portal.max_attachment_bytes)
    }

    async fn require_writable(&self, chat_id: &str, allowed: &[ChatState]) -> Result<()> {
        match crate::chats::store::state_of(&self.db, chat_id).await? {
            Some(state) if allowed.contains(&state) => Ok(()),
            _ => Err(self.not_writable(chat_id).await),
        }
    }

    /// V3: the visitor sends a file (Bearer visitor token): a message carrying it.
    #[tracing::instrument(skip_all, fields(chat = %session.chat_id))]
    pub async fn post_visitor_attachment(
        &self,
        session: &VisitorSession,
        name: Option<&str>,
        data: Vec<u8>,
    ) -> Result<Message> {
        let limit = self.attachment_limit(&session.portal_id).await?;
        let now = self.clock.now_ms();
        if !self.limits.allow_upload(&session.chat_id, now)
            || !self.limits.allow_message(&session.chat_id, now)
        {
            return Err(Error::new(ErrorCode::RateLimited));
        }
        let author = Author {
            sender: Sender::Visitor,
            user_id: None,
            name: None,
            key: "visitor".into(),
        };
        self.store_attachment(
            &session.portal_id,
            &session.chat_id,
            session.department_id.as_deref(),
            &author,
            name,
            data,
            limit,
            VISITOR_STATES,
        )
        .await
    }

    /// V3: an operator sends a file; the chat must be theirs to write in (O4).
    #[tracing::instrument(skip_all, fields(portal = %op.portal.name))]
    pub async fn post_operator_attachment(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        name: Option<&str>,
        data: Vec<u8>,
    ) -> Result<Message> {
        let chat = self.chat_for_operator(op, chat_id).await?;
        crate::toolkit::require_writer(op, &chat)?;
        let author = Author {
            sender: Sender::Operator,
            user_id: Some(op.user_id.clone()),
            name: Some(op.name.clone()),
            key: format!("op:{}", op.user_id),
        };
        let limit = self.attachment_limit(&op.portal.id).await?;
        self.store_attachment(
            &op.portal.id,
            &chat.id,
            chat.department_id.as_deref(),
            &author,
            name,
            data,
            limit,
            OPERATOR_STATES,
        )
        .await
    }

    /// Checks the file, then stores it and its message in one transaction and
    /// publishes the message.
    #[allow(clippy::too_many_arguments)]
    async fn store_attachment(
        &self,
        portal_id: &str,
        chat_id: &str,
        department_id: Option<&str>,
        author: &Author,
        name: Option<&str>,
        data: Vec<u8>,
        limit: i64,
        allowed: &[ChatState],
    ) -> Result<Message> {
        if data.len() as i64 > limit {
            return Err(too_large(limit));
        }
        if data.is_empty() {
            return Err(Error::invalid("file", "chat-error-file-empty"));
        }
        let content_type = detect_type(&data)?;
        let attachment = Attachment {
            id: madoguchi_core::ids::new_id(),
            name: clean_name(name, content_type),
            content_type: content_type.to_owned(),
            size: data.len() as i64,
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let Some(next) = crate::chats::store::next_seq(&mut tx, chat_id, allowed, now).await?
        else {
            drop(tx);
            return Err(self.not_writable(chat_id).await);
        };
        store::insert(&mut tx, portal_id, chat_id, &attachment, &data, now).await?;
        let message = Message {
            id: madoguchi_core::ids::new_id(),
            chat_id: chat_id.to_owned(),
            seq: next.seq,
            sender: author.sender,
            sender_user_id: author.user_id.clone(),
            sender_name: author.name_with(next.visitor_name),
            text: attachment.name.clone(),
            system_kind: None,
            system_arg: None,
            attachment: Some(Box::new(attachment)),
            created_at: now,
        };
        crate::messages::store::insert(&mut tx, &message, None).await?;
        store::link_message(&mut tx, &message).await?;
        tx.commit().await?;
        self.publish_message(portal_id, department_id, &message)
            .await;
        Ok(message)
    }

    /// V3: a file of the visitor's chat (404 for another chat's file).
    pub async fn visitor_attachment(
        &self,
        session: &VisitorSession,
        attachment_id: &str,
    ) -> Result<AttachmentFile> {
        self.attachment_file(&session.chat_id, attachment_id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// V3: a file of a chat the operator may read; 404 otherwise (another portal's
    /// chat, a department the operator does not see, another chat's file).
    pub async fn operator_attachment(
        &self,
        op: &OperatorCtx,
        chat_id: &str,
        attachment_id: &str,
    ) -> Result<AttachmentFile> {
        let department = store::chat_department(&self.db, &op.portal.id, chat_id)
            .await?
            .ok_or_else(Error::not_found)?;
        if !op.may_see_department(department.as_deref()) {
            return Err(Error::not_found());
        }
        self.attachment_file(chat_id, attachment_id)
            .await?
            .ok_or_else(Error::not_found)
    }

    /// A file of `chat_id` with its bytes (the integration copies it to Desk).
    pub async fn attachment_file(
        &self,
        chat_id: &str,
        attachment_id: &str,
    ) -> Result<Option<AttachmentFile>> {
        store::file(&self.db, chat_id, attachment_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    #[test]
    fn v3_the_type_comes_from_the_content() {
        assert_eq!(detect_type(PNG).ok(), Some("image/png"));
        assert_eq!(
            detect_type(b"\xff\xd8\xff\xe0\0\x10JFIF\0").ok(),
            Some("image/jpeg")
        );
        assert_eq!(detect_type(b"GIF89a\x01\0\x01\0").ok(), Some("image/gif"));
        assert_eq!(
            detect_type(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n").ok(),
            Some("application/pdf")
        );
        assert_eq!(
            detect_type(b"PK\x03\x04\x14\0\0\0\0\0").ok(),
            Some("application/zip")
        );
        assert_eq!(
            detect_type("見積書の件です。\r\n金額: 1,000円\t(税込)".as_bytes()).ok(),
            Some(TEXT_PLAIN)
        );
        assert_eq!(
            detect_type(b"\xEF\xBB\xBFa,b\n1,2\n").ok(),
            Some(TEXT_PLAIN)
        );
        assert_eq!(detect_type(b"1 < 2 and <b> is bold").ok(), Some(TEXT_PLAIN));
        for refused in [
            &b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"[..],
            b"\x7fELF\x02\x01\x01\0",
            b"<!DOCTYPE html><p>hi",
            b"  <html><script>alert(1)</script>",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
            b"<?xml version=\"1.0\"?><svg/>",
            b"#!/bin/sh\nrm -rf /\n",
            b"\0\x01\x02binary",
            b"\xff\xfe\xfd not utf-8",
        ] {
            let e = detect_type(refused).unwrap_err();
            assert_eq!(e.code, ErrorCode::FileTypeNotAllowed, "{refused:?}");
        }
    }

    #[test]
    fn v3_names_lose_paths_and_controls_and_keep_their_extension() {
        assert_eq!(
            clean_name(Some("C:\\Users\\mori\\見積書.pdf"), "application/pdf"),
            "見積書.pdf"
        );
        assert_eq!(clean_name(Some("../../etc/passwd"), TEXT_PLAIN), "passwd");
        assert_eq!(clean_name(Some("a\u{202e}fdp.exe"), TEXT_PLAIN), "afdp.exe");
        assert_eq!(clean_name(Some("a\r\nb.txt"), TEXT_PLAIN), "ab.txt");
        assert_eq!(clean_name(None, "image/png"), "file.png");
        assert_eq!(clean_name(Some(" .. "), "image/jpeg"), "file.jpg");
        let long = format!("{}.xlsx", "あ".repeat(300));
        let kept = clean_name(Some(&long), "application/zip");
        assert_eq!(kept.chars().count(), MAX_NAME_CHARS);
        assert!(kept.ends_with(".xlsx"));
    }

    #[test]
    fn v3_the_limit_is_said_in_mb_or_kb() {
        let said = |n| too_large(n).message_args[0].1.clone();
        assert_eq!(said(10 * 1024 * 1024), "10 MB");
        assert_eq!(said(1536 * 1024), "1.5 MB");
        assert_eq!(said(2048), "2 KB");
    }
}
