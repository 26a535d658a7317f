//! Operations (SPEC Q7, API.md "Operations"): `madoguchi backup`, `restore` and `migrate`
//! run as the real binary against real data, and upgrades from the first released
//! schema on both backends.

#![allow(clippy::unwrap_used)]

use crate::chat::{portal_with_admin, start_chat, visitor_says, widget, VisitorChat};
use crate::helpers::{say_skipped, Backend, PgDatabase, TestApp, TestUser};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

const DESK: &str = "/desk/api/v1/portals/acme";
const PASSWORD: &str = "correct horse battery";

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "madoguchi-ops-{name}-{}",
        uuid::Uuid::now_v7().simple()
    ))
}

/// Runs the binary with `args`; answers its output (stdout and stderr kept apart).
async fn madoguchi(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
            .args(&args)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("running madoguchi")
    })
    .await
    .unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "madoguchi failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a refusal, got success");
    assert!(
        stderr.contains(needle),
        "the refusal should say {needle:?}; it said {stderr}"
    );
}

/// Desk portal `acme` with `tickets` tickets, and Chat portal `acme-chat` with `chats`
/// chats of `messages` visitor messages each (besides the question).
struct Seeded {
    desk_admin: TestUser,
    chats: Vec<VisitorChat>,
    last_number: i64,
}

