//! The 60-second rule end to end, in a test binary of its own: credentials issued for 61 seconds
//! leave a one-second window, which the busy neighbours of `roles_anywhere.rs` could eat.

mod support;

use std::path::Path;
use std::time::Duration;

use connector_sdk::protocol::PluginProcess;
use connector_sdk::{Component, Document, ResultStatus};
use serde_json::{Value, json};
use support::*;
use test_harness::emulator::{Config, EmulatorHandle, ServeOptions, serve};

const PROFILE: &str =
    "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/a1b2c3d4-0000-4000-8000-000000000002";
const ROLE: &str = "arn:aws:iam::123456789012:role/rolesanywhere-test";
const ANCHOR: &str = "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/a1b2c3d4-0000-4000-8000-000000000001";
const PASSPHRASE: &str = "password";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rolesanywhere/keys")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn emulator(lifetime: Option<i64>) -> EmulatorHandle {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/emulator/config.json");
    let mut config = Config::load(&path).expect("emulator config");
    config.credential_lifetime_seconds = lifetime;
    let (_, handle) = serve(config, ServeOptions::default())
        .await
        .expect("emulator starts");
    handle
}

/// A Roles Anywhere connection: the P-256 leaf with its intermediate, the encrypted PKCS#8 key.
fn ra_fields(emulator_url: &str, sqs: &str) -> Value {
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

fn ra_connection(id: &str, fields: Value) -> Component {
    Component::connection(id, "amazon-sqs", fields.as_object().unwrap().clone())
}

async fn send_one(
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

#[tokio::test(flavor = "multi_thread")]
async fn credentials_with_less_than_sixty_seconds_left_are_renewed() {
    let queue = unique_queue("ra-61");
    create_queue(&queue, &[]).await;
    let emulator = emulator(Some(61)).await;
    let plugin = start_plugin().await;
    let connection = ra_connection("conn-ra-61", ra_fields(&emulator.url(), &sqs_endpoint()));
    assert_eq!(
        send_one(&plugin, &connection, &queue, "first").await.status,
        ResultStatus::Success
    );
    assert_eq!(emulator.stats().accepted, 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        send_one(&plugin, &connection, &queue, "second")
            .await
            .status,
        ResultStatus::Success
    );
    assert_eq!(
        emulator.stats().accepted,
        2,
        "59 s left counts as expired: a new CreateSession"
    );
    plugin.shutdown().await.unwrap();
}
