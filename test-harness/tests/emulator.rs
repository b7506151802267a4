//! Tests of the IAM Roles Anywhere `CreateSession` emulator (`test_harness::emulator`): the
//! negative and positive cases of spec §5, the vectors of spec §9 over real HTTP, the harness
//! binary's `roles-anywhere-emulator` subcommand, and live interop with the PyPI package
//! `iam-rolesanywhere-session`. Requests are built by a test-side signer (emulator/signer.rs)
//! that shares no code with the emulator or the connector.

mod emulator {
    pub(crate) mod common;
    pub(crate) mod http;
    pub(crate) mod signer;

    mod binary;
    mod config;
    mod interop;
    mod negative;
    mod positive;
    mod vectors;
}
