//! Q6: the security headers of the pages. Every HTML response gets a
//! Content-Security-Policy that allows only this server's own scripts, styles and
//! images (no inline script or style: the pages keep theirs in `/assets/…`), the
//! console's WebSocket on the public URL, and no framing; plus `X-Frame-Options` for
//! older browsers and a `Referrer-Policy` that keeps ticket URLs on this site.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The header values, built once from the public URL.
#[derive(Clone)]
pub struct PageHeaders {
    csp: HeaderValue,
}

impl PageHeaders {
    pub fn new(public_url: &str) -> Self {
        Self {
            csp: HeaderValue::from_str(&content_security_policy(public_url))
                .unwrap_or_else(|_| HeaderValue::from_static(FALLBACK_CSP)),
        }
    }
}

const FALLBACK_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// The policy for `public_url` (`https://chat.example.com` → also `wss://chat.example.com`
/// for the console's socket; `'self'` covers it in current browsers, older ones need it).
pub fn content_security_policy(public_url: &str) -> String {
    let origin = public_url.trim_end_matches('/');
    let mut connect = String::from("'self'");
    // Only a plain origin goes into the policy (no path, no separators).
    let socket = origin.split_once("://").and_then(|(scheme, host)| {
        let plain = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        match scheme.to_ascii_lowercase().as_str() {
            "https" if plain => Some(format!("wss://{host}")),
            "http" if plain => Some(format!("ws://{host}")),
            _ => None,
        }
    });
    if let Some(socket) = socket {
        connect = format!("'self' {origin} {socket}");
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
}

/// Middleware: the headers above on every HTML response that has not set its own.
pub async fn page_headers(
    State(headers): State<Arc<PageHeaders>>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if is_html {
        let h = res.headers_mut();
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert_with(|| headers.csp.clone());
        h.entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
        h.entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("same-origin"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q6_the_policy_allows_the_console_socket_of_the_public_url() {
        let csp = content_security_policy("https://chat.example.com/");
        assert!(csp.contains("connect-src 'self' https://chat.example.com wss://chat.example.com;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        let csp = content_security_policy("http://127.0.0.1:8080");
        assert!(csp.contains("ws://127.0.0.1:8080"));
        // Something that is not an origin stays out of the policy.
        let csp = content_security_policy("http://x.test/a; script-src *");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
    }
}
