//! Outgoing mail (E4): an [`OutgoingMail`] rendered to MIME with mail-builder (text
//! and HTML parts, From with the display name, the thread's one Message-ID,
//! In-Reply-To/References) and handed to the mailbox's SMTP server with lettre.

use crate::net::Failure;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use madoguchi_desk::{MailboxConfig, OutgoingMail, Security};
use mail_builder::headers::text::Text;
use mail_builder::MessageBuilder;
use std::time::Duration;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

fn transport(
    host: &str,
    port: i64,
    security: Security,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, Failure> {
    let port = u16::try_from(port).map_err(|e| Failure::Connect(e.to_string()))?;
    let tls = match security {
        Security::None => Tls::None,
        Security::Starttls => Tls::Required(
            TlsParameters::new(host.to_owned()).map_err(|e| Failure::Tls(e.to_string()))?,
        ),
        Security::Tls => Tls::Wrapper(
            TlsParameters::new(host.to_owned()).map_err(|e| Failure::Tls(e.to_string()))?,
        ),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(15)));
    if let Some(user) = username.filter(|u| !u.is_empty()) {
        builder = builder.credentials(Credentials::new(
            user.to_owned(),
            password.unwrap_or("").to_owned(),
        ));
    }
    Ok(builder.build())
}

fn mailbox_transport(cfg: &MailboxConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, Failure> {
    transport(
        &cfg.smtp.host,
        cfg.smtp.port,
        cfg.smtp.security,
        cfg.smtp.username.as_deref(),
        cfg.smtp_password.as_deref(),
    )
}

/// Connects (and logs in, when a user is set) without sending anything.
pub async fn test(cfg: &MailboxConfig) -> Result<(), Failure> {
    let t = mailbox_transport(cfg)?;
    match t.test_connection().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::Connect("no answer".into())),
        Err(e) if e.is_permanent() || e.is_transient() => Err(Failure::Login(e.to_string())),
        Err(e) if e.is_tls() => Err(Failure::Tls(e.to_string())),
        Err(e) => Err(Failure::Connect(e.to_string())),
    }
}

/// Escapes text for HTML and keeps its lines.
pub fn text_to_html(text: &str) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body><div>");
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("<br>\r\n");
        }
        for c in line.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                _ => out.push(c),
            }
        }
    }
    out.push_str("</div></body></html>");
    out
}

/// The MIME bytes of a mail: the same input gives the same Message-ID every time.
pub fn render(mail: &OutgoingMail, now_ms: i64) -> Result<Vec<u8>, SendError> {
    let from = (mail.from_name.clone(), mail.from_address.clone());
    let to = match &mail.to_name {
        Some(n) => (n.clone(), mail.to_address.clone()),
        None => (String::new(), mail.to_address.clone()),
    };
    let mut builder = MessageBuilder::new()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(mail.message_id.clone())
        .date(now_ms / 1000)
        .text_body(mail.text.clone())
        .html_body(text_to_html(&mail.text));
    if let Some(irt) = &mail.in_reply_to {
        builder = builder.in_reply_to(irt.clone());
    }
    if !mail.references.is_empty() {
        builder = builder.references(mail.references.clone());
    }
    if mail.kind == "ack" {
        builder = builder.header("Auto-Submitted", Text::new("auto-replied"));
    }
    builder
        .header("X-Mailer", Text::new("Madoguchi"))
        .write_to_vec()
        .map_err(|e| SendError {
            message: e.to_string(),
            permanent: true,
        })
}

/// Sends one mail through the mailbox's SMTP server.
pub async fn send(cfg: &MailboxConfig, mail: &OutgoingMail, now_ms: i64) -> Result<(), SendError> {
    let bytes = render(mail, now_ms)?;
    let permanent = |m: String| SendError {
        message: m,
        permanent: true,
    };
    let envelope = Envelope::new(
        Some(
            mail.from_address
                .parse()
                .map_err(|e: lettre::address::AddressError| permanent(e.to_string()))?,
        ),
        vec![mail
            .to_address
            .parse()
            .map_err(|e: lettre::address::AddressError| permanent(e.to_string()))?],
    )
    .map_err(|e| permanent(e.to_string()))?;
    let t = mailbox_transport(cfg).map_err(|f| SendError {
        message: f.to_string(),
        permanent: false,
    })?;
    match t.send_raw(&envelope, &bytes).await {
        Ok(_) => Ok(()),
        Err(e) => Err(SendError {
            permanent: e.is_permanent(),
            message: e.to_string(),
        }),
    }
}
