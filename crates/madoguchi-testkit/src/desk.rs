//! Desk builders: a portal with its admin, members, and records created through the
//! API (tickets, contacts…) that must succeed.

use crate::app::{TestApp, TestUser};
use serde_json::{json, Value};

/// `/desk/api/v1/portals`.
pub const PORTALS: &str = "/desk/api/v1/portals";

/// Creates the Desk portal `name` (shown as `display`) owned by `owner`; answers its
/// API base path (`/desk/api/v1/portals/{name}`).
pub async fn portal(app: &TestApp, owner: &TestUser, name: &str, display: &str) -> String {
    app.post(
        PORTALS,
        Some(&owner.token),
        json!({"portalName": name, "displayName": display}),
    )
    .await
    .assert_status(201);
    format!("{PORTALS}/{name}")
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

/// A ticket of the portal at `base`.
pub async fn ticket(app: &TestApp, base: &str, token: &str, body: Value) -> Value {
    create(app, base, "/tickets", token, body).await
}

/// A contact of the portal at `base`.
pub async fn contact(app: &TestApp, base: &str, token: &str, body: Value) -> Value {
    create(app, base, "/contacts", token, body).await
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
