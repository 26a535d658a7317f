//! Desk API (API.md "Desk — /desk/api/v1/portals/{portal}"; SPEC D1–D7), on both
//! backends.

#![allow(clippy::unwrap_used)]

use crate::both_backends;
use crate::helpers::{Res, TestApp, TestUser};
use serde_json::{json, Value};

both_backends!(
    d1_a_new_portal_makes_its_creator_admin_and_is_listed_with_the_role,
    d1_portal_names_are_unique_and_validated_naming_the_field,
    d1_admins_add_existing_users_as_members_and_agents_cannot,
    d1_authentication_comes_before_the_portal_lookup,
    d1_members_of_one_portal_cannot_reach_another,
    d2_a_new_portal_has_exactly_one_default_department,
    d2_accounts_slas_and_contracts_belong_to_the_portal,
    d2_contact_emails_are_unique_per_portal_in_any_case,
    d2_a_contact_shows_its_account_sla_contract_and_owner,
    d2_contacts_are_patched_and_validated_naming_the_field,
    d2_contacts_are_searched_by_part_of_name_email_or_phone_in_any_width_and_order,
    d2_contact_search_pages_newest_first_and_takes_percent_and_underscore_literally,
    d2_contacts_from_before_the_search_key_are_found_after_the_startup_fill,
    d3_classifications_default_and_only_admins_replace_them,
    d3_a_ticket_has_every_api_field_and_the_defaults,
    d3_ticket_numbers_start_at_101_and_never_repeat_under_concurrency,
    d3_ticket_numbers_are_counted_per_portal,
    d3_ticket_input_is_validated_naming_the_field,
    d3_tickets_are_patched_and_every_status_change_is_in_the_history,
    d4_replies_and_notes_are_threads_listed_oldest_first,
    d4_a_chat_transcript_is_one_thread_and_appending_is_idempotent,
    d5_the_ticket_list_filters_and_pages_newest_first,
    d5_search_finds_japanese_substrings_and_two_character_words,
    d5_search_finds_english_words_numbers_emails_and_contact_names,
    d5_search_ranks_the_number_then_subjects_then_contacts_and_pages,
    d5_search_follows_contact_changes_and_width_and_one_character_queries,
    d6_admins_generate_and_read_the_service_key_and_agents_cannot,
    d7_the_service_key_authenticates_every_portal_route,
    d7_a_regenerated_key_stops_the_old_one_at_once,
    d7_a_valid_key_with_an_email_that_is_no_admin_is_not_desk_admin,
);

use madoguchi_testkit::desk::{add_member, contact, ticket, tickets, try_portal, PORTALS};
use madoguchi_testkit::snapshot::redact;

/// Creates portal `name` owned by `owner`; answers its base path.
async fn portal(app: &TestApp, owner: &TestUser, name: &str) -> String {
    madoguchi_testkit::desk::portal(app, owner, name, &format!("{name} サポート")).await
}

/// An admin with a portal.
async fn setup(app: &TestApp) -> (TestUser, String) {
    let admin = app.signup("admin@acme.example").await;
    let base = portal(app, &admin, "acme").await;
    (admin, base)
}

fn field(res: &Res) -> &str {
    res.body["error"]["field"].as_str().unwrap_or("")
}

#[track_caller]
fn assert_invalid(res: &Res, expected_field: &str) {
    res.assert_error(400, "invalid_request");
    assert_eq!(field(res), expected_field, "{}", res.text);
}

fn numbers(res: &Res) -> Vec<i64> {
    madoguchi_testkit::list::ints(&res["data"], "ticketNumber")
}

async fn search(app: &TestApp, base: &str, token: &str, q: &str) -> Vec<i64> {
    let res = app
        .request(
            app.http
                .get(app.url(&format!("{base}/tickets/search")))
                .query(&[("q", q)])
                .bearer_auth(token),
        )
        .await;
    res.assert_status(200);
    numbers(&res)
}

/// A request with the service-key headers.
async fn with_key(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    admin_email: &str,
    body: Option<Value>,
) -> Res {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("X-Service-Key", key)
        .header("X-Service-Admin", admin_email);
    if let Some(body) = body {
        req = req.json(&body);
    }
    app.request(req).await
}

async fn new_key(app: &TestApp, base: &str, admin: &TestUser) -> String {
    let res = app
        .post_empty(&format!("{base}/settings/service-key"), Some(&admin.token))
        .await;
    res.expect_str(201, "serviceKey")
}

// D1 ------------------------------------------------------------------------------

async fn d1_a_new_portal_makes_its_creator_admin_and_is_listed_with_the_role(app: TestApp) {
    let owner = app.signup("owner@example.jp").await;
    let res = try_portal(&app, &owner.token, "acme", "Acme サポート").await;
    res.assert_status(201);
    assert_eq!(res["portalName"], "acme");
    assert_eq!(res["displayName"], "Acme サポート");
    assert_eq!(res["role"], "admin");
    assert!(res["id"].as_str().is_some_and(|s| !s.is_empty()));

    let agent = app.signup("agent@example.jp").await;
    app.post(
        &format!("{PORTALS}/acme/members"),
        Some(&owner.token),
        json!({"email": "AGENT@example.jp", "role": "agent"}),
    )
    .await
    .assert_status(201);
    let mine = app.get(PORTALS, Some(&agent.token)).await;
    mine.assert_status(200);
    assert_eq!(mine["data"][0]["portalName"], "acme");
    assert_eq!(mine["data"][0]["role"], "agent");
    let theirs = app.get(PORTALS, Some(&owner.token)).await;
    assert_eq!(theirs["data"][0]["role"], "admin");
    let one = app
        .get(&format!("{PORTALS}/acme"), Some(&agent.token))
        .await;
    one.assert_status(200);
    assert_eq!(one["role"], "agent");
    app.get(PORTALS, None)
        .await
        .assert_error(401, "unauthenticated");
}

async fn d1_portal_names_are_unique_and_validated_naming_the_field(app: TestApp) {
    let a = app.signup("a@example.jp").await;
    let b = app.signup("b@example.jp").await;
    portal(&app, &a, "acme").await;
    let taken = try_portal(&app, &b.token, "acme", "Other").await;
    taken.assert_error(409, "portal_name_taken");
    assert_eq!(field(&taken), "portalName");
    for bad in [
        "ab",
        "Acme",
        "acme_jp",
        "-acme",
        "ac me",
        "アクメ",
        &"a".repeat(41),
    ] {
        let res = try_portal(&app, &b.token, bad, "X").await;
        assert_invalid(&res, "portalName");
    }
    let missing = app
        .post(PORTALS, Some(&b.token), json!({"portalName": "beta"}))
        .await;
    assert_invalid(&missing, "displayName");
    let blank = try_portal(&app, &b.token, "beta", "  ").await;
    assert_invalid(&blank, "displayName");
    madoguchi_testkit::desk::portal_by(&app, &b.token, "beta-2", "Beta").await;
}

async fn d1_admins_add_existing_users_as_members_and_agents_cannot(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = app.signup("agent@acme.example").await;
    let res = app
        .post(
            &format!("{base}/members"),
            Some(&admin.token),
            json!({"email": "agent@acme.example", "role": "agent"}),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res["userId"], agent.id.as_str());
    assert_eq!(res["role"], "agent");
    assert_eq!(res["email"], "agent@acme.example");

    let nobody = app
        .post(
            &format!("{base}/members"),
            Some(&admin.token),
            json!({"email": "nobody@acme.example", "role": "agent"}),
        )
        .await;
    nobody.assert_error(404, "not_found");
    assert_eq!(field(&nobody), "email");
    let bad_role = app
        .post(
            &format!("{base}/members"),
            Some(&admin.token),
            json!({"email": "agent@acme.example", "role": "owner"}),
        )
        .await;
    assert_invalid(&bad_role, "role");

    app.signup("third@acme.example").await;
    app.post(
        &format!("{base}/members"),
        Some(&agent.token),
        json!({"email": "third@acme.example", "role": "admin"}),
    )
    .await
    .assert_error(403, "forbidden");

    // The only admin cannot make themselves an agent.
    app.post(
        &format!("{base}/members"),
        Some(&admin.token),
        json!({"email": "admin@acme.example", "role": "agent"}),
    )
    .await
    .assert_error(409, "conflict");

    let list = app
        .get(&format!("{base}/members"), Some(&agent.token))
        .await;
    list.assert_status(200);
    let roles: Vec<(String, String)> =
        madoguchi_testkit::list::str_pairs(&list["data"], "email", "role");
    assert_eq!(
        roles,
        vec![
            ("admin@acme.example".to_owned(), "admin".to_owned()),
            ("agent@acme.example".to_owned(), "agent".to_owned())
        ]
    );
}

