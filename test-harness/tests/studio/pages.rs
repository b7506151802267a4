//! The studio's page in headless Chromium, driven as a person uses it.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::browser::Browser;
use crate::server::Studio;
use crate::support::roles_anywhere::{self, ANCHOR, PASSPHRASE, PROFILE, ROLE};
use crate::support::{
    closed_port, create_queue, drain_visible, harness, plugin, scanned_output, secret_scan,
    sqs_endpoint, text, unique_queue,
};

/// The secret key the page tests type (moto accepts any).
const PAGE_SECRET: &str = "studio-page-secret-8b2e71";

fn key_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rolesanywhere/keys")
        .join(name)
}

/// Fills the connection tab for access keys on moto (or `endpoint`).
async fn fill_access_keys(browser: &Browser, id: &str, endpoint: &str) {
    browser.type_into("conn-id", id).await;
    browser
        .select("conn-authenticationType", "ACCESS_KEYS")
        .await;
    browser
        .type_into("conn-accessKey", "AKIAIOSFODNN7EXAMPLE")
        .await;
    browser.type_into("conn-secretKey", PAGE_SECRET).await;
    browser.type_into("conn-endpointUrl", endpoint).await;
}

async fn test_connection(browser: &Browser) {
    browser.click("test-connection").await;
    browser
        .wait_for(
            "Test Connection to end",
            "!document.getElementById('test-connection').disabled && \
             !document.getElementById('conn-status').classList.contains('busy')",
        )
        .await;
}

