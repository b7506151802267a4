//! Shared by the emulator tests: fixture paths, ARNs, the pinned test configuration and starting
//! the emulator in-process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use test_harness::emulator::{Config, EmulatorHandle, ServeOptions, serve};
use x509_parser::prelude::FromDer;

/// The region of every vector.
pub(crate) const REGION: &str = "eu-central-1";
/// The pinned server clock of the tests, and the vectors' time.
pub(crate) const NOW: &str = "2026-11-26T00:00:00Z";
/// [`NOW`] as `X-Amz-Date`.
pub(crate) const NOW_AMZ: &str = "20261126T000000Z";
/// The vectors' trust anchor: the shared fixtures' self-signed certificates and root CA.
pub(crate) const ANCHOR: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001";
/// The vectors' profile (accepts roleSessionName, 3600 s).
pub(crate) const PROFILE: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000002";
/// The vectors' role.
pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/rolesanywhere-test";
/// Trust anchor: the generated test CA (fixtures/emulator/ca-cert.pem).
pub(crate) const ANCHOR_TEST_CA: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000003";
/// Trust anchor: the root of the line of six CAs.
pub(crate) const ANCHOR_DEEP_ROOT: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000004";
/// Trust anchor: the second CA of that line (an intermediate as anchor).
pub(crate) const ANCHOR_DEEP_INT2: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000005";
/// A disabled trust anchor (trusts the RSA self-signed certificate).
pub(crate) const ANCHOR_DISABLED: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000006";
/// A profile that refuses roleSessionName.
pub(crate) const PROFILE_NO_SESSION_NAME: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000007";
/// A disabled profile.
pub(crate) const PROFILE_DISABLED: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000008";
/// A profile granting at most 900 s.
pub(crate) const PROFILE_SHORT: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000009";

/// `test-harness/fixtures`.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A file of the shared fixtures: `fixtures/rolesanywhere/keys/<name>`.
pub(crate) fn key(name: &str) -> PathBuf {
    fixtures().join("rolesanywhere/keys").join(name)
}

/// A file generated for the emulator tests: `fixtures/emulator/<name>`.
pub(crate) fn emu(name: &str) -> PathBuf {
    fixtures().join("emulator").join(name)
}

/// Every certificate of a PEM file, DER.
pub(crate) fn cert_ders(path: &Path) -> Vec<Vec<u8>> {
    let pem = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    x509_parser::pem::Pem::iter_from_buffer(&pem)
        .map(|b| b.expect("PEM"))
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.contents)
        .collect()
}

/// The first certificate of a PEM file, DER.
pub(crate) fn cert_der(path: &Path) -> Vec<u8> {
    cert_ders(path).into_iter().next().expect("a certificate")
}

/// A certificate's serial number in decimal.
pub(crate) fn serial_decimal(der: &[u8]) -> String {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).expect("certificate");
    cert.tbs_certificate.serial.to_str_radix(10)
}

/// A compact form-A body.
pub(crate) fn body(anchor: &str, profile: &str, role: &str, duration: Option<i64>) -> Vec<u8> {
    let mut value = serde_json::Map::new();
    if let Some(d) = duration {
        value.insert("durationSeconds".into(), json!(d));
    }
    value.insert("profileArn".into(), json!(profile));
    value.insert("roleArn".into(), json!(role));
    value.insert("trustAnchorArn".into(), json!(anchor));
    serde_json::to_vec(&value).expect("json")
}

/// The tests' configuration: clock pinned to [`NOW`], every anchor and profile above.
pub(crate) fn test_config() -> Value {
    json!({
        "region": REGION,
        "now": NOW,
        "trustAnchors": [
            { "arn": ANCHOR, "certificates": [
                "rolesanywhere/keys/root-ca-cert.pem",
                "rolesanywhere/keys/rsa2048-selfsigned-cert.pem",
                "rolesanywhere/keys/p256-selfsigned-cert.pem",
                "rolesanywhere/keys/p384-selfsigned-cert.pem"
            ]},
            { "arn": ANCHOR_TEST_CA, "certificates": ["emulator/ca-cert.pem"] },
            { "arn": ANCHOR_DEEP_ROOT, "certificates": ["emulator/deep-root-cert.pem"] },
            { "arn": ANCHOR_DEEP_INT2, "certificates": ["emulator/deep-int2-cert.pem"] },
            { "arn": ANCHOR_DISABLED, "certificates": ["rolesanywhere/keys/rsa2048-selfsigned-cert.pem"], "enabled": false }
        ],
        "profiles": [
            { "arn": PROFILE, "roleArns": [ROLE], "durationSeconds": 3600, "acceptRoleSessionName": true },
            { "arn": PROFILE_NO_SESSION_NAME, "roleArns": [ROLE] },
            { "arn": PROFILE_DISABLED, "roleArns": [ROLE], "enabled": false },
            { "arn": PROFILE_SHORT, "roleArns": [ROLE], "durationSeconds": 900, "acceptRoleSessionName": true }
        ]
    })
}

