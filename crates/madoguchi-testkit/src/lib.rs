//! The test kit of Madoguchi: [`TestApp`] (a real server per test on SQLite or
//! PostgreSQL), the builders the API and browser tests share (sign up, portals,
//! departments, operators, a visitor's chat, sockets that read frames), waits for a
//! state with a deadline ([`wait::until`]), HTML read with CSS selectors ([`html::Doc`])
//! and JSON with its ids and times redacted for snapshots ([`snapshot::redact`]).
//!
//! A dev-dependency of `madoguchi` only: never published, never in the binary.

// A panic here is a failed test: unwrapping is how a test says "this must hold".
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod chat;
pub mod desk;
pub mod html;
pub mod list;
pub mod process;
pub mod snapshot;
pub mod wait;

pub use app::{
    env_setting, say_skipped, test_settings, Backend, PgDatabase, Res, TestApp, TestUser, PASSWORD,
};

/// Declares each named `async fn(TestApp)` as two tests, `<name>::sqlite` and
/// `<name>::postgres`, so one suite runs on both backends. The PostgreSQL one says on
/// stderr that it skipped when `MADOGUCHI_TEST_DATABASE_URL` is unset.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::TestApp::spawn($crate::Backend::Sqlite)
                    .await
                    .expect("SQLite always runs");
                super::$name(app).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                    super::$name(app).await
                }
            }
        }
    )*};
}
