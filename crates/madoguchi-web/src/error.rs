//! API errors. Handlers return [`ApiResult`]; a domain [`Error`] converts with `?`.
//! The status code comes from one `match` over the code. The JSON body is written by
//! the [`render_errors`] layer, which knows the request's language; the same layer
//! turns the framework's own bare error responses (unknown route, wrong method, body
//! too large, timeout, panic) into the same JSON, so every error has one shape.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use madoguchi_core::{Error, ErrorCode, Lang};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self(Error::new(code))
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        InvalidRequest => StatusCode::BAD_REQUEST,
        Unauthenticated | InvalidCredentials | InvalidServiceKey | NotDeskAdmin => {
            StatusCode::UNAUTHORIZED
        }
        Forbidden | PlanRequired | ForbiddenByDepartmentMode | NotChatOwner => {
            StatusCode::FORBIDDEN
        }
        NotFound | NoServiceKey => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        PayloadTooLarge | FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        FileTypeNotAllowed => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        EmailTaken | PortalNameTaken | Conflict | ChooseDeskPortal | IntegrationDisabled
        | AlreadyConverted => StatusCode::CONFLICT,
        NotDeskAdminEmail | DeskPortalNotFound | VisitorEmailRequired => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        DeskUnavailable | StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the render layer needs to write the body; an `Arc` because response
/// extensions must be `Clone` and the cause (already logged) is not.
#[derive(Clone)]
pub struct PendingError(pub Arc<Error>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.0;
        // `not_desk_admin` is 401 for a service-key call but 422 when enabling the
        // integration (I3): the integration marks it with `fields`.
        let status = if error.code == ErrorCode::NotDeskAdmin && error.extra.contains_key("fields")
        {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            status_of(error.code)
        };
        if status.is_server_error() {
            tracing::error!(code = %error.code, cause = ?error.source, "request failed");
            error.source = None;
        }
        let mut res = status.into_response();
        if let Some(secs) = retry_after(&error) {
            res.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        res.extensions_mut().insert(PendingError(Arc::new(error)));
        res
    }
}

/// Q6: the seconds a `rate_limited` caller should wait (`error.retryAfter`), sent as
/// the `Retry-After` header too.
pub fn retry_after(error: &Error) -> Option<u64> {
    (error.code == ErrorCode::RateLimited)
        .then(|| error.extra.get("retryAfter").and_then(Value::as_u64))
        .flatten()
}

/// The error JSON of API.md for `error` in `lang`.
pub fn error_json(error: &Error, lang: Lang) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), json!(error.code.as_str()));
    body.insert("message".into(), json!(error.message(lang)));
    if let Some(field) = &error.field {
        body.insert("field".into(), json!(field));
    }
    for (k, v) in &error.extra {
        body.insert(k.clone(), v.clone());
    }
    json!({ "error": body })
}

fn code_for_bare_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        s if s.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    }
}

/// The language of a request for API messages: `Accept-Language`, else Japanese.
pub fn request_lang(headers: &axum::http::HeaderMap) -> Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language)
        .unwrap_or_default()
}

/// Middleware: writes every error response's JSON body in the request's language.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let lang = request_lang(req.headers());
    let mut res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let error = match res.extensions_mut().remove::<PendingError>() {
        Some(PendingError(e)) => e,
        None => {
            // Pages answer their own HTML error pages, and JSON is already ours;
            // anything else (the framework's plain-text rejections) becomes our JSON.
            let typed = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("text/html") || t.starts_with("application/json"));
            if typed {
                return res;
            }
            Arc::new(Error::new(code_for_bare_status(status)))
        }
    };
    let body = error_json(&error, lang).to_string();
    let (mut parts, _) = res.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The catch-panic layer's answer: a bare 500 (rendered as JSON by `render_errors`);
/// the panic itself is logged here.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    tracing::error!(panic = detail, "handler panicked");
    ApiError(Error::new(ErrorCode::Internal)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    #[tokio::test]
    async fn q3_a_panicking_handler_becomes_a_json_500_and_the_service_keeps_serving() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    panic!("boom");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .route("/ok", get(|| async { "ok" }))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_response,
            ))
            .layer(axum::middleware::from_fn(render_errors));
        let res = app
            .clone()
            .oneshot(Request::builder().uri("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert!(
            !json.to_string().contains("boom"),
            "the cause is not revealed"
        );
        let ok = app
            .oneshot(Request::builder().uri("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[test]
    fn every_error_code_has_a_status_and_ja_en_messages() {
        for &code in ErrorCode::ALL {
            let status = status_of(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}"
            );
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let e = Error::new(code);
            assert_ne!(e.message(Lang::Ja), format!("error-{code}"));
            assert_ne!(e.message(Lang::En), format!("error-{code}"));
        }
    }
}
