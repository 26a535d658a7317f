//! A raw RFC 5322 message → [`IncomingMail`] (E6, E7): mail-parser decodes the
//! charsets (ISO-2022-JP, Shift_JIS, UTF-8, …), encoded words, quoted-printable and
//! base64, and turns HTML-only mail into text; this module picks the fields, splits
//! the quoted history off the new text, and recognises automatic mail and bounces.

use madoguchi_core::i18n::Lang;
use madoguchi_desk::{IncomingAttachment, IncomingMail};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Decodes `raw`; a mail without a Message-ID gets one derived from its bytes, so the
/// same mail fetched twice is still recognised.
pub fn decode(raw: &[u8]) -> IncomingMail {
    let Some(message) = MessageParser::default().parse(raw) else {
        return IncomingMail {
            message_id: derived_id(raw),
            subject: String::new(),
            automatic: true,
            ..IncomingMail::default()
        };
    };
    let message_id = message
        .message_id()
        .map(madoguchi_desk::mail::normalize_message_id)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| derived_id(raw));
    let (from_address, from_name) = match message.from().and_then(|a| a.first()) {
        Some(addr) => (
            addr.address().unwrap_or("").trim().to_owned(),
            addr.name()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        ),
        None => (String::new(), None),
    };
    let to = message
        .to()
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let subject = message.subject().unwrap_or("").trim().to_owned();
    let body = message
        .body_text(0)
        .map(|b| b.into_owned())
        .unwrap_or_default();
    let body = body.replace("\r\n", "\n");
    let (text, quoted) = split_quoted(&body);
    let is_report = is_content_type(&message, "multipart", "report");
    let automatic = is_automatic(&message, &from_address) || is_report;
    let (bounce_of, bounce_reason) = if is_report || is_daemon(&from_address) {
        bounce_details(&message)
    } else {
        (Vec::new(), None)
    };
    let attachments = if is_report {
        Vec::new()
    } else {
        message
            .attachments()
            .filter(|p| !matches!(p.body, PartType::Message(_)) || p.attachment_name().is_some())
            .map(|p| IncomingAttachment {
                name: p
                    .attachment_name()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "attachment".to_owned()),
                content_type: p
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_owned())
                    .to_ascii_lowercase(),
                data: p.contents().to_vec(),
            })
            .collect()
    };
    let lang = language(&message, &subject, &text);
    IncomingMail {
        message_id,
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from_address,
        from_name,
        to,
        subject,
        text,
        quoted,
        attachments,
        automatic,
        bounce_of,
        bounce_reason,
        lang,
    }
}

fn derived_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    format!("{}@madoguchi.invalid", hex(&digest[..16]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value.as_text_list() {
        Some(list) => list.iter().map(|s| s.to_string()).collect(),
        None => value
            .as_text()
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default(),
    };
    list.iter()
        .flat_map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|s| madoguchi_desk::mail::normalize_message_id(&s))
        .filter(|s| !s.is_empty())
        .collect()
}

fn is_content_type(message: &Message<'_>, ctype: &str, subtype: &str) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
    })
}

fn header_text(message: &Message<'_>, name: &str) -> Option<String> {
    message
        .header_raw(name)
        .map(|v| v.trim().to_ascii_lowercase())
}

fn is_daemon(from: &str) -> bool {
    let local = from.split('@').next().unwrap_or("").to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
    )
}

/// E7: auto-replies, list and bulk mail, and mail from a mailer daemon.
fn is_automatic(message: &Message<'_>, from: &str) -> bool {
    if header_text(message, "Auto-Submitted").is_some_and(|v| !v.starts_with("no")) {
        return true;
    }
    if header_text(message, "Precedence")
        .is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply"))
    {
        return true;
    }
    if message.header_raw("X-Autoreply").is_some()
        || message.header_raw("X-Autorespond").is_some()
        || message
            .header_raw("X-Auto-Response-Suppress")
            .is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                v.contains("all") || v.contains("oof")
            })
    {
        return true;
    }
    is_daemon(from) || from.is_empty()
}