async fn d1_authentication_comes_before_the_portal_lookup(app: TestApp) {
    let (admin, base) = setup(&app).await;
    for path in [
        "/desk/api/v1/portals/nosuch/tickets".to_owned(),
        format!("{base}/tickets"),
        format!("{base}/tickets/nosuch"),
        format!("{base}/settings/service-key"),
    ] {
        app.get(&path, None)
            .await
            .assert_error(401, "unauthenticated");
        app.get(&path, Some("mdg_not-a-token"))
            .await
            .assert_error(401, "unauthenticated");
    }
    for path in [
        "/desk/api/v1/portals/nosuch/tickets".to_owned(),
        format!("{base}/tickets"),
        format!("{base}/settings/service-key"),
    ] {
        app.post(&path, None, json!({"subject": "x"}))
            .await
            .assert_error(401, "unauthenticated");
    }
    app.patch(
        &format!("{base}/tickets/nosuch"),
        None,
        json!({"status": "Closed"}),
    )
    .await
    .assert_error(401, "unauthenticated");
    app.get("/desk/api/v1/portals/nosuch/tickets", Some(&admin.token))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("{base}/tickets/nosuch"), Some(&admin.token))
        .await
        .assert_error(404, "not_found");
}

async fn d1_members_of_one_portal_cannot_reach_another(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let t = ticket(&app, &base, &admin.token, json!({"subject": "秘密"})).await;
    let other = app.signup("other@beta.example").await;
    let beta = portal(&app, &other, "beta").await;
    let id = t["id"].as_str().unwrap();
    for path in [
        format!("{base}/tickets"),
        format!("{base}/tickets/{id}"),
        format!("{base}/tickets/{id}/threads"),
        format!("{base}/contacts"),
        format!("{base}/departments"),
        format!("{base}/members"),
        format!("{base}/tickets/search?q=秘密"),
    ] {
        app.get(&path, Some(&other.token))
            .await
            .assert_error(403, "forbidden");
    }
    app.post(
        &format!("{base}/tickets"),
        Some(&other.token),
        json!({"subject": "x"}),
    )
    .await
    .assert_error(403, "forbidden");
    // A member of both portals still cannot read A's ticket through B.
    app.post(
        &format!("{beta}/members"),
        Some(&other.token),
        json!({"email": "admin@acme.example", "role": "agent"}),
    )
    .await
    .assert_status(201);
    app.get(&format!("{beta}/tickets/{id}"), Some(&admin.token))
        .await
        .assert_error(404, "not_found");
    let listed = app
        .get(&format!("{beta}/tickets"), Some(&admin.token))
        .await;
    listed.assert_status(200);
    assert_eq!(listed["data"], json!([]));
    assert!(search(&app, &beta, &admin.token, "秘密").await.is_empty());
}

// D2 ------------------------------------------------------------------------------

async fn d2_a_new_portal_has_exactly_one_default_department(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let list = app
        .get(&format!("{base}/departments"), Some(&admin.token))
        .await;
    list.assert_status(200);
    let deps = list["data"].as_array().unwrap().clone();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0]["isDefault"], true);
    let default_id = deps[0]["id"].as_str().unwrap().to_owned();

    let sales = app
        .post(
            &format!("{base}/departments"),
            Some(&admin.token),
            json!({"name": "営業"}),
        )
        .await;
    sales.assert_status(201);
    assert_eq!(sales["name"], "営業");
    assert_eq!(sales["isDefault"], false);
    let dup = app
        .post(
            &format!("{base}/departments"),
            Some(&admin.token),
            json!({"name": "営業"}),
        )
        .await;
    dup.assert_error(409, "conflict");
    assert_eq!(field(&dup), "name");
    assert_invalid(
        &app.post(
            &format!("{base}/departments"),
            Some(&admin.token),
            json!({"name": ""}),
        )
        .await,
        "name",
    );
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    app.post(
        &format!("{base}/departments"),
        Some(&agent.token),
        json!({"name": "Support"}),
    )
    .await
    .assert_error(403, "forbidden");

    let list = app
        .get(&format!("{base}/departments"), Some(&agent.token))
        .await;
    let defaults: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], default_id.as_str());
    // A ticket without a department goes to the default one.
    let t = ticket(&app, &base, &agent.token, json!({"subject": "部門なし"})).await;
    assert_eq!(t["departmentId"], default_id.as_str());
}

async fn d2_accounts_slas_and_contracts_belong_to_the_portal(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let account = app
        .post(
            &format!("{base}/accounts"),
            Some(&admin.token),
            json!({"accountName": "株式会社ABC"}),
        )
        .await;
    account.assert_status(201);
    assert_eq!(account["accountName"], "株式会社ABC");
    let account_id = account["id"].as_str().unwrap();
    let sla = app
        .post(
            &format!("{base}/slas"),
            Some(&admin.token),
            json!({"name": "Gold"}),
        )
        .await;
    sla.assert_status(201);
    assert_eq!(sla["name"], "Gold");
    let sla_id = sla["id"].as_str().unwrap();
    let contract = app
        .post(
            &format!("{base}/contracts"),
            Some(&admin.token),
            json!({"contractName": "年間保守", "accountId": account_id, "slaId": sla_id}),
        )
        .await;
    contract.assert_status(201);
    assert_eq!(contract["contractName"], "年間保守");
    assert_eq!(contract["accountId"], account_id);
    assert_eq!(contract["slaId"], sla_id);

    for (path, key) in [
        ("accounts", "accountName"),
        ("slas", "name"),
        ("contracts", "contractName"),
    ] {
        let list = app.get(&format!("{base}/{path}"), Some(&admin.token)).await;
        list.assert_status(200);
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "{path}");
        assert!(list["data"][0][key].is_string(), "{path}");
    }
    assert_invalid(
        &app.post(
            &format!("{base}/accounts"),
            Some(&admin.token),
            json!({"accountName": " "}),
        )
        .await,
        "accountName",
    );
    assert_invalid(
        &app.post(
            &format!("{base}/contracts"),
            Some(&admin.token),
            json!({"contractName": "X", "accountId": "nosuch", "slaId": sla_id}),
        )
        .await,
        "accountId",
    );
    assert_invalid(
        &app.post(
            &format!("{base}/contracts"),
            Some(&admin.token),
            json!({"contractName": "X", "accountId": account_id, "slaId": "nosuch"}),
        )
        .await,
        "slaId",
    );
    assert_invalid(
        &app.post(
            &format!("{base}/contracts"),
            Some(&admin.token),
            json!({"accountId": account_id, "slaId": sla_id}),
        )
        .await,
        "contractName",
    );
    // Another portal's account is unknown here.
    let other = app.signup("other@beta.example").await;
    let beta = portal(&app, &other, "beta").await;
    let beta_sla = app
        .post(
            &format!("{beta}/slas"),
            Some(&other.token),
            json!({"name": "Silver"}),
        )
        .await;
    assert_invalid(
        &app.post(
            &format!("{beta}/contracts"),
            Some(&other.token),
            json!({"contractName": "X", "accountId": account_id, "slaId": beta_sla["id"]}),
        )
        .await,
        "accountId",
    );
    let got = app
        .get(&format!("{base}/accounts/{account_id}"), Some(&admin.token))
        .await;
    got.assert_status(200);
    app.get(&format!("{beta}/accounts/{account_id}"), Some(&other.token))
        .await
        .assert_error(404, "not_found");
}

