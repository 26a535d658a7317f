//! Q6: the published contract, `GET /api/openapi.json`, is complete enough for generated
//! clients and fuzzers: every path parameter and way to authenticate is declared, every
//! error answer has the error body, operation ids are unique, and the document is
//! snapshot-tested so any change to the contract shows in review
//! (`tests/api/snapshots/`; after an intended change:
//! `INSTA_UPDATE=always cargo test -p madoguchi --test api q6_the_openapi_document`).
//! `scripts/schemathesis` fuzzes the running server against it (CI).

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    app.openapi_document().await
}

/// `(path, method, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_owned(), op.clone()));
            }
        }
    }
    out
}

fn template_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn q6_every_path_parameter_of_the_openapi_document_is_declared() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 78, "{} operations", ops.len());
    let mut missing = Vec::new();
    for (path, method, op) in &ops {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let declared: Vec<&Value> = params.iter().filter(|p| p["in"] == "path").collect();
        for name in template_names(path) {
            match declared.iter().find(|p| p["name"] == name.as_str()) {
                Some(p) => {
                    assert_eq!(p["required"], true, "{method} {path} {{{name}}}");
                    assert_eq!(p["schema"]["type"], "string", "{method} {path} {{{name}}}");
                }
                None => missing.push(format!("{method} {path} {{{name}}}")),
            }
        }
        // Query parameters are not declared as path parameters.
        for p in declared {
            let name = p["name"].as_str().unwrap_or("");
            assert!(
                template_names(path).iter().any(|n| n == name),
                "{method} {path}: `{name}` is declared in the path but is not in it"
            );
        }
    }
    assert!(
        missing.is_empty(),
        "undeclared path parameters: {missing:#?}"
    );
}

#[tokio::test]
async fn q6_every_operation_declares_how_to_authenticate() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerToken"]["type"], "http");
    assert_eq!(schemes["bearerToken"]["scheme"], "bearer");
    assert_eq!(schemes["sessionCookie"]["type"], "apiKey");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "madoguchi_session");
    assert_eq!(schemes["csrfHeader"]["in"], "header");
    assert_eq!(schemes["csrfHeader"]["name"], "X-CSRF-Token");
    assert_eq!(schemes["serviceKey"]["in"], "header");
    assert_eq!(schemes["serviceKey"]["name"], "X-Service-Key");
    assert_eq!(schemes["serviceAdmin"]["in"], "header");
    assert_eq!(schemes["serviceAdmin"]["name"], "X-Service-Admin");
    assert_eq!(schemes["visitorToken"]["scheme"], "bearer");

    let anonymous: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(path, method, op)| {
            let security = op["security"].as_array().unwrap_or_else(|| {
                panic!("{method} {path} declares no security");
            });
            for requirement in security {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes[name].is_object(), "{method} {path}: unknown {name}");
                }
            }
            security.is_empty()
        })
        .map(|(path, method, _)| (method, path))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("post", "/api/v1/auth/signup"),
        ("post", "/api/v1/auth/login"),
        ("get", "/chat/widget/v1/{portal}/config"),
        ("post", "/chat/widget/v1/{portal}/chats"),
        // V2: the widget's offline form.
        ("post", "/chat/widget/v1/{portal}/offline-messages"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(anonymous, expected, "operations open to anyone");

    let alternatives = |path: &str, method: &str| -> Vec<BTreeSet<String>> {
        doc["paths"][path][method]["security"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().keys().cloned().collect())
            .collect()
    };
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
    // Desk portal routes also take the service key (both headers together) ...
    assert_eq!(
        alternatives("/desk/api/v1/portals/{portal}/tickets", "post"),
        vec![
            set(&["bearerToken"]),
            set(&["sessionCookie", "csrfHeader"]),
            set(&["serviceKey", "serviceAdmin"]),
        ]
    );
    // ... a safe method needs no CSRF header with the cookie ...
    assert_eq!(
        alternatives("/chat/api/v1/portals/{portal}/chats", "get"),
        vec![set(&["bearerToken"]), set(&["sessionCookie"])]
    );
    // ... and the visitor's routes take the visitor token.
    assert_eq!(
        alternatives("/chat/widget/v1/{portal}/chats/{id}/messages", "post"),
        vec![set(&["visitorToken"]), set(&["visitorTokenQuery"])]
    );
}

/// The declared security is what the server asks for: every operation that declares
/// some is 401 without credentials (auth comes before any lookup), every one that
/// declares none is not.
#[tokio::test]
async fn q6_the_declared_security_is_what_the_server_asks_for() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    for (path, method, op) in operations(&doc) {
        let url = template_names(&path)
            .iter()
            .fold(path.clone(), |url, name| {
                url.replace(&format!("{{{name}}}"), "q6-none")
            });
        let req = app.http.request(
            reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            app.url(&url),
        );
        let req = if op["requestBody"].is_object() {
            req.json(&json!({}))
        } else {
            req
        };
        let res = app.request(req).await;
        let declared = !op["security"].as_array().unwrap().is_empty();
        if declared {
            res.assert_error(401, "unauthenticated");
        } else {
            assert_ne!(res.status.as_u16(), 401, "{method} {path}: {}", res.text);
        }
        // Whatever it is, the status is one the operation declares.
        let status = res.status.as_u16().to_string();
        assert!(
            op["responses"][&status].is_object(),
            "{method} {path} answered an undeclared {status}: {}",
            res.text
        );
    }
}

