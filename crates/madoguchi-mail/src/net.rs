//! Connections to mail servers: TCP, optionally TLS (rustls with the webpki roots),
//! as one stream type async-imap can drive; and the failures named for people.

use madoguchi_desk::Security;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Where a connection test or a fetch failed; each has a catalog text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Connect(String),
    Tls(String),
    Login(String),
    Folder(String),
    Protocol(String),
}

impl Failure {
    pub fn key(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "desk-mail-error-connect",
            Failure::Tls(_) => "desk-mail-error-tls",
            Failure::Login(_) => "desk-mail-error-login",
            Failure::Folder(_) => "desk-mail-error-folder",
            Failure::Protocol(_) => "desk-mail-error-protocol",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Failure::Connect(d)
            | Failure::Tls(d)
            | Failure::Login(d)
            | Failure::Folder(d)
            | Failure::Protocol(d) => d,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key(), self.detail())
    }
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A plain or TLS stream.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Failure::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

pub async fn tcp(host: &str, port: i64) -> Result<TcpStream, Failure> {
    let port = u16::try_from(port).map_err(|e| Failure::Connect(e.to_string()))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Failure::Connect(e.to_string())),
        Err(_) => Err(Failure::Connect("timed out".into())),
    }
}

pub async fn tls(host: &str, tcp: TcpStream) -> Result<Stream, Failure> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| Failure::Tls(e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
        Ok(Err(e)) => Err(Failure::Tls(e.to_string())),
        Err(_) => Err(Failure::Tls("timed out".into())),
    }
}

/// An IMAP session logged in (not yet in a folder).
pub type Session = async_imap::Session<Stream>;

/// Connects, secures the connection as configured, and logs in.
pub async fn imap_login(
    host: &str,
    port: i64,
    security: Security,
    username: &str,
    password: &str,
) -> Result<Session, Failure> {
    let tcp = tcp(host, port).await?;
    let stream = match security {
        Security::Tls => tls(host, tcp).await?,
        _ => Stream::Plain(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    let greeting = tokio::time::timeout(CONNECT_TIMEOUT, client.read_response()).await;
    match greeting {
        Ok(Some(Ok(_))) => {}
        Ok(Some(Err(e))) => return Err(Failure::Protocol(e.to_string())),
        Ok(None) => return Err(Failure::Protocol("connection closed".into())),
        Err(_) => return Err(Failure::Protocol("no greeting".into())),
    }
    let client = if security == Security::Starttls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| Failure::Tls(e.to_string()))?;
        let Stream::Plain(tcp) = client.into_inner() else {
            return Err(Failure::Tls("unexpected stream".into()));
        };
        async_imap::Client::new(tls(host, tcp).await?)
    } else {
        client
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, client.login(username, password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(Failure::Login(e.to_string())),
        Err(_) => Err(Failure::Login("timed out".into())),
    }
}