async fn d2_contact_emails_are_unique_per_portal_in_any_case(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"firstName": "一郎", "lastName": "鈴木", "email": "Suzuki@Example.jp", "phone": "03-1234-5678"}),
    )
    .await;
    assert_eq!(c["email"], "Suzuki@Example.jp");
    assert_eq!(c["lastName"], "鈴木");
    assert_eq!(c["firstName"], "一郎");
    assert_eq!(c["phone"], "03-1234-5678");
    let dup = app
        .post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"lastName": "別人", "email": "SUZUKI@example.JP"}),
        )
        .await;
    dup.assert_error(409, "email_taken");
    assert_eq!(field(&dup), "email");

    let found = app
        .get(
            &format!("{base}/contacts?email=suzuki@EXAMPLE.jp"),
            Some(&admin.token),
        )
        .await;
    found.assert_status(200);
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], c["id"]);
    let none = app
        .get(
            &format!("{base}/contacts?email=nobody@example.jp"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(none["data"], json!([]));

    // Contacts without an email do not collide.
    contact(&app, &base, &admin.token, json!({"lastName": "匿名A"})).await;
    contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "匿名B", "email": ""}),
    )
    .await;
    let all = app
        .get(&format!("{base}/contacts"), Some(&admin.token))
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);

    // The same email is free in another portal.
    let other = app.signup("other@beta.example").await;
    let beta = portal(&app, &other, "beta").await;
    contact(
        &app,
        &beta,
        &other.token,
        json!({"lastName": "鈴木", "email": "suzuki@example.jp"}),
    )
    .await;
}

async fn d2_a_contact_shows_its_account_sla_contract_and_owner(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "yamada@acme.example", "agent").await;
    let account = app
        .post(
            &format!("{base}/accounts"),
            Some(&admin.token),
            json!({"accountName": "株式会社ABC"}),
        )
        .await;
    let account_id = account["id"].as_str().unwrap();
    let gold = app
        .post(
            &format!("{base}/slas"),
            Some(&admin.token),
            json!({"name": "Gold"}),
        )
        .await;
    let platinum = app
        .post(
            &format!("{base}/slas"),
            Some(&admin.token),
            json!({"name": "Platinum"}),
        )
        .await;
    app.post(
        &format!("{base}/contracts"),
        Some(&admin.token),
        json!({"contractName": "2024年度", "accountId": account_id, "slaId": gold["id"]}),
    )
    .await
    .assert_status(201);
    app.clock.advance_ms(1000);
    app.post(
        &format!("{base}/contracts"),
        Some(&admin.token),
        json!({"contractName": "2025年度", "accountId": account_id, "slaId": platinum["id"]}),
    )
    .await
    .assert_status(201);
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "佐藤", "email": "sato@abc.example", "accountId": account_id, "ownerId": agent.id}),
    )
    .await;
    assert_eq!(c["accountName"], "株式会社ABC");
    assert_eq!(c["contractName"], "2025年度");
    assert_eq!(c["slaName"], "Platinum");
    assert_eq!(c["ownerId"], agent.id.as_str());
    assert_eq!(c["ownerName"], "yamada");
    let got = app
        .get(
            &format!("{base}/contacts/{}", c["id"].as_str().unwrap()),
            Some(&admin.token),
        )
        .await;
    got.assert_status(200);
    assert_eq!(got.body, c);

    // A contact without an account has none of these.
    let plain = contact(&app, &base, &admin.token, json!({"lastName": "田中"})).await;
    assert_eq!(plain["accountName"], Value::Null);
    assert_eq!(plain["slaName"], Value::Null);

    let stranger = app.signup("stranger@example.jp").await;
    let bad_owner = app
        .post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"lastName": "X", "ownerId": stranger.id}),
        )
        .await;
    assert_invalid(&bad_owner, "ownerId");
    assert_invalid(
        &app.post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"lastName": "X", "accountId": "nosuch"}),
        )
        .await,
        "accountId",
    );
}

async fn d2_contacts_are_patched_and_validated_naming_the_field(app: TestApp) {
    let (admin, base) = setup(&app).await;
    assert_invalid(
        &app.post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"email": "a@b.jp"}),
        )
        .await,
        "lastName",
    );
    assert_invalid(
        &app.post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"lastName": " "}),
        )
        .await,
        "lastName",
    );
    assert_invalid(
        &app.post(
            &format!("{base}/contacts"),
            Some(&admin.token),
            json!({"lastName": "X", "email": "not-an-email"}),
        )
        .await,
        "email",
    );
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "高橋", "email": "takahashi@example.jp", "phone": "090-0000-0000"}),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    let path = format!("{base}/contacts/{id}");
    let patched = app
        .patch(
            &path,
            Some(&admin.token),
            json!({"firstName": "花子", "phone": null}),
        )
        .await;
    patched.assert_status(200);
    assert_eq!(patched["firstName"], "花子");
    assert_eq!(patched["lastName"], "高橋");
    assert_eq!(patched["phone"], Value::Null);
    assert_eq!(patched["email"], "takahashi@example.jp");
    contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "他", "email": "other@example.jp"}),
    )
    .await;
    let taken = app
        .patch(
            &path,
            Some(&admin.token),
            json!({"email": "OTHER@example.jp"}),
        )
        .await;
    taken.assert_error(409, "email_taken");
    assert_eq!(field(&taken), "email");
    assert_invalid(
        &app.patch(&path, Some(&admin.token), json!({"lastName": ""}))
            .await,
        "lastName",
    );
    app.patch(
        &format!("{base}/contacts/nosuch"),
        Some(&admin.token),
        json!({"lastName": "X"}),
    )
    .await
    .assert_error(404, "not_found");
    app.get(&format!("{base}/contacts/nosuch"), Some(&admin.token))
        .await
        .assert_error(404, "not_found");
}

// D3 ------------------------------------------------------------------------------

/// `GET …/contacts?q=…` (and more query pairs), answering the contacts' last names.
async fn search_contacts(app: &TestApp, base: &str, token: &str, query: &[(&str, &str)]) -> Res {
    app.request(
        app.http
            .get(app.url(&format!("{base}/contacts")))
            .query(query)
            .bearer_auth(token),
    )
    .await
}

async fn found_names(app: &TestApp, base: &str, token: &str, q: &str) -> Vec<String> {
    let res = search_contacts(app, base, token, &[("q", q)]).await;
    res.assert_status(200);
    last_names(&res)
}

fn last_names(res: &Res) -> Vec<String> {
    madoguchi_testkit::list::strs(&res["data"], "lastName")
        .into_iter()
        .map(str::to_owned)
        .collect()
}

async fn d2_contacts_are_searched_by_part_of_name_email_or_phone_in_any_width_and_order(
    app: TestApp,
) {
    let (admin, base) = setup(&app).await;
    let t = admin.token.as_str();
    let suzuki = contact(
        &app,
        &base,
        t,
        json!({"firstName": "一郎", "lastName": "鈴木", "email": "Ichiro.Suzuki@example.jp", "phone": "03-1234-5678"}),
    )
    .await;
    app.clock.advance_ms(10);
    contact(
        &app,
        &base,
        t,
        json!({"firstName": "ハナコ", "lastName": "スズキ", "email": "hanako@example.jp"}),
    )
    .await;
    app.clock.advance_ms(10);
    contact(
        &app,
        &base,
        t,
        json!({"firstName": "John", "lastName": "Smith", "email": "jsmith@example.com", "phone": "+1 555 0100"}),
    )
    .await;
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // Part of the name, in either order, with or without the space between.
    for q in [
        "鈴木",
        "一郎",
        "鈴木一郎",
        "鈴木 一郎",
        "一郎鈴木",
        "一郎　鈴木",
        "木一",
    ] {
        assert_eq!(found_names(&app, &base, t, q).await, s(&["鈴木"]), "{q}");
    }
    for q in [
        "john",
        "SMITH",
        "john smith",
        "Smith John",
        "ｊｏｈｎ　ｓｍｉ",
        "ＪｏｈｎＳｍｉｔｈ",
    ] {
        assert_eq!(found_names(&app, &base, t, q).await, s(&["Smith"]), "{q}");
    }
    // Half-width katakana finds full-width and back.
    for q in ["ｽｽﾞｷ", "スズキ", "ﾊﾅｺ ｽｽﾞｷ", "スズキハナコ"] {
        assert_eq!(found_names(&app, &base, t, q).await, s(&["スズキ"]), "{q}");
    }
    // Email (any case, any width) and phone (as written, its digits, full-width).
    assert_eq!(
        found_names(&app, &base, t, "ICHIRO.suzuki@").await,
        s(&["鈴木"])
    );
    assert_eq!(
        found_names(&app, &base, t, "example.jp").await,
        s(&["スズキ", "鈴木"]),
        "newest first"
    );
    assert_eq!(
        found_names(&app, &base, t, "ｅｘａｍｐｌｅ．ｃｏｍ").await,
        s(&["Smith"])
    );
    for q in ["1234-5678", "0312345678", "０３－１２３４"] {
        assert_eq!(found_names(&app, &base, t, q).await, s(&["鈴木"]), "{q}");
    }
    assert_eq!(found_names(&app, &base, t, "555 0100").await, s(&["Smith"]));
    assert_eq!(found_names(&app, &base, t, "nobody").await, s(&[]));
    // A blank search is the whole list; `q` and `email` both apply.
    assert_eq!(found_names(&app, &base, t, "  ").await.len(), 3);
    let both = search_contacts(
        &app,
        &base,
        t,
        &[("q", "suzuki"), ("email", "hanako@example.jp")],
    )
    .await;
    assert_eq!(last_names(&both), s(&[]));
    let both = search_contacts(
        &app,
        &base,
        t,
        &[("q", "ｽｽﾞｷ"), ("email", "HANAKO@example.jp")],
    )
    .await;
    assert_eq!(last_names(&both), s(&["スズキ"]));

    // The search follows changes: a new phone is found, the old one not.
    let id = suzuki["id"].as_str().unwrap();
    app.patch(
        &format!("{base}/contacts/{id}"),
        Some(t),
        json!({"phone": "090-9999-0000", "firstName": "次郎"}),
    )
    .await
    .assert_status(200);
    assert_eq!(found_names(&app, &base, t, "9999").await, s(&["鈴木"]));
    assert_eq!(found_names(&app, &base, t, "1234-5678").await, s(&[]));
    assert_eq!(found_names(&app, &base, t, "次郎 鈴木").await, s(&["鈴木"]));
    assert_eq!(found_names(&app, &base, t, "一郎").await, s(&[]));

    // Another portal's contacts are never found.
    let other = app.signup("other@beta.example").await;
    let beta = portal(&app, &other, "beta").await;
    assert_eq!(found_names(&app, &beta, &other.token, "鈴木").await, s(&[]));

    // Too long a search is refused naming the field.
    let long = "あ".repeat(201);
    assert_invalid(&search_contacts(&app, &base, t, &[("q", &long)]).await, "q");
}

