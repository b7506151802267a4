//! `--plugin-log FILE|-`: the plugin's log (JSON lines on its stderr) appended to a file or
//! written on the harness's stderr, for `test-connection`, `run` and `listen`, at the level of
//! `CONNECTOR_LOG` in the harness's environment (which the plugin inherits); the transcript of
//! `TEST_HARNESS_PLUGIN_TRANSCRIPT` still gets every line.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::secret_scan::SecretScan;
use support::*;

/// What every plugin logs at info level when it builds its SQS client.
const CLIENT_BUILT: &str = "\"message\":\"SQS client built\"";

/// A debug-level line of the plugin's log (the AWS SDK's, at `CONNECTOR_LOG=debug`).
const DEBUG_LINE: &str = "\"level\":\"DEBUG\"";

/// The plugin's log lines (JSON objects) in `text`.
fn log_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| serde_json::from_str::<Value>(line).is_ok_and(|v| v.get("level").is_some()))
        .collect()
}

/// Scans a log file for the suite's secrets; returns its text.
fn scanned_file(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scan = SecretScan::new();
    scan.scan_text("the plugin log file", &bytes);
    scan.assert_clean();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn connection_file(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("connection.json");
    let component = access_key_component("conn-log", &sqs_endpoint(), MOTO_SECRET);
    std::fs::write(&file, component.to_string()).unwrap();
    file
}

#[test]
fn test_connection_writes_the_plugins_log_to_a_file_at_the_level_of_connector_log() {
    let dir = tempfile::tempdir().unwrap();
    let connection = connection_file(dir.path());
    for level in ["debug", "info"] {
        let log = dir.path().join(format!("plugin-{level}.log"));
        // Appended to: what is there stays.
        std::fs::write(&log, "earlier line\n").unwrap();
        let ran = scanned_run(
            Command::new(harness())
                .arg("test-connection")
                .arg("--connection")
                .arg(&connection)
                .arg("--plugin-log")
                .arg(&log)
                .arg("--plugin")
                .arg(plugin()),
            level,
        );
        let text = text(&ran.output);
        assert_eq!(ran.output.status.code(), Some(0), "{level}: {text}");
        let written = scanned_file(&log);
        assert!(written.starts_with("earlier line\n"), "{level}: {written}");
        let lines = log_lines(&written);
        assert!(
            lines.iter().any(|line| line.contains(CLIENT_BUILT)),
            "{level}: the plugin's log:\n{written}"
        );
        let debug = lines
            .iter()
            .filter(|line| line.contains(DEBUG_LINE))
            .count();
        match level {
            "debug" => assert!(
                debug > 0,
                "CONNECTOR_LOG=debug reached the plugin:\n{written}"
            ),
            _ => assert_eq!(
                debug, 0,
                "CONNECTOR_LOG=info reached the plugin:\n{written}"
            ),
        }
        // Not on the harness's stderr, and every line still in the transcript.
        assert!(log_lines(&text).is_empty(), "{level}: {text}");
        for line in lines {
            assert!(
                ran.transcript.contains(&format!("stderr: {line}\n")),
                "{level}: the transcript lacks {line}"
            );
        }
    }
}

#[test]
fn a_dash_writes_the_plugins_log_to_the_harnesss_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let connection = connection_file(dir.path());
    let connection = connection.to_str().unwrap();
    let with = run_harness(&[
        "test-connection",
        "--connection",
        connection,
        "--plugin-log",
        "-",
    ]);
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert_eq!(with.status.code(), Some(0), "{}", text(&with));
    assert!(
        log_lines(&stderr).iter().any(|l| l.contains(CLIENT_BUILT)),
        "{stderr}"
    );
    assert!(log_lines(&String::from_utf8_lossy(&with.stdout)).is_empty());
    // Without it, the log stays with the harness (as it always did).
    let without = run_harness(&["test-connection", "--connection", connection]);
    assert_eq!(without.status.code(), Some(0), "{}", text(&without));
    assert!(log_lines(&text(&without)).is_empty(), "{}", text(&without));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_and_listen_write_the_plugins_log_to_a_file() {
    let from = create_queue(&unique_queue("plugin-log"), &[]).await;
    let to = create_queue(&unique_queue("plugin-log-to"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let components = dir.path().join("components");
    std::fs::create_dir(&components).unwrap();
    let write = |name: &str, value: Value| {
        std::fs::write(components.join(name), value.to_string()).unwrap();
    };
    write(
        "conn.json",
        access_key_component("conn", &sqs_endpoint(), MOTO_SECRET),
    );
    let operation = |id: &str, kind: &str, fields: Value| {
        json!({"id": id, "connector": "amazon-sqs", "kind": "operation",
               "operationType": kind, "fields": fields})
    };
    write(
        "op-send.json",
        operation("op-send", "SEND", json!({"queue": from})),
    );
    write(
        "op-forward.json",
        operation("op-forward", "SEND", json!({"queue": to})),
    );
    write(
        "op-listen.json",
        operation(
            "op-listen",
            "LISTEN",
            json!({"queue": from, "waitTimeSeconds": 1}),
        ),
    );
    std::fs::write(
        dir.path().join("documents.jsonl"),
        "{\"data\": \"logged\"}\n",
    )
    .unwrap();
    let process = |name: &str, steps: Value| {
        let file = dir.path().join(format!("{name}.process.json"));
        std::fs::write(
            &file,
            json!({"name": name, "components": "components", "steps": steps}).to_string(),
        )
        .unwrap();
        file
    };
    let send = process(
        "send",
        json!([{"name": "send", "connection": "conn", "operation": "op-send",
                "input": "documents.jsonl"}]),
    );
    let listen = process(
        "listen",
        json!([{"name": "listen", "connection": "conn", "operation": "op-listen"},
               {"name": "forward", "connection": "conn", "operation": "op-forward"}]),
    );
    for (command, file, more) in [
        ("run", send, &[][..]),
        ("listen", listen, &["--max-batches", "1"][..]),
    ] {
        let log = dir.path().join(format!("{command}.log"));
        let output = dir.path().join(format!("{command}-output"));
        let ran = tokio::task::spawn_blocking({
            let log = log.clone();
            let more: Vec<String> = more.iter().map(|a| (*a).to_owned()).collect();
            move || {
                scanned_output(
                    Command::new(harness())
                        .arg(command)
                        .arg("--process")
                        .arg(&file)
                        .arg("--output")
                        .arg(&output)
                        .arg("--plugin-log")
                        .arg(&log)
                        .args(&more)
                        .arg("--plugin")
                        .arg(plugin()),
                )
            }
        })
        .await
        .unwrap();
        assert_eq!(ran.status.code(), Some(0), "{command}: {}", text(&ran));
        let written = scanned_file(&log);
        assert!(
            log_lines(&written).iter().any(|l| l.contains(CLIENT_BUILT)),
            "{command}: {written}"
        );
    }
    assert_eq!(
        take_all(&to).await.len(),
        1,
        "the listener forwarded the document"
    );
}
