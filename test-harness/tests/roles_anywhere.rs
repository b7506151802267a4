//! IAM Roles Anywhere end to end: the plugin obtains temporary credentials from the harness's
//! emulator over real HTTP, caches them per connection component, and uses them against moto.

mod support;

use std::path::Path;
use std::time::Duration;

use connector_sdk::ResultStatus;
use serde_json::json;
use support::roles_anywhere::*;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_through_the_harness_passes_every_step() {
    let emulator = emulator(None).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ra.json");
    let mut component =
        json!({"id": "conn-ra-tc", "connector": "amazon-sqs", "kind": "connection"});
    component["fields"] = ra_fields(&emulator.url(), &sqs_endpoint());
    component["fields"]["privateKeyPassphrase"] = json!({"env": "RA_TEST_PASSPHRASE"});
    std::fs::write(&file, component.to_string()).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        scanned_output(
            std::process::Command::new(harness())
                .args(["test-connection", "--connection"])
                .arg(&file)
                .arg("--plugin")
                .arg(plugin())
                .env("RA_TEST_PASSPHRASE", PASSPHRASE),
        )
    })
    .await
    .unwrap();
    let text = text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for line in [
        "[PASSED ] Settings valid",
        "[PASSED ] Certificate and key loaded: certificate CN=rolesanywhere-test-leaf-p256 (serial 2) is valid until 2036-01-01T00:00:00Z, with 1 chain certificate",
        "[PASSED ] Temporary credentials obtained: IAM Roles Anywhere at",
        "[PASSED ] SQS reachable",
        "[PASSED ] Credentials accepted",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    assert_eq!(emulator.stats().accepted, 1);
    assert!(
        !text.contains("BEGIN") && !text.contains(PASSPHRASE),
        "{text}"
    );
}

