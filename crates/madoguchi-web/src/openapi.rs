//! The published contract, `GET /api/openapi.json`.
//!
//! The handlers' `#[utoipa::path]` annotations describe each operation's input and its
//! success answers. What every operation shares is added here, in one pass over the
//! assembled document, so that no route can forget it:
//! - every `{name}` segment of a path is declared as a required string path parameter;
//! - the ways to authenticate are declared as `securitySchemes`, and each operation's
//!   `security` says which of them it accepts, from the route's auth kind
//!   ([`AuthKind::of`]: the same rules the extractors apply);
//! - every error answer (4xx/5xx) has the error body of API.md, `{"error":{"code",
//!   "message","field"}}`, and each operation lists the error statuses its extractors
//!   can answer (400 bad input, 401 no or bad credentials, 403 not a member or no CSRF
//!   header, 404 unknown portal or id, 413 body too large, 500);
//! - operation ids are unique (the tag in front of the handler's name).

use crate::desk::{SERVICE_ADMIN_HEADER, SERVICE_KEY_HEADER};
use crate::extract::SESSION_COOKIE;
use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Components, Content, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder,
};
use utoipa::ToSchema;

/// The name of the error body in `components.schemas`.
pub const ERROR_SCHEMA: &str = "Error";

/// Security scheme names (`components.securitySchemes`).
pub const BEARER: &str = "bearerToken";
pub const SESSION: &str = "sessionCookie";
pub const CSRF: &str = "csrfHeader";
pub const SERVICE_KEY: &str = "serviceKey";
pub const SERVICE_ADMIN: &str = "serviceAdmin";
pub const VISITOR: &str = "visitorToken";
pub const VISITOR_QUERY: &str = "visitorTokenQuery";
pub const TOKEN_QUERY: &str = "tokenQuery";

/// Every error answer of the API (API.md "Conventions").
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `code` is one of the snake_case codes of API.md; `message` is in the request's
/// language; `field` names the input at fault when there is one. Some codes carry more
/// (`fields`, `candidates`).
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub field: Option<String>,
}

/// How the callers of a route prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// Anyone: health, metrics, signup, login, the widget's config and new chats.
    Anonymous,
    /// A user: `Authorization: Bearer <token>`, or the page session cookie (and, on an
    /// unsafe method, the `X-CSRF-Token` header).
    User,
    /// A member of the Desk portal in the path: as [`AuthKind::User`], or the portal's
    /// service key (`X-Service-Key` with `X-Service-Admin`).
    DeskMember,
    /// The visitor of the chat in the path: the visitor token, as a Bearer header or
    /// `?token=`.
    Visitor,
    /// The operator socket: `?token=`, a Bearer header, or the session cookie.
    OperatorSocket,
}

impl AuthKind {
    /// The auth kind of a route, by its path (the rules of the extractors each route
    /// module uses).
    pub fn of(path: &str) -> Self {
        const ANONYMOUS: [&str; 4] = [
            "/healthz",
            "/metrics",
            "/api/v1/auth/signup",
            "/api/v1/auth/login",
        ];
        if ANONYMOUS.contains(&path) {
            return Self::Anonymous;
        }
        if let Some(rest) = path.strip_prefix("/chat/widget/v1/{portal}/") {
            // `…/chats/{id}/…` acts on the visitor's own chat; the rest (config, new
            // chats) is open to anyone.
            return if rest.starts_with("chats/{id}") {
                Self::Visitor
            } else {
                Self::Anonymous
            };
        }
        if path.starts_with("/desk/api/v1/portals/{portal}") {
            return Self::DeskMember;
        }
        if path.starts_with("/chat/api/v1/portals/{portal}/ws") {
            return Self::OperatorSocket;
        }
        Self::User
    }

    /// The alternatives of `security` for `method` on a route of this kind.
    fn requirements(self, method: &str) -> Vec<SecurityRequirement> {
        let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
        let session = if is_safe(method) {
            SecurityRequirement::new(SESSION, Vec::<String>::new())
        } else {
            SecurityRequirement::new(SESSION, Vec::<String>::new()).add(CSRF, Vec::<String>::new())
        };
        match self {
            Self::Anonymous => Vec::new(),
            Self::User => vec![bearer, session],
            Self::DeskMember => vec![
                bearer,
                session,
                SecurityRequirement::new(SERVICE_KEY, Vec::<String>::new())
                    .add(SERVICE_ADMIN, Vec::<String>::new()),
            ],
            Self::Visitor => vec![
                SecurityRequirement::new(VISITOR, Vec::<String>::new()),
                SecurityRequirement::new(VISITOR_QUERY, Vec::<String>::new()),
            ],
            Self::OperatorSocket => vec![
                SecurityRequirement::new(TOKEN_QUERY, Vec::<String>::new()),
                bearer,
                session,
            ],
        }
    }
}

