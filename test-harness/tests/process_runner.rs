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

/// Writes a process into `dir`: step `first` sends `first.jsonl` (two good documents) to
/// `queue`, step `second` sends the documents of `second` (a path relative to `dir`) to it too.
fn two_send_steps(dir: &Path, queue: &str, second: &str) -> String {
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::write(
        dir.join("components/conn.json"),
        access_key_component("conn", &sqs_endpoint(), MOTO_SECRET).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("components/op.json"),
        serde_json::json!({"id": "op", "connector": "amazon-sqs", "kind": "operation",
                           "operationType": "SEND", "fields": {"queue": queue}})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("first.jsonl"),
        "{\"data\": \"one\"}\n{\"data\": \"two\"}\n",
    )
    .unwrap();
    let process = dir.join("p.process.json");
    std::fs::write(
        &process,
        serde_json::json!({
            "name": "two-sends",
            "components": "components",
            "steps": [
                {"name": "first", "connection": "conn", "operation": "op", "input": "first.jsonl"},
                {"name": "second", "connection": "conn", "operation": "op", "input": second}
            ]
        })
        .to_string(),
    )
    .unwrap();
    process.display().to_string()
}

/// A documents file that is missing, cannot be read, or has a line that is not a document stops
/// the run before anything is sent, with exit code 2 and a message naming the file, the line
/// and what is wrong with it; `--json` says the same.
#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_documents_file_stops_the_run_with_exit_code_2_before_anything_is_sent() {
    let good = "{\"data\": \"a\"}\n";
    // (what the second step reads, what its file holds, what the message says)
    let cases: [(&str, Option<Vec<u8>>, String); 5] = [
        ("missing.jsonl", None, "cannot read documents file".into()),
        // A folder: it exists, and cannot be read as a file (the tests run as root, for whom
        // file permissions do not stop a read).
        (
            "a-folder.jsonl",
            Some(Vec::new()),
            "cannot read documents file".into(),
        ),
        (
            "typo.jsonl",
            Some(format!("{good}{good}{{\"dta\": \"c\"}}\n{good}").into_bytes()),
            ", line 3: not a document: unknown key \"dta\"".into(),
        ),
        (
            "broken.jsonl",
            Some(format!("{good}\n{{\"data\": \"b\"\n").into_bytes()),
            ", line 3: not JSON: EOF while parsing an object (column 12)".into(),
        ),
        (
            "bytes.jsonl",
            Some([good.as_bytes(), b"{\"data\": \"\xff\"}\n"].concat()),
            ", line 2: not UTF-8 text".into(),
        ),
    ];
    for (file, content, expected) in cases {
        let url = create_queue(&unique_queue("bad-documents"), &[]).await;
        let dir = tempfile::tempdir().unwrap();
        let process = two_send_steps(dir.path(), &url, file);
        match content {
            None => {}
            Some(bytes) if file == "a-folder.jsonl" => {
                assert!(bytes.is_empty());
                std::fs::create_dir(dir.path().join(file)).unwrap();
            }
            Some(bytes) => std::fs::write(dir.path().join(file), bytes).unwrap(),
        }
        let output = dir.path().join("output").display().to_string();
        for json in [false, true] {
            let mut args = vec!["run", "--process", &process, "--output", &output];
            if json {
                args.push("--json");
            }
            let ran = tokio::task::spawn_blocking({
                let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                move || run_harness(&args.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await
            .unwrap();
            let text = text(&ran);
            let path = dir.path().join(file).display().to_string();
            assert_eq!(ran.status.code(), Some(2), "{file}, json {json}: {text}");
            let stderr = String::from_utf8_lossy(&ran.stderr);
            let message = format!("step \"second\": documents file {path}");
            let named = stderr.contains(&message) || stderr.contains(&format!("{expected} {path}"));
            assert!(
                named,
                "{file}: expected the file named ({message}):\n{stderr}"
            );
            assert!(
                stderr.contains(&expected),
                "{file}: expected {expected:?}:\n{stderr}"
            );
            assert!(stderr.contains("nothing was run"), "{file}: {stderr}");
            if json {
                let summary: serde_json::Value = serde_json::from_slice(&ran.stdout)
                    .unwrap_or_else(|e| {
                        panic!("{file}: stdout is not one JSON object ({e}): {text}")
                    });
                assert_eq!(summary["outcome"], "invalid", "{summary:#}");
                assert_eq!(summary["exitCode"], 2, "{summary:#}");
                let error = summary["error"].as_str().unwrap_or_default();
                assert!(
                    error.contains(&path) && error.contains(&expected),
                    "{summary:#}"
                );
                assert_eq!(summary["steps"], serde_json::json!([]), "{summary:#}");
            } else {
                assert!(ran.stdout.is_empty(), "{file}: nothing on stdout: {text}");
            }
        }
        // The first step's file is good, and still nothing was sent.
        assert_eq!(queue_depth(&url).await, (0, 0), "{file}: nothing was sent");
    }
}

/// 300 documents that fail in the same way are one line with their count, not 300 lines; the
/// run ends with exit code 1, and `--json` has the one group with its count.
#[tokio::test(flavor = "multi_thread")]
async fn documents_that_fail_in_the_same_way_are_one_line_with_their_count() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!(
        "{}/000000000000/{}",
        sqs_endpoint(),
        unique_queue("missing")
    );
    let process = two_send_steps(dir.path(), &missing, "second.jsonl");
    let documents: String = (0..300)
        .map(|i| format!("{{\"data\": \"{i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("second.jsonl"), documents).unwrap();
    let output = dir.path().join("output").display().to_string();
    for json in [false, true] {
        // Calls of 128 documents: each call's messages name the documents by their index in
        // the call, which the grouping looks past.
        let mut args = vec![
            "run",
            "--process",
            &process,
            "--output",
            &output,
            "--batch-size",
            "128",
        ];
        if json {
            args.push("--json");
        }
        let ran = tokio::task::spawn_blocking({
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            move || run_harness(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        let text = text(&ran);
        assert_eq!(ran.status.code(), Some(1), "json {json}: {text}");
        let stdout = String::from_utf8_lossy(&ran.stdout);
        if json {
            let summary: serde_json::Value = serde_json::from_slice(&ran.stdout)
                .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {text}"));
            assert_eq!(summary["outcome"], "failed", "{summary:#}");
            assert_eq!(summary["exitCode"], 1, "{summary:#}");
            let second = &summary["steps"][1];
            assert_eq!(second["name"], "second", "{summary:#}");
            assert_eq!(second["documents"], 300, "{summary:#}");
            assert_eq!(second["succeeded"], 0, "{summary:#}");
            let errors = second["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "one group: {summary:#}");
            assert_eq!(errors[0]["count"], 300, "{summary:#}");
            assert_eq!(errors[0]["statusCode"], "QueueDoesNotExist", "{summary:#}");
            assert_eq!(summary["steps"][0]["errors"][0]["count"], 2, "{summary:#}");
        } else {
            let lines: Vec<&str> = stdout
                .lines()
                .filter(|line| line.contains("QueueDoesNotExist"))
                .collect();
            assert_eq!(lines.len(), 2, "a line per step:\n{stdout}");
            assert!(
                lines[0].starts_with("  first: 2 documents: ")
                    && lines[1].starts_with("  second: 300 documents: "),
                "{stdout}"
            );
            for line in lines {
                assert!(
                    line.contains(": APPLICATION_ERROR QueueDoesNotExist"),
                    "{line}"
                );
            }
        }
    }
}