/// The Message-IDs a delivery report is about and its diagnostic.
fn bounce_details(message: &Message<'_>) -> (Vec<String>, Option<String>) {
    let mut ids_found = Vec::new();
    let mut reason = None;
    for part in message.parts.iter() {
        let ct = part.content_type();
        let sub = ct
            .and_then(|c| c.subtype())
            .unwrap_or("")
            .to_ascii_lowercase();
        match &part.body {
            PartType::Message(inner) => {
                if let Some(id) = inner.message_id() {
                    ids_found.push(madoguchi_desk::mail::normalize_message_id(id));
                }
            }
            _ if sub == "rfc822-headers" || sub == "delivery-status" => {
                let text = String::from_utf8_lossy(part.contents()).into_owned();
                if sub == "rfc822-headers" {
                    if let Some(inner) = MessageParser::default().parse(text.as_bytes()) {
                        if let Some(id) = inner.message_id() {
                            ids_found.push(madoguchi_desk::mail::normalize_message_id(id));
                        }
                    }
                } else {
                    for line in text.lines() {
                        let lower = line.to_ascii_lowercase();
                        if lower.starts_with("diagnostic-code:") {
                            reason = Some(line["diagnostic-code:".len()..].trim().to_owned());
                        } else if lower.starts_with("status:") && reason.is_none() {
                            reason = Some(format!("status {}", line["status:".len()..].trim()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // A daemon's plain notice may only say which mail it answers.
    ids_found.extend(ids(message.in_reply_to()));
    ids_found.extend(ids(message.references()));
    ids_found.retain(|s| !s.is_empty());
    ids_found.dedup();
    if reason.is_none() {
        reason = message.subject().map(str::to_owned);
    }
    (ids_found, reason)
}

/// "ja" unless the mail says English or holds no Japanese at all.
fn language(message: &Message<'_>, subject: &str, text: &str) -> Lang {
    if header_text(message, "Content-Language").is_some_and(|v| v.starts_with("en")) {
        return Lang::En;
    }
    let japanese = |s: &str| {
        s.chars()
            .any(|c| matches!(c as u32, 0x3040..=0x30FF | 0x4E00..=0x9FFF | 0xFF66..=0xFF9F))
    };
    if japanese(subject) || japanese(text) || (subject.is_empty() && text.is_empty()) {
        Lang::Ja
    } else {
        Lang::En
    }
}

/// Whether a line introduces quoted history ("On … wrote:", "…さんは書きました:",
/// "-----Original Message-----").
fn is_attribution(line: &str) -> bool {
    let l = line.trim();
    let lower = l.to_ascii_lowercase();
    lower.ends_with("wrote:")
        || l.ends_with("書きました:")
        || l.ends_with("書きました：")
        || l.ends_with("wrote：")
        || lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || l.starts_with("-----Original Message-----")
}

/// Splits the new text from the quoted history under it.
pub fn split_quoted(body: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = body.lines().collect();
    let quoted_from = |i: usize| {
        lines[i..]
            .iter()
            .skip(1)
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'))
    };
    let mut cut = None;
    for (i, line) in lines.iter().enumerate() {
        if is_attribution(line) {
            cut = Some(i);
            break;
        }
        if line.trim_start().starts_with('>') && quoted_from(i) {
            cut = Some(i);
            break;
        }
    }
    match cut {
        Some(i) if i > 0 => {
            let text = lines[..i].join("\n").trim_end().to_owned();
            let quoted = lines[i..].join("\n").trim().to_owned();
            if text.trim().is_empty() {
                (body.trim().to_owned(), None)
            } else {
                (text, Some(quoted).filter(|q| !q.is_empty()))
            }
        }
        _ => (body.trim().to_owned(), None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn e6_quoted_history_is_split_off() {
        let (text, quoted) =
            split_quoted("ありがとう\n\n2026/12/01 山田さんは書きました:\n> 前の文\n");
        assert_eq!(text, "ありがとう");
        assert!(quoted.unwrap().contains("> 前の文"));
        let (text, quoted) = split_quoted("Thanks\n> old\n> older\n");
        assert_eq!(text, "Thanks");
        assert_eq!(quoted.as_deref(), Some("> old\n> older"));
        let (text, quoted) = split_quoted("no quote");
        assert_eq!((text.as_str(), quoted), ("no quote", None));
    }

    #[test]
    fn e7_auto_replies_are_recognised() {
        let m =
            decode(b"From: a@b.test\r\nAuto-Submitted: auto-replied\r\nSubject: x\r\n\r\nhi\r\n");
        assert!(m.automatic);
        let m = decode(b"From: a@b.test\r\nAuto-Submitted: no\r\nSubject: x\r\n\r\nhi\r\n");
        assert!(!m.automatic);
        let m = decode(b"From: MAILER-DAEMON@b.test\r\nSubject: x\r\n\r\nhi\r\n");
        assert!(m.automatic);
    }

    #[test]
    fn e6_iso_2022_jp_subject_and_body_decode() {
        let raw = b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <y@b.test>\r\nSubject: =?ISO-2022-JP?B?GyRCJDNKOBsoQg==?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n";
        let m = decode(raw);
        assert_eq!(m.from_name.as_deref(), Some("山田"));
        assert_eq!(m.subject, "こ文");
        assert_eq!(m.text, "こんにちは");
        assert_eq!(m.lang, Lang::Ja);
    }
}