fn is_safe(method: &str) -> bool {
    matches!(method, "get" | "head" | "options")
}

/// Completes the assembled document (see the module docs).
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Components::new);
    components.schemas.insert(
        ERROR_SCHEMA.to_owned(),
        <ErrorBody as utoipa::PartialSchema>::schema(),
    );
    components.schemas.insert(
        "ErrorDetail".to_owned(),
        <ErrorDetail as utoipa::PartialSchema>::schema(),
    );
    for (name, scheme) in security_schemes() {
        components.add_security_scheme(name, scheme);
    }
    add_shared_responses(components);
    for (path, item) in doc.paths.paths.iter_mut() {
        let auth = AuthKind::of(path);
        for (method, op) in operations_mut(item) {
            declare_path_parameters(path, op);
            op.security = Some(auth.requirements(method));
            if let (Some(id), Some(tag)) = (
                op.operation_id.as_ref(),
                op.tags.as_ref().and_then(|t| t.first()),
            ) {
                if !id.starts_with(&format!("{tag}_")) {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
            }
            add_error_responses(path, method, auth, op);
        }
    }
}

fn security_schemes() -> Vec<(&'static str, SecurityScheme)> {
    let api_key = |key: ApiKey| SecurityScheme::ApiKey(key);
    vec![
        (
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <token>` with the token of signup or login.",
                    ))
                    .build(),
            ),
        ),
        (
            SESSION,
            api_key(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The web UI's session cookie (set by the login page). Unsafe methods also \
                 need the `X-CSRF-Token` header.",
            ))),
        ),
        (
            CSRF,
            api_key(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's CSRF token (the pages' `<meta name=\"csrf-token\">`); \
                 required with the session cookie on POST, PUT, PATCH and DELETE.",
            ))),
        ),
        (
            SERVICE_KEY,
            api_key(ApiKey::Header(ApiKeyValue::with_description(
                header_name(SERVICE_KEY_HEADER),
                "A Desk portal's service key (Settings > API), with `X-Service-Admin`; \
                 any `/desk/api/v1/portals/{portal}/…` call. A wrong or revoked key is \
                 401 `invalid_service_key`. With `X-Acting-Operator-Email` (and \
                 `X-Acting-Operator-Name`, percent-encoded UTF-8) a change is made for that \
                 Chat operator (SPEC O6): the history and new threads name them (the \
                 portal's member with that email, else the name), and a ticket they create \
                 without `assigneeId` is assigned to them when they are a member."
                    .to_owned(),
            ))),
        ),
        (
            SERVICE_ADMIN,
            api_key(ApiKey::Header(ApiKeyValue::with_description(
                header_name(SERVICE_ADMIN_HEADER),
                "The email of an admin of the portal, with `X-Service-Key`; another \
                 email is 401 `not_desk_admin`."
                    .to_owned(),
            ))),
        ),
        (
            VISITOR,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `visitorToken` of `POST /chat/widget/v1/{portal}/chats`, as \
                         `Authorization: Bearer <visitorToken>`.",
                    ))
                    .build(),
            ),
        ),
        (
            VISITOR_QUERY,
            api_key(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The `visitorToken` as `?token=` (sockets, beacons).",
            ))),
        ),
        (
            TOKEN_QUERY,
            api_key(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A user token (of signup or login) as `?token=`: the operator socket.",
            ))),
        ),
    ]
}

/// `x-service-key` → `X-Service-Key`.
fn header_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
    .collect()
}

/// The `{name}` segments of a path template, in order.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn describe_parameter(name: &str) -> String {
    match name {
        "portal" => "The portal's name (`portalName`).".to_owned(),
        "id" => "The id of the resource the path names.".to_owned(),
        other => format!("The `{other}` (an id)."),
    }
}

fn declare_path_parameters(path: &str, op: &mut Operation) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in path_parameters(path) {
        let string = || {
            RefOr::T(utoipa::openapi::schema::Schema::Object(
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .build(),
            ))
        };
        match params
            .iter_mut()
            .find(|p| p.parameter_in == ParameterIn::Path && p.name == name)
        {
            Some(declared) => {
                declared.required = Required::True;
                declared.schema = Some(string());
                if declared.description.is_none() {
                    declared.description = Some(describe_parameter(name));
                }
            }
            None => params.push(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some(describe_parameter(name)))
                    .schema(Some(string()))
                    .build(),
            ),
        }
    }
    // Path parameters first, in the path's order; then the rest as annotated.
    let order = path_parameters(path);
    params.sort_by_key(|p| match p.parameter_in {
        ParameterIn::Path => order.iter().position(|n| *n == p.name).unwrap_or(0),
        _ => order.len(),
    });
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA))),
        )
        .build()
}

