//! A closed stdout (`test-harness run ... | head -1`) ends every subcommand quietly: exit code
//! 141 and no panic message, where `println!` used to panic on the broken pipe.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::json;
use support::*;

/// Runs the harness (its plugin scanned for secrets) with stdout a pipe whose reading end is
/// closed before it starts, so its first line written fails; returns its exit code and stderr.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = scanned_output(
        Command::new(harness())
            .args(args)
            .arg("--plugin")
            .arg(plugin())
            .stdout(writer),
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A process in `dir` with a SEND of one document to `queue`, and one that listens on `queue`
/// and sends its batches to `queue` too; returns their files.
fn processes(dir: &Path, queue: &str) -> (String, String) {
    std::fs::create_dir(dir.join("components")).unwrap();
    let write = |name: &str, value: serde_json::Value| {
        std::fs::write(dir.join("components").join(name), value.to_string()).unwrap();
    };
    write(
        "conn.json",
        access_key_component("conn", &sqs_endpoint(), MOTO_SECRET),
    );
    write(
        "op-send.json",
        json!({"id": "op-send", "connector": "amazon-sqs", "kind": "operation",
               "operationType": "SEND", "fields": {"queue": queue}}),
    );
    write(
        "op-listen.json",
        json!({"id": "op-listen", "connector": "amazon-sqs", "kind": "operation",
               "operationType": "LISTEN", "fields": {"queue": queue, "waitTimeSeconds": 1}}),
    );
    std::fs::write(dir.join("documents.jsonl"), "{\"data\": \"x\"}\n").unwrap();
    let file = |name: &str, steps: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            json!({"name": "closed", "components": "components", "steps": steps}).to_string(),
        )
        .unwrap();
        path.display().to_string()
    };
    (
        file(
            "run.process.json",
            json!([{"name": "send", "connection": "conn", "operation": "op-send",
                    "input": "documents.jsonl"}]),
        ),
        file(
            "listen.process.json",
            json!([{"name": "listen", "connection": "conn", "operation": "op-listen"},
                   {"name": "send", "connection": "conn", "operation": "op-send"}]),
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_ends_quietly_when_stdout_is_closed() {
    let queue = create_queue(&unique_queue("stdout-closed"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (run, listen) = processes(dir.path(), &queue);
    let connection = dir
        .path()
        .join("components/conn.json")
        .display()
        .to_string();
    let bad_connection = dir.path().join("bad-conn.json");
    let mut bad = access_key_component("conn", &sqs_endpoint(), MOTO_SECRET);
    bad["fields"]["customRegion"] = json!("US-EAST-2");
    std::fs::write(&bad_connection, bad.to_string()).unwrap();
    let bad_connection = bad_connection.display().to_string();
    let output = dir.path().join("output").display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["test-connection", "--connection", &connection],
        vec!["test-connection", "--connection", &connection, "--json"],
        // Invalid fields print nothing on stdout without --json.
        vec!["test-connection", "--connection", &bad_connection, "--json"],
        vec!["run", "--process", &run, "--output", &output],
        vec!["run", "--process", &run, "--output", &output, "--json"],
        vec![
            "listen",
            "--process",
            &listen,
            "--output",
            &output,
            "--max-batches",
            "1",
        ],
    ];
    for args in cases {
        let (code, stderr) = tokio::task::spawn_blocking({
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            move || with_stdout_closed(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}:\n{stderr}");
        assert_eq!(code, Some(141), "{args:?}:\n{stderr}");
    }
}

#[test]
fn descriptors_check_ends_quietly_when_stdout_is_closed() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(harness())
        .args(["descriptors", "--check"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(141), "{stderr}");
}