/// A key file asking for a key derivation far beyond the connector's limits (scrypt with
/// N = 2^40, which would abort the plugin on allocation) fails its own Test Connection at once,
/// naming what the key asks for; another connection is served meanwhile and the plugin lives on.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_asking_for_scrypt_n_2_pow_40_is_refused_and_other_connections_are_served() {
    let emulator = emulator(None).await;
    let plugin = start_plugin().await;
    let mut fields = ra_fields(&emulator.url(), &sqs_endpoint());
    fields["privateKey"] = json!(fixture("p256-key-pkcs8-scrypt-logn40.pem"));
    let hostile = ra_connection("conn-scrypt-2-pow-40", fields);
    let other = moto_connection("conn-beside-the-scrypt-key");
    let started = std::time::Instant::now();
    let (refused, served) = tokio::join!(
        plugin.test_connection(&hostile),
        plugin.test_connection(&other)
    );
    let (refused, served) = (refused.unwrap(), served.unwrap());
    assert!(served.ok, "{served:?}");
    assert!(!refused.ok, "{refused:?}");
    let failed = refused
        .steps
        .iter()
        .find(|step| step.status == connector_sdk::StepStatus::Failed)
        .expect("a failed step");
    assert!(
        failed.message.contains("scrypt") && failed.message.contains("1099511627776"),
        "{failed:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let again = plugin.test_connection(&other).await.unwrap();
    assert!(again.ok && !plugin.has_exited(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_names_the_failing_step() {
    let emulator = emulator(None).await;
    let plugin = start_plugin().await;
    // A wrong passphrase: the key cannot be read.
    let mut fields = ra_fields(&emulator.url(), &sqs_endpoint());
    fields["privateKeyPassphrase"] = json!("not-the-passphrase");
    let result = plugin
        .test_connection(&ra_connection("conn-bad-pass", fields))
        .await
        .unwrap();
    assert!(!result.ok);
    assert_eq!(result.steps[1].name, "Certificate and key loaded");
    assert!(
        result.steps[1]
            .message
            .to_lowercase()
            .contains("passphrase"),
        "{:?}",
        result.steps[1]
    );
    // A key that belongs to another certificate.
    let mut fields = ra_fields(&emulator.url(), &sqs_endpoint());
    fields["privateKey"] = json!(fixture("p384-key.pem"));
    fields
        .as_object_mut()
        .unwrap()
        .remove("privateKeyPassphrase");
    let result = plugin
        .test_connection(&ra_connection("conn-mismatch", fields))
        .await
        .unwrap();
    assert!(
        result.steps[1]
            .message
            .contains("does not belong to the certificate"),
        "{:?}",
        result.steps[1]
    );
    // A certificate the trust anchor does not trust: the emulator's own test CA's leaf.
    let mut fields = ra_fields(&emulator.url(), &sqs_endpoint());
    let emulator_fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/emulator");
    fields["publicCertificate"] =
        json!(std::fs::read_to_string(emulator_fixtures.join("leaf-good-cert.pem")).unwrap());
    fields["privateKey"] =
        json!(std::fs::read_to_string(emulator_fixtures.join("leaf-key.pem")).unwrap());
    fields
        .as_object_mut()
        .unwrap()
        .remove("privateKeyPassphrase");
    fields.as_object_mut().unwrap().remove("certificateChain");
    let result = plugin
        .test_connection(&ra_connection("conn-untrusted", fields))
        .await
        .unwrap();
    let step = result
        .steps
        .iter()
        .find(|s| s.name == "Temporary credentials obtained")
        .unwrap();
    assert!(
        step.message.contains("does not trust the certificate"),
        "{step:?}"
    );
    // A trust anchor in another region than the Roles Anywhere region: a warning.
    let mut fields = ra_fields(&emulator.url(), &sqs_endpoint());
    fields["rolesAnywhereRegion"] = json!("eu-west-1");
    let result = plugin
        .test_connection(&ra_connection("conn-region", fields))
        .await
        .unwrap();
    let warning = result
        .steps
        .iter()
        .find(|s| s.name == "Roles Anywhere region")
        .expect("a region warning");
    assert!(
        warning.message.contains("trust anchor is in eu-central-1"),
        "{warning:?}"
    );
    plugin.shutdown().await.unwrap();
    for line in plugin.logs() {
        assert!(
            !line.contains("not-the-passphrase") && !line.contains("PRIVATE KEY"),
            "secret in log: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn consecutive_and_concurrent_executions_share_one_create_session() {
    let queue = unique_queue("ra-cache");
    create_queue(&queue, &[]).await;
    let emulator = emulator(None).await;
    let plugin = start_plugin().await;
    let connection = ra_connection("conn-ra-cache", ra_fields(&emulator.url(), &sqs_endpoint()));
    for n in 0..2 {
        let result = send_one(&plugin, &connection, &queue, &format!("consecutive {n}")).await;
        assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    }
    assert_eq!(
        emulator.stats().accepted,
        1,
        "two consecutive executions make one CreateSession"
    );

    // A cold cache (another component id), 200 executions at once.
    let cold = ra_connection("conn-ra-cold", ra_fields(&emulator.url(), &sqs_endpoint()));
    let calls = (0..200).map(|n| {
        send_one(
            &plugin,
            &cold,
            &queue,
            Box::leak(format!("concurrent {n}").into_boxed_str()),
        )
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|r| r.status == ResultStatus::Success));
    assert_eq!(
        emulator.stats().accepted,
        2,
        "200 concurrent executions on a cold cache make one CreateSession"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_component_under_the_same_id_gets_new_credentials() {
    let queue = unique_queue("ra-edit");
    create_queue(&queue, &[]).await;
    let emulator = emulator(None).await;
    let plugin = start_plugin().await;
    let fields = ra_fields(&emulator.url(), &sqs_endpoint());
    let original = ra_connection("conn-ra-edit", fields.clone());
    assert_eq!(
        send_one(&plugin, &original, &queue, "before").await.status,
        ResultStatus::Success
    );
    let mut edited_fields = fields;
    edited_fields["durationSeconds"] = json!(1800);
    let edited = ra_connection("conn-ra-edit", edited_fields);
    assert_eq!(
        send_one(&plugin, &edited, &queue, "after").await.status,
        ResultStatus::Success
    );
    assert_eq!(
        emulator.stats().accepted,
        2,
        "the edited settings never reuse the old credentials"
    );
    plugin.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_requests_carry_the_temporary_credentials_and_no_secret_is_logged() {
    let queue = unique_queue("ra-proxy");
    create_queue(&queue, &[]).await;
    let emulator = emulator(None).await;
    let (proxy_url, heads) = proxy(sqs_endpoint(), false).await;
    let plugin =
        start_plugin_with(|command| command.env.push(("CONNECTOR_LOG".into(), "trace".into())))
            .await;
    let connection = ra_connection("conn-ra-proxy", ra_fields(&emulator.url(), &proxy_url));
    let result = send_one(
        &plugin,
        &connection,
        &queue,
        "signed with temporary credentials",
    )
    .await;
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    let heads = heads.lock().unwrap().clone();
    let send = heads
        .iter()
        .find(|h| {
            h.to_ascii_lowercase()
                .contains("amazonsqs.sendmessagebatch")
        })
        .expect("a SendMessageBatch went through the proxy");
    let token = send
        .lines()
        .find_map(|l| {
            l.strip_prefix("x-amz-security-token: ")
                .or_else(|| l.strip_prefix("X-Amz-Security-Token: "))
        })
        .expect("the request carries a session token")
        .trim()
        .to_owned();
    let access_key = send
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .expect("a SigV4 Authorization header")
        .to_owned();
    assert!(
        access_key.starts_with("ASIA"),
        "temporary credentials sign the request: {access_key}"
    );
    plugin.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let issued = emulator.issued_secrets();
    assert_eq!(issued.len(), 1);
    let (secret_access_key, session_token) = &issued[0];
    assert_eq!(
        &token, session_token,
        "the SQS request carries the token the emulator issued"
    );
    let key_lines: Vec<String> = fixture("p256-key-pkcs8-encrypted.pem")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    for line in plugin.logs() {
        assert!(
            !line.contains(&token),
            "the session token was exposed in a log line: {line}"
        );
        assert!(
            !line.contains(secret_access_key.as_str()),
            "the secret access key was exposed in a log line: {line}"
        );
        assert!(
            !line.contains(PASSPHRASE),
            "the passphrase was exposed: {line}"
        );
        for key_line in &key_lines {
            assert!(
                !line.contains(key_line.as_str()),
                "the private key was exposed: {line}"
            );
        }
    }
}