/// The shared error answers (`components.responses`), by status: the codes every
/// operation of a kind can answer, whatever its annotation says.
const SHARED_ERRORS: [(&str, &str, &str); 7] = [
    (
        "400",
        "InvalidRequest",
        "`invalid_request`: malformed or missing input (`field` names it)",
    ),
    (
        "401",
        "Unauthenticated",
        "`unauthenticated`: no or unknown credentials (with a service key: \
         `invalid_service_key`, `not_desk_admin`)",
    ),
    (
        "403",
        "Forbidden",
        "`forbidden`: not a member of the portal, a role that may not do this, or (with \
         the session cookie) no valid `X-CSRF-Token`",
    ),
    ("404", "NotFound", "`not_found`: no such portal or id"),
    (
        "413",
        "PayloadTooLarge",
        "`payload_too_large`: a body over 1 MiB",
    ),
    (
        "500",
        "Internal",
        "`internal`: a server fault (logged, never the cause)",
    ),
    (
        "503",
        "Unavailable",
        "`storage_unavailable`: the database cannot be written or reached (read-only, \
         disk full, unreachable); on integration routes also `desk_unavailable`: the Desk \
         of `serve --desk-url` does not answer",
    ),
];

fn add_shared_responses(components: &mut Components) {
    for (_, name, description) in SHARED_ERRORS {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(error_response(description)));
    }
}

fn shared(status: &str) -> RefOr<Response> {
    let name = SHARED_ERRORS
        .iter()
        .find(|(s, _, _)| *s == status)
        .map_or("Internal", |(_, name, _)| *name);
    RefOr::Ref(Ref::from_response_name(name))
}

/// The error statuses every operation of this shape can answer, besides those its
/// annotation lists (which keep their own description, with the error body).
fn add_error_responses(path: &str, method: &str, auth: AuthKind, op: &mut Operation) {
    let has_path_params = !path_parameters(path).is_empty();
    let has_input = has_path_params
        || op.request_body.is_some()
        || op
            .parameters
            .as_ref()
            .is_some_and(|p| p.iter().any(|p| p.parameter_in != ParameterIn::Path));
    let member_of_portal = path.contains("{portal}") && auth != AuthKind::Visitor;
    let csrf = !is_safe(method) && matches!(auth, AuthKind::User | AuthKind::DeskMember);
    let mut implied = Vec::new();
    if has_input {
        implied.push("400");
    }
    if auth != AuthKind::Anonymous {
        implied.push("401");
        if member_of_portal || csrf {
            implied.push("403");
        }
    }
    if has_path_params {
        implied.push("404");
    }
    if op.request_body.is_some() {
        implied.push("413");
    }
    implied.push("500");
    // Every operation reads or writes the database (Q6: 503 when it cannot).
    implied.push("503");
    let responses = &mut op.responses.responses;
    for status in implied {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| shared(status));
    }
    // Annotated error answers without a body get the error body.
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            if response.content.is_empty() {
                response.content.insert(
                    "application/json".to_owned(),
                    Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA))),
                );
            }
            if response.description.is_empty() {
                if let Some((_, _, description)) =
                    SHARED_ERRORS.iter().find(|(s, _, _)| s == status)
                {
                    response.description = (*description).to_owned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q6_routes_get_the_auth_kind_of_their_extractors() {
        use AuthKind::*;
        for (path, kind) in [
            ("/healthz", Anonymous),
            ("/api/v1/auth/login", Anonymous),
            ("/api/v1/auth/me", User),
            ("/desk/api/v1/portals", User),
            ("/desk/api/v1/portals/{portal}/tickets/{id}", DeskMember),
            ("/chat/api/v1/portals", User),
            ("/chat/api/v1/portals/{portal}/chats/{id}", User),
            ("/chat/api/v1/portals/{portal}/ws", OperatorSocket),
            ("/chat/widget/v1/{portal}/config", Anonymous),
            ("/chat/widget/v1/{portal}/chats", Anonymous),
            ("/chat/widget/v1/{portal}/chats/{id}/messages", Visitor),
            ("/chat/widget/v1/{portal}/chats/{id}/ws", Visitor),
        ] {
            assert_eq!(AuthKind::of(path), kind, "{path}");
        }
    }

    #[test]
    fn q6_path_parameters_are_read_from_the_template() {
        assert_eq!(
            path_parameters("/chat/api/v1/portals/{portal}/chats/{id}/desk/tickets/{ticket_id}"),
            vec!["portal", "id", "ticket_id"]
        );
        assert!(path_parameters("/healthz").is_empty());
        assert_eq!(header_name("x-service-admin"), "X-Service-Admin");
    }
}
