//! One integration-test binary: every test starts the real server (see `helpers`).
//! Test names carry the SPEC requirement they check (d3_…, c5_…, i7_…, q3_…).

mod helpers;

mod chat;
mod cli;
mod desk;
mod integration;
mod service;
mod widget;
