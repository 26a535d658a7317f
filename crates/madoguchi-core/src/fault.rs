//! Fault-injection points for crash tests. A test starts the real binary with
//! `MADOGUCHI_FAULT=<point>`; when the code reaches that point the process aborts at
//! once (no unwinding, no flush), as a kill -9 or a power cut would stop it there. A
//! point costs one comparison when the variable is unset.

use std::sync::OnceLock;

/// The environment variable naming the point to crash at.
pub const FAULT_ENV: &str = "MADOGUCHI_FAULT";

/// Aborts the process when `MADOGUCHI_FAULT` names `point`.
pub fn point(point: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var(FAULT_ENV).ok().filter(|v| !v.is_empty()));
    if armed.as_deref() == Some(point) {
        eprintln!("{FAULT_ENV}={point}: aborting here");
        std::process::abort();
    }
}