async fn d2_contact_search_pages_newest_first_and_takes_percent_and_underscore_literally(
    app: TestApp,
) {
    let (admin, base) = setup(&app).await;
    let t = admin.token.as_str();
    for i in 1..=5 {
        contact(
            &app,
            &base,
            t,
            json!({"firstName": format!("太郎{i}"), "lastName": "山田"}),
        )
        .await;
        app.clock.advance_ms(10);
    }
    contact(
        &app,
        &base,
        t,
        json!({"lastName": "100%", "email": "percent@example.com"}),
    )
    .await;
    contact(
        &app,
        &base,
        t,
        json!({"lastName": "Under", "email": "john_doe@example.com"}),
    )
    .await;
    contact(
        &app,
        &base,
        t,
        json!({"lastName": "Plain", "email": "johnxdoe@example.com"}),
    )
    .await;

    // Paging with q: newest first, limit and offset, nothing twice or missing.
    let mut firsts = Vec::new();
    for offset in ["0", "2", "4"] {
        let page = search_contacts(
            &app,
            &base,
            t,
            &[("q", "山田"), ("limit", "2"), ("offset", offset)],
        )
        .await;
        page.assert_status(200);
        for c in page["data"].as_array().unwrap() {
            firsts.push(c["firstName"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(firsts, ["太郎5", "太郎4", "太郎3", "太郎2", "太郎1"]);
    let past = search_contacts(&app, &base, t, &[("q", "山田"), ("offset", "5")]).await;
    assert_eq!(past["data"], json!([]));
    assert_invalid(
        &search_contacts(&app, &base, t, &[("q", "山田"), ("limit", "0")]).await,
        "limit",
    );

    // `%` and `_` are the characters themselves, not wildcards.
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(found_names(&app, &base, t, "%").await, s(&["100%"]));
    assert_eq!(found_names(&app, &base, t, "100%").await, s(&["100%"]));
    assert_eq!(found_names(&app, &base, t, "1_0").await, s(&[]));
    assert_eq!(found_names(&app, &base, t, "p%t").await, s(&[]));
    assert_eq!(found_names(&app, &base, t, "_").await, s(&["Under"]));
    assert_eq!(found_names(&app, &base, t, "john_doe").await, s(&["Under"]));
    assert_eq!(found_names(&app, &base, t, "\\").await, s(&[]));
}

/// Contacts stored before the search column existed (migration 0101 leaves their key
/// null) are found once the startup fill has run.
async fn d2_contacts_from_before_the_search_key_are_found_after_the_startup_fill(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let t = admin.token.as_str();
    for (first, last) in [("一郎", "鈴木"), ("ﾊﾅｺ", "ｽｽﾞｷ")] {
        contact(
            &app,
            &base,
            t,
            json!({"firstName": first, "lastName": last}),
        )
        .await;
    }
    sqlx::query("update desk_contacts set search_key = null")
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        found_names(&app, &base, t, "鈴木").await,
        Vec::<String>::new()
    );
    let desk = madoguchi_desk::Desk::new(
        app.db.clone(),
        app.clock.clone(),
        app.settings.public_url.clone(),
    );
    assert_eq!(desk.fill_contact_search_keys().await.unwrap(), 2);
    assert_eq!(desk.fill_contact_search_keys().await.unwrap(), 0);
    assert_eq!(found_names(&app, &base, t, "一郎 鈴木").await, ["鈴木"]);
    assert_eq!(found_names(&app, &base, t, "スズキハナコ").await, ["ｽｽﾞｷ"]);
}

async fn d3_classifications_default_and_only_admins_replace_them(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let path = format!("{base}/classifications");
    let got = app.get(&path, Some(&agent.token)).await;
    got.assert_status(200);
    assert_eq!(
        got.body,
        json!({"classifications": ["Question", "Problem", "Feature Request", "Others"]})
    );
    app.put(&path, Some(&agent.token), json!({"classifications": ["A"]}))
        .await
        .assert_error(403, "forbidden");
    for bad in [json!([]), json!(["質問", ""]), json!(["質問", "質問"])] {
        assert_invalid(
            &app.put(&path, Some(&admin.token), json!({"classifications": bad}))
                .await,
            "classifications",
        );
    }
    let put = app
        .put(
            &path,
            Some(&admin.token),
            json!({"classifications": ["質問", "不具合", "要望"]}),
        )
        .await;
    put.assert_status(200);
    assert_eq!(
        put.body,
        json!({"classifications": ["質問", "不具合", "要望"]})
    );
    assert_eq!(app.get(&path, Some(&agent.token)).await.body, put.body);

    let t = ticket(
        &app,
        &base,
        &agent.token,
        json!({"subject": "S", "classification": "不具合"}),
    )
    .await;
    assert_eq!(t["classification"], "不具合");
    let old = app
        .post(
            &format!("{base}/tickets"),
            Some(&agent.token),
            json!({"subject": "S", "classification": "Question"}),
        )
        .await;
    assert_invalid(&old, "classification");
}

async fn d3_a_ticket_has_every_api_field_and_the_defaults(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"firstName": "Taro", "lastName": "Yamada", "email": "taro@example.jp"}),
    )
    .await;
    let t = ticket(
        &app,
        &base,
        &admin.token,
        json!({"subject": "ログインできない", "description": "パスワードを忘れました", "contactId": c["id"]}),
    )
    .await;
    let keys: std::collections::BTreeSet<&str> =
        t.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "id",
        "ticketNumber",
        "subject",
        "description",
        "status",
        "priority",
        "classification",
        "channel",
        "departmentId",
        "contactId",
        "contactName",
        "email",
        "assigneeId",
        "webUrl",
        "createdTime",
        "modifiedTime",
    ] {
        assert!(keys.contains(key), "missing {key}: {t}");
    }
    // The whole shape, ids and times aside: a field added, renamed or retyped shows.
    insta::assert_json_snapshot!("ticket", redact(&t));
    assert_eq!(t["ticketNumber"], 101);
    assert_eq!(t["subject"], "ログインできない");
    assert_eq!(t["description"], "パスワードを忘れました");
    assert_eq!(t["status"], "Open");
    assert_eq!(t["priority"], "Medium");
    assert_eq!(t["channel"], "Web");
    assert_eq!(t["classification"], Value::Null);
    assert_eq!(t["contactId"], c["id"]);
    assert_eq!(t["contactName"], "Taro Yamada");
    assert_eq!(t["email"], "taro@example.jp");
    assert_eq!(t["assigneeId"], Value::Null);
    assert_eq!(t["webUrl"], "http://madoguchi.test/desk/acme/tickets/101");
    let created = t["createdTime"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.contains('T'), "{created}");
    assert_eq!(t["modifiedTime"], t["createdTime"]);

    let sales = app
        .post(
            &format!("{base}/departments"),
            Some(&admin.token),
            json!({"name": "営業"}),
        )
        .await;
    let full = ticket(
        &app,
        &base,
        &admin.token,
        json!({"subject": "至急", "status": "On Hold", "priority": "High", "channel": "Phone",
               "classification": "Problem", "departmentId": sales["id"], "assigneeId": admin.id}),
    )
    .await;
    assert_eq!(full["ticketNumber"], 102);
    assert_eq!(full["status"], "On Hold");
    assert_eq!(full["priority"], "High");
    assert_eq!(full["channel"], "Phone");
    assert_eq!(full["classification"], "Problem");
    assert_eq!(full["departmentId"], sales["id"]);
    assert_eq!(full["assigneeId"], admin.id.as_str());
    assert_eq!(full["contactId"], Value::Null);
    assert_eq!(full["contactName"], Value::Null);

    let got = madoguchi_testkit::desk::reread_ticket(&app, &base, &admin.token, &full).await;
    got.assert_status(200);
    assert_eq!(got.body, full);
    for status in ["Escalated", "Closed"] {
        let t = ticket(
            &app,
            &base,
            &admin.token,
            json!({"subject": status, "status": status}),
        )
        .await;
        assert_eq!(t["status"], status);
    }
    for channel in ["Chat", "Email"] {
        let t = ticket(
            &app,
            &base,
            &admin.token,
            json!({"subject": channel, "channel": channel}),
        )
        .await;
        assert_eq!(t["channel"], channel);
    }
}