/// Starts the emulator in-process on loopback with `config` (paths relative to `fixtures/`).
pub(crate) async fn start(config: Value) -> (SocketAddr, EmulatorHandle) {
    let config = Config::from_json(config, &fixtures()).expect("valid configuration");
    serve(config, ServeOptions::default())
        .await
        .expect("emulator starts")
}

/// Starts the emulator with [`test_config`].
pub(crate) async fn start_default() -> (SocketAddr, EmulatorHandle) {
    start(test_config()).await
}

use super::http::{self, Response};
use super::signer::{Request, Spec};

/// RSA-2048 self-signed (serial 0x800123...).
pub(crate) fn rsa_spec() -> Spec {
    Spec::new(&key("rsa2048-key.pem"), &key("rsa2048-selfsigned-cert.pem"))
}

/// P-256 self-signed (serial 4096).
pub(crate) fn p256_spec() -> Spec {
    Spec::new(&key("p256-key.pem"), &key("p256-selfsigned-cert.pem"))
}

/// P-384 self-signed (serial 1).
pub(crate) fn p384_spec() -> Spec {
    Spec::new(&key("p384-key.pem"), &key("p384-selfsigned-cert.pem"))
}

/// The P-256 leaf under the shared intermediate, with the intermediate as its chain.
pub(crate) fn chain_spec() -> Spec {
    let mut spec = Spec::new(&key("p256-key.pem"), &key("leaf-p256-chain-cert.pem"));
    spec.chain = vec![cert_der(&key("intermediate-ca-cert.pem"))];
    spec
}

/// A generated leaf (fixtures/emulator/<cert>) under the generated test CA's anchor.
pub(crate) fn emu_spec(cert: &str) -> Spec {
    let mut spec = Spec::new(&emu("leaf-key.pem"), &emu(cert));
    spec.body = body(ANCHOR_TEST_CA, PROFILE, ROLE, Some(3600));
    spec
}

/// Sends and asserts an error answer: status, `x-amzn-ErrorType`, `__type`, the exact message,
/// and a fragment of the emulator's reason.
pub(crate) async fn expect_error(
    addr: SocketAddr,
    request: &Request,
    status: u16,
    code: &str,
    message: &str,
    reason_fragment: &str,
) -> Response {
    let response = http::send(addr, request).await;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(
        response.status,
        status,
        "status; body {body}; reason {}",
        response.reason()
    );
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some(code),
        "error type; body {body}"
    );
    let json = response.json();
    assert_eq!(json["__type"], code, "__type; body {body}");
    assert_eq!(
        json["message"],
        message,
        "message; reason {}",
        response.reason()
    );
    assert!(
        response.reason().contains(reason_fragment),
        "reason {:?} should contain {reason_fragment:?}",
        response.reason()
    );
    assert!(
        response
            .header("x-amzn-requestid")
            .is_some_and(|id| id.len() == 36)
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    response
}

/// Sends and asserts a 201 with a credential set; returns the body.
pub(crate) async fn expect_granted(addr: SocketAddr, request: &Request) -> Value {
    let response = http::send(addr, request).await;
    assert_eq!(
        response.status,
        201,
        "expected 201, got {}: {} ({})",
        response.status,
        String::from_utf8_lossy(&response.body),
        response.reason()
    );
    let body = response.json();
    let key = body["credentialSet"][0]["credentials"]["accessKeyId"]
        .as_str()
        .expect("accessKeyId");
    assert!(key.starts_with("ASIA"), "{key}");
    body
}
