//! Nothing lost under faults. SEND and RECEIVE run through the plugin process with the harness's
//! fault-injecting proxy between the connector and moto; afterwards the queue is read on the
//! server itself, with the proxy bypassed, and every row must show:
//! - exactly one result per document;
//! - no message lost (a SUCCESS of SEND is on the queue; a message RECEIVE deleted is in its
//!   outputs; nothing disappears from the server unseen);
//! - no false failure (a FAILURE is not on the queue, or it says its outcome is unknown);
//! - duplicates on the server only after an ambiguous fault, and each one reported in its result.
//!
//! With `RELIABILITY_DIR` set, each test writes its rows there as a Markdown table
//! (`scripts/reliability.sh` turns them into RELIABILITY.md).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use connector_sdk::{Component, Document, ResultStatus};
use serde_json::json;
use support::*;
use test_harness::fault_proxy::{FaultKind, FaultProxy, FaultProxyConfig, FaultRule};

/// Documents per SEND row, messages per RECEIVE row.
const SEND_DOCUMENTS: usize = 200;
const RECEIVE_MESSAGES: usize = 100;
/// The share of the chosen calls that get the fault.
const RATE: f64 = 0.25;
/// The plugin's attempt timeout in these tests, and the proxy's delay beyond it.
const ATTEMPT_TIMEOUT_MS: u64 = 2_500;
const DELAY: Duration = Duration::from_millis(3_500);
/// The visibility timeout RECEIVE uses, so what it leaves is visible again soon.
const VISIBILITY_SECONDS: u64 = 3;

/// Faults after which the client cannot know whether the call took effect.
fn ambiguous(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::ResetAfter | FaultKind::Delay | FaultKind::Truncate
    )
}

async fn plugin() -> ScannedPlugin {
    start_plugin_with(|command| {
        command.env.push((
            sqs_connector::client::ATTEMPT_TIMEOUT_ENV.into(),
            ATTEMPT_TIMEOUT_MS.to_string(),
        ))
    })
    .await
}

async fn fault_proxy(rules: Vec<FaultRule>, seed: u64) -> FaultProxy {
    let mut config = FaultProxyConfig::new(sqs_endpoint());
    config.rules = rules;
    config.seed = seed;
    config.delay = DELAY;
    FaultProxy::start(config).await.expect("the proxy starts")
}

fn connection_through(proxy: &FaultProxy, id: &str) -> Component {
    serde_json::from_value(access_key_component(
        id,
        &proxy.url(),
        "moto-accepts-any-secret",
    ))
    .expect("a connection component")
}

/// One line of the reliability table.
#[derive(Debug, Default)]
struct Row {
    mode: String,
    fault: String,
    faults: u64,
    documents: usize,
    results: usize,
    success: usize,
    application_error: usize,
    failure: usize,
    lost: usize,
    duplicated: usize,
    false_failures: usize,
    unreported_duplicates: usize,
    notes: String,
    wall: Duration,
}

fn write_rows(section: &str, title: &str, rows: &[Row]) {
    let Ok(dir) = std::env::var("RELIABILITY_DIR") else {
        return;
    };
    let mut text = format!(
        "## {title}\n\n| fault | faults injected | documents | results | SUCCESS | APPLICATION_ERROR | FAILURE | lost | duplicated on server | duplicates not reported | false failures | wall time | notes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    );
    for row in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} |\n",
            row.fault,
            row.faults,
            row.documents,
            row.results,
            row.success,
            row.application_error,
            row.failure,
            row.lost,
            row.duplicated,
            row.unreported_duplicates,
            row.false_failures,
            row.wall.as_secs_f64(),
            row.notes
        ));
    }
    std::fs::create_dir_all(&dir).expect("RELIABILITY_DIR can be created");
    std::fs::write(format!("{dir}/{section}.md"), text).expect("the rows are written");
}