async fn d3_ticket_numbers_start_at_101_and_never_repeat_under_concurrency(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let path = format!("{base}/tickets");
    let creates = (0..20).map(|i| {
        app.post(
            &path,
            Some(&admin.token),
            json!({"subject": format!("同時 {i}")}),
        )
    });
    let results = futures::future::join_all(creates).await;
    let mut got: Vec<i64> = results
        .iter()
        .map(|r| {
            r.assert_status(201);
            r["ticketNumber"].as_i64().unwrap()
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, (101..=120).collect::<Vec<_>>());
    let next = ticket(&app, &base, &admin.token, json!({"subject": "next"})).await;
    assert_eq!(next["ticketNumber"], 121);
}

async fn d3_ticket_numbers_are_counted_per_portal(app: TestApp) {
    let (admin, acme) = setup(&app).await;
    let beta = portal(&app, &admin, "beta").await;
    assert_eq!(
        ticket(&app, &acme, &admin.token, json!({"subject": "a"})).await["ticketNumber"],
        101
    );
    assert_eq!(
        ticket(&app, &acme, &admin.token, json!({"subject": "b"})).await["ticketNumber"],
        102
    );
    let b = ticket(&app, &beta, &admin.token, json!({"subject": "c"})).await;
    assert_eq!(b["ticketNumber"], 101);
    assert_eq!(b["webUrl"], "http://madoguchi.test/desk/beta/tickets/101");
}

async fn d3_ticket_input_is_validated_naming_the_field(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let path = format!("{base}/tickets");
    let stranger = app.signup("stranger@example.jp").await;
    let other = portal(&app, &stranger, "other").await;
    let other_dep = app
        .get(&format!("{other}/departments"), Some(&stranger.token))
        .await;
    let cases = [
        (json!({}), "subject"),
        (json!({"subject": "  "}), "subject"),
        (json!({"subject": "x".repeat(256)}), "subject"),
        (json!({"subject": 5}), "subject"),
        (json!({"subject": "S", "status": "open"}), "status"),
        (json!({"subject": "S", "status": "Pending"}), "status"),
        (json!({"subject": "S", "priority": "Urgent"}), "priority"),
        (json!({"subject": "S", "channel": "Fax"}), "channel"),
        (
            json!({"subject": "S", "classification": "Nonsense"}),
            "classification",
        ),
        (
            json!({"subject": "S", "departmentId": "nosuch"}),
            "departmentId",
        ),
        (
            json!({"subject": "S", "departmentId": other_dep["data"][0]["id"]}),
            "departmentId",
        ),
        (json!({"subject": "S", "contactId": "nosuch"}), "contactId"),
        (
            json!({"subject": "S", "assigneeId": stranger.id}),
            "assigneeId",
        ),
    ];
    for (body, expected) in cases {
        let res = app.post(&path, Some(&admin.token), body.clone()).await;
        assert_invalid(&res, expected);
    }
    let en = app
        .request(
            app.http
                .post(app.url(&path))
                .bearer_auth(&admin.token)
                .header("accept-language", "en")
                .json(&json!({"subject": ""})),
        )
        .await;
    assert_eq!(
        en.body["error"]["message"],
        "Enter a subject (up to 255 characters)."
    );
    // The error body as a client reads it.
    insta::assert_json_snapshot!("error_invalid_request", redact(&en.body));
    // Nothing was numbered by the refused ones.
    assert_eq!(
        ticket(&app, &base, &admin.token, json!({"subject": "ok"})).await["ticketNumber"],
        101
    );
}

async fn d3_tickets_are_patched_and_every_status_change_is_in_the_history(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let t = ticket(
        &app,
        &base,
        &admin.token,
        json!({"subject": "請求書が届かない"}),
    )
    .await;
    let id = t["id"].as_str().unwrap();
    let path = format!("{base}/tickets/{id}");
    let sales = app
        .post(
            &format!("{base}/departments"),
            Some(&admin.token),
            json!({"name": "経理"}),
        )
        .await;
    app.clock.advance_ms(1500);
    let p = app
        .patch(
            &path,
            Some(&agent.token),
            json!({"status": "On Hold", "priority": "High", "classification": "Problem",
                   "departmentId": sales["id"], "subject": "請求書が届かない（再送）", "assigneeId": agent.id}),
        )
        .await;
    p.assert_status(200);
    assert_eq!(p["status"], "On Hold");
    assert_eq!(p["priority"], "High");
    assert_eq!(p["classification"], "Problem");
    assert_eq!(p["departmentId"], sales["id"]);
    assert_eq!(p["subject"], "請求書が届かない（再送）");
    assert_eq!(p["assigneeId"], agent.id.as_str());
    assert_eq!(p["ticketNumber"], 101);
    assert_ne!(p["modifiedTime"], t["modifiedTime"]);
    assert_eq!(p["createdTime"], t["createdTime"]);
    app.patch(
        &path,
        Some(&admin.token),
        json!({"status": "Closed", "assigneeId": null}),
    )
    .await
    .assert_status(200);
    let got = app.get(&path, Some(&admin.token)).await;
    assert_eq!(got["status"], "Closed");
    assert_eq!(got["assigneeId"], Value::Null);

    let history = app
        .get(&format!("{path}/history"), Some(&admin.token))
        .await;
    history.assert_status(200);
    let statuses: Vec<(Value, Value)> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["field"] == "status")
        .map(|h| (h["oldValue"].clone(), h["newValue"].clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (Value::Null, json!("Open")),
            (json!("Open"), json!("On Hold")),
            (json!("On Hold"), json!("Closed")),
        ]
    );
    let by_agent = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["newValue"] == "On Hold")
        .unwrap();
    assert_eq!(by_agent["actorId"], agent.id.as_str());
    assert_eq!(by_agent["actorName"], "agent");

    for (body, expected) in [
        (json!({"status": "Done"}), "status"),
        (json!({"priority": "Low!"}), "priority"),
        (json!({"subject": ""}), "subject"),
        (json!({"departmentId": "nosuch"}), "departmentId"),
        (json!({"classification": "Nope"}), "classification"),
        (json!({"assigneeId": "nosuch"}), "assigneeId"),
    ] {
        assert_invalid(&app.patch(&path, Some(&admin.token), body).await, expected);
    }
    app.patch(
        &format!("{base}/tickets/nosuch"),
        Some(&admin.token),
        json!({"status": "Open"}),
    )
    .await
    .assert_error(404, "not_found");
    app.get(
        &format!("{base}/tickets/nosuch/history"),
        Some(&admin.token),
    )
    .await
    .assert_error(404, "not_found");
}

// D4 ------------------------------------------------------------------------------

