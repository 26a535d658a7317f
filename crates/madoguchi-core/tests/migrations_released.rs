//! One migration text serves both backends (`migrations/`; PostgreSQL's is derived by
//! `db::postgres_line`). A released migration is never edited: a database that ran it
//! keeps its checksum and refuses to start against a different one. These are the
//! checksums (SHA-384, first 8 bytes) each released migration has on each backend.

use madoguchi_core::db::{migrator, postgres_line};
use madoguchi_core::Backend;

/// (version, SQLite, PostgreSQL). Add a row when a migration is released.
const RELEASED: &[(i64, &str, &str)] = &[
    (1, "ee3ae74f213d1094", "ee3ae74f213d1094"),
    (2, "5d5f2936bc088b3f", "5d5f2936bc088b3f"),
    (90, "9b7f88811c52705a", "9b7f88811c52705a"),
    (100, "d397e10d541b584d", "bac433919cac1b2c"),
    (101, "730f6aabe3b44607", "730f6aabe3b44607"),
    (102, "02139399d286903e", "02139399d286903e"),
    (110, "5e1c863823207fea", "5e1c863823207fea"),
    (111, "c29da8565638b769", "c29da8565638b769"),
    (112, "be2e2d9242320727", "be2e2d9242320727"),
    (200, "89e793cf5c3caee0", "89e793cf5c3caee0"),
    (201, "76d2b1b136623df8", "76d2b1b136623df8"),
    (210, "0774bbb225c5091d", "0774bbb225c5091d"),
    (220, "1d175702f3c0324b", "1d175702f3c0324b"),
    (221, "19855c825a4ad533", "19855c825a4ad533"),
    (222, "6bc915235313f6e9", "6bc915235313f6e9"),
    (230, "cabbb1db2593b3a1", "cabbb1db2593b3a1"),
    (240, "b451a308bd2296e6", "b451a308bd2296e6"),
    (300, "eb8572e39536ebaf", "eb8572e39536ebaf"),
    (315, "cab2fd74af458b7c", "cab2fd74af458b7c"),
    (320, "490d342bf824d7ae", "490d342bf824d7ae"),
];

fn checksum(backend: Backend, version: i64) -> Option<String> {
    migrator(backend)
        .iter()
        .find(|m| m.version == version)
        .map(|m| hex::encode(&m.checksum[..8]))
}

#[test]
fn q1_released_migrations_keep_their_checksums_on_both_backends() {
    let mut changed = Vec::new();
    for &(version, sqlite, postgres) in RELEASED {
        for (backend, want) in [(Backend::Sqlite, sqlite), (Backend::Postgres, postgres)] {
            let got = checksum(backend, version);
            if got.as_deref() != Some(want) {
                changed.push(format!(
                    "{version} on {backend:?}: {got:?}, released {want}"
                ));
            }
        }
    }
    assert!(
        changed.is_empty(),
        "released migrations changed (add a new migration instead):\n{}",
        changed.join("\n")
    );
}

#[test]
fn q1_both_backends_run_the_same_migrations_but_for_the_dialect_lines() {
    let (sqlite, postgres) = (migrator(Backend::Sqlite), migrator(Backend::Postgres));
    let versions = |m: &sqlx::migrate::Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
    assert_eq!(versions(sqlite), versions(postgres));
    assert!(sqlite.iter().count() >= RELEASED.len());
    let mut rewritten = 0;
    for (a, b) in sqlite.iter().zip(postgres.iter()) {
        assert_eq!(a.description, b.description);
        let (x, y): (Vec<&str>, Vec<&str>) = (a.sql.lines().collect(), b.sql.lines().collect());
        assert_eq!(x.len(), y.len(), "migration {}", a.version);
        for (x, y) in x.iter().zip(&y) {
            assert_eq!(postgres_line(x), *y, "migration {}", a.version);
            rewritten += usize::from(x != y);
        }
    }
    // The rewrite is not a no-op: the posting table's `without rowid` is SQLite's alone.
    assert_eq!(rewritten, 1);
}