fn check(row: &Row, kind: FaultKind) {
    let label = format!("{} under {}", row.mode, row.fault);
    assert_eq!(
        row.results, row.documents,
        "{label}: one result per document"
    );
    assert_eq!(row.lost, 0, "{label}: no message may be lost: {row:?}");
    assert_eq!(
        row.false_failures, 0,
        "{label}: a FAILURE on the queue must say its outcome is unknown: {row:?}"
    );
    assert_eq!(
        row.unreported_duplicates, 0,
        "{label}: every duplicate on the server must be reported in its result: {row:?}"
    );
    if !ambiguous(kind) {
        assert_eq!(
            row.duplicated, 0,
            "{label}: duplicates only after ambiguous faults: {row:?}"
        );
    }
    assert!(
        row.faults > 0,
        "{label}: the proxy injected no fault: {row:?}"
    );
}

fn unique_body(run: &str, i: usize) -> String {
    format!("{{\"order\":{i},\"run\":\"{run}\",\"text\":\"payload ünïcødé {i}\"}}")
}

/// SEND of unique documents through the proxy with `kind` on the send calls; the queue is then
/// read on the server.
async fn send_row(kind: FaultKind, fifo: bool, seed: u64) -> Row {
    let name = unique_queue(&format!("faults-send-{}", kind.name()));
    let (name, attributes): (String, Vec<(&str, &str)>) = if fifo {
        (format!("{name}.fifo"), vec![("FifoQueue", "true")])
    } else {
        (name, vec![])
    };
    let url = create_queue(&name, &attributes).await;
    let proxy = fault_proxy(
        vec![FaultRule::new(kind, RATE).for_actions(["SendMessageBatch"])],
        seed,
    )
    .await;
    let plugin = plugin().await;
    let connection = connection_through(&proxy, &format!("conn-faults-{}", kind.name()));
    let send = operation("op-send-faults", "SEND", json!({"queue": url}));
    let run = unique_queue("run");
    let documents: Vec<Document> = (0..SEND_DOCUMENTS)
        .map(|i| {
            let document = Document::new(unique_body(&run, i));
            if fifo {
                document
                    .with_property("sqs.messageGroupId", format!("g{}", i % 7))
                    .with_property("sqs.messageDeduplicationId", format!("{run}-{i}"))
            } else {
                document
            }
        })
        .collect();
    let started = Instant::now();
    let results = execute(&plugin, &connection, &send, documents.clone()).await;
    let wall = started.elapsed();
    let faults = proxy.stats().faults(kind);
    drop(proxy);
    let _ = plugin.shutdown().await;

    let mut on_server: HashMap<String, usize> = HashMap::new();
    for message in take_all(&url).await {
        *on_server
            .entry(message.body().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let mut row = Row {
        mode: if fifo { "SEND (FIFO)" } else { "SEND" }.into(),
        fault: kind.name().into(),
        faults,
        documents: documents.len(),
        results: results.len(),
        wall,
        ..Row::default()
    };
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for (result, document) in results.iter().zip(&documents) {
        let body = document.text().unwrap_or_default();
        let copies = on_server.get(body).copied().unwrap_or(0);
        let code = result.status_code.as_deref().unwrap_or_default();
        if !code.is_empty() {
            *codes.entry(code.to_owned()).or_default() += 1;
        }
        match result.status {
            ResultStatus::Success => {
                row.success += 1;
                if copies == 0 {
                    row.lost += 1;
                }
            }
            ResultStatus::ApplicationError => row.application_error += 1,
            ResultStatus::Failure => {
                row.failure += 1;
                if copies > 0 && code != "OUTCOME_UNKNOWN" {
                    row.false_failures += 1;
                }
            }
        }
        if copies > 1 {
            row.duplicated += copies - 1;
            if code != "POSSIBLE_DUPLICATE" && code != "OUTCOME_UNKNOWN" {
                row.unreported_duplicates += 1;
            }
        }
        assert!(
            !result
                .message
                .as_deref()
                .unwrap_or_default()
                .contains("not as Amazon SQS"),
            "a network fault is not a wrong endpoint: {result:?}"
        );
        assert_eq!(
            result.outputs.len(),
            1,
            "every SEND result carries one output document: {result:?}"
        );
    }
    row.notes = codes
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        row.application_error, 0,
        "valid documents are never refused under faults: {results:?}"
    );
    row
}

/// RECEIVE `-1` of a queue holding unique messages, through the proxy with `kind` on the
/// receive (and delete) calls; then what is left on the server is read.
async fn receive_row(kind: FaultKind, delete: bool, seed: u64) -> Row {
    let name = unique_queue(&format!("faults-recv-{}", kind.name()));
    let url = create_queue(&name, &[]).await;
    let run = unique_queue("run");
    let bodies: Vec<String> = (0..RECEIVE_MESSAGES)
        .map(|i| unique_body(&run, i))
        .collect();
    send_bodies(&url, &bodies).await;
    let proxy = fault_proxy(
        vec![FaultRule::new(kind, RATE).for_actions(["ReceiveMessage", "DeleteMessageBatch"])],
        seed,
    )
    .await;
    let plugin = plugin().await;
    let connection = connection_through(&proxy, &format!("conn-faults-r-{}", kind.name()));
    let receive = operation(
        "op-receive-faults",
        "RECEIVE",
        json!({"queue": url, "maxMessages": -1, "visibilityTimeoutSeconds": VISIBILITY_SECONDS,
               "deleteAfterRead": delete, "executionTimeoutSeconds": 120}),
    );
    let started = Instant::now();
    let results = execute(&plugin, &connection, &receive, vec![Document::default()]).await;
    // Shutting down waits for the deletes that follow delivery.
    let _ = plugin.shutdown().await;
    let wall = started.elapsed();
    let stats = proxy.stats();
    drop(proxy);

    let result = &results[0];
    let outputs: Vec<&Document> = result.outputs.iter().collect();
    let mut seen_ids = HashSet::new();
    let mut seen_bodies = HashSet::new();
    for output in &outputs {
        let id = output.property("sqs.messageId").unwrap_or_default();
        assert!(
            seen_ids.insert(id.to_owned()),
            "message {id} is in the outputs twice"
        );
        seen_bodies.insert(output.text().unwrap_or_default().to_owned());
    }
    tokio::time::sleep(Duration::from_secs(VISIBILITY_SECONDS) + Duration::from_millis(500)).await;
    let remaining: HashSet<String> = take_all(&url)
        .await
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    let mut row = Row {
        mode: if delete {
            "RECEIVE -1, delete after read"
        } else {
            "RECEIVE -1"
        }
        .into(),
        fault: kind.name().into(),
        faults: stats.faults(kind),
        documents: 1,
        results: results.len(),
        wall,
        ..Row::default()
    };
    match result.status {
        ResultStatus::Success => row.success = 1,
        ResultStatus::ApplicationError => row.application_error = 1,
        ResultStatus::Failure => row.failure = 1,
    }
    // Lost: gone from the server without having been passed on.
    row.lost = bodies
        .iter()
        .filter(|b| !remaining.contains(*b) && !seen_bodies.contains(*b))
        .count();
    if !delete {
        let gone = bodies.iter().filter(|b| !remaining.contains(*b)).count();
        assert_eq!(gone, 0, "RECEIVE without delete removed {gone} messages");
    }
    let passed_on_and_kept = bodies
        .iter()
        .filter(|b| remaining.contains(*b) && seen_bodies.contains(*b))
        .count();
    // A message whose digest was corrupted is not passed on from that answer; it may be read
    // again, intact, later in the same execution.
    for id in &stats.corrupted_message_ids {
        if !seen_ids.contains(id) {
            assert!(
                result
                    .message
                    .as_deref()
                    .unwrap_or_default()
                    .contains(id.as_str()),
                "the corrupted message {id} is reported: {:?}",
                result.message
            );
        }
    }
    let code = result.status_code.clone().unwrap_or_default();
    if result.status != ResultStatus::Success {
        eprintln!("{} under {}: {:?}", row.mode, row.fault, result.message);
    }
    let unread = bodies
        .iter()
        .filter(|b| remaining.contains(*b) && !seen_bodies.contains(*b))
        .count();
    row.notes = format!(
        "{} of {} messages passed on, {unread} left on the queue unread{}{}",
        outputs.len(),
        bodies.len(),
        if delete {
            format!(", {passed_on_and_kept} passed on and not deleted (delivered again later)")
        } else {
            String::new()
        },
        if code.is_empty() {
            String::new()
        } else {
            format!(", {code}")
        }
    );
    row.documents = 1;
    row
}

/// The tests of this file run one at a time: moto serves one request at a time, and a server
/// slowed down by another test's load would time out calls this test did not fault.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn send_rows(fifo: bool) -> Vec<Row> {
    let kinds: &[FaultKind] = if fifo {
        // What FIFO adds: no duplicate after the faults that may have taken effect.
        &[
            FaultKind::ResetBefore,
            FaultKind::ResetAfter,
            FaultKind::Delay,
            FaultKind::Truncate,
        ]
    } else {
        &[
            FaultKind::InternalError,
            FaultKind::Throttling,
            FaultKind::ResetBefore,
            FaultKind::ResetAfter,
            FaultKind::Delay,
            FaultKind::Truncate,
        ]
    };
    // One row at a time: moto serves one request at a time, and a row's timing should be its own.
    let mut rows = Vec::new();
    for (seed, kind) in kinds.iter().enumerate() {
        let started = Instant::now();
        let row = send_row(*kind, fifo, seed as u64 + 11).await;
        eprintln!("{row:?} (row took {:?})", started.elapsed());
        rows.push(row);
    }
    for (row, kind) in rows.iter().zip(kinds) {
        check(row, *kind);
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn send_loses_nothing_and_reports_every_duplicate_under_every_fault() {
    let _one = ONE_AT_A_TIME.lock().await;
    let rows = send_rows(false).await;
    write_rows("1-send", "SEND, standard queue", &rows);
    let ambiguous_rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.fault == "reset-after" || r.fault == "truncate")
        .collect();
    assert!(
        ambiguous_rows
            .iter()
            .any(|r| r.notes.contains("POSSIBLE_DUPLICATE")),
        "after faults that may have taken effect, some results say possible duplicate: {ambiguous_rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn send_to_a_fifo_queue_makes_no_duplicate_under_any_fault() {
    let _one = ONE_AT_A_TIME.lock().await;
    let rows = send_rows(true).await;
    write_rows(
        "2-send-fifo",
        "SEND, FIFO queue (explicit deduplication ids)",
        &rows,
    );
    for row in &rows {
        assert_eq!(
            row.duplicated, 0,
            "a FIFO retry carries the same deduplication id: {row:?}"
        );
    }
}

async fn receive_rows(delete: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for (seed, kind) in FaultKind::ALL.iter().enumerate() {
        let started = Instant::now();
        let row = receive_row(*kind, delete, seed as u64 + 101).await;
        eprintln!("{row:?} (row took {:?})", started.elapsed());
        rows.push(row);
    }
    for (row, kind) in rows.iter().zip(FaultKind::ALL) {
        assert_eq!(row.results, 1, "RECEIVE answers its trigger document");
        assert_eq!(row.lost, 0, "{row:?}");
        assert!(
            row.faults > 0,
            "the proxy injected no fault: {row:?} ({kind:?})"
        );
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_all_passes_every_message_on_once_and_deletes_nothing_under_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    let rows = receive_rows(false).await;
    write_rows(
        "3-receive",
        "RECEIVE -1 (messages stay on the queue)",
        &rows,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn receive_with_delete_after_read_deletes_only_what_it_passed_on_under_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    let rows = receive_rows(true).await;
    write_rows(
        "4-receive-delete",
        "RECEIVE -1 with delete after read",
        &rows,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_answer_is_a_broken_connection_not_a_wrong_endpoint() {
    let _one = ONE_AT_A_TIME.lock().await;
    let url = create_queue(&unique_queue("faults-truncate"), &[]).await;
    let proxy = fault_proxy(
        vec![FaultRule::new(FaultKind::Truncate, 1.0).for_actions(["SendMessageBatch"])],
        7,
    )
    .await;
    let plugin = plugin().await;
    let connection = connection_through(&proxy, "conn-faults-truncate");
    let send = operation("op-send-truncate", "SEND", json!({"queue": url}));
    let results = execute(&plugin, &connection, &send, vec![Document::new("one")]).await;
    let result = &results[0];
    assert_eq!(result.status, ResultStatus::Failure, "{result:?}");
    assert_eq!(result.status_code.as_deref(), Some("OUTCOME_UNKNOWN"));
    let message = result.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("broke") && !message.contains("endpoint URL"),
        "{message}"
    );
    // Every attempt reached the server, so the message is there (four times): the result said
    // the outcome was unknown, not that it was not sent.
    assert!(!drain_visible(&url, 60).await.is_empty());
}
