//! The suite's scan for secrets in what plugins write: it finds a secret in either stream, in
//! JSON-escaped form and as a line of a private key's body, names it by its label and never
//! shows it; and a real plugin that writes a secret of the test is caught.

mod support;

use connector_sdk::{Document, ResultStatus};
use serde_json::json;
use support::secret_scan::{self, Hit, ScanGuard, SecretScan};
use support::*;

/// Checks that no hit shows `secret`, and returns the hits' labels and streams.
fn labels(hits: &[Hit], secret: &str) -> Vec<(String, String)> {
    for hit in hits {
        assert!(!hit.context.contains(secret), "a hit shows the secret");
        assert!(!hit.label.contains(secret), "a label shows the secret");
    }
    hits.iter()
        .map(|hit| (hit.label.clone(), hit.stream.clone()))
        .collect()
}

#[test]
fn the_scan_finds_each_secret_by_label_without_showing_it() {
    let secret = "scan-unit-secret-5b0d7c1e9a";
    secret_scan::register("the unit test's secret", secret);
    let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUNITTESTKEYLINE\nAAAA\n-----END PRIVATE KEY-----\n";
    secret_scan::register_pem("the unit test's key", key);
    let scan = SecretScan::new();
    scan.scan_line(
        "stderr",
        b"{\"level\":\"DEBUG\",\"message\":\"nothing to see\"}",
    );
    scan.scan_line("stdout", format!("{{\"result\":\"{secret}\"}}").as_bytes());
    // A PEM logged as a JSON string: its line ends escaped; found by a body line.
    let logged = serde_json::to_string(key).unwrap();
    scan.scan_line("stderr", format!("{{\"key\":{logged}}}").as_bytes());
    // A line too short to be a secret on its own is not one.
    scan.scan_line("stderr", b"AAAA");
    let hits = scan.take_hits();
    assert_eq!(
        labels(&hits, secret),
        [
            ("the unit test's secret".to_owned(), "stdout".to_owned()),
            (
                "the unit test's key (body line 1)".to_owned(),
                "stderr".to_owned()
            ),
        ]
    );
    assert!(
        hits[0].context.contains("<secret: the unit test's secret>"),
        "{:?}",
        hits[0].context
    );
    assert!(!hits[1].context.contains("UNITTESTKEYLINE"));
    assert_eq!(scan.lines_scanned(), 4);
    scan.assert_clean();
}

#[test]
#[should_panic(expected = "the guarded test's secret on stderr")]
fn a_scan_with_a_hit_fails_the_test_when_it_is_dropped() {
    let secret = "scan-guarded-secret-77c2f0";
    secret_scan::register("the guarded test's secret", secret);
    let guard = ScanGuard(SecretScan::new());
    guard
        .0
        .scan_line("stderr", format!("secretKey={secret}").as_bytes());
    drop(guard);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_writes_a_secret_of_the_test_is_caught() {
    let queue = unique_queue("scan");
    let url = create_queue(&queue, &[]).await;
    // The plugin echoes the document it sent: a secret put in a body reaches its stdout, as a
    // secret would that the plugin logged.
    let secret = "scan-leaked-secret-0f1e2d3c4b5a";
    secret_scan::register("the leaked secret", secret);
    let plugin = start_plugin().await;
    let send = operation("op-send-scan", "SEND", json!({"queue": url}));
    let results = execute(
        &plugin,
        &moto_connection("conn-scan"),
        &send,
        vec![Document::new(format!("the body holds {secret}"))],
    )
    .await;
    assert_eq!(results[0].status, ResultStatus::Success, "{results:?}");
    let hits = plugin.scan().take_hits();
    assert!(
        labels(&hits, secret)
            .iter()
            .any(|(label, stream)| label == "the leaked secret" && stream == "stdout"),
        "expected the scan to find the secret on stdout; hits: {hits:?}"
    );
    assert!(plugin.scan().lines_scanned() >= 2);
    drop(take_all(&url).await);
}
