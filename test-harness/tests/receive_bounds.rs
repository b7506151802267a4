//! RECEIVE bounded and at least once: it returns on a queue that gives the same message back at
//! once and on a busy queue, folds a message read twice into one output, gives each FIFO
//! ReceiveMessage call its own attempt id, and deletes (with Delete after read) only what reached
//! the host. Also: failed SEND and DELETE results carry their input document.

mod support;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use connector_sdk::{Document, ResultStatus};
use serde_json::{Value, json};
use support::*;
use test_harness::fault_proxy::{FaultKind, FaultProxy, FaultProxyConfig, FaultRule};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn preload(url: &str, count: usize, tag: &str) -> Vec<String> {
    let bodies: Vec<String> = (0..count).map(|i| format!("{tag} message {i}")).collect();
    send_bodies(url, &bodies).await;
    bodies
}

fn bodies_of(documents: &[Document]) -> Vec<String> {
    documents
        .iter()
        .map(|d| d.text().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_given_back_at_once_is_one_output_and_the_read_ends() {
    let url = create_queue(&unique_queue("visibility-zero"), &[]).await;
    preload(&url, 3, "v0").await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-visibility-zero");
    for (max, expected) in [(-1, 3usize), (10, 3)] {
        let receive = operation(
            "op-receive-v0",
            "RECEIVE",
            json!({"queue": url, "maxMessages": max, "visibilityTimeoutSeconds": 0}),
        );
        let started = Instant::now();
        let results = tokio::time::timeout(
            Duration::from_secs(40),
            execute(&plugin, &connection, &receive, vec![Document::default()]),
        )
        .await
        .unwrap_or_else(|_| panic!("RECEIVE {max} with visibility 0 did not return in 40 s"));
        let outputs = &results[0].outputs;
        let ids: HashSet<&str> = outputs
            .iter()
            .map(|d| d.property("sqs.messageId").unwrap())
            .collect();
        assert_eq!(
            (outputs.len(), ids.len()),
            (expected, expected),
            "RECEIVE {max}: each message once: {:?}",
            bodies_of(outputs)
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_all_on_a_busy_queue_stops_at_its_execution_timeout() {
    let url = create_queue(&unique_queue("busy"), &[]).await;
    preload(&url, 20, "busy").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = tokio::spawn({
        let url = url.clone();
        let stop = stop.clone();
        async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                preload(&url, 10, &format!("busy {n}")).await;
                n += 1;
            }
        }
    });
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-busy");
    let receive = operation(
        "op-receive-busy",
        "RECEIVE",
        json!({"queue": url, "maxMessages": -1, "executionTimeoutSeconds": 2,
               "maxConcurrentRequests": 1}),
    );
    let started = Instant::now();
    let results = tokio::time::timeout(
        Duration::from_secs(60),
        execute(&plugin, &connection, &receive, vec![Document::default()]),
    )
    .await
    .expect("RECEIVE -1 on a busy queue returns");
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.await.unwrap();
    let result = &results[0];
    assert_eq!(result.status, ResultStatus::Success, "{result:?}");
    assert!(
        result
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("execution timeout of 2 s"),
        "the result says why reading stopped: {:?}",
        result.message
    );
    assert!(!result.outputs.is_empty());
    assert!(
        took < Duration::from_secs(15),
        "stopped soon after 2 s: {took:?}"
    );
}

/// The FIFO attempt ids of every ReceiveMessage call that went through a recording proxy.
fn attempt_ids(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.to_ascii_lowercase().contains("amazonsqs.receivemessage"))
        .filter_map(|r| {
            let body = &r[r.find("\r\n\r\n")? + 4..];
            let value: Value = serde_json::from_str(body).ok()?;
            value["ReceiveRequestAttemptId"].as_str().map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_fifo_receive_call_has_its_own_attempt_id_unless_the_document_gives_one() {
    let name = format!("{}.fifo", unique_queue("attempts"));
    let url = create_queue(
        &name,
        &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")],
    )
    .await;
    let (proxy_url, requests) = recording_proxy(sqs_endpoint()).await;
    let plugin = start_plugin().await;
    let connection: connector_sdk::Component = serde_json::from_value(access_key_component(
        "conn-attempts",
        &proxy_url,
        "moto-accepts-any-secret",
    ))
    .unwrap();
    let receive = operation(
        "op-receive-attempts",
        "RECEIVE",
        json!({"queue": url, "maxMessages": 1}),
    );
    // Two trigger documents in one execution, twice with the same execution id: four calls.
    for _ in 0..2 {
        let answer = plugin
            .execute(&connector_sdk::host::ExecuteParams {
                execution_id: "same-execution".into(),
                process_name: "test".into(),
                connection: connection.clone(),
                operation: receive.clone(),
                documents: vec![Document::default(), Document::default()],
            })
            .await
            .unwrap();
        assert_eq!(answer.results.len(), 2);
    }
    let ids = attempt_ids(&requests.lock().unwrap());
    assert_eq!(ids.len(), 4, "{ids:?}");
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        4,
        "every call has its own attempt id: {ids:?}"
    );

    requests.lock().unwrap().clear();
    let trigger = Document::default().with_property("sqs.receiveRequestAttemptId", "retry-42");
    execute(&plugin, &connection, &receive, vec![trigger]).await;
    assert_eq!(attempt_ids(&requests.lock().unwrap()), vec!["retry-42"]);
}

/// A plugin process driven line by line, for what `PluginProcess` does not do on purpose.
struct RawPlugin {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: Option<tokio::io::Lines<BufReader<tokio::process::ChildStdout>>>,
    /// Everything the plugin writes is scanned for the suite's secrets; checked when dropped.
    scan: support::secret_scan::ScanGuard,
}

impl RawPlugin {
    async fn start() -> Self {
        let mut child = tokio::process::Command::new(plugin())
            .arg("serve")
            .stdin(Stdio::piped())
            .env("CONNECTOR_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let scan = support::secret_scan::SecretScan::new();
        tokio::spawn({
            let scan = scan.clone();
            let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
            async move {
                while let Ok(Some(line)) = stderr.next_line().await {
                    scan.scan_line("stderr", line.as_bytes());
                }
            }
        });
        let mut plugin = Self {
            child,
            stdin,
            stdout: Some(stdout),
            scan: support::secret_scan::ScanGuard(scan),
        };
        plugin
            .send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"protocolVersion": "1.0", "host": {"name": "raw", "version": "1"}}}))
            .await;
        let answer = plugin.next_line().await;
        assert!(answer.contains("\"result\""), "{answer}");
        plugin
    }

    async fn send(&mut self, value: Value) {
        let mut line = serde_json::to_vec(&value).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn next_line(&mut self) -> String {
        let stdout = self.stdout.as_mut().unwrap();
        let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
            .await
            .expect("the plugin answers")
            .unwrap()
            .expect("a line");
        self.scan.0.scan_line("stdout", line.as_bytes());
        line
    }

    async fn exit(mut self) {
        drop(self.stdin);
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the plugin exits")
            .unwrap();
    }
}

fn execute_request(id: u64, connection: &Value, url: &str, extra: Value) -> Value {
    let mut fields = json!({"queue": url, "maxMessages": -1, "visibilityTimeoutSeconds": 2,
                            "deleteAfterRead": true, "maxConcurrentRequests": 1});
    for (key, value) in extra.as_object().unwrap() {
        fields[key] = value.clone();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "execute", "params": {
        "executionId": unique_queue("raw"), "processName": "test",
        "connection": connection,
        "operation": {"id": "op-raw-receive", "connector": "amazon-sqs", "kind": "operation",
                      "operationType": "RECEIVE", "fields": fields},
        "documents": [{"data": "", "properties": {}}]}})
}

/// Every body on the queue once the visibility timeout of 2 s has passed.
async fn bodies_left(url: &str) -> HashSet<String> {
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    drain_visible(url, 60)
        .await
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_after_read_deletes_nothing_when_the_answer_cannot_reach_the_host() {
    let url = create_queue(&unique_queue("undelivered"), &[]).await;
    let bodies = preload(&url, 15, "undelivered").await;
    let mut plugin = RawPlugin::start().await;
    let connection = access_key_component("conn-undelivered", &sqs_endpoint(), "secret");
    plugin
        .send(execute_request(2, &connection, &url, json!({})))
        .await;
    // Then the host is gone: nobody reads the plugin's stdout any more. (Closed before the
    // request was written, the plugin could exit before reading it, and writing it would fail.)
    plugin.stdout = None;
    plugin.exit().await;
    let left = bodies_left(&url).await;
    assert_eq!(
        left.len(),
        bodies.len(),
        "every message read for an answer that was never delivered is still on the queue"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_receive_deletes_nothing_and_still_answers() {
    let url = create_queue(&unique_queue("cancelled"), &[]).await;
    let bodies = preload(&url, 30, "cancelled").await;
    // Every read takes a second, so the execution is still reading when it is cancelled.
    let mut config = FaultProxyConfig::new(sqs_endpoint());
    config.rules = vec![FaultRule::new(FaultKind::Delay, 1.0).for_actions(["ReceiveMessage"])];
    config.delay = Duration::from_millis(700);
    let proxy = FaultProxy::start(config).await.unwrap();
    let mut plugin = RawPlugin::start().await;
    let connection = access_key_component("conn-cancelled", &proxy.url(), "secret");
    plugin
        .send(execute_request(
            7,
            &connection,
            &url,
            json!({"visibilityTimeoutSeconds": 2}),
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    plugin
        .send(json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 7}}))
        .await;
    let answer: Value = serde_json::from_str(&plugin.next_line().await).unwrap();
    assert_eq!(answer["id"], 7, "{answer}");
    let results = answer["result"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "one result for the trigger document");
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cancelled"),
        "{answer}"
    );
    plugin.exit().await;
    drop(proxy);
    let left = bodies_left(&url).await;
    assert_eq!(
        left.len(),
        bodies.len(),
        "a cancelled execution deletes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_send_and_delete_results_carry_their_input_document() {
    let url = create_queue(&unique_queue("echo-input"), &[]).await;
    let plugin = start_plugin().await;
    let connection = moto_connection("conn-echo-input");
    let send = operation("op-send-echo", "SEND", json!({"queue": url}));
    let bad = Document::new("").with_property("sqs.attribute.kept", "yes");
    let results = execute(
        &plugin,
        &connection,
        &send,
        vec![Document::new("good"), bad.clone()],
    )
    .await;
    assert_eq!(results[1].status, ResultStatus::ApplicationError);
    assert_eq!(results[1].outputs, vec![bad], "{:?}", results[1]);

    let delete = operation("op-delete-echo", "DELETE", json!({"queue": url}));
    let bogus = Document::new("x").with_property("sqs.receiptHandle", "not-a-handle");
    let results = execute(&plugin, &connection, &delete, vec![bogus.clone()]).await;
    assert_ne!(results[0].status, ResultStatus::Success, "{:?}", results[0]);
    assert_eq!(results[0].outputs.len(), 1, "{:?}", results[0]);
    assert_eq!(
        results[0].outputs[0].property("sqs.receiptHandle"),
        Some("not-a-handle")
    );
}
