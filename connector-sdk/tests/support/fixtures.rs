//! Components, documents and checks shared by the integration tests.

use connector_sdk::host::{ExecuteParams, PluginCommand, PluginProcess};
use connector_sdk::{Component, Document, DocumentResult, ResultStatus};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

use crate::echo::CONNECTOR_ID;

/// A valid API key for the echo connection.
pub(crate) const API_KEY: &str = "key-ordinary-test-key";

/// Every secret the SDK's tests put into components, by label. Whatever a test plugin writes
/// (stdout and stderr) is scanned for them: [`plugin_command`]'s observer and the raw plugin's
/// reader fail on any.
pub(crate) const SECRETS: &[(&str, &str)] = &[
    ("the echo API key", API_KEY),
    ("the revoked echo key", "key-revoked"),
    ("the secrets test's key", "key-Zq7x-UNMISTAKABLE-9f3e1c"),
    (
        "the secrets test's malformed key",
        "Zq7x-NOT-A-KEY-UNMISTAKABLE-4b2d",
    ),
];

/// The label of a secret of [`SECRETS`] that `line` holds.
pub(crate) fn leaked(line: &[u8]) -> Option<&'static str> {
    SECRETS
        .iter()
        .find(|(_, secret)| {
            line.windows(secret.len())
                .any(|window| window == secret.as_bytes())
        })
        .map(|(label, _)| *label)
}

/// The endpoint of the echo connection.
pub(crate) const ENDPOINT: &str = "https://echo.example.test";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// A connection component with the given fields.
pub(crate) fn connection_with(id: &str, fields: Value) -> Component {
    Component::connection(id, CONNECTOR_ID, object(fields))
}

/// A valid connection component with the given API key.
pub(crate) fn connection(id: &str, api_key: &str) -> Component {
    connection_with(id, json!({"endpoint": ENDPOINT, "apiKey": api_key}))
}

/// An operation component of the echo connector.
pub(crate) fn operation(operation_type: &str, fields: Value) -> Component {
    Component::operation(
        format!("op-{}", operation_type.to_lowercase()),
        CONNECTOR_ID,
        operation_type,
        object(fields),
    )
}

/// `count` text documents, `doc-0`, `doc-1`, ..., each with a `source` property.
pub(crate) fn documents(count: usize) -> Vec<Document> {
    (0..count)
        .map(|i| Document::new(format!("doc-{i}")).with_property("source", format!("test-{i}")))
        .collect()
}

/// The params of an `execute` call.
pub(crate) fn execute_params(
    connection: &Component,
    operation: &Component,
    documents: Vec<Document>,
) -> ExecuteParams {
    ExecuteParams {
        execution_id: format!("exec-{}", operation.id),
        process_name: "SDK integration test".into(),
        connection: connection.clone(),
        operation: operation.clone(),
        documents,
    }
}

/// The test plugin's command, with a timeout short enough that a hang fails the test quickly.
pub(crate) fn plugin_command() -> PluginCommand {
    let mut command = PluginCommand::new(env!("CARGO_BIN_EXE_sdk-test-plugin"), &[]);
    command.timeout = Duration::from_secs(20);
    // The tests read info lines from the logs, whatever filter the environment sets.
    command
        .env
        .push((connector_sdk::plugin::LOG_ENV.to_owned(), "info".to_owned()));
    // A plugin that writes a secret of the tests ends the test binary at once, naming the
    // secret (never showing it): the reader task it runs in cannot fail a test otherwise.
    command.observer = Some(std::sync::Arc::new(|stream, line: &[u8]| {
        if let Some(label) = leaked(line) {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "the test plugin wrote {label} on its {stream}; stopping the tests"
            );
            std::process::abort();
        }
    }));
    command
}

/// The test plugin, started and initialized.
pub(crate) async fn plugin() -> PluginProcess {
    match PluginProcess::spawn(plugin_command()).await {
        Ok(process) => process,
        Err(err) => panic!("expected the test plugin to start and initialize, got: {err}"),
    }
}

/// Waits (at most 10 s) until one of the plugin's log lines contains `needle`.
pub(crate) async fn wait_for_log(process: &PluginProcess, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process.logs().iter().any(|line| line.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "expected a log line containing {needle:?} within 10 s; the logs are:\n{}",
            process.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The statuses of a batch's results, in order.
pub(crate) fn statuses(results: &[DocumentResult]) -> Vec<ResultStatus> {
    results.iter().map(|r| r.status).collect()
}

/// Checks the one-result-per-document shape: as many results as inputs, indexes `0..n` in order.
pub(crate) fn assert_one_result_per_document(results: &[DocumentResult], inputs: usize) {
    let indexes: Vec<usize> = results.iter().map(|r| r.index).collect();
    let expected: Vec<usize> = (0..inputs).collect();
    assert_eq!(
        indexes, expected,
        "expected one result per input document, in input order; got results {results:#?}"
    );
}

/// Checks that result `index` is a success echoing input document `index`.
pub(crate) fn assert_echoed(result: &DocumentResult, input: &Document) {
    let expected = crate::echo::echoed(result.index, input);
    assert_eq!(
        (result.status, &result.outputs),
        (ResultStatus::Success, &vec![expected]),
        "expected result {} to be a SUCCESS echoing its input; got {result:#?}",
        result.index
    );
}

/// Checks that result `index` is a FAILURE whose message contains every one of `needles`, and
/// whose one output is its input document, unchanged (the operations of the echo connector take
/// input).
pub(crate) fn assert_failure_mentions(result: &DocumentResult, input: &Document, needles: &[&str]) {
    assert_eq!(
        result.status,
        ResultStatus::Failure,
        "expected result {} to be a FAILURE; got {result:#?}",
        result.index
    );
    let message = result.message.as_deref().unwrap_or_default();
    for needle in needles {
        assert!(
            message.contains(needle),
            "expected the message of result {} to contain {needle:?}; it is {message:?}",
            result.index
        );
    }
    assert_eq!(
        result.outputs,
        vec![input.clone()],
        "expected a FAILURE of an operation that takes input to carry its input document"
    );
}
