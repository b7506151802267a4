//! A host that closes the plugin's stdout in the middle of a SEND: the plugin notices at once
//! (not at its next response), starts no further SQS call, and exits. Checked on the server: the
//! messages on the queue stop growing once the output closed.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::secret_scan::SecretScan;
use support::*;
use test_harness::fault_proxy::{FaultKind, FaultProxy, FaultProxyConfig, FaultRule};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Documents in the SEND, ten per SendMessageBatch.
const DOCUMENTS: usize = 200;

/// How long the proxy holds each SendMessageBatch answer: the SEND would take
/// `DOCUMENTS / 10` times this, one call at a time.
const BATCH_DELAY: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread")]
async fn closing_stdout_mid_send_stops_the_sending_and_the_plugin_exits() {
    let queue = create_queue(&unique_queue("output-closed"), &[]).await;
    let mut config = FaultProxyConfig::new(sqs_endpoint());
    config.rules = vec![FaultRule::new(FaultKind::Delay, 1.0).for_actions(["SendMessageBatch"])];
    config.delay = BATCH_DELAY;
    let proxy = FaultProxy::start(config).await.expect("the proxy starts");

    let mut child = tokio::process::Command::new(plugin())
        .arg("serve")
        .env("CONNECTOR_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the plugin starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let scan = SecretScan::new();
    let stderr = tokio::spawn({
        let scan = scan.clone();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        async move {
            while let Ok(Some(line)) = lines.next_line().await {
                scan.scan_line("stderr", line.as_bytes());
            }
        }
    });
    let mut send = async |value: Value| {
        let mut line = serde_json::to_vec(&value).unwrap();
        line.push(b'\n');
        stdin.write_all(&line).await.unwrap();
        stdin.flush().await.unwrap();
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "1.1", "host": {"name": "test", "version": "1"}}}))
    .await;
    let initialized = stdout.next_line().await.unwrap().expect("an answer");
    scan.scan_line("stdout", initialized.as_bytes());
    assert!(initialized.contains("\"result\""), "{initialized}");

    let connection = access_key_component("conn-output-closed", &proxy.url(), MOTO_SECRET);
    let documents: Vec<Value> = (0..DOCUMENTS)
        .map(|i| json!({"data": format!("closed-{i}")}))
        .collect();
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "execute", "params": {
        "executionId": "e-output-closed", "processName": "test", "connection": connection,
        "operation": {"id": "op-send-closed", "connector": "amazon-sqs", "kind": "operation",
                      "operationType": "SEND",
                      "fields": {"queue": queue, "maxConcurrentRequests": 1}},
        "documents": documents}}),
    )
    .await;

    // Some batches went out; then the host closes its end of stdout.
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue_depth(&queue).await.0 < 10 {
        assert!(Instant::now() < deadline, "nothing was sent within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stdout);
    let closed_at = Instant::now();

    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the plugin exits once its stdout is closed")
        .unwrap();
    let exited_after = closed_at.elapsed();
    let at_exit = queue_depth(&queue).await.0;
    tokio::time::sleep(BATCH_DELAY * 3).await;
    let later = queue_depth(&queue).await.0;
    assert_eq!(at_exit, later, "messages were sent after the plugin exited");
    assert!(
        at_exit < DOCUMENTS as u64 / 2,
        "the SEND went on after stdout closed: {at_exit} of {DOCUMENTS} messages sent \
         (the plugin exited {exited_after:?} after the close, with {status})"
    );
    // At most the one call in flight when the output closed finished after it.
    assert!(
        exited_after < BATCH_DELAY * 6,
        "the plugin took {exited_after:?} to exit"
    );
    stderr.await.unwrap();
    assert!(scan.lines_scanned() > 2, "the plugin's stderr was read");
    scan.assert_clean();
}