async fn seed(app: &TestApp, tickets: usize, chats: usize, messages: usize) -> Seeded {
    use futures::StreamExt;
    let desk_admin = app.signup("desk@acme.example").await;
    madoguchi_testkit::desk::portal_by(app, &desk_admin.token, "acme", "アクメ サポート").await;
    app.post(
        &format!("{DESK}/contacts"),
        Some(&desk_admin.token),
        json!({"firstName": "花子", "lastName": "佐藤", "email": "hanako@example.jp"}),
    )
    .await
    .assert_status(201);
    let numbers: Vec<i64> = futures::stream::iter(0..tickets)
        .map(|i| {
            let token = desk_admin.token.clone();
            async move {
                let subject = if i % 2 == 0 {
                    format!("請求書の再発行 {i}")
                } else {
                    format!("Password reset {i}")
                };
                let res = app
                    .post(
                        &format!("{DESK}/tickets"),
                        Some(&token),
                        json!({"subject": subject, "description": "よろしくお願いします"}),
                    )
                    .await;
                res.assert_status(201);
                res["ticketNumber"].as_i64().unwrap()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let chat_admin = portal_with_admin(app, "chat@acme.example", "acme-chat").await;
    // The operator toolkit's rows (O1; O3 below) travel too.
    app.post(
        "/chat/api/v1/portals/acme-chat/canned-responses",
        Some(&chat_admin.token),
        json!({"shortcut": "hello", "text": "{visitor.name}様、こんにちは", "scope": "portal"}),
    )
    .await
    .assert_status(201);
    // Seeding takes minutes on a busy machine: no chat may become missed meanwhile
    // (its system line would change the counts).
    app.patch(
        "/chat/api/v1/portals/acme-chat/settings",
        Some(&chat_admin.token),
        json!({"missedAfterSeconds": 86_400}),
    )
    .await
    .assert_status(200);
    let mut visitors = Vec::with_capacity(chats);
    for _ in 0..chats {
        visitors.push(start_chat(app, "acme-chat", json!({"name": "山田"})).await);
    }
    futures::stream::iter(visitors.iter().enumerate())
        .map(|(c, chat)| async move {
            for m in 0..messages {
                visitor_says(
                    app,
                    "acme-chat",
                    chat,
                    &format!("メッセージ {m}"),
                    &format!("{c}-{m}"),
                )
                .await
                .assert_status(201);
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    app.patch(
        "/chat/api/v1/portals/acme-chat/settings",
        Some(&chat_admin.token),
        json!({"maxChatsPerOperator": 5}),
    )
    .await
    .assert_status(200);
    Seeded {
        desk_admin,
        chats: visitors,
        last_number: numbers.into_iter().max().unwrap_or(100),
    }
}

async fn login(app: &TestApp, email: &str) -> String {
    app.log_in(email, PASSWORD).await.expect_str(200, "token")
}

fn seqs_of(messages: &Value) -> Vec<i64> {
    madoguchi_testkit::list::ints(&messages["data"], "seq")
}

async fn messages_of(app: &TestApp, chat: &VisitorChat) -> Value {
    let res = app
        .get(
            &widget("acme-chat", &format!("/chats/{}/messages", chat.chat_id)),
            Some(&chat.token),
        )
        .await;
    res.assert_status(200);
    res.body
}

/// A server on `data_dir` (SQLite) or `database_url` (PostgreSQL) that the test made.
async fn serve_on(data_dir: Option<&Path>, database_url: Option<&str>) -> TestApp {
    let data_dir = data_dir.map(Path::to_path_buf);
    let database_url = database_url.map(str::to_owned);
    TestApp::spawn_with(Backend::Sqlite, move |s| {
        if let Some(dir) = data_dir {
            s.data_dir = dir;
        }
        s.database_url = database_url;
    })
    .await
    .unwrap()
}

/// Q7: a backup taken while visitors keep writing is one consistent moment: every chat
/// in it has gap-free messages up to its own last seq, and it restores into a server
/// that answers the same data. The running server is not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q7_a_backup_of_a_running_server_under_write_load_is_consistent_and_restores() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let seeded = seed(&app, 30, 8, 5).await;
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let load = {
        let (app, stop, written) = (app.clone(), stop.clone(), written.clone());
        let chats = seeded.chats.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let chat = &chats[(n as usize) % chats.len()];
                let res =
                    visitor_says(&app, "acme-chat", chat, "書き込み中", &format!("load-{n}")).await;
                if res.status == 201 {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
        })
    };
    // Let the load get going, then back up in the middle of it.
    while written.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let dir = scratch("backup");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("acme.madoguchi-backup");
    let data_dir = app.settings.data_dir.display().to_string();
    let out = madoguchi(&[
        "backup",
        "--data-dir",
        &data_dir,
        "--output",
        file.to_str().unwrap(),
    ])
    .await;
    let said = ok(&out);
    assert!(said.contains("wrote"), "backup says what it wrote: {said}");
    let during = written.load(Ordering::Relaxed);
    // The server kept taking messages during and after the backup.
    while written.load(Ordering::Relaxed) < during + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();

    let restored_dir = dir.join("restored");
    let out = madoguchi(&[
        "restore",
        "--input",
        file.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ])
    .await;
    assert!(ok(&out).contains("restored"));

    let restored = serve_on(Some(&restored_dir), None).await;
    let token = login(&restored, &seeded.desk_admin.email).await;
    let tickets = restored
        .get(&format!("{DESK}/tickets?limit=100"), Some(&token))
        .await;
    tickets.assert_status(200);
    assert_eq!(tickets["data"].as_array().unwrap().len(), 30);
    let found = restored
        .get(&format!("{DESK}/tickets/search?q=請求書"), Some(&token))
        .await;
    assert_eq!(
        found["data"].as_array().unwrap().len(),
        15,
        "the search index came along"
    );
    let mut in_backup = 0;
    for chat in &seeded.chats {
        let seqs = seqs_of(&messages_of(&restored, chat).await);
        let last = *seqs.last().unwrap();
        assert_eq!(
            seqs,
            (1..=last).collect::<Vec<_>>(),
            "gap-free in the snapshot"
        );
        assert!(last >= 6, "the seeded messages are in the backup");
        let live = seqs_of(&messages_of(&app, chat).await);
        assert!(
            live.len() as i64 >= last,
            "the snapshot is a moment of the live data"
        );
        in_backup += seqs.len() as u64;
    }
    // Some of the load is in the backup, and the rest only in the live server.
    let seeded_count = (8 * 6) as u64;
    assert!(in_backup > seeded_count, "load before the backup is in it");
    assert!(
        in_backup < seeded_count + written.load(Ordering::Relaxed),
        "load after the backup is not"
    );
    restored.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Q7: restore checks before it writes: a non-empty target, a damaged file, something
/// that is no backup, and a backup from a newer schema are refused, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q7_restore_refuses_a_used_target_a_damaged_file_and_a_newer_schema() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    seed(&app, 3, 1, 1).await;
    let dir = scratch("restore");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("good.tar");
    let data_dir = app.settings.data_dir.display().to_string();
    ok(&madoguchi(&[
        "backup",
        "--data-dir",
        &data_dir,
        "--output",
        file.to_str().unwrap(),
    ])
    .await);
    let restore = |input: PathBuf, target: PathBuf| async move {
        madoguchi(&[
            "restore",
            "--input",
            input.to_str().unwrap(),
            "--data-dir",
            target.to_str().unwrap(),
        ])
        .await
    };

    let used = dir.join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("notes.txt"), "keep me").unwrap();
    refused(&restore(file.clone(), used.clone()).await, "not empty");
    assert_eq!(
        std::fs::read_to_string(used.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&used).unwrap().count(), 1);

    // One byte changed inside the database file.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    let damaged = dir.join("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = dir.join("from-damaged");
    refused(&restore(damaged, target.clone()).await, "damaged");
    assert!(!target.exists(), "nothing is left behind");

    let junk = dir.join("junk.tar");
    std::fs::write(&junk, "this is not a backup at all").unwrap();
    refused(
        &restore(junk, dir.join("from-junk")).await,
        "not a Madoguchi backup",
    );

    // The same backup, as a newer release would write it.
    let newer = dir.join("newer.tar");
    rewrite_manifest(&file, &newer, |m| {
        m["migrations"].as_array_mut().unwrap().push(json!(9999));
        m["schemaVersion"] = json!(9999);
    });
    refused(
        &restore(newer, dir.join("from-newer")).await,
        "does not know",
    );

    // And the good one restores.
    let fine = dir.join("fine");
    ok(&restore(file, fine.clone()).await);
    assert!(fine.join("madoguchi.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

fn rewrite_manifest(from: &Path, to: &Path, change: impl Fn(&mut Value)) {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(to).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let name = entry.path().unwrap().into_owned();
        if name == Path::new("manifest.json") {
            let mut manifest: Value = serde_json::from_slice(&data).unwrap();
            change(&mut manifest);
            data = serde_json::to_vec(&manifest).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, data.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

/// Q7: an embedded installation of 10,000 tickets and 50,000 messages moves to
/// PostgreSQL with its ids, logins, search index and numbering; a second run refuses
/// the now non-empty database; a backup of the PostgreSQL server restores into a data
/// directory with the same rows. Prints the timings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q7_migrate_moves_an_embedded_installation_to_postgres_and_numbering_continues() {
    let Some(admin_url) = madoguchi_testkit::env_setting("MADOGUCHI_TEST_DATABASE_URL") else {
        say_skipped("MADOGUCHI_TEST_DATABASE_URL is not set");
        return;
    };
    // The data directory is the test's, so it outlives the server.
    let keep = scratch("migrate-src");
    let app = serve_on(Some(&keep), None).await;
    let started = Instant::now();
    let seeded = seed(&app, 10_000, 1_000, 49).await;
    let seeding = started.elapsed();
    let sample = seeded.chats[7].clone();
    let sample_messages = messages_of(&app, &sample).await;
    assert_eq!(seqs_of(&sample_messages).len(), 50);
    app.stop().await;

    let pg = PgDatabase::create(&admin_url).await;
    let started = Instant::now();
    let out = madoguchi(&[
        "migrate",
        "--data-dir",
        keep.to_str().unwrap(),
        "--to",
        &pg.url,
    ])
    .await;
    let said = ok(&out);
    let migrating = started.elapsed();
    assert!(said.contains("migrated"), "{said}");
    say_figures(&format!(
        "q7 migrate: 10,000 tickets and 50,000 messages seeded through the API in {:.1} s, \
         migrated to PostgreSQL in {:.1} s (debug build)",
        seeding.as_secs_f64(),
        migrating.as_secs_f64()
    ));
    refused(
        &madoguchi(&[
            "migrate",
            "--data-dir",
            keep.to_str().unwrap(),
            "--to",
            &pg.url,
        ])
        .await,
        "not empty",
    );

    let moved = serve_on(None, Some(&pg.url)).await;
    let token = login(&moved, &seeded.desk_admin.email).await;
    let found = moved
        .get(
            &format!("{DESK}/tickets/search?q=請求書の再発行 4242"),
            Some(&token),
        )
        .await;
    found.assert_status(200);
    assert_eq!(
        found["data"][0]["subject"].as_str().unwrap(),
        "請求書の再発行 4242"
    );
    let next = moved
        .post(
            &format!("{DESK}/tickets"),
            Some(&token),
            json!({"subject": "移行後の最初の問い合わせ"}),
        )
        .await;
    next.assert_status(201);
    assert_eq!(
        next["ticketNumber"].as_i64().unwrap(),
        seeded.last_number + 1
    );
    assert_eq!(messages_of(&moved, &sample).await, sample_messages);
    let chat_token = login(&moved, "chat@acme.example").await;
    let canned = moved
        .get(
            "/chat/api/v1/portals/acme-chat/canned-responses",
            Some(&chat_token),
        )
        .await;
    assert_eq!(canned["data"][0]["shortcut"], "hello");
    let settings = moved
        .get("/chat/api/v1/portals/acme-chat/settings", Some(&chat_token))
        .await;
    assert_eq!(settings["maxChatsPerOperator"], 5);
    // The chat goes on where it was.
    let res = visitor_says(&moved, "acme-chat", &sample, "移行後", "after-migrate").await;
    res.assert_status(201);
    assert_eq!(res["seq"].as_i64().unwrap(), 51);
    moved.stop().await;

    // A backup of the PostgreSQL server is a data directory's worth of the same rows.
    let dir = scratch("pg-backup");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pg.tar");
    ok(&madoguchi(&[
        "backup",
        "--database-url",
        &pg.url,
        "--output",
        file.to_str().unwrap(),
    ])
    .await);
    let restored_dir = dir.join("restored");
    ok(&madoguchi(&[
        "restore",
        "--input",
        file.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ])
    .await);
    let restored = serve_on(Some(&restored_dir), None).await;
    let token = login(&restored, &seeded.desk_admin.email).await;
    let last = restored
        .get(&format!("{DESK}/tickets?limit=1"), Some(&token))
        .await;
    assert_eq!(
        last["data"][0]["ticketNumber"].as_i64().unwrap(),
        seeded.last_number + 1
    );
    restored.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&keep);
}

fn say_figures(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The migrations of the first release (0.1.0, the first landing): later ones were
/// added as new files, never by editing these.
const FIRST_RELEASE: [i64; 4] = [1, 100, 200, 300];

/// Q7 upgrades: data written under the first release's schema comes up under the
/// current binary, which runs the later migrations forward and serves it (including a
/// contact found by the search column a later migration added); a database from a
/// newer release is refused with a message that says so.
async fn q7_data_from_the_first_release_schema_is_served_after_an_upgrade(app: TestApp) {
    use madoguchi_core::db::migrator;
    use std::borrow::Cow;
    // A password hash as this release writes them; argon2 hashes verify across releases.
    let hashed = app.signup("hash-source@example.jp").await;
    let password_hash: String = sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(&hashed.id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let backend = app.db.backend();
    app.stop().await;

    // A database at the first release's schema, with data written as that release did.
    let old_dir = scratch("upgrade");
    let old_pg = match backend {
        madoguchi_core::Backend::Postgres => {
            let admin = std::env::var("MADOGUCHI_TEST_DATABASE_URL").unwrap();
            Some(PgDatabase::create(&admin).await)
        }
        madoguchi_core::Backend::Sqlite => None,
    };
    let old_url = match &old_pg {
        Some(pg) => pg.url.clone(),
        None => {
            std::fs::create_dir_all(&old_dir).unwrap();
            format!(
                "sqlite://{}?mode=rwc",
                old_dir.join("madoguchi.db").display()
            )
        }
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&old_url)
        .await
        .unwrap();
    let first = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            migrator(backend)
                .iter()
                .filter(|m| FIRST_RELEASE.contains(&m.version))
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    assert_eq!(first.iter().count(), FIRST_RELEASE.len());
    first.run(&pool).await.unwrap();
    let now = madoguchi_core::time::system_now_ms();
    let token = "mdg_upgrade-test-token";
    let statements: Vec<(&str, Vec<String>)> = vec![
        (
            "insert into users (id, email, email_lower, name, password_hash, lang, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, null, $6, $7)",
            vec!["u1".into(), "Sato@Example.jp".into(), "sato@example.jp".into(), "佐藤".into(), password_hash.clone()],
        ),
        (
            "insert into api_tokens (id, user_id, token_hash, label, created_at) values ($1, $2, $3, $4, $5)",
            vec!["t1".into(), "u1".into(), madoguchi_core::ids::hash_secret(token), "api".into()],
        ),
        (
            "insert into desk_portals (id, portal_name, display_name, ticket_seq, classifications, created_by, created_at, updated_at) \
             values ($1, $2, $3, 101, $4, $5, $6, $7)",
            vec!["p1".into(), "acme".into(), "アクメ".into(), "[\"問題\",\"質問\"]".into(), "u1".into()],
        ),
        (
            "insert into desk_members (portal_id, user_id, role, created_at, updated_at) values ($1, $2, $3, $4, $5)",
            vec!["p1".into(), "u1".into(), "admin".into()],
        ),
        (
            "insert into desk_departments (id, portal_id, name, name_lower, is_default, created_at) \
             values ($1, $2, $3, $4, 1, $5)",
            vec!["d1".into(), "p1".into(), "サポート".into(), "サポート".into()],
        ),
        (
            "insert into desk_contacts (id, portal_id, first_name, last_name, email, email_lower, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec!["c1".into(), "p1".into(), "花子".into(), "山田".into(), "hanako@example.jp".into(), "hanako@example.jp".into()],
        ),
        (
            "insert into desk_tickets (id, portal_id, ticket_number, subject, description, status, priority, channel, \
             department_id, contact_id, search_subject, search_contact, created_by, created_at, updated_at) \
             values ($1, $2, 101, $3, $4, 'Open', 'Medium', 'Web', $5, $6, $7, $8, $9, $10, $11)",
            vec!["k1".into(), "p1".into(), "請求書の再発行".into(), "よろしく".into(), "d1".into(), "c1".into(),
                 "請求書の再発行".into(), "山田 花子 hanako@example.jp".into(), "u1".into()],
        ),
        // Chat: a chat whose automatic ticket was skipped, and one linked to k1; the
        // link state lived in Chat's own columns then (moved to the integration later).
        (
            "insert into chat_portals (id, name, display_name, plan, trial_ends_at, missed_after_ms, idle_after_ms, \
             created_by, created_at, updated_at) values ($1, $2, $3, $4, null, 120000, 600000, $5, $6, $7)",
            vec!["cp1".into(), "acme-chat".into(), "アクメ".into(), "enterprise".into(), "u1".into()],
        ),
        (
            "insert into chat_operators (portal_id, user_id, role, status, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6)",
            vec!["cp1".into(), "u1".into(), "admin".into(), "available".into()],
        ),
        (
            "insert into chat_visitors (id, portal_id, name, email, email_lower, phone, created_at, updated_at) \
             values ($1, $2, $3, null, null, null, $4, $5)",
            vec!["v1".into(), "cp1".into(), "鈴木".into()],
        ),
        (
            "insert into chat_chats (id, portal_id, department_id, visitor_id, state, outcome, operator_id, question, \
             client_message_id, last_seq, created_at, updated_at, accepted_at, missed_at, ended_at, last_activity_at, \
             auto_ticket_status, auto_ticket_reason, client_address) \
             values ($1, $2, null, $3, 'ended', 'missed', null, $4, $5, 1, $6, $7, null, $8, $9, $10, 'skipped', 'integ-skip-no-email', null)",
            vec!["ch1".into(), "cp1".into(), "v1".into(), "質問です".into(), "m-1".into()],
        ),
        (
            "insert into chat_chats (id, portal_id, department_id, visitor_id, state, outcome, operator_id, question, \
             client_message_id, last_seq, created_at, updated_at, accepted_at, missed_at, ended_at, last_activity_at, \
             auto_ticket_status, auto_ticket_reason, client_address) \
             values ($1, $2, null, $3, 'ended', 'attended', $4, $5, $6, 1, $7, $8, $9, null, $10, $11, 'none', null, null)",
            vec!["ch2".into(), "cp1".into(), "v1".into(), "u1".into(), "二つ目".into(), "m-2".into()],
        ),
        (
            "insert into chat_desk_tickets (chat_id, ticket_id, created_at) values ($1, $2, $3)",
            vec!["ch2".into(), "k1".into()],
        ),
        (
            "insert into integ_portals (chat_portal_id, desk_portal_name, admin_email, service_key, linked_by, enabled, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, 1, $6, $7)",
            vec!["cp1".into(), "acme".into(), "sato@example.jp".into(), "unused-key".into(), "u1".into()],
        ),
    ];
    for (sql, texts) in statements {
        let times = sql.matches('$').count() - texts.len();
        let mut q = sqlx::query(sql);
        for t in texts {
            q = q.bind(t);
        }
        for _ in 0..times {
            q = q.bind(now);
        }
        q.execute(&pool).await.unwrap();
    }
    pool.close().await;

    // The current binary on that data.
    let upgraded = match &old_pg {
        Some(pg) => serve_on(None, Some(&pg.url)).await,
        None => serve_on(Some(&old_dir), None).await,
    };
    let ticket = upgraded
        .get(&format!("{DESK}/tickets/k1"), Some(token))
        .await;
    ticket.assert_status(200);
    assert_eq!(ticket["subject"], "請求書の再発行");
    assert_eq!(ticket["ticketNumber"], 101);
    let contacts = upgraded
        .get(&format!("{DESK}/contacts?q=花子 山田"), Some(token))
        .await;
    contacts.assert_status(200);
    assert_eq!(
        contacts["data"][0]["id"], "c1",
        "the later search column was filled"
    );
    let login = upgraded.log_in("sato@example.jp", PASSWORD).await;
    login.assert_status(200);
    let next = upgraded
        .post(
            &format!("{DESK}/tickets"),
            Some(token),
            json!({"subject": "アップグレード後"}),
        )
        .await;
    next.assert_status(201);
    assert_eq!(next["ticketNumber"], 102);
    // The chat–ticket link state came over to the integration's tables.
    let chats = "/chat/api/v1/portals/acme-chat/chats";
    let skipped = upgraded.get(&format!("{chats}/ch1"), Some(token)).await;
    skipped.assert_status(200);
    assert_eq!(
        skipped["autoTicket"]["status"], "skipped",
        "{}",
        skipped.text
    );
    assert!(skipped["autoTicket"]["reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty() && r != "integ-skip-no-email"));
    let linked = upgraded.get(&format!("{chats}/ch2"), Some(token)).await;
    linked.assert_status(200);
    assert_eq!(linked["deskTicketIds"], json!(["k1"]), "{}", linked.text);
    assert_eq!(linked["autoTicket"]["status"], "none");
    upgraded.stop().await;

    // A release newer than this binary migrated it further: refused, named.
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&old_url)
        .await
        .unwrap();
    let success = match backend {
        madoguchi_core::Backend::Postgres => "true",
        madoguchi_core::Backend::Sqlite => "1",
    };
    sqlx::query(&format!(
        "insert into _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         values (9999, 'from the future', current_timestamp, {success}, $1, 0)"
    ))
    .bind(vec![0u8; 48])
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let refused = match madoguchi_core::Db::connect(&old_url).await {
        Ok(_) => panic!("a database from a newer release must be refused"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("newer Madoguchi"), "{refused}");
    assert!(refused.contains("9999"), "{refused}");
    drop(old_pg);
    let _ = std::fs::remove_dir_all(&old_dir);
}

crate::both_backends!(q7_data_from_the_first_release_schema_is_served_after_an_upgrade);

/// Q7 deployment files: no container engine or systemd runs here, so
/// `scripts/check-deploy` parses them (compose YAML, Dockerfile stages, user, health
/// check and volume, systemd units, proxy WebSocket headers) and checks that every flag
/// and `MADOGUCHI_*` variable they use is one `madoguchi serve` has.
#[test]
fn q7_the_deployment_files_are_well_formed_and_use_real_flags() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check-deploy");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_madoguchi"))
        .output()
        .expect("python3 (with python3-yaml) runs scripts/check-deploy");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Q7 + Q6: `migrate` copies a stopped installation only: with a server on the data
/// directory, the copy would miss its later writes, so it is refused (the data
/// directory's lock) before anything is written; `backup` runs beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q7_migrate_refuses_a_data_directory_a_server_is_using() {
    let dir = scratch("busy");
    let app = serve_on(Some(&dir), None).await;
    app.signup("busy@example.jp").await;
    let out = madoguchi(&[
        "migrate",
        "--data-dir",
        dir.to_str().unwrap(),
        "--to",
        "postgres://postgres@127.0.0.1:1/never-reached",
    ])
    .await;
    refused(&out, "another madoguchi server");
    let file = dir.join("while-serving.tar");
    ok(&madoguchi(&[
        "backup",
        "--data-dir",
        dir.to_str().unwrap(),
        "--output",
        file.to_str().unwrap(),
    ])
    .await);
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// V3: a chat file is a row of Chat's schema, so a backup carries it into a restored
/// server, and `migrate` into PostgreSQL, where it downloads byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_a_chat_file_survives_backup_restore_and_migrate() {
    use crate::attachments::{download, path_of, visitor_upload};
    let keep = scratch("v3-src");
    let app = serve_on(Some(&keep), None).await;
    let admin = portal_with_admin(&app, "chat@acme.example", "acme-chat").await;
    let chat = start_chat(&app, "acme-chat", json!({})).await;
    let photo = crate::png::sample_photo(64, 40);
    let sent = visitor_upload(&app, "acme-chat", &chat, "写真.png", &photo).await;
    sent.assert_status(201);
    let path = path_of(&sent["url"]);
    app.stop().await;

    let dir = scratch("v3-backup");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("v3.tar");
    ok(&madoguchi(&[
        "backup",
        "--data-dir",
        keep.to_str().unwrap(),
        "--output",
        file.to_str().unwrap(),
    ])
    .await);
    let restored_dir = dir.join("restored");
    ok(&madoguchi(&[
        "restore",
        "--input",
        file.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ])
    .await);
    let restored = serve_on(Some(&restored_dir), None).await;
    let (status, headers, bytes) = download(&restored, &path, Some(&chat.token)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, photo, "the restored file is the same bytes");
    assert_eq!(headers["content-type"], "image/png");
    restored.stop().await;

    match madoguchi_testkit::env_setting("MADOGUCHI_TEST_DATABASE_URL") {
        Some(admin_url) => {
            let pg = PgDatabase::create(&admin_url).await;
            ok(&madoguchi(&[
                "migrate",
                "--data-dir",
                keep.to_str().unwrap(),
                "--to",
                &pg.url,
            ])
            .await);
            let moved = serve_on(None, Some(&pg.url)).await;
            let token = login(&moved, &admin.email).await;
            let operator_path = path.replace(
                "/chat/widget/v1/acme-chat/",
                "/chat/api/v1/portals/acme-chat/",
            );
            let (status, _, bytes) = download(&moved, &operator_path, Some(&token)).await;
            assert_eq!(status, 200);
            assert_eq!(bytes, photo, "the migrated file is the same bytes");
            moved.stop().await;
        }
        None => say_skipped("MADOGUCHI_TEST_DATABASE_URL is not set: migrate not checked"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&keep);
}
