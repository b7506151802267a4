//! `test-harness studio`: its HTTP API (secrets never returned, loopback only, its own page
//! only) and its page in headless Chromium (forms from the descriptor, Test Connection with
//! access keys against moto and with Roles Anywhere against the emulator, browse, "try it",
//! saved components that `test-harness run` runs unchanged).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod api;
mod browser;
mod pages;
mod server;
