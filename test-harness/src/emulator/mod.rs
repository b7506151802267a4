//! An emulator of IAM Roles Anywhere `CreateSession` (`POST /sessions`) for tests: it verifies
//! X.509-signed requests the way the service does (the checklist of section 5 of
//! `shared/spec/rolesanywhere.md`, in order) and answers with made-up temporary credentials.
//! It shares no code with any client: it has its own canonicalisation, its own certificate path
//! building, and RustCrypto (`rsa`, `p256`, `p384`, `sha2`) with `x509-parser` underneath.
//!
//! # Running it
//!
//! ```text
//! test-harness roles-anywhere-emulator --config FILE [--listen ADDR] [--tls CERT_OUT]
//! ```
//!
//! The first line on stdout is `listening on http://HOST:PORT` (`https://` with `--tls`), flushed
//! at once; request logs go to stderr and never hold keys, secrets or tokens. `--listen` defaults
//! to `127.0.0.1:0` (any free loopback port). With `--tls CERT_OUT` the server speaks HTTPS on a
//! self-signed certificate made at start for `127.0.0.1` (IP SAN) and `localhost`, and writes it
//! as PEM to `CERT_OUT` for clients to trust. It runs until interrupted (Ctrl-C or SIGTERM).
//!
//! In-process, [`serve`] binds and returns the address and an [`EmulatorHandle`]:
//!
//! ```no_run
//! # async fn example() -> Result<(), test_harness::emulator::EmulatorError> {
//! use test_harness::emulator::{Config, ServeOptions, serve};
//! let config = Config::load(std::path::Path::new("test-harness/fixtures/emulator/config.json"))?;
//! let (addr, handle) = serve(config, ServeOptions::default()).await?;
//! // ... POST http://{addr}/sessions ...
//! assert_eq!(handle.stats().accepted, 0);
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//!
//! * `POST /sessions`: `CreateSession`. 201 with `{"credentialSet":[...],"subjectArn":...}`
//!   (spec §4.1), or an error (spec §4.2): the status, header `x-amzn-ErrorType: <code>`, body
//!   `{"__type":"<code>","message":"<text>"}`, header `x-amzn-RequestId`, and header
//!   `x-emulator-reason` with the emulator's detailed reason (several real messages, such as
//!   `Untrusted Signing Certificate`, cover many causes).
//! * `GET /_emulator/stats`: `{"accepted":N,"rejected":M}`, the `POST /sessions` calls answered
//!   201 and answered with an error.
//! * Anything else on `/sessions`: 405; any other path: 404.
//!
//! # Configuration file
//!
//! JSON; unknown keys are refused. Relative certificate paths are relative to the config file.
//!
//! ```json
//! {
//!   "region": "eu-central-1",
//!   "clockSkewSeconds": 300,
//!   "now": "2026-11-26T00:00:00Z",
//!   "credentialLifetimeSeconds": 61,
//!   "trustAnchors": [
//!     {
//!       "arn": "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001",
//!       "certificates": ["../rolesanywhere/keys/root-ca-cert.pem"],
//!       "enabled": true
//!     }
//!   ],
//!   "profiles": [
//!     {
//!       "arn": "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000002",
//!       "roleArns": ["arn:aws:iam::123456789012:role/rolesanywhere-test"],
//!       "durationSeconds": 3600,
//!       "acceptRoleSessionName": true,
//!       "enabled": true
//!     }
//!   ]
//! }
//! ```
//!
//! | key | meaning |
//! |---|---|
//! | `region` | required; the only region accepted in the signing scope and in the ARNs |
//! | `trustAnchors[].arn` | a trust-anchor ARN in `region` |
//! | `trustAnchors[].certificates` | PEM files (each may hold several `CERTIFICATE` blocks): the anchor's CA certificates |
//! | `trustAnchors[].enabled` | default `true`; a disabled anchor answers 403 |
//! | `profiles[].arn` | a profile ARN in `region` |
//! | `profiles[].roleArns` | the IAM role ARNs a session may be created for |
//! | `profiles[].durationSeconds` | the longest session, 900..43200, default 3600 |
//! | `profiles[].acceptRoleSessionName` | default `false`: a request with `roleSessionName` gets 403 |
//! | `profiles[].enabled` | default `true`; a disabled profile answers 403 |
//! | `clockSkewSeconds` | allowed distance between `X-Amz-Date` and the server clock, default 300 |
//! | `now` | optional RFC 3339 time that pins the server clock (signature skew and certificate validity) |
//! | `credentialLifetimeSeconds` | optional; issued credentials expire this many seconds after `now` instead of after the negotiated duration |
//!
//! A certificate is trusted when a path leads from it to an anchor certificate through the
//! request's `X-Amz-X509-Chain`, or when it *is* an anchor certificate (same bytes, or same subject
//! and key): that is how self-signed end-entity certificates are trusted (spec §5.14), with
//! themselves listed among an anchor's certificates.
//!
//! `test-harness/fixtures/emulator/config.json` is an example that trusts the shared fixtures of
//! `test-harness/fixtures/rolesanywhere/keys` under the ARNs of the spec's test vectors.
//!
//! # Order of checks
//!
//! As in spec §5 with one exception: the trust anchor named by the request must be known before a
//! path to it can be built, so the parameters (§5.16: body and query merged, ARNs parsed, anchor
//! looked up) are read between the leaf checks (§5.12-13) and the path (§5.14); the profile and
//! role checks of §5.16 follow the path. No CRLs are configured, so §5.15 never rejects.

pub mod certs;
pub mod config;
pub mod credentials;
pub mod server;
pub mod session;
pub mod sigv4;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use config::Config;
pub use server::{EmulatorHandle, ServeOptions, Stats, serve};
pub use session::{ApiError, Granted, IncomingRequest, create_session};

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The configuration file or a certificate it names is unreadable or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// Binding, reading or writing failed.
    #[error("{0}")]
    Io(String),
    /// The TLS certificate or configuration could not be made.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The `roles-anywhere-emulator` subcommand: loads `config`, serves until Ctrl-C or SIGTERM.
/// Returns the process exit code (0 after a signal, 1 when it could not start).
pub fn run_cli(config: &Path, listen: SocketAddr, tls_cert_out: Option<PathBuf>) -> u8 {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return crate::EXIT_FAILED;
        }
    };
    crate::block_on(async move {
        let options = ServeOptions {
            listen,
            tls: tls_cert_out.is_some(),
            tls_cert_out,
        };
        let (_addr, handle) = match serve(config, options).await {
            Ok(started) => started,
            Err(e) => {
                eprintln!("error: {e}");
                return crate::EXIT_FAILED;
            }
        };
        crate::print_listening(handle.url());
        crate::wait_for_signal().await;
        handle.shutdown().await;
        crate::EXIT_OK
    })
}
