//! The harness (`TestApp`, `Res`, `TestUser`, `both_backends!`) lives in the
//! `madoguchi-testkit` crate, shared by the API and browser test binaries; this module
//! keeps the `crate::helpers::…` paths the test files use.

#![allow(unused_imports)]

pub use madoguchi_testkit::{
    say_skipped, test_settings, Backend, PgDatabase, Res, TestApp, TestUser, PASSWORD,
};