/// The page's HTML never holds a secret the test handed it.
async fn assert_page_holds_no_secret(browser: &Browser, secrets: &[&str]) {
    let html = browser.html().await;
    for secret in secrets {
        assert!(!html.contains(secret), "the page's HTML holds a secret");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_the_authentication_type_shows_and_hides_the_right_fields() {
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    let browser = Browser::start(1100, 1500).await;
    browser.open(&studio.url).await;

    // Labels, help and defaults come from the descriptor.
    assert_eq!(
        browser
            .prop("conn-authenticationType", "value")
            .await
            .as_deref(),
        Some("ACCESS_KEYS")
    );
    assert_eq!(
        browser.prop("conn-region", "value").await.as_deref(),
        Some("us-east-1")
    );
    let region_label = browser
        .script(
            "return document.querySelector('label[for=conn-region]').textContent",
            vec![],
        )
        .await;
    assert!(
        region_label.as_str().unwrap().contains("AWS SQS Region"),
        "{region_label}"
    );
    let option = browser
        .script(
            "return document.querySelector('#conn-region option[value=\"eu-west-1\"]').textContent",
            vec![],
        )
        .await;
    assert_eq!(option, json!("Europe (Ireland)"));
    assert!(
        browser
            .text("conn-secretKey-help")
            .await
            .contains("never shown again")
    );
    assert_eq!(
        browser.attr("conn-secretKey", "type").await.as_deref(),
        Some("password")
    );
    assert_eq!(
        browser
            .attr("conn-accessKey", "aria-describedby")
            .await
            .as_deref(),
        Some("conn-accessKey-help conn-accessKey-override conn-accessKey-error")
    );

    let access_keys = ["conn-accessKey", "conn-secretKey", "conn-sessionToken"];
    let roles_anywhere = [
        "conn-profileArn",
        "conn-roleArn",
        "conn-trustAnchorArn",
        "conn-rolesAnywhereRegion",
        "conn-publicCertificate",
        "conn-privateKey",
        "conn-privateKeyPassphrase",
        "conn-durationSeconds",
    ];
    for id in access_keys {
        assert!(browser.shown(id).await, "{id} shown for access keys");
    }
    for id in roles_anywhere {
        assert!(!browser.shown(id).await, "{id} hidden for access keys");
    }
    // Required for access keys (the descriptor's if/then), not the session token.
    assert_eq!(
        browser
            .attr("conn-accessKey", "aria-required")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        browser.attr("conn-sessionToken", "aria-required").await,
        None
    );
    // A custom region is used instead of the dropdown's, and the page says so.
    browser.type_into("conn-customRegion", "us-east-2").await;
    assert!(browser.shown("conn-region-override").await);
    assert!(
        browser
            .text("conn-region-override")
            .await
            .contains("Custom AWS SQS Region (us-east-2)")
    );
    browser.type_into("conn-customRegion", "").await;
    assert!(!browser.shown("conn-region-override").await);
    browser
        .type_into("conn-accessKey", "AKIAIOSFODNN7EXAMPLE")
        .await;
    browser.screenshot("connection-access-keys", "tabs").await;

    browser
        .select("conn-authenticationType", "ROLES_ANYWHERE")
        .await;
    for id in access_keys {
        assert!(!browser.shown(id).await, "{id} hidden for Roles Anywhere");
    }
    for id in roles_anywhere {
        assert!(browser.shown(id).await, "{id} shown for Roles Anywhere");
    }
    assert_eq!(
        browser
            .prop("conn-rolesAnywhereRegion", "value")
            .await
            .as_deref(),
        Some("eu-central-1")
    );
    assert_eq!(
        browser
            .prop("conn-durationSeconds", "value")
            .await
            .as_deref(),
        Some("3600")
    );
    assert_eq!(
        browser.attr("conn-durationSeconds", "min").await.as_deref(),
        Some("900")
    );
    assert_eq!(
        browser
            .attr("conn-profileArn", "aria-required")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(browser.attr("conn-accessKey", "aria-required").await, None);
    // The private key: a secret text area that takes a pasted PEM or a file.
    assert_eq!(
        browser
            .id("conn-privateKey")
            .await
            .tag_name()
            .await
            .unwrap(),
        "textarea"
    );
    assert!(browser.shown("conn-privateKey-upload").await);
    assert!(
        browser.shown("conn-privateKey-source-env").await,
        "references offered for secrets"
    );
    browser.click("conn-privateKey-source-env").await;
    assert!(browser.shown("conn-privateKey-env").await);
    assert!(!browser.shown("conn-privateKey").await);
    browser.click("conn-privateKey-source-value").await;
    browser
        .screenshot("connection-roles-anywhere", "tabs")
        .await;

    browser
        .select("conn-authenticationType", "ACCESS_KEYS")
        .await;
    assert!(browser.shown("conn-accessKey").await);
    assert!(!browser.shown("conn-profileArn").await);
    // Every shown input has a label bound to it.
    let unlabelled = browser
        .script(
            "return Array.from(document.querySelectorAll('input, select, textarea'))
               .filter(e => e.offsetParent !== null)
               .filter(e => !document.querySelector('label[for=\"' + e.id + '\"]'))
               .map(e => e.id)",
            vec![],
        )
        .await;
    assert_eq!(unlabelled, json!([]), "inputs without a <label for>");

    // A narrow window (a phone): one column, nothing wider than the window.
    browser.client.set_window_size(390, 900).await.unwrap();
    let overflow = browser
        .script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await;
    assert_eq!(overflow, json!(0), "the page is wider than a narrow window");
    browser.screenshot("connection-narrow", "tabs").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_region_with_capitals_shows_the_plugins_error_next_to_that_field() {
    secret_scan::register("the studio page tests' secret key", PAGE_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    let browser = Browser::start(1100, 1500).await;
    browser.open(&studio.url).await;
    fill_access_keys(&browser, "conn-capitals", &sqs_endpoint()).await;
    browser.type_into("conn-customRegion", "US-EAST-2").await;
    test_connection(&browser).await;
    assert!(
        browser.shown("conn-customRegion-error").await,
        "the error is next to the field"
    );
    let error = browser.text("conn-customRegion-error").await;
    assert!(
        error.contains("Custom AWS SQS Region") && error.contains("is not a region name"),
        "{error}"
    );
    assert_eq!(
        browser
            .attr("conn-customRegion", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    let status = browser.text("conn-status").await;
    assert!(
        status.contains("1 field of the connection needs attention"),
        "{status}"
    );
    assert_eq!(
        browser.attr("conn-status", "aria-live").await.as_deref(),
        Some("polite")
    );
    // The secret was handed to the studio and the page shows only that it is set.
    assert!(browser.shown("conn-secretKey-set").await);
    assert_eq!(
        browser.prop("conn-secretKey", "value").await.as_deref(),
        Some("")
    );
    assert_page_holds_no_secret(&browser, &[PAGE_SECRET]).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_with_access_keys_fails_on_a_closed_port_then_passes_against_moto() {
    secret_scan::register("the studio page tests' secret key", PAGE_SECRET);
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    let browser = Browser::start(1100, 1300).await;
    browser.open(&studio.url).await;
    fill_access_keys(
        &browser,
        "conn-moto",
        &format!("http://127.0.0.1:{}", closed_port()),
    )
    .await;
    test_connection(&browser).await;
    let status = browser.text("conn-status").await;
    assert!(status.contains("Test Connection failed"), "{status}");
    let steps = browser.text("conn-steps").await;
    assert!(steps.to_lowercase().contains("failed"), "{steps}");
    browser
        .screenshot("test-connection-failed", "conn-endpointUrl-field")
        .await;

    // The secret is kept by the studio: only the endpoint changes.
    browser.type_into("conn-endpointUrl", &sqs_endpoint()).await;
    test_connection(&browser).await;
    let status = browser.text("conn-status").await;
    assert!(status.contains("Test Connection passed"), "{status}");
    let steps = browser
        .script(
            "return Array.from(document.querySelectorAll('#conn-steps li')).map(li => li.className)",
            vec![],
        )
        .await;
    let steps = steps.as_array().unwrap();
    assert!(
        !steps.is_empty() && steps.iter().all(|c| c == "step passed"),
        "{steps:?}"
    );
    assert_page_holds_no_secret(&browser, &[PAGE_SECRET]).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_with_roles_anywhere_passes_with_the_certificate_and_encrypted_key_as_files()
 {
    let emulator = roles_anywhere::emulator(None).await;
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    let browser = Browser::start(1100, 2400).await;
    browser.open(&studio.url).await;
    browser.type_into("conn-id", "conn-studio-ra").await;
    browser
        .select("conn-authenticationType", "ROLES_ANYWHERE")
        .await;
    browser.type_into("conn-endpointUrl", &sqs_endpoint()).await;
    browser.type_into("conn-profileArn", PROFILE).await;
    browser.type_into("conn-roleArn", ROLE).await;
    browser.type_into("conn-trustAnchorArn", ANCHOR).await;
    browser
        .type_into("conn-rolesAnywhereEndpointUrl", &emulator.url())
        .await;
    browser
        .choose_file(
            "conn-publicCertificate-upload",
            &key_file("leaf-p256-chain-cert.pem"),
        )
        .await;
    browser
        .choose_file(
            "conn-certificateChain-upload",
            &key_file("chain-intermediate.pem"),
        )
        .await;
    browser
        .choose_file(
            "conn-privateKey-upload",
            &key_file("p256-key-pkcs8-encrypted.pem"),
        )
        .await;
    browser
        .wait_for(
            "the files to be read",
            "document.getElementById('conn-privateKey').value.includes('ENCRYPTED PRIVATE KEY') && \
             document.getElementById('conn-publicCertificate').value.includes('BEGIN CERTIFICATE') && \
             document.getElementById('conn-certificateChain').value.includes('BEGIN CERTIFICATE')",
        )
        .await;
    browser
        .type_into("conn-privateKeyPassphrase", PASSPHRASE)
        .await;
    test_connection(&browser).await;
    let status = browser.text("conn-status").await;
    let steps = browser.text("conn-steps").await;
    assert!(
        status.contains("Test Connection passed"),
        "{status}\n{steps}"
    );
    assert!(steps.contains("Temporary credentials obtained"), "{steps}");
    assert_eq!(emulator.stats().accepted, 1);
    // The key and the passphrase are set, not shown.
    assert!(browser.shown("conn-privateKey-set").await);
    assert!(browser.shown("conn-privateKeyPassphrase-set").await);
    let key = std::fs::read_to_string(key_file("p256-key-pkcs8-encrypted.pem")).unwrap();
    let key_lines: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let html = browser.html().await;
    for line in key_lines {
        assert!(
            !html.contains(line),
            "the page's HTML holds the private key"
        );
    }
    assert!(!html.contains(&format!("value=\"{PASSPHRASE}\"")));
    browser
        .screenshot("test-connection-roles-anywhere", "conn-privateKey-field")
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_picked_from_browse_gets_three_pasted_documents_with_three_results() {
    secret_scan::register("the studio page tests' secret key", PAGE_SECRET);
    let queue = unique_queue("studio-pick");
    let url = create_queue(&queue, &[]).await;
    let _other = create_queue(&unique_queue("studio-other"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let studio = Studio::start(dir.path());
    let browser = Browser::start(1100, 1800).await;
    browser.open(&studio.url).await;
    fill_access_keys(&browser, "conn-browse", &sqs_endpoint()).await;

    browser.click("tab-operation").await;
    browser.select("op-type", "SEND").await;
    assert!(
        browser
            .text("op-type-help")
            .await
            .contains("Sends each document")
    );
    assert_eq!(
        browser.prop("op-batch", "checked").await.as_deref(),
        Some("true"),
        "a default"
    );
    assert_eq!(
        browser.attr("op-delaySeconds", "max").await.as_deref(),
        Some("900")
    );
    browser.type_into("op-queue-filter", &queue).await;
    browser.click("op-queue-browse").await;
    browser
        .wait_for(
            "the queues found",
            "document.querySelectorAll('#op-queue-results option').length > 0",
        )
        .await;
    let found = browser
        .script("return Array.from(document.querySelectorAll('#op-queue-results option')).map(o => o.value)", vec![])
        .await;
    assert_eq!(found, json!([queue]), "only the queue the filter names");
    browser.select("op-queue-results", &queue).await;
    assert_eq!(
        browser.prop("op-queue", "value").await.as_deref(),
        Some(queue.as_str())
    );

    let documents = "{\"data\": \"order 1\", \"properties\": {\"sqs.attribute.color\": \"blue\"}}\n\
                     {\"data\": \"order 2\"}\n\
                     {\"data\": \"order 3\", \"properties\": {\"sqs.attribute.color\": \"red\"}}\n";
    browser.paste("op-documents", documents).await;
    browser.click("op-run").await;
    browser
        .wait_for(
            "the results",
            "document.querySelectorAll('#op-results > li').length > 0",
        )
        .await;
    let statuses = browser
        .script("return Array.from(document.querySelectorAll('#op-results > li .badge')).map(b => b.textContent)", vec![])
        .await;
    assert_eq!(statuses, json!(["SUCCESS", "SUCCESS", "SUCCESS"]));
    let results = browser.text("op-results").await;
    assert!(
        results.contains("sqs.messageId") && results.contains("sqs.attribute.color"),
        "{results}"
    );
    assert!(
        browser
            .text("op-status")
            .await
            .contains("3 results: 3 SUCCESS")
    );
    browser.screenshot("try-it-send", "try-heading").await;
    let messages = drain_visible(&url, 30).await;
    assert_eq!(messages.len(), 3, "three messages on the queue");

    // RECEIVE's options: a multiselect of the system attributes, a list with its default, a
    // number with its range.
    browser.select("op-type", "RECEIVE").await;
    assert_eq!(
        browser
            .id("op-systemAttributes")
            .await
            .tag_name()
            .await
            .unwrap(),
        "fieldset"
    );
    let choices = browser
        .script(
            "return document.querySelectorAll('#op-systemAttributes input[type=checkbox]').length",
            vec![],
        )
        .await;
    assert_eq!(choices, json!(10));
    assert_eq!(
        browser
            .prop("op-messageAttributes", "value")
            .await
            .as_deref(),
        Some("All")
    );
    assert_eq!(
        browser.attr("op-maxMessages", "min").await.as_deref(),
        Some("-1")
    );
    assert_eq!(
        browser.attr("op-maxMessages", "max").await.as_deref(),
        Some("10000")
    );
    assert_eq!(
        browser.prop("op-verifyMd5", "checked").await.as_deref(),
        Some("true")
    );

    // A listener is configured here, but not tried.
    browser.select("op-type", "LISTEN").await;
    assert!(browser.shown("try-listener-note").await);
    assert_eq!(
        browser.prop("op-run", "disabled").await.as_deref(),
        Some("true")
    );
    assert_page_holds_no_secret(&browser, &[PAGE_SECRET]).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_connection_and_operation_run_unchanged_with_test_harness_run() {
    secret_scan::register("the studio page tests' secret key", PAGE_SECRET);
    let queue = unique_queue("studio-saved");
    let url = create_queue(&queue, &[]).await;
    let root = tempfile::tempdir().unwrap();
    let components = root.path().join("components");
    std::fs::create_dir_all(&components).unwrap();
    let studio = Studio::start(&components);
    let browser = Browser::start(1100, 1500).await;
    browser.open(&studio.url).await;
    fill_access_keys(&browser, "conn-saved", &sqs_endpoint()).await;
    browser.click("conn-save").await;
    browser
        .wait_for(
            "the connection to be saved",
            "document.getElementById('conn-status').textContent.includes('Saved')",
        )
        .await;
    let status = browser.text("conn-status").await;
    assert!(
        status.contains("Saved conn-saved.json") && status.contains("secrets/conn-saved.secretKey"),
        "{status}"
    );

    browser.click("tab-operation").await;
    browser.select("op-type", "SEND").await;
    browser.type_into("op-id", "op-send-saved").await;
    browser.type_into("op-queue", &queue).await;
    browser.click("op-save").await;
    browser
        .wait_for(
            "the operation to be saved",
            "document.getElementById('op-status').textContent.includes('Saved')",
        )
        .await;
    assert_page_holds_no_secret(&browser, &[PAGE_SECRET]).await;

    // The saved files: the format of examples/components, no secret in them.
    let connection = std::fs::read_to_string(components.join("conn-saved.json")).unwrap();
    assert!(
        !connection.contains(PAGE_SECRET),
        "the saved file holds the secret"
    );
    let connection: serde_json::Value = serde_json::from_str(&connection).unwrap();
    assert_eq!(
        connection,
        json!({"id": "conn-saved", "connector": "amazon-sqs", "kind": "connection", "fields": {
            "authenticationType": "ACCESS_KEYS", "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "secretKey": {"file": "secrets/conn-saved.secretKey"}, "region": "us-east-1",
            "endpointUrl": sqs_endpoint()}})
    );
    let operation: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(components.join("op-send-saved.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(operation["operationType"], "SEND");
    assert_eq!(operation["fields"]["queue"], json!(queue));

    // The file list shows them, and a saved file opens again with its secret masked.
    browser.click("file-refresh").await;
    browser
        .wait_for("the file list", "Array.from(document.querySelectorAll('#file-select option')).some(o => o.value === 'conn-saved.json')")
        .await;
    browser.select("file-select", "conn-saved.json").await;
    browser.click("file-open").await;
    browser
        .wait_for(
            "the file to open",
            "document.getElementById('files-status').textContent.includes('Opened')",
        )
        .await;
    // Its secret is a reference to the secret file, shown as such.
    assert_eq!(
        browser
            .prop("conn-secretKey-source-file", "checked")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        browser
            .prop("conn-secretKey-path", "value")
            .await
            .as_deref(),
        Some("secrets/conn-saved.secretKey")
    );
    assert_page_holds_no_secret(&browser, &[PAGE_SECRET]).await;
    browser.close().await;

    std::fs::write(
        root.path().join("documents.jsonl"),
        "{\"data\": \"saved 1\"}\n{\"data\": \"saved 2\"}\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("saved.process.json"),
        json!({"name": "studio-saved", "components": "components", "steps": [
            {"name": "send", "connection": "conn-saved", "operation": "op-send-saved", "input": "documents.jsonl"}]})
        .to_string(),
    )
    .unwrap();
    let process = root.path().join("saved.process.json");
    let output_dir = root.path().join("output");
    let output = tokio::task::spawn_blocking(move || {
        scanned_output(
            std::process::Command::new(harness())
                .args(["run", "--process"])
                .arg(&process)
                .arg("--output")
                .arg(&output_dir)
                .arg("--plugin")
                .arg(plugin()),
        )
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(drain_visible(&url, 30).await.len(), 2);
}