/// The real names: the service-key headers the document declares authenticate, and
/// the cookie it declares is the one the login page sets.
#[tokio::test]
async fn q6_the_declared_header_and_cookie_names_are_the_real_ones() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    let admin = app.signup("names@example.jp").await;
    madoguchi_testkit::desk::portal_by(&app, &admin.token, "names", "Names").await;
    let key = app
        .post_empty(
            "/desk/api/v1/portals/names/settings/service-key",
            Some(&admin.token),
        )
        .await;
    key.assert_status(201);
    let res = app
        .request(
            app.http
                .get(app.url("/desk/api/v1/portals/names/tickets"))
                .header(
                    schemes["serviceKey"]["name"].as_str().unwrap(),
                    key["serviceKey"].as_str().unwrap(),
                )
                .header(
                    schemes["serviceAdmin"]["name"].as_str().unwrap(),
                    admin.email.as_str(),
                ),
        )
        .await;
    res.assert_status(200);

    let (login, _) = app.log_in_page(&admin.email, "/desk").await;
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let name = schemes["sessionCookie"]["name"].as_str().unwrap();
    assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
}

#[tokio::test]
async fn q6_every_error_answer_of_the_openapi_document_has_the_error_body() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Error"]["required"],
        json!(["error"]),
        "{}",
        schemas["Error"]
    );
    assert_eq!(
        schemas["ErrorDetail"]["required"],
        json!(["code", "message"])
    );
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["field"]["type"],
        "string"
    );
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, response) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            if path == "/healthz" {
                continue; // `{"status": …}` even when not ready
            }
            let response = match response["$ref"].as_str() {
                Some(r) => {
                    &doc["components"]["responses"][r.trim_start_matches("#/components/responses/")]
                }
                None => response,
            };
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path} {status}"
            );
        }
        let has = |s: &str| responses.contains_key(s);
        let secured = !op["security"].as_array().unwrap().is_empty();
        assert!(has("500"), "{method} {path}: 500");
        assert!(has("401") || !secured, "{method} {path}: 401");
        if !template_names(&path).is_empty() {
            assert!(has("404"), "{method} {path}: 404");
            assert!(has("400"), "{method} {path}: 400");
        }
        if op["requestBody"].is_object() {
            assert!(has("400") && has("413"), "{method} {path}: 400, 413");
        }
    }
}

#[tokio::test]
async fn q6_operation_ids_are_unique() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    let mut seen: HashMap<String, String> = HashMap::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap().to_owned();
        if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("operationId {id} of {method} {path} is also {other}");
        }
    }
}

/// Two Rust types of one name (a Desk and a Chat `Role`, …) once shared one schema, so
/// one of them was described with the other's fields.
#[tokio::test]
async fn q6_each_schema_describes_its_own_type() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let resolve = |v: &Value| -> Value {
        match v["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => v.clone(),
        }
    };
    let chat_role = resolve(&schemas["Operator"]["properties"]["role"]);
    assert_eq!(
        chat_role["enum"],
        json!(["admin", "supervisor", "operator"])
    );
    let desk_role = resolve(&schemas["MemberView"]["properties"]["role"]);
    assert_eq!(desk_role["enum"], json!(["admin", "agent"]));
    let setting = resolve(&schemas["SettingsView"]["properties"]["autoTicket"]);
    assert_eq!(setting["type"], "string", "{setting}");
    let outcome = resolve(&schemas["ChatView"]["properties"]["autoTicket"]);
    assert_eq!(outcome["type"], "object", "{outcome}");
    // Written as API.md writes them (a variant renamed inside a macro was once
    // described by its Rust name, `OnHold`).
    assert_eq!(
        schemas["TicketStatus"]["enum"],
        json!(["Open", "On Hold", "Escalated", "Closed"])
    );
    // Request fields with a fixed vocabulary declare it.
    let plan = &schemas["SetPlan"]["properties"]["plan"];
    assert_eq!(
        resolve(plan)["enum"],
        json!(["free", "standard", "professional", "enterprise"])
    );
    let mode = &schemas["DepartmentBody"]["properties"]["mode"];
    assert_eq!(
        resolve(mode)["enum"],
        json!(["mapped", "none", "view_only", "choose"])
    );
    let create_chat_portal = resolve(
        &doc["paths"]["/chat/api/v1/portals"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"],
    );
    assert_eq!(create_chat_portal["required"], json!(["portalName"]));
    let create_desk_portal = resolve(
        &doc["paths"]["/desk/api/v1/portals"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"],
    );
    assert_eq!(
        create_desk_portal["required"],
        json!(["portalName", "displayName"])
    );
}

#[tokio::test]
async fn q6_the_openapi_document_matches_its_snapshot() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document(&app).await;
    insta::assert_json_snapshot!("openapi", doc);
}

/// Found by schemathesis: `offset` is any whole number ≥ 0, and one near `i64::MAX`
/// overflowed the search's page arithmetic (a 500).
async fn q6_a_search_offset_past_every_ticket_is_an_empty_page(app: TestApp) {
    let admin = app.signup("offset@example.jp").await;
    let desk = madoguchi_testkit::desk::portal_by(&app, &admin.token, "offset", "Offset").await;
    madoguchi_testkit::desk::ticket(
        &app,
        &desk,
        &admin.token,
        json!({"subject": "Printer on fire"}),
    )
    .await;
    for query in [
        "q=printer&offset=9223372036854775807",
        "q=printer&offset=9223372036854775807&limit=200",
        "q=101&offset=9223372036854775807",
    ] {
        let res = app
            .get(
                &format!("/desk/api/v1/portals/offset/tickets/search?{query}"),
                Some(&admin.token),
            )
            .await;
        res.assert_status(200);
        assert_eq!(res["data"], json!([]), "{query}");
    }
    let res = app
        .get(
            "/desk/api/v1/portals/offset/tickets?offset=9223372036854775807",
            Some(&admin.token),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res["data"], json!([]));
}

both_backends!(q6_a_search_offset_past_every_ticket_is_an_empty_page);
