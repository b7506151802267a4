//! `test-harness listen` against moto through the plugin: a LISTEN step followed by a SEND to a
//! second queue moves every message (each batch answered SUCCESS, so committed); a SEND that
//! fails every document answers FAILURE, which releases the messages; a process that does not
//! start with a listener is refused before anything runs.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

/// The tests share one moto server and count on timing (`--for`): run one at a time, so that a
/// loaded machine does not leave a listener too little of its time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Writes a process `listen` → `forward` (LISTEN on `from`, SEND to `to`) into `dir`.
fn write_process(dir: &Path, from: &str, to: &str, listen_fields: Value) {
    let components = dir.join("components");
    std::fs::create_dir_all(&components).unwrap();
    let write = |name: &str, value: Value| {
        std::fs::write(components.join(name), value.to_string()).unwrap();
    };
    write(
        "conn.json",
        access_key_component("conn", &sqs_endpoint(), MOTO_SECRET),
    );
    let mut fields = json!({"queue": from, "waitTimeSeconds": 1, "visibilityTimeoutSeconds": 30});
    for (key, value) in listen_fields.as_object().unwrap() {
        fields[key] = value.clone();
    }
    write(
        "op-listen.json",
        json!({"id": "op-listen", "connector": "amazon-sqs", "kind": "operation",
               "operationType": "LISTEN", "fields": fields}),
    );
    write(
        "op-forward.json",
        json!({"id": "op-forward", "connector": "amazon-sqs", "kind": "operation",
               "operationType": "SEND", "fields": {"queue": to, "batch": true}}),
    );
    std::fs::write(
        dir.join("listen.process.json"),
        json!({
            "name": "listen-test",
            "components": "components",
            "steps": [
                {"name": "listen", "connection": "conn", "operation": "op-listen"},
                {"name": "forward", "connection": "conn", "operation": "op-forward"}
            ]
        })
        .to_string(),
    )
    .unwrap();
}

/// Runs `test-harness listen` on the process in `dir` with more arguments (off the async
/// runtime); returns the exit code and the output text.
async fn listen(dir: &Path, more: &[&str]) -> (Option<i32>, String) {
    let process = dir.join("listen.process.json").display().to_string();
    let output = dir.join("output").display().to_string();
    let mut args: Vec<String> = [
        "listen",
        "--process",
        &process,
        "--output",
        &output,
        "--grace-period",
        "3",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    args.extend(more.iter().map(|a| (*a).to_owned()));
    let ran = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_harness(&args)
    })
    .await
    .unwrap();
    (ran.status.code(), text(&ran))
}