async fn d4_replies_and_notes_are_threads_listed_oldest_first(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let t = ticket(
        &app,
        &base,
        &admin.token,
        json!({"subject": "返金について"}),
    )
    .await;
    let path = format!("{base}/tickets/{}/threads", t["id"].as_str().unwrap());
    let reply = app
        .post(
            &path,
            Some(&agent.token),
            json!({"kind": "reply", "content": "ご連絡ありがとうございます。"}),
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply["kind"], "reply");
    assert_eq!(reply["content"], "ご連絡ありがとうございます。");
    assert_eq!(reply["authorId"], agent.id.as_str());
    assert_eq!(reply["authorName"], "agent");
    assert!(reply["id"].is_string() && reply["createdAt"].is_string());
    app.clock.advance_ms(10);
    let note = app
        .post(
            &path,
            Some(&admin.token),
            json!({"kind": "note", "content": "社内メモ"}),
        )
        .await;
    note.assert_status(201);
    assert_eq!(note["kind"], "note");
    let list = app.get(&path, Some(&admin.token)).await;
    list.assert_status(200);
    assert_eq!(list["data"], json!([reply.body, note.body]));

    assert_invalid(
        &app.post(
            &path,
            Some(&admin.token),
            json!({"kind": "reply", "content": " "}),
        )
        .await,
        "content",
    );
    assert_invalid(
        &app.post(
            &path,
            Some(&admin.token),
            json!({"kind": "email", "content": "x"}),
        )
        .await,
        "kind",
    );
    // Transcripts do not come through here with a user's token.
    assert_invalid(
        &app.post(
            &path,
            Some(&admin.token),
            json!({"kind": "chat", "chatId": "c1", "messages": []}),
        )
        .await,
        "kind",
    );
    app.post(
        &format!("{base}/tickets/nosuch/threads"),
        Some(&admin.token),
        json!({"kind": "note", "content": "x"}),
    )
    .await
    .assert_error(404, "not_found");
    app.get(
        &format!("{base}/tickets/nosuch/threads"),
        Some(&admin.token),
    )
    .await
    .assert_error(404, "not_found");
}

fn chat_lines(range: std::ops::RangeInclusive<i64>) -> Value {
    Value::Array(
        range
            .map(|seq| {
                let (sender, name) = if seq % 2 == 1 { ("visitor", "訪問者") } else { ("operator", "担当 花子") };
                json!({"seq": seq, "sender": sender, "senderName": name,
                       "text": format!("メッセージ {seq}"), "createdAt": format!("2026-01-01T00:00:{seq:02}.000Z")})
            })
            .collect(),
    )
}

async fn d4_a_chat_transcript_is_one_thread_and_appending_is_idempotent(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let t = ticket(
        &app,
        &base,
        &admin.token,
        json!({"subject": "チャットから", "channel": "Chat"}),
    )
    .await;
    let ticket_path = format!("{base}/tickets/{}", t["id"].as_str().unwrap());
    let path = format!("{ticket_path}/chat-threads");
    let first = app
        .post(
            &path,
            Some(&admin.token),
            json!({"chatId": "chat-1", "messages": chat_lines(1..=3)}),
        )
        .await;
    first.assert_status(201);
    assert_eq!(first["kind"], "chat");
    assert_eq!(first["chatId"], "chat-1");
    assert_eq!(first["messages"].as_array().unwrap().len(), 3);
    assert_eq!(first["messages"][0]["sender"], "visitor");
    assert_eq!(first["messages"][0]["senderName"], "訪問者");
    assert_eq!(first["messages"][0]["text"], "メッセージ 1");
    assert_eq!(
        first["messages"][0]["createdAt"],
        "2026-01-01T00:00:01.000Z"
    );
    // The same messages again, then overlapping with new ones.
    let again = app
        .post(
            &path,
            Some(&admin.token),
            json!({"chatId": "chat-1", "messages": chat_lines(1..=3)}),
        )
        .await;
    again.assert_status(201);
    assert_eq!(again.body, first.body);
    let more = app
        .post(
            &path,
            Some(&admin.token),
            json!({"chatId": "chat-1", "messages": chat_lines(2..=5)}),
        )
        .await;
    more.assert_status(201);
    assert_eq!(more["id"], first["id"]);
    let seqs = madoguchi_testkit::list::ints(&more["messages"], "seq");
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);

    app.post(
        &format!("{ticket_path}/threads"),
        Some(&admin.token),
        json!({"kind": "note", "content": "後で対応"}),
    )
    .await
    .assert_status(201);
    let threads = app
        .get(&format!("{ticket_path}/threads"), Some(&agent.token))
        .await;
    threads.assert_status(200);
    let data = threads["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0], more.body);
    assert_eq!(data[1]["kind"], "note");
    let chat = &data[0];
    let keys: std::collections::BTreeSet<&str> = chat
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["chatId", "createdAt", "id", "kind", "messages"]
            .into_iter()
            .collect()
    );

    // Agents cannot write transcripts; bad messages name the field.
    app.post(
        &path,
        Some(&agent.token),
        json!({"chatId": "chat-2", "messages": chat_lines(1..=1)}),
    )
    .await
    .assert_error(403, "forbidden");
    let bad = app
        .post(
            &path,
            Some(&admin.token),
            json!({"chatId": "chat-2", "messages": [{"seq": 0, "sender": "visitor", "senderName": "v", "text": "x", "createdAt": "2026-01-01T00:00:00Z"}]}),
        )
        .await;
    assert_invalid(&bad, "messages[0].seq");
    let bad_time = app
        .post(
            &path,
            Some(&admin.token),
            json!({"chatId": "chat-2", "messages": [{"seq": 1, "sender": "visitor", "senderName": "v", "text": "x", "createdAt": "yesterday"}]}),
        )
        .await;
    assert_invalid(&bad_time, "messages[0].createdAt");

    // The service key (the integration over HTTP) may also post `kind:"chat"` threads.
    let key = new_key(&app, &base, &admin).await;
    let via_key = with_key(
        &app,
        reqwest::Method::POST,
        &format!("{ticket_path}/threads"),
        &key,
        "admin@acme.example",
        Some(json!({"kind": "chat", "chatId": "chat-1", "messages": chat_lines(5..=6)})),
    )
    .await;
    via_key.assert_status(201);
    assert_eq!(via_key["id"], first["id"]);
    assert_eq!(via_key["messages"].as_array().unwrap().len(), 6);
    let by_chat = app
        .get(&format!("{base}/tickets?chatId=chat-1"), Some(&admin.token))
        .await;
    assert_eq!(numbers(&by_chat), vec![101]);
}

// D5 ------------------------------------------------------------------------------

async fn d5_the_ticket_list_filters_and_pages_newest_first(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let sales = app
        .post(
            &format!("{base}/departments"),
            Some(&admin.token),
            json!({"name": "営業"}),
        )
        .await;
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "鈴木", "email": "suzuki@example.jp"}),
    )
    .await;
    tickets(
        &app,
        &base,
        &admin.token,
        [
            json!({"subject": "101"}),
            json!({"subject": "102", "status": "Closed", "departmentId": sales["id"]}),
            json!({"subject": "103", "contactId": c["id"], "assigneeId": agent.id}),
            json!({"subject": "104", "status": "Closed", "contactId": c["id"]}),
            json!({"subject": "105", "status": "On Hold"}),
        ],
    )
    .await;

    let get = |q: &str| {
        let path = format!("{base}/tickets{q}");
        let token = admin.token.clone();
        let app = &app;
        async move {
            let res = app.get(&path, Some(&token)).await;
            res.assert_status(200);
            numbers(&res)
        }
    };
    assert_eq!(get("").await, vec![105, 104, 103, 102, 101]);
    assert_eq!(get("?status=Closed").await, vec![104, 102]);
    assert_eq!(get("?status=On%20Hold").await, vec![105]);
    assert_eq!(get("?status=On+Hold").await, vec![105]);
    assert_eq!(
        get(&format!("?departmentId={}", sales["id"].as_str().unwrap())).await,
        vec![102]
    );
    assert_eq!(
        get(&format!("?contactId={}", c["id"].as_str().unwrap())).await,
        vec![104, 103]
    );
    assert_eq!(get(&format!("?assigneeId={}", agent.id)).await, vec![103]);
    assert_eq!(
        get(&format!(
            "?contactId={}&status=Closed",
            c["id"].as_str().unwrap()
        ))
        .await,
        vec![104]
    );
    assert_eq!(get("?contactEmail=SUZUKI@example.jp").await, vec![104, 103]);
    assert_eq!(get("?limit=2").await, vec![105, 104]);
    assert_eq!(get("?limit=2&offset=2").await, vec![103, 102]);
    assert_eq!(get("?limit=2&offset=4").await, vec![101]);
    for (q, f) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=x", "limit"),
        ("?offset=-1", "offset"),
        ("?status=open", "status"),
    ] {
        assert_invalid(
            &app.get(&format!("{base}/tickets{q}"), Some(&admin.token))
                .await,
            f,
        );
    }
}

