//! The host never hangs on a plugin: a call whose timeout passed is cancelled and the plugin's
//! own results come back; a plugin that is stuck is killed after the grace period, the documents
//! it held fail, and the run goes on with the plugin started again; a slow call gets a note.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use connector_sdk::host::ExecuteParams;
use connector_sdk::{Document, ResultStatus};
use serde_json::json;
use support::*;
use test_harness::fault_proxy::{FaultKind, FaultProxy, FaultProxyConfig, FaultRule};
use test_harness::plugin::CallLimits;
use test_harness::run::{RunOptions, run_with};

/// A proxy in front of moto that holds the answer to the first SendMessageBatch for `delay`.
async fn delaying_proxy(delay: Duration) -> FaultProxy {
    let mut config = FaultProxyConfig::new(sqs_endpoint());
    config.rules = vec![
        FaultRule::new(FaultKind::Delay, 1.0)
            .for_actions(["SendMessageBatch"])
            .with_max_faults(1),
    ];
    config.delay = delay;
    FaultProxy::start(config).await.expect("the proxy starts")
}

/// A process with one SEND step of `count` documents to `queue` through `endpoint`, written into
/// `dir`; returns the process file.
fn send_process(dir: &Path, endpoint: &str, queue: &str, count: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("components")).unwrap();
    let connection = access_key_component("conn-stuck", endpoint, MOTO_SECRET);
    std::fs::write(
        dir.join("components/conn-stuck.json"),
        connection.to_string(),
    )
    .unwrap();
    let send = json!({"id": "op-send-stuck", "connector": "amazon-sqs", "kind": "operation",
                      "operationType": "SEND", "fields": {"queue": queue}});
    std::fs::write(dir.join("components/op-send-stuck.json"), send.to_string()).unwrap();
    let documents: Vec<String> = (0..count)
        .map(|i| json!({"data": format!("stuck-{i}")}).to_string())
        .collect();
    std::fs::write(dir.join("documents.jsonl"), documents.join("\n")).unwrap();
    let process = json!({"name": "stuck", "components": "components", "steps": [
        {"name": "send", "connection": "conn-stuck", "operation": "op-send-stuck",
         "input": "documents.jsonl"}]});
    let file = dir.join("stuck.process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    file
}

/// The lines of a results file.
fn results(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_whose_timeout_passes_returns_the_plugins_own_results() {
    let queue = unique_queue("timeout-answer");
    let url = create_queue(&queue, &[]).await;
    let proxy = delaying_proxy(Duration::from_millis(2_500)).await;
    let plugin = start_plugin_with(|command| {
        command.timeout = Duration::from_secs(1);
        command.grace = Duration::from_secs(8);
    })
    .await;
    let connection: connector_sdk::Component =
        serde_json::from_value(access_key_component("conn-late", &proxy.url(), MOTO_SECRET))
            .unwrap();
    let started = Instant::now();
    let answer = plugin
        .execute(&ExecuteParams {
            execution_id: unique_queue("exec"),
            process_name: "test".into(),
            connection,
            operation: operation("op-send-late", "SEND", json!({"queue": url})),
            documents: vec![Document::new("late-0"), Document::new("late-1")],
        })
        .await
        .expect("the plugin's answer to the cancel comes back");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert_eq!(answer.results.len(), 2);
    // The plugin's own results: the batch in flight at the cancel either reached SQS or is
    // unknown; none is the host's blanket failure.
    for result in &answer.results {
        assert!(
            result.status == ResultStatus::Success
                || result.status_code.as_deref() == Some("OUTCOME_UNKNOWN"),
            "{result:?}"
        );
    }
    assert!(
        plugin
            .logs()
            .iter()
            .any(|line| line.contains("cancel requested")),
        "the plugin was sent $/cancelRequest: {:#?}",
        plugin.logs()
    );
    assert!(!plugin.has_exited());
    let on_queue = take_all(&url).await.len();
    let succeeded = answer
        .results
        .iter()
        .filter(|r| r.status == ResultStatus::Success)
        .count();
    assert!(
        on_queue >= succeeded,
        "{on_queue} on the queue, {succeeded} SUCCESS"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_plugin_is_killed_after_the_grace_period_and_the_run_goes_on() {
    let queue = unique_queue("stuck");
    let url = create_queue(&queue, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = send_process(dir.path(), &sqs_endpoint(), &url, 3);
    let process = test_harness::process::load(&file).expect("the process loads");
    let plugin = start_plugin_with(|command| {
        command.timeout = Duration::from_secs(1);
        command.grace = Duration::from_secs(1);
    })
    .await;
    // A plugin that reads nothing and answers nothing, not even its cancel: stopped by signal.
    let pid = plugin.pid().await.expect("the plugin runs");
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = dir.path().join("output");
    let options = RunOptions {
        process: file,
        plugin: None,
        output: Some(output.clone()),
        executions: 1,
        parallel: false,
        batch_size: 1,
        quiet: true,
        limits: CallLimits {
            timeout: Duration::from_secs(1),
            grace: Duration::from_secs(1),
        },
        json: false,
        plugin_log: Default::default(),
    };
    let started = Instant::now();
    let code = run_with(&plugin, &process, &options).await;
    let took = started.elapsed();
    assert_eq!(code, test_harness::EXIT_FAILED);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "the timeout and the grace period passed, not more: {took:?}"
    );
    let sent = results(&output.join("send.results.jsonl"));
    let statuses: Vec<&str> = sent.iter().map(|r| r["status"].as_str().unwrap()).collect();
    // The two calls in flight on the stuck plugin failed; the third went to a new one.
    assert_eq!(statuses, ["FAILURE", "FAILURE", "SUCCESS"], "{sent:#?}");
    for result in &sent[..2] {
        let message = result["message"].as_str().unwrap();
        assert!(message.contains("stopped"), "{message}");
    }
    assert_eq!(plugin.starts(), 2);
    let bodies: Vec<String> = take_all(&url)
        .await
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bodies, ["stuck-2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_harness_prints_one_note_for_a_slow_call() {
    let queue = unique_queue("slow-note");
    let url = create_queue(&queue, &[]).await;
    let proxy = delaying_proxy(Duration::from_millis(2_000)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = send_process(dir.path(), &proxy.url(), &url, 2);
    let output = dir.path().join("output");
    let out = tokio::task::spawn_blocking(move || {
        scanned_output(
            std::process::Command::new(harness())
                .arg("run")
                .arg("--process")
                .arg(&file)
                .arg("--output")
                .arg(&output)
                .args(["--call-timeout", "4", "--grace-period", "5", "--plugin"])
                .arg(plugin()),
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // initialize is call 1; a quarter of the call timeout is 1 s.
    let note = "note: execute call 2 has been running for 1 s (it is cancelled at 4 s)";
    assert_eq!(
        stderr.matches("has been running for").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(note), "{stderr}");
    assert_eq!(take_all(&url).await.len(), 2);
}
