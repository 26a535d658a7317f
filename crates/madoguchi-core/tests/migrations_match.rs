//! The SQLite and PostgreSQL migrations describe the same tables: the same files, line
//! for line, except for the dialect lines listed here. A change made to one backend's
//! migration and not the other's fails this test instead of a deployment.

use std::path::{Path, PathBuf};

/// (SQLite line, PostgreSQL line) pairs allowed to differ, trimmed. Add one only for a
/// real dialect difference, with a comment saying why.
const DIALECT: &[(&str, &str)] = &[
    // SQLite stores a composite-key posting table without the hidden rowid (half the
    // size); PostgreSQL has no rowid to leave out.
    (") without rowid;", ");"),
];

fn migrations(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the migrations folder")
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

#[test]
fn q1_sqlite_and_postgres_migrations_differ_only_in_listed_dialect_lines() {
    let (sqlite, postgres) = (migrations("sqlite"), migrations("postgres"));
    let names = file_names(&sqlite);
    assert_eq!(
        names,
        file_names(&postgres),
        "both backends have the same migration files"
    );
    assert!(!names.is_empty());
    let mut problems = Vec::new();
    for name in &names {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(name)).expect("a migration");
        let (a, b) = (read(&sqlite), read(&postgres));
        let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
        if a.len() != b.len() {
            problems.push(format!(
                "{name}: {} lines on SQLite, {} on PostgreSQL",
                a.len(),
                b.len()
            ));
            continue;
        }
        for (n, (x, y)) in a.iter().zip(&b).enumerate() {
            let allowed = x == y || DIALECT.contains(&(x.trim(), y.trim()));
            if !allowed {
                problems.push(format!(
                    "{name}:{}: SQLite `{x}` vs PostgreSQL `{y}`",
                    n + 1
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the migrations drifted apart (list a real dialect difference in DIALECT):\n{}",
        problems.join("\n")
    );
}