/// Tickets for the search tests: (number, subject, contact).
async fn search_fixture(app: &TestApp) -> (TestUser, String) {
    let (admin, base) = setup(app).await;
    let suzuki = contact(
        app,
        &base,
        &admin.token,
        json!({"firstName": "一郎", "lastName": "鈴木", "email": "ichiro.suzuki@example.co.jp"}),
    )
    .await;
    let smith = contact(
        app,
        &base,
        &admin.token,
        json!({"firstName": "John", "lastName": "Smith", "email": "john@smith.example"}),
    )
    .await;
    let subjects = [
        ("パスワードのリセットができない", Some(&suzuki)), // 101
        ("返金をお願いします", None),                      // 102
        ("請求書の再発行について", Some(&smith)),          // 103
        ("Cannot reset my password", Some(&smith)),        // 104
        ("ログイン画面が表示されない", None),              // 105
        ("Invoice 2024-001 is wrong", None),               // 106
    ];
    for (subject, c) in subjects {
        let mut body = json!({"subject": subject});
        if let Some(c) = c {
            body["contactId"] = c["id"].clone();
        }
        ticket(app, &base, &admin.token, body).await;
    }
    (admin, base)
}

async fn d5_search_finds_japanese_substrings_and_two_character_words(app: TestApp) {
    let (admin, base) = search_fixture(&app).await;
    let s = |q: &'static str| search(&app, &base, &admin.token, q);
    assert_eq!(s("パスワード").await, vec![101]);
    assert_eq!(s("リセット").await, vec![101]);
    assert_eq!(s("パスワードのリセット").await, vec![101]);
    assert_eq!(s("できない").await, vec![101]);
    assert_eq!(s("返金").await, vec![102]);
    assert_eq!(s("請求").await, vec![103]);
    assert_eq!(s("再発行").await, vec![103]);
    assert_eq!(s("表示").await, vec![105]);
    assert_eq!(s("ない").await, vec![105, 101]);
    assert!(s("パスポート").await.is_empty());
    assert!(s("返品").await.is_empty());
    // Several terms must all match.
    assert_eq!(s("パスワード リセット").await, vec![101]);
    assert!(s("パスワード 返金").await.is_empty());
}

async fn d5_search_finds_english_words_numbers_emails_and_contact_names(app: TestApp) {
    let (admin, base) = search_fixture(&app).await;
    let s = |q: &'static str| search(&app, &base, &admin.token, q);
    assert_eq!(s("password").await, vec![104]);
    assert_eq!(s("PASSWORD").await, vec![104]);
    assert_eq!(s("pass").await, vec![104]);
    assert_eq!(s("reset password").await, vec![104]);
    assert_eq!(s("invoice").await, vec![106]);
    assert_eq!(s("2024-001").await, vec![106]);
    // By ticket number.
    assert_eq!(s("103").await, vec![103]);
    assert_eq!(s("#105").await, vec![105]);
    // By contact email (whole or part) and name.
    assert_eq!(s("ichiro.suzuki@example.co.jp").await, vec![101]);
    assert_eq!(s("ICHIRO.SUZUKI@EXAMPLE.CO.JP").await, vec![101]);
    assert_eq!(s("john@smith.example").await, vec![104, 103]);
    assert_eq!(s("鈴木").await, vec![101]);
    assert_eq!(s("鈴木 一郎").await, vec![101]);
    assert_eq!(s("一郎 鈴木").await, vec![101]);
    assert_eq!(s("Smith").await, vec![104, 103]);
    assert_eq!(s("John Smith").await, vec![104, 103]);
    // A term in the subject and another in the contact.
    assert_eq!(s("リセット 鈴木").await, vec![101]);
    assert_eq!(s("password smith").await, vec![104]);
    assert_eq!(s("請求 john@smith.example").await, vec![103]);
    assert!(s("返金 smith").await.is_empty());
    assert!(s("nobody").await.is_empty());
    assert_invalid(
        &app.get(&format!("{base}/tickets/search?q="), Some(&admin.token))
            .await,
        "q",
    );
    assert_invalid(
        &app.get(&format!("{base}/tickets/search"), Some(&admin.token))
            .await,
        "q",
    );
}

async fn d5_search_ranks_the_number_then_subjects_then_contacts_and_pages(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "Reset", "email": "reset@example.jp"}),
    )
    .await;
    // 101: contact only; 102: subject; 103: subject + contact; 104: contact only.
    tickets(
        &app,
        &base,
        &admin.token,
        [
            json!({"subject": "Login", "contactId": c["id"]}),
            json!({"subject": "Reset my password"}),
            json!({"subject": "Reset again", "contactId": c["id"]}),
            json!({"subject": "Other", "contactId": c["id"]}),
        ],
    )
    .await;
    let s = |q: &str| {
        let q = q.to_owned();
        let base = base.clone();
        let token = admin.token.clone();
        let app = &app;
        async move { search(app, &base, &token, &q).await }
    };
    assert_eq!(s("reset").await, vec![103, 102, 104, 101]);
    let page = |q: &str| {
        let path = format!("{base}/tickets/search?{q}");
        let token = admin.token.clone();
        let app = &app;
        async move {
            let res = app.get(&path, Some(&token)).await;
            res.assert_status(200);
            numbers(&res)
        }
    };
    assert_eq!(page("q=reset&limit=2").await, vec![103, 102]);
    assert_eq!(page("q=reset&limit=2&offset=2").await, vec![104, 101]);
    assert_eq!(page("q=reset&limit=2&offset=1").await, vec![102, 104]);
    assert_eq!(page("q=reset&limit=3&offset=3").await, vec![101]);
    assert_eq!(page("q=reset&limit=2&offset=4").await, Vec::<i64>::new());
    // A subject holding the number ranks after the ticket with that number.
    let t = ticket(
        &app,
        &base,
        &admin.token,
        json!({"subject": "Ticket 102 again"}),
    )
    .await;
    assert_eq!(t["ticketNumber"], 105);
    assert_eq!(s("102").await, vec![102, 105]);
    assert_eq!(page("q=102&limit=1").await, vec![102]);
    assert_eq!(page("q=102&limit=1&offset=1").await, vec![105]);
    assert_invalid(
        &app.get(
            &format!("{base}/tickets/search?q=reset&limit=0"),
            Some(&admin.token),
        )
        .await,
        "limit",
    );
}

