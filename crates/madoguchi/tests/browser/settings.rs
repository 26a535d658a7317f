//! The chat pages an admin uses to set a portal up (C1, C2, C3): create it from the
//! portal list, choose the plan, the wait limit, departments, operators, and copy the
//! widget tag. Errors from the API show in the form, on the field at fault.

use crate::chat::login;
use crate::harness::{
    click, click_and_wait_for_reload, fill, find, screenshot, wait_text, Browser,
};
use crate::helpers::{Backend, TestApp};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_c2_c3_admin_creates_and_configures_a_portal_through_the_pages() {
    let Some(mut browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let admin = app.signup("admin@acme.example").await;
    let colleague = app.signup("sato@acme.example").await;
    let c = browser.session().await;
    login(&c, &app, &admin, "/chat").await;
    find(&c, "#no-portals").await;

    // Create: a bad portal name is refused on its field, a good one leads to settings.
    let create = "#create-portal form";
    fill(&c, &format!("{create} input[name=portalName]"), "Acme Co").await;
    fill(
        &c,
        &format!("{create} input[name=displayName]"),
        "株式会社アクメ サポート",
    )
    .await;
    click(&c, &format!("{create} button[type=submit]")).await;
    find(&c, &format!("{create} .form-error:not([hidden])")).await;
    find(
        &c,
        &format!("{create} input[name=portalName][aria-invalid=true]"),
    )
    .await;
    fill(&c, &format!("{create} input[name=portalName]"), "acme").await;
    click(&c, &format!("{create} button[type=submit]")).await;
    wait_text(&c, "main h1", "チャットの設定").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/chat/acme/settings"));

    // C1: a new portal is on the Enterprise trial; choosing a plan ends the trial.
    wait_text(&c, "#current-plan", "エンタープライズ").await;
    find(&c, "#trial").await;
    c.find(Locator::Css(
        "#plan select[name=plan] option[value=professional]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click_and_wait_for_reload(&c, "#plan button[type=submit]").await;
    wait_text(&c, "#current-plan", "プロフェッショナル").await;
    assert!(
        c.find(Locator::Css("#trial")).await.is_err(),
        "the trial ended"
    );

    // C5 setting: out of range is refused, a good value kept.
    fill(&c, "#general input[name=missedAfterSeconds]", "0").await;
    click(&c, "#general button[type=submit]").await;
    find(&c, "#general .form-error:not([hidden])").await;
    fill(&c, "#general input[name=missedAfterSeconds]", "90").await;
    // Waiting for the reload itself: the old page already shows the typed value.
    click_and_wait_for_reload(&c, "#general button[type=submit]").await;
    crate::harness::wait_js(
        &c,
        "the saved wait limit after the reload",
        "return !document.querySelector('#general .form-error') && \
         document.querySelector('#general input[name=missedAfterSeconds]').value === '90'",
    )
    .await;

    // C2: departments (a duplicate name is refused) and operators by email.
    fill(&c, "#departments input[name=name]", "サポート").await;
    click_and_wait_for_reload(&c, "#departments button[type=submit]").await;
    wait_text(&c, "#department-list", "サポート").await;
    fill(&c, "#departments input[name=name]", "サポート").await;
    click(&c, "#departments button[type=submit]").await;
    find(&c, "#departments .form-error:not([hidden])").await;

    fill(&c, "#operators input[name=email]", "nobody@example.jp").await;
    click(&c, "#operators form button[type=submit]").await;
    find(&c, "#operators input[name=email][aria-invalid=true]").await;
    fill(&c, "#operators input[name=email]", &colleague.email).await;
    c.find(Locator::Css(
        "#operators select[name=role] option[value=operator]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    click(&c, "#operators input[name=departmentIds]").await;
    click(&c, "#operators form button[type=submit]").await;
    let row = format!("#operator-list tr[data-email='{}']", colleague.email);
    wait_text(&c, &row, "オペレーター").await;
    wait_text(&c, &row, "サポート").await;
    let ops = app
        .get("/chat/api/v1/portals/acme/operators", Some(&admin.token))
        .await;
    assert!(ops.text.contains(&colleague.email));

    // C3: the embed tag, with a copy button.
    let code = wait_text(&c, "#embed-code", "data-portal=\"acme\"").await;
    assert_eq!(
        code,
        format!(
            "<script src=\"{}/chat/widget.js\" data-portal=\"acme\" async></script>",
            app.settings.public_url
        )
    );
    click(&c, "#embed button[data-copy]").await;
    wait_text(&c, "#embed button[data-copy]", "コピーしました").await;
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    screenshot(&c, "settings").await;

    // The portal list shows it with my role and plan.
    c.goto(&app.url("/chat")).await.unwrap();
    wait_text(
        &c,
        "#portal-list tr[data-portal=acme]",
        "株式会社アクメ サポート",
    )
    .await;
    wait_text(&c, "#portal-list tr[data-portal=acme]", "管理者").await;
    wait_text(
        &c,
        "#portal-list tr[data-portal=acme]",
        "プロフェッショナル",
    )
    .await;

    // The colleague (not an admin) sees the settings read-only.
    let other = browser.session().await;
    login(&other, &app, &colleague, "/chat/acme/settings").await;
    wait_text(&other, "main", "設定を変更できるのは管理者だけです").await;
    find(&other, "#plan button[type=submit][disabled]").await;
    assert!(other.find(Locator::Css("#operators form")).await.is_err());

    c.close().await.unwrap();
    other.close().await.unwrap();
    app.stop().await;
}
