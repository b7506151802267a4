//! Every exit code the harness's `--help` promises, and with `--json` one JSON object on stdout
//! for every outcome: `test-connection` (0 passed, 1 failed, 2 the file or its fields invalid),
//! `run` (0 every document succeeded, 1 otherwise, 2 a file or component invalid), `listen` (2 a
//! component invalid; its 0 and 1 are in `listen_harness.rs`) and `descriptors --check` (0
//! current, 1 stale). `run`'s documents files and its exit code 1 are in `process_runner.rs`.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;

/// Runs the harness (scanned for secrets) off the async runtime; returns the exit code, stdout
/// and both outputs as text.
async fn harness_run(args: Vec<String>) -> (Option<i32>, Vec<u8>, String) {
    let output = tokio::task::spawn_blocking(move || {
        run_harness(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let text = text(&output);
    (output.status.code(), output.stdout, text)
}

/// The one JSON object on stdout.
fn json_of(stdout: &[u8], text: &str) -> Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{text}"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

/// Runs `test-connection` on `component` (written to a file) with and without `--json`: the same
/// exit code both times; returns it, the JSON, and the text without `--json`.
async fn test_connection(component: &Value) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connection.json");
    std::fs::write(&file, component.to_string()).unwrap();
    let file = file.display().to_string();
    let (code, _, text) = harness_run(args(&["test-connection", "--connection", &file])).await;
    let (json_code, stdout, json_text) =
        harness_run(args(&["test-connection", "--connection", &file, "--json"])).await;
    assert_eq!(
        code, json_code,
        "the same exit code with --json:\n{json_text}"
    );
    (code, json_of(&stdout, &json_text), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_exit_codes_and_json_for_every_outcome() {
    let good = access_key_component("conn-outcomes", &sqs_endpoint(), MOTO_SECRET);
    let (code, summary, text) = test_connection(&good).await;
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(summary["outcome"], "passed", "{summary:#}");
    assert_eq!(summary["exitCode"], 0, "{summary:#}");
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["component"], "conn-outcomes", "{summary:#}");
    assert_eq!(summary["steps"].as_array().unwrap().len(), 3, "{summary:#}");
    assert_eq!(summary["fieldErrors"], json!([]), "{summary:#}");
    assert_eq!(summary["error"], Value::Null, "{summary:#}");

    let closed = format!("http://127.0.0.1:{}", closed_port());
    let unreachable = access_key_component("conn-outcomes", &closed, MOTO_SECRET);
    let (code, summary, text) = test_connection(&unreachable).await;
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(summary["outcome"], "failed", "{summary:#}");
    assert_eq!(summary["exitCode"], 1, "{summary:#}");
    assert_eq!(summary["ok"], false, "{summary:#}");
    assert_eq!(summary["steps"][1]["status"], "failed", "{summary:#}");

    let mut capitals = good.clone();
    capitals["fields"]["customRegion"] = json!("US-EAST-2");
    let (code, summary, text) = test_connection(&capitals).await;
    assert_eq!(code, Some(2), "{text}");
    assert_eq!(summary["outcome"], "invalid", "{summary:#}");
    assert_eq!(summary["exitCode"], 2, "{summary:#}");
    assert_eq!(summary["steps"], json!([]), "{summary:#}");
    let errors = summary["fieldErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{summary:#}");
    assert_eq!(errors[0]["component"], "conn-outcomes", "{summary:#}");
    assert_eq!(errors[0]["field"], "customRegion", "{summary:#}");
    assert_eq!(errors[0]["label"], "Custom AWS SQS Region", "{summary:#}");
    assert!(
        summary["error"]
            .as_str()
            .is_some_and(|e| e.contains("the connection's fields are invalid")),
        "{summary:#}"
    );

    // Not a component at all, and no file.
    for (component, expected) in [
        (json!({"id": "x"}), "is not a valid component"),
        (Value::Null, "cannot read component file"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("connection.json");
        if !component.is_null() {
            std::fs::write(&file, component.to_string()).unwrap();
        }
        let file = file.display().to_string();
        for json in [false, true] {
            let mut list = args(&["test-connection", "--connection", &file]);
            if json {
                list.push("--json".into());
            }
            let (code, stdout, text) = harness_run(list).await;
            assert_eq!(code, Some(2), "{expected}: {text}");
            if json {
                let summary = json_of(&stdout, &text);
                assert_eq!(summary["outcome"], "invalid", "{summary:#}");
                assert_eq!(summary["component"], Value::Null, "{summary:#}");
                let error = summary["error"].as_str().unwrap_or_default();
                assert!(
                    error.contains(expected) && error.contains(&file),
                    "{summary:#}"
                );
            } else {
                assert!(stdout.is_empty(), "{text}");
                assert!(text.contains(expected), "{text}");
            }
        }
    }
}

/// A process with one SEND step of `documents.jsonl` to `queue`, the operation's fields
/// replaced by `fields` when given.
fn send_process(dir: &Path, queue: &str, fields: Option<Value>) -> String {
    std::fs::create_dir_all(dir.join("components")).unwrap();
    std::fs::write(
        dir.join("components/conn.json"),
        access_key_component("conn", &sqs_endpoint(), MOTO_SECRET).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("components/op-send.json"),
        json!({"id": "op-send", "connector": "amazon-sqs", "kind": "operation",
               "operationType": "SEND", "fields": fields.unwrap_or(json!({"queue": queue}))})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("documents.jsonl"),
        "{\"data\": \"a\"}\n{\"data\": \"b\"}\n",
    )
    .unwrap();
    let file = dir.join("send.process.json");
    std::fs::write(
        &file,
        json!({"name": "send-two", "components": "components", "steps": [
            {"name": "send", "connection": "conn", "operation": "op-send", "input": "documents.jsonl"}
        ]})
        .to_string(),
    )
    .unwrap();
    file.display().to_string()
}

/// `run` with and without `--json`: the same exit code both times; returns it, the JSON and the
/// text without `--json`.
async fn run(process: &str, output: &Path) -> (Option<i32>, Value, String) {
    let output = output.display().to_string();
    let list = args(&["run", "--process", process, "--output", &output]);
    let (code, _, text) = harness_run(list.clone()).await;
    let (json_code, stdout, json_text) = harness_run([list, vec!["--json".into()]].concat()).await;
    assert_eq!(
        code, json_code,
        "the same exit code with --json:\n{json_text}"
    );
    (code, json_of(&stdout, &json_text), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_exit_codes_and_json_for_every_outcome() {
    let url = create_queue(&unique_queue("outcomes"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let process = send_process(dir.path(), &url, None);
    let (code, summary, text) = run(&process, &dir.path().join("out")).await;
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        summary,
        json!({
            "process": "send-two",
            "outcome": "passed",
            "exitCode": 0,
            "error": null,
            "fieldErrors": [],
            "executions": 1,
            "elapsedSeconds": summary["elapsedSeconds"],
            "output": dir.path().join("out").display().to_string(),
            "steps": [{"name": "send", "documents": 2, "succeeded": 2, "applicationErrors": 0,
                       "failures": 0, "outputs": 2, "errors": []}]
        }),
        "{summary:#}"
    );
    assert!(summary["elapsedSeconds"].is_f64(), "{summary:#}");
    assert_eq!(take_all(&url).await.len(), 4, "two runs of two documents");

    // An invalid component: nothing runs.
    let dir = tempfile::tempdir().unwrap();
    let process = send_process(
        dir.path(),
        &url,
        Some(json!({"queue": url, "delaySeconds": 901})),
    );
    let (code, summary, text) = run(&process, &dir.path().join("out")).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("component op-send is invalid; nothing was run"),
        "{text}"
    );
    assert_eq!(summary["outcome"], "invalid", "{summary:#}");
    assert_eq!(summary["exitCode"], 2, "{summary:#}");
    assert_eq!(summary["process"], "send-two", "{summary:#}");
    assert_eq!(summary["executions"], 0, "{summary:#}");
    assert_eq!(summary["steps"], json!([]), "{summary:#}");
    let errors = summary["fieldErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{summary:#}");
    assert_eq!(errors[0]["component"], "op-send", "{summary:#}");
    assert_eq!(errors[0]["field"], "delaySeconds", "{summary:#}");
    assert_eq!(take_all(&url).await.len(), 0, "nothing was sent");

    // A process file that is not JSON, and one that is missing.
    std::fs::write(dir.path().join("broken.process.json"), "{\"name\": ").unwrap();
    for (file, expected) in [
        ("broken.process.json", "is not valid"),
        ("missing.process.json", "cannot read process file"),
    ] {
        let process = dir.path().join(file).display().to_string();
        let (code, summary, text) = run(&process, &dir.path().join("out")).await;
        assert_eq!(code, Some(2), "{file}: {text}");
        assert!(text.contains(expected), "{file}: {text}");
        assert_eq!(summary["outcome"], "invalid", "{summary:#}");
        assert_eq!(summary["process"], Value::Null, "{summary:#}");
        let error = summary["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(expected) && error.contains(&process),
            "{summary:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_with_an_invalid_component_is_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("components")).unwrap();
    std::fs::write(
        dir.path().join("components/conn.json"),
        access_key_component("conn", &sqs_endpoint(), MOTO_SECRET).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("components/op-listen.json"),
        json!({"id": "op-listen", "connector": "amazon-sqs", "kind": "operation",
               "operationType": "LISTEN", "fields": {"queue": "q", "maxMessages": 11}})
        .to_string(),
    )
    .unwrap();
    let process = dir.path().join("listen.process.json");
    std::fs::write(
        &process,
        json!({"name": "l", "components": "components", "steps": [
            {"name": "listen", "connection": "conn", "operation": "op-listen"}
        ]})
        .to_string(),
    )
    .unwrap();
    let output = dir.path().join("out").display().to_string();
    let process = process.display().to_string();
    let list = args(&[
        "listen",
        "--process",
        &process,
        "--output",
        &output,
        "--max-batches",
        "1",
    ]);
    let (code, _, text) = harness_run(list).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("component op-listen is invalid; nothing was run"),
        "{text}"
    );
    assert!(text.contains("(maxMessages)"), "{text}");
}

#[test]
fn descriptors_check_is_exit_code_0_when_current_and_1_when_stale() {
    let current = std::process::Command::new(harness())
        .args(["descriptors", "--check"])
        .output()
        .unwrap();
    assert_eq!(current.status.code(), Some(0), "{}", text(&current));
    assert!(text(&current).contains("are current"), "{}", text(&current));
    let empty = tempfile::tempdir().unwrap();
    let stale = std::process::Command::new(harness())
        .args(["descriptors", "--check", "--dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(
        text(&stale).contains("stale: ") && text(&stale).contains("amazon-sqs.json"),
        "{}",
        text(&stale)
    );
}