async fn d5_search_follows_contact_changes_and_width_and_one_character_queries(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let c = contact(
        &app,
        &base,
        &admin.token,
        json!({"lastName": "佐藤", "email": "sato@example.jp"}),
    )
    .await;
    tickets(
        &app,
        &base,
        &admin.token,
        [
            json!({"subject": "ＷｉＦｉにつながらない", "contactId": c["id"]}),
            json!({"subject": "ﾊﾟｽﾜｰﾄﾞ変更"}),
        ],
    )
    .await;
    let s = |q: &'static str| search(&app, &base, &admin.token, q);
    assert_eq!(s("佐藤").await, vec![101]);
    assert_eq!(s("wifi").await, vec![101]);
    assert_eq!(s("ＷＩＦＩ").await, vec![101]);
    assert_eq!(s("パスワード").await, vec![102]);
    assert_eq!(s("ﾊﾟｽﾜｰﾄﾞ").await, vec![102]);
    // One character: a scan, still a substring match.
    assert_eq!(s("変").await, vec![102]);
    assert_eq!(s("佐").await, vec![101]);
    assert!(s("z").await.is_empty());

    app.patch(
        &format!("{base}/contacts/{}", c["id"].as_str().unwrap()),
        Some(&admin.token),
        json!({"lastName": "加藤", "email": "kato@example.jp"}),
    )
    .await
    .assert_status(200);
    assert!(s("佐藤").await.is_empty());
    assert!(s("sato").await.is_empty());
    assert_eq!(s("加藤").await, vec![101]);
    assert_eq!(s("kato@example.jp").await, vec![101]);
    let t = app
        .get(
            &format!("{base}/tickets?limit=1&offset=1"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(t["data"][0]["contactName"], "加藤");
    assert_eq!(t["data"][0]["email"], "kato@example.jp");

    // A new subject is searchable at once, the old one no longer.
    let first = &t["data"][0];
    app.patch(
        &format!("{base}/tickets/{}", first["id"].as_str().unwrap()),
        Some(&admin.token),
        json!({"subject": "プリンターが動かない"}),
    )
    .await
    .assert_status(200);
    assert!(s("つながらない").await.is_empty());
    assert_eq!(s("プリンター").await, vec![101]);
}

// D6, D7 --------------------------------------------------------------------------

async fn d6_admins_generate_and_read_the_service_key_and_agents_cannot(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let agent = add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let path = format!("{base}/settings/service-key");
    app.get(&path, Some(&admin.token))
        .await
        .assert_error(404, "no_service_key");
    app.get(&path, Some(&agent.token))
        .await
        .assert_error(403, "forbidden");
    app.post_empty(&path, Some(&agent.token))
        .await
        .assert_error(403, "forbidden");
    let made = app.post_empty(&path, Some(&admin.token)).await;
    made.assert_status(201);
    assert_eq!(made["adminEmail"], "admin@acme.example");
    let key = made["serviceKey"].as_str().unwrap();
    assert!(key.len() >= 30, "{key}");
    let got = app.get(&path, Some(&admin.token)).await;
    got.assert_status(200);
    assert_eq!(got.body, made.body);
    app.get(&path, Some(&agent.token))
        .await
        .assert_error(403, "forbidden");
    let again = app.post_empty(&path, Some(&admin.token)).await;
    again.assert_status(201);
    assert_ne!(again["serviceKey"], made["serviceKey"]);
    assert_eq!(app.get(&path, Some(&admin.token)).await.body, again.body);
}

async fn d7_the_service_key_authenticates_every_portal_route(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let key = new_key(&app, &base, &admin).await;
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let key = key.clone();
        let app = &app;
        async move { with_key(app, method, &path, &key, "ADMIN@acme.example", body).await }
    };
    use reqwest::Method;
    call(Method::GET, format!("{base}/departments"), None)
        .await
        .assert_status(200);
    call(Method::GET, format!("{base}/classifications"), None)
        .await
        .assert_status(200);
    let c = call(
        Method::POST,
        format!("{base}/contacts"),
        Some(json!({"lastName": "鈴木", "email": "suzuki@example.jp"})),
    )
    .await;
    c.assert_status(201);
    let t = call(
        Method::POST,
        format!("{base}/tickets"),
        Some(
            json!({"subject": "チャットからの問い合わせ", "channel": "Chat", "contactId": c["id"]}),
        ),
    )
    .await;
    t.assert_status(201);
    assert_eq!(t["ticketNumber"], 101);
    assert_eq!(t["channel"], "Chat");
    let id = t["id"].as_str().unwrap();
    call(Method::GET, format!("{base}/tickets/{id}"), None)
        .await
        .assert_status(200);
    let closed = call(
        Method::PATCH,
        format!("{base}/tickets/{id}"),
        Some(json!({"status": "Closed"})),
    )
    .await;
    closed.assert_status(200);
    assert_eq!(closed["status"], "Closed");
    let reply = call(
        Method::POST,
        format!("{base}/tickets/{id}/threads"),
        Some(json!({"kind": "reply", "content": "対応しました", "authorName": "担当 花子"})),
    )
    .await;
    reply.assert_status(201);
    assert_eq!(reply["authorName"], "担当 花子");
    call(
        Method::GET,
        format!("{base}/tickets/search?q=チャット"),
        None,
    )
    .await
    .assert_status(200);
    let by_email = call(
        Method::GET,
        format!("{base}/contacts?email=SUZUKI@example.jp"),
        None,
    )
    .await;
    assert_eq!(by_email["data"][0]["id"], c["id"]);
    call(Method::GET, format!("{base}/settings/service-key"), None)
        .await
        .assert_status(200);
    // An unknown portal is 404 as with a token.
    call(Method::GET, format!("{PORTALS}/nosuch/tickets"), None)
        .await
        .assert_error(404, "not_found");
}

async fn d7_a_regenerated_key_stops_the_old_one_at_once(app: TestApp) {
    let (admin, base) = setup(&app).await;
    let old = new_key(&app, &base, &admin).await;
    let path = format!("{base}/tickets");
    with_key(
        &app,
        reqwest::Method::GET,
        &path,
        &old,
        "admin@acme.example",
        None,
    )
    .await
    .assert_status(200);
    let new = new_key(&app, &base, &admin).await;
    with_key(
        &app,
        reqwest::Method::GET,
        &path,
        &old,
        "admin@acme.example",
        None,
    )
    .await
    .assert_error(401, "invalid_service_key");
    with_key(
        &app,
        reqwest::Method::GET,
        &path,
        &new,
        "admin@acme.example",
        None,
    )
    .await
    .assert_status(200);
}

async fn d7_a_valid_key_with_an_email_that_is_no_admin_is_not_desk_admin(app: TestApp) {
    let (admin, base) = setup(&app).await;
    add_member(&app, &base, &admin, "agent@acme.example", "agent").await;
    let key = new_key(&app, &base, &admin).await;
    let path = format!("{base}/tickets");
    for email in ["agent@acme.example", "nobody@acme.example", ""] {
        with_key(&app, reqwest::Method::GET, &path, &key, email, None)
            .await
            .assert_error(401, "not_desk_admin");
    }
    with_key(
        &app,
        reqwest::Method::GET,
        &path,
        "mdgsk_wrong",
        "admin@acme.example",
        None,
    )
    .await
    .assert_error(401, "invalid_service_key");
    with_key(
        &app,
        reqwest::Method::GET,
        &path,
        "mdgsk_wrong",
        "agent@acme.example",
        None,
    )
    .await
    .assert_error(401, "invalid_service_key");
    // A key is only good for its own portal.
    let beta = portal(&app, &admin, "beta").await;
    with_key(
        &app,
        reqwest::Method::GET,
        &format!("{beta}/tickets"),
        &key,
        "admin@acme.example",
        None,
    )
    .await
    .assert_error(401, "invalid_service_key");
    // A second admin's email works with the portal's key.
    add_member(&app, &base, &admin, "boss@acme.example", "admin").await;
    with_key(
        &app,
        reqwest::Method::GET,
        &path,
        &key,
        "boss@acme.example",
        None,
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn d7_the_openapi_document_lists_the_desk_routes() {
    let res = TestApp::served_openapi().await;
    for path in [
        "/desk/api/v1/portals",
        "/desk/api/v1/portals/{portal}/members",
        "/desk/api/v1/portals/{portal}/departments",
        "/desk/api/v1/portals/{portal}/accounts",
        "/desk/api/v1/portals/{portal}/slas",
        "/desk/api/v1/portals/{portal}/contracts",
        "/desk/api/v1/portals/{portal}/contacts",
        "/desk/api/v1/portals/{portal}/contacts/{id}",
        "/desk/api/v1/portals/{portal}/classifications",
        "/desk/api/v1/portals/{portal}/tickets",
        "/desk/api/v1/portals/{portal}/tickets/search",
        "/desk/api/v1/portals/{portal}/tickets/{id}",
        "/desk/api/v1/portals/{portal}/tickets/{id}/threads",
        "/desk/api/v1/portals/{portal}/settings/service-key",
    ] {
        assert!(res["paths"][path].is_object(), "missing {path}");
    }
}

/// D5 on several nodes: the search index lives in the shared database, so a ticket
/// created through one `serve` node is found through another at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d5_a_ticket_created_through_one_node_is_found_through_another() {
    let Some(node1) = TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let node2 = TestApp::spawn_node_sharing(&node1).await;
    let admin = node1.signup("nodes@example.jp").await;
    let desk = madoguchi_testkit::desk::portal_by(&node1, &admin.token, "nodes", "Nodes").await;
    ticket(
        &node1,
        &desk,
        &admin.token,
        json!({"subject": "返金の手続きができない"}),
    )
    .await;
    let found = node2
        .get(
            "/desk/api/v1/portals/nodes/tickets/search?q=%E8%BF%94%E9%87%91",
            Some(&admin.token),
        )
        .await;
    found.assert_status(200);
    assert_eq!(found["data"][0]["subject"], "返金の手続きができない");
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1));
}