fn results(dir: &Path) -> Vec<Value> {
    let path = dir.join("output/listen.results.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The documents counted in the `batch …: N documents, …` lines.
fn documents_in_batch_lines(text: &str) -> usize {
    text.lines()
        .filter(|line| line.starts_with("batch ") && line.contains(" succeeded, "))
        .filter_map(|line| {
            line.split(": ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

#[tokio::test]
async fn every_message_goes_through_the_process_once_and_is_committed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let from = create_queue(&unique_queue("listen-from"), &[]).await;
    let to = create_queue(&unique_queue("listen-to"), &[]).await;
    let bodies: Vec<String> = (0..25).map(|i| format!("order {i}")).collect();
    send_bodies(&from, &bodies).await;
    let dir = tempfile::tempdir().unwrap();
    write_process(
        dir.path(),
        &from,
        &to,
        json!({"maxMessages": 10, "pollers": 2}),
    );

    let (code, text) = listen(dir.path(), &["--for", "8"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("status: polling"), "{text}");
    assert!(
        text.contains("stopping (the time is up): listen/stop with drain"),
        "{text}"
    );
    assert_eq!(documents_in_batch_lines(&text), 25, "{text}");
    assert!(
        text.contains("25 documents, 25 succeeded, 0 failed"),
        "{text}"
    );
    let results = results(dir.path());
    assert_eq!(results.len(), 25, "{results:#?}");
    assert!(
        results.iter().all(|r| r["status"] == "SUCCESS"),
        "{results:#?}"
    );

    // Committed: the first queue is empty; the second holds every body once.
    assert_eq!(queue_depth(&from).await, (0, 0), "{text}");
    let mut moved: Vec<String> = take_all(&to)
        .await
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    moved.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(moved, expected);
}

#[tokio::test]
async fn a_document_that_fails_a_step_is_answered_failure_and_its_message_released() {
    let _one = ONE_AT_A_TIME.lock().await;
    let from = create_queue(&unique_queue("listen-fail-from"), &[]).await;
    // A FIFO queue refuses every message without a message group id.
    let to = create_queue(
        &format!("{}.fifo", unique_queue("listen-fail-to")),
        &[("FifoQueue", "true")],
    )
    .await;
    let bodies: Vec<String> = (0..10).map(|i| format!("refused {i}")).collect();
    send_bodies(&from, &bodies).await;
    let dir = tempfile::tempdir().unwrap();
    // Released messages come back after a minute: each is seen once in this test.
    write_process(
        dir.path(),
        &from,
        &to,
        json!({"maxMessages": 10, "releaseDelaySeconds": 60}),
    );

    let (code, text) = listen(dir.path(), &["--for", "4"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(documents_in_batch_lines(&text), 10, "{text}");
    assert!(
        text.contains("10 documents, 0 succeeded, 10 failed"),
        "{text}"
    );
    let results = results(dir.path());
    assert_eq!(results.len(), 10, "{results:#?}");
    for result in &results {
        assert_eq!(result["status"], "FAILURE", "{result}");
        let message = result["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("step forward: "), "{result}");
    }
    // Released, not deleted: every message is still on the first queue; none reached the second.
    let (visible, hidden) = queue_depth(&from).await;
    assert_eq!(visible + hidden, 10, "{text}");
    assert_eq!(queue_depth(&to).await, (0, 0));
}

#[tokio::test]
async fn a_process_that_does_not_start_with_a_listener_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    write_process(dir.path(), "unused-from", "unused-to", json!({}));
    let path = dir.path().join("listen.process.json");
    let mut process: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    process["steps"] = json!([
        {"name": "forward", "connection": "conn", "operation": "op-forward",
         "input": "documents.jsonl"}
    ]);
    std::fs::write(&path, process.to_string()).unwrap();
    let (code, text) = listen(dir.path(), &["--max-batches", "1"]).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("must be an operation of type LISTEN"),
        "{text}"
    );
}

/// Scale out is SQS's own: two harness processes listening on one queue share its messages,
/// and between them every message goes through once, none lost.
#[tokio::test(flavor = "multi_thread")]
async fn two_listening_harnesses_share_a_queue_without_losing_a_message() {
    let _one = ONE_AT_A_TIME.lock().await;
    let from = create_queue(&unique_queue("listen-shared"), &[]).await;
    let to = create_queue(&unique_queue("listen-shared-to"), &[]).await;
    let bodies: Vec<String> = (0..120).map(|i| format!("shared {i}")).collect();
    send_bodies(&from, &bodies).await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Small batches one at a time: a listener alone would need seconds for the queue, so both
    // are at work on it together.
    for dir in [&one, &two] {
        write_process(
            dir.path(),
            &from,
            &to,
            json!({"maxMessages": 2, "maxConcurrentBatches": 1}),
        );
    }
    let ((code_one, text_one), (code_two, text_two)) = tokio::join!(
        listen(one.path(), &["--for", "12"]),
        listen(two.path(), &["--for", "12"])
    );
    assert_eq!(code_one, Some(0), "{text_one}");
    assert_eq!(code_two, Some(0), "{text_two}");
    let (by_one, by_two) = (results(one.path()).len(), results(two.path()).len());
    assert!(
        by_one > 0 && by_two > 0,
        "both took a share: {by_one} and {by_two}"
    );
    assert_eq!(by_one + by_two, bodies.len(), "each message processed once");
    let mut moved: Vec<String> = take_all(&to)
        .await
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    moved.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(moved, expected, "every message forwarded once");
    assert_eq!(queue_depth(&from).await, (0, 0), "nothing left behind");
}

/// Ctrl-C (SIGINT) stops a listening harness with a drained `listen/stop`: it exits at once with
/// every message moved and committed, long before its `--for`.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_listening_with_drain_and_nothing_is_lost() {
    let _one = ONE_AT_A_TIME.lock().await;
    let from = create_queue(&unique_queue("listen-sigint"), &[]).await;
    let to = create_queue(&unique_queue("listen-sigint-to"), &[]).await;
    let bodies: Vec<String> = (0..30).map(|i| format!("sigint {i}")).collect();
    send_bodies(&from, &bodies).await;
    let dir = tempfile::tempdir().unwrap();
    write_process(dir.path(), &from, &to, json!({"maxMessages": 10}));
    let process = dir.path().join("listen.process.json");
    let output = dir.path().join("output");
    // The shell starts the harness, sends it SIGINT after 5 s and exits with its status.
    let script = "\"$0\" listen --process \"$1\" --output \"$2\" --plugin \"$3\" --for 120 & \
                  pid=$!; sleep 5; kill -INT $pid; wait $pid";
    let started = std::time::Instant::now();
    let ran = tokio::task::spawn_blocking(move || {
        scanned_output(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg(harness())
                .arg(&process)
                .arg(&output)
                .arg(plugin()),
        )
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let text = text(&ran);
    assert_eq!(ran.status.code(), Some(0), "{text}");
    assert!(text.contains("stopping (interrupted)"), "{text}");
    assert!(
        took < std::time::Duration::from_secs(30),
        "took {took:?}: {text}"
    );
    assert_eq!(results(dir.path()).len(), bodies.len(), "{text}");
    assert_eq!(take_all(&to).await.len(), bodies.len());
    // The last batch's deletes follow its answer, which the harness may have seen just before
    // it ended: the server is asked again for a few seconds before anything counts as left.
    let mut depth = queue_depth(&from).await;
    for _ in 0..20 {
        if depth == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        depth = queue_depth(&from).await;
    }
    assert_eq!(depth, (0, 0), "nothing left behind: {text}");
}
