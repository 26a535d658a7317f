//! Browser tests: the real server and headless Chromium driven through chromedriver
//! (fantoccini). They prove what people see: pages, the operator console and the
//! website widget on another origin. Screenshots land in `docs/screenshots/`.
//! Test names carry the SPEC requirement they check (c3_…, c4_…, q4_…).

#![allow(clippy::unwrap_used)]

#[path = "../api/helpers.rs"]
mod helpers;

mod harness;
#[path = "../api/mail_servers.rs"]
mod mail_servers;

mod attachments;
mod axe;
mod chat;
mod csp;
mod desk;
mod email;
mod hardening_sockets;
mod integration;
mod operator;
mod pages;
mod settings;
mod visitor;
