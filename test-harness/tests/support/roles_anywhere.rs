//! Roles Anywhere helpers: the emulator with the fixture config, and a connection that uses the
//! fixture certificate, chain and encrypted key.

use std::path::Path;

use connector_sdk::host::PluginProcess;
use connector_sdk::{Component, Document};
use serde_json::{Value, json};
use test_harness::emulator::{Config, EmulatorHandle, ServeOptions, serve};

use super::{execute, operation};

/// The profile of the fixture emulator config.
pub(crate) const PROFILE: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000002";
/// The role the fixture profile allows.
pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/rolesanywhere-test";
/// The fixture trust anchor.
pub(crate) const ANCHOR: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001";
/// The passphrase of the fixtures' encrypted keys.
pub(crate) const PASSPHRASE: &str = "password";

/// The text of a fixture key or certificate.
pub(crate) fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rolesanywhere/keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The emulator with the fixture config, issuing credentials for `lifetime` seconds when set.
pub(crate) async fn emulator(lifetime: Option<i64>) -> EmulatorHandle {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/emulator/config.json");
    let mut config = Config::load(&path).expect("emulator config");
    config.credential_lifetime_seconds = lifetime;
    let (_, handle) = serve(config, ServeOptions::default())
        .await
        .expect("emulator starts");
    // What it issues is a secret of every scan from now on.
    let issued = handle.issued();
    super::secret_scan::register_source(Box::new(move || {
        issued
            .all()
            .into_iter()
            .flat_map(|(secret_access_key, session_token)| {
                [
                    (
                        "a secret access key the emulator issued".to_owned(),
                        secret_access_key,
                    ),
                    (
                        "a session token the emulator issued".to_owned(),
                        session_token,
                    ),
                ]
            })
            .collect()
    }));
    handle
}

/// A Roles Anywhere connection: the P-256 leaf with its intermediate, the encrypted PKCS#8 key.
pub(crate) fn ra_fields(emulator_url: &str, sqs: &str) -> Value {
    json!({
        "authenticationType": "ROLES_ANYWHERE",
        "region": "us-east-1",
        "endpointUrl": sqs,
        "profileArn": PROFILE,
        "roleArn": ROLE,
        "trustAnchorArn": ANCHOR,
        "rolesAnywhereRegion": "eu-central-1",
        "rolesAnywhereEndpointUrl": emulator_url,
        "sessionName": "connector-test",
        "durationSeconds": 3600,
        "publicCertificate": fixture("leaf-p256-chain-cert.pem"),
        "certificateChain": fixture("chain-intermediate.pem"),
        "privateKey": fixture("p256-key-pkcs8-encrypted.pem"),
        "privateKeyPassphrase": PASSPHRASE
    })
}

pub(crate) fn ra_connection(id: &str, fields: Value) -> Component {
    Component::connection(id, "amazon-sqs", fields.as_object().unwrap().clone())
}

/// SENDs one document to `queue` through the plugin; its result.
pub(crate) async fn send_one(
    plugin: &PluginProcess,
    connection: &Component,
    queue: &str,
    body: &str,
) -> connector_sdk::DocumentResult {
    let send = operation("op-send", "SEND", json!({"queue": queue}));
    execute(plugin, connection, &send, vec![Document::new(body)])
        .await
        .remove(0)
}
