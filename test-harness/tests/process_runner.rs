//! `test-harness run` on the example process of the README: send, receive, delete.

mod support;

use std::path::Path;

use support::*;

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One run of the example process as the quickstart runs it; checks every step and the queue.
async fn run_example_process(url: &str, batch_size: Option<&str>, run: usize) {
    let out = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let output = tokio::task::spawn_blocking({
        let out = out.path().to_owned();
        let batch_size = batch_size.map(str::to_owned);
        move || {
            let mut command = std::process::Command::new(harness());
            command.current_dir(&examples).args([
                "run",
                "--process",
                "orders-roundtrip.process.json",
            ]);
            if let Some(size) = batch_size {
                command.args(["--batch-size", &size]);
            }
            scanned_output(
                command
                    .arg("--output")
                    .arg(&out)
                    .arg("--plugin")
                    .arg(plugin())
                    .env("SQS_ENDPOINT_URL", sqs_endpoint())
                    .env("SQS_SECRET_KEY", "example-secret"),
            )
        }
    })
    .await
    .unwrap();
    let text = text(&output);
    assert_eq!(output.status.code(), Some(0), "run {run}: {text}");
    let send_row = "send                300        300            0          0        300";
    assert!(
        text.contains(send_row),
        "run {run}: summary row {send_row:?} missing:\n{text}"
    );
    let sent = lines(&out.path().join("send.results.jsonl"));
    assert_eq!(sent.len(), 300);
    assert!(sent.iter().all(|r| r["status"] == "SUCCESS"));
    // One result per document, in input order across the calls.
    assert!(
        sent.iter().enumerate().all(|(i, r)| r["index"] == i),
        "indexes out of order: {sent:?}"
    );
    // SQS delivers at least once, and concurrent reads may see a message twice (moto does, under
    // load): RECEIVE folds them into one output with the newest receipt handle, so DELETE
    // deletes each message once with a handle that is still valid.
    let received = lines(&out.path().join("receive.outputs.jsonl"));
    let mut order_ids: Vec<&str> = received
        .iter()
        .map(|d| d["properties"]["sqs.attribute.orderId"].as_str().unwrap())
        .collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    assert_eq!(order_ids.len(), 300, "run {run}: each order arrived");
    assert_eq!(
        received.len(),
        300,
        "run {run}: each message is one output document"
    );
    for step in ["receive", "delete"] {
        let results = lines(&out.path().join(format!("{step}.results.jsonl")));
        assert!(
            results.iter().all(|r| r["status"] == "SUCCESS"),
            "run {run}, {step}: {results:?}"
        );
    }
    assert_eq!(
        queue_depth(url).await,
        (0, 0),
        "run {run}: the queue is empty after the delete step"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_process_sends_receives_and_deletes_every_document_five_runs_in_a_row() {
    let url = create_queue("quickstart-orders", &[]).await;
    // Empty it by reading and deleting (PurgeQueue is allowed once a minute per queue).
    for message in drain_visible(&url, 60).await {
        sqs_client()
            .delete_message()
            .queue_url(&url)
            .receipt_handle(message.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    // As the quickstart runs it (one execute call per step), and once with several calls per
    // step, two in flight.
    run_example_process(&url, Some("64"), 0).await;
    for run in 1..5 {
        run_example_process(&url, None, run).await;
    }
}

#[test]
fn an_invalid_operation_component_stops_the_run_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("components")).unwrap();
    std::fs::write(
        dir.path().join("components/conn.json"),
        serde_json::to_vec(&access_key_component("conn", &sqs_endpoint(), "s")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("components/op.json"),
        r#"{"id":"op","connector":"amazon-sqs","kind":"operation","operationType":"RECEIVE","fields":{"queue":"q","maxMessages":0,"waitTimeSeconds":25}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.json"),
        r#"{"name":"p","components":"components","steps":[{"name":"r","connection":"conn","operation":"op"}]}"#,
    )
    .unwrap();
    let output = run_harness(&[
        "run",
        "--process",
        dir.path().join("p.json").to_str().unwrap(),
    ]);
    let text = text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("Maximum messages (maxMessages)"), "{text}");
    assert!(
        text.contains("Wait time (in seconds) (waitTimeSeconds): must be at most 20, not 25"),
        "{text}"
    );
}

/// `--batch-size 0` and `--executions 0` are refused with exit code 2 and what is allowed,
/// not taken as 1.
#[test]
fn zero_batch_size_or_executions_is_refused() {
    for (option, allowed) in [
        ("--batch-size", "from 1 to 100000"),
        ("--executions", "from 1 to 10000"),
    ] {
        let output = run_harness(&[
            "run",
            "--process",
            "examples/orders-roundtrip.process.json",
            option,
            "0",
        ]);
        let text = text(&output);
        assert_eq!(output.status.code(), Some(2), "{option} 0: {text}");
        assert!(text.contains(allowed), "{option} 0: {text}");
    }
    let output = run_harness(&["listen", "--process", "x.json", "--batch-size", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}
