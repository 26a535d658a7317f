//! One integration-test binary: every test starts the real server (see `helpers`).
//! Test names carry the SPEC requirement they check (d3_…, c5_…, i7_…, q3_…).

// A panic in a test is a failed test: unwrapping is how tests say "this must hold".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
use madoguchi_testkit::both_backends;

mod attachments;
mod chat;
mod cli;
mod desk;
mod desk_client;
mod desk_pages;
mod email;
mod email_processes;
mod hardening_chat;
mod hardening_input;
mod hardening_sockets;
mod hardening_storage;
mod integration;
mod mail_servers;
mod openapi;
mod operator;
mod ops;
mod pages_html;
mod pages_settings;
mod png;
mod processes;
mod service;
mod visitor;
mod widget;
