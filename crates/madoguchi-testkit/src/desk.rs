//! Desk builders: a portal with its admin, members, and records created through the
//! API (tickets, contacts…) that must succeed.

use crate::app::{Res, TestApp, TestUser};
use serde_json::{json, Value};

/// `/desk/api/v1/portals`.
pub const PORTALS: &str = "/desk/api/v1/portals";

/// Creates the Desk portal `name` (shown as `display`) owned by `owner`; answers its
/// API base path (`/desk/api/v1/portals/{name}`).
pub async fn portal(app: &TestApp, owner: &TestUser, name: &str, display: &str) -> String {
    portal_by(app, &owner.token, name, display).await
}

/// [`portal`] for the holder of `token` (a token from a login, not a [`TestUser`]).
pub async fn portal_by(app: &TestApp, token: &str, name: &str, display: &str) -> String {
    crate::app::create_portal(app, PORTALS, token, name, display).await;
    format!("{PORTALS}/{name}")
}

/// Issues (or regenerates) the service key of the Desk portal `name` as the admin
/// holding `token`; it must succeed. Answers the key.
pub async fn service_key(app: &TestApp, name: &str, token: &str) -> String {
    app.post(
        &format!("{PORTALS}/{name}/settings/service-key"),
        Some(token),
        json!({}),
    )
    .await
    .expect_str(201, "serviceKey")
}

/// Asks for the Desk portal `name` (shown as `display`) as the holder of `token`;
/// answers the response, for the refusals (a taken or malformed name).
pub async fn try_portal(app: &TestApp, token: &str, name: &str, display: &str) -> Res {
    crate::app::try_portal(app, PORTALS, token, name, display).await
}

/// Signs up `email` and makes them a member with `role` of the portal at `base`.
pub async fn add_member(
    app: &TestApp,
    base: &str,
    admin: &TestUser,
    email: &str,
    role: &str,
) -> TestUser {
    let user = app.signup(email).await;
    app.post(
        &format!("{base}/members"),
        Some(&admin.token),
        json!({"email": email, "role": role}),
    )
    .await
    .assert_status(201);
    user
}

/// `POST {base}{rest}` that must answer 201; answers the created record.
pub async fn create(app: &TestApp, base: &str, rest: &str, token: &str, body: Value) -> Value {
    let res = app.post(&format!("{base}{rest}"), Some(token), body).await;
    res.assert_status(201);
    res.body
}

/// `GET` the ticket `created` (a ticket as an API answered it) of the portal at `base`
/// again; answers the response.
pub async fn reread_ticket(app: &TestApp, base: &str, token: &str, created: &Value) -> Res {
    let id = created["id"].as_str().expect("a ticket with an id");
    app.get(&format!("{base}/tickets/{id}"), Some(token)).await
}

/// A ticket of the portal at `base`.
pub async fn ticket(app: &TestApp, base: &str, token: &str, body: Value) -> Value {
    create(app, base, "/tickets", token, body).await
}

/// A contact of the portal at `base`.
pub async fn contact(app: &TestApp, base: &str, token: &str, body: Value) -> Value {
    create(app, base, "/contacts", token, body).await
}

/// An account (株式会社サンプル) under a contract (年間保守) with an SLA (ゴールド) in the
/// portal at `base`, as Desk's contact details show them (I15); answers the account's id.
pub async fn account_under_contract(app: &TestApp, base: &str, token: &str) -> Value {
    let account = create(
        app,
        base,
        "/accounts",
        token,
        json!({"accountName": "株式会社サンプル"}),
    )
    .await["id"]
        .clone();
    let sla = create(app, base, "/slas", token, json!({"name": "ゴールド"})).await["id"].clone();
    create(
        app,
        base,
        "/contracts",
        token,
        json!({"contractName": "年間保守", "accountId": account, "slaId": sla}),
    )
    .await;
    account
}

/// Tickets of the portal at `base`, created one after another in the order given (so
/// their numbers follow that order); answers them.
pub async fn tickets(
    app: &TestApp,
    base: &str,
    token: &str,
    bodies: impl IntoIterator<Item = Value>,
) -> Vec<Value> {
    let mut created = Vec::new();
    for body in bodies {
        created.push(ticket(app, base, token, body).await);
    }
    created
}
