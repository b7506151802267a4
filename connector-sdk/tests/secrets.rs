//! Secret hygiene: a secret a host sends inside a connection component shows up nowhere else —
//! not in the plugin's logs (which are JSON lines on stderr), not in any response, not in the
//! `Debug` output of the host's own values — while stdout carries nothing but responses.

// This binary drives the plugin only; of the connector it reads a few constants.
#[allow(dead_code)]
#[path = "support/echo.rs"]
mod echo;
// Each test binary uses a different part of the fixtures.
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "support/raw.rs"]
mod raw;

use connector_sdk::host::{ClientError, INVALID_FIELDS};
use connector_sdk::secret::REDACTED;
use serde_json::json;

use fixtures::{
    ENDPOINT, connection, connection_with, documents, execute_params, operation, plugin,
    wait_for_log,
};
use raw::{
    Finished, PATIENCE, RawPlugin, assert_json_log_lines, initialize_request, request,
    response_result,
};

/// A valid API key no test could print by accident.
const SECRET: &str = "key-Zq7x-UNMISTAKABLE-9f3e1c";

/// An API key that breaks the field's pattern, so it ends up in a validation error's path.
const BAD_SECRET: &str = "Zq7x-NOT-A-KEY-UNMISTAKABLE-4b2d";

/// Asserts that no text of `texts` contains either secret.
fn assert_no_secret(place: &str, texts: &[String]) {
    for text in texts {
        for secret in [SECRET, BAD_SECRET] {
            assert!(
                !text.contains(secret),
                "expected the secret {secret:?} nowhere in {place}; found it in:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn a_secret_reaches_neither_the_logs_nor_the_responses_nor_debug_output() {
    let process = plugin().await;
    let conn = connection("conn-secret", SECRET);
    let bad_conn = connection_with(
        "conn-bad-secret",
        json!({"endpoint": ENDPOINT, "apiKey": BAD_SECRET}),
    );
    let mut responses = Vec::new();

    let tested = process
        .call_with_timeout::<_, serde_json::Value>(
            "testConnection",
            &json!({ "connection": conn }),
            PATIENCE,
        )
        .await
        .expect("expected testConnection to succeed");
    assert_eq!(tested["ok"], json!(true), "expected ok: true; got {tested}");
    responses.push(tested.to_string());

    let mut params = Vec::new();
    for op in ["ECHO", "FAILING", "PANICKING"] {
        let call = execute_params(&conn, &operation(op, json!({})), documents(2));
        let result = process
            .call_with_timeout::<_, serde_json::Value>(
                "execute",
                &serde_json::to_value(&call).expect("params serialize"),
                PATIENCE,
            )
            .await
            .unwrap_or_else(|e| panic!("expected {op} to answer with results; got {e:?}"));
        responses.push(result.to_string());
        params.push(call);
    }

    let browsed = process
        .call_with_timeout::<_, serde_json::Value>(
            "browse",
            &json!({"connection": conn, "operationType": "ECHO"}),
            PATIENCE,
        )
        .await
        .expect("expected browse to succeed");
    responses.push(browsed.to_string());

    // A secret that breaks its field's rule is named as a field error, without its value.
    let refused = process.test_connection(&bad_conn).await;
    let err = match refused {
        Err(ClientError::Rpc(err)) => err,
        other => panic!("expected a -32001 error for the malformed key; got {other:?}"),
    };
    assert_eq!(err.code, INVALID_FIELDS, "expected -32001; got {err:?}");
    let fields: Vec<String> = err.field_errors().into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        vec!["apiKey".to_owned()],
        "expected apiKey named; got {err:?}"
    );
    responses.push(serde_json::to_string(&err).expect("an error serializes"));
    responses.push(err.to_string());

    let status = process.shutdown().await.expect("expected shutdown to work");
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    // The last line the plugin logs: once it is captured, every earlier one is too.
    wait_for_log(&process, "plugin shutting down on request").await;
    let logs = process.logs();

    // The test is only worth something if the secret was logged, redacted.
    assert!(
        logs.iter()
            .any(|line| line.contains("ECHO to") && line.contains(REDACTED)),
        "expected the ECHO operation's log line with the key shown as {REDACTED:?}; got:\n{}",
        logs.join("\n")
    );
    assert!(
        logs.iter().any(|line| line.contains(echo::PANIC_MESSAGE)),
        "expected the panic to be logged; got:\n{}",
        logs.join("\n")
    );
    assert_no_secret("the plugin's logs", &logs);
    assert_json_log_lines(&logs);
    assert_no_secret("the responses", &responses);

    let mut debug = vec![
        format!("{conn:?}"),
        format!("{bad_conn:?}"),
        format!("{err:?}"),
        format!("{process:?}"),
    ];
    debug.extend(params.iter().map(|p| format!("{p:?}")));
    assert!(
        debug[0].contains("apiKey"),
        "expected a component's Debug to list its field keys; got {}",
        debug[0]
    );
    assert_no_secret("Debug output", &debug);
}

#[tokio::test]
async fn stdout_carries_only_responses_and_no_secret_on_the_raw_pipes() {
    let conn = serde_json::to_value(connection("conn-raw-secret", SECRET)).expect("serializes");
    let echo_op = serde_json::to_value(operation("ECHO", json!({}))).expect("serializes");
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    raw.send(&request(2, "testConnection", json!({ "connection": conn })))
        .await;
    raw.send(&request(
        3,
        "execute",
        json!({"executionId": "e-raw", "processName": "p", "connection": conn,
               "operation": echo_op, "documents": [{"data": "a"}, {"data": "b"}]}),
    ))
    .await;
    raw.send(&request(4, "shutdown", json!({}))).await;

    let Finished {
        status,
        responses,
        stdout,
        stderr,
    } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    let mut ids: Vec<u64> = responses.iter().filter_map(|r| r.id.as_u64()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![1, 2, 3, 4],
        "expected one response per request and nothing else on stdout; got {stdout:#?}"
    );
    assert_eq!(
        stdout.len(),
        responses.len(),
        "expected every stdout line to be a response"
    );
    let executed = responses
        .iter()
        .find(|r| r.id.as_u64() == Some(3))
        .map(response_result)
        .expect("the execute response is there");
    assert_eq!(executed["results"][1]["outputs"][0]["data"], json!("b"));

    assert!(
        stderr.iter().any(|line| line.contains(REDACTED)),
        "expected the redacted key in the ECHO log line; got:\n{}",
        stderr.join("\n")
    );
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    assert_json_log_lines(&stderr);
}

#[test]
fn the_suite_wide_scan_knows_this_tests_secrets_and_finds_them_in_a_line() {
    for (secret, label) in [
        (SECRET, "the secrets test's key"),
        (BAD_SECRET, "the secrets test's malformed key"),
        (fixtures::API_KEY, "the echo API key"),
    ] {
        let line = format!(r#"{{"level":"INFO","fields":{{"message":"key {secret} used"}}}}"#);
        assert_eq!(fixtures::leaked(line.as_bytes()), Some(label));
    }
    assert_eq!(fixtures::leaked(br#"{"apiKey":"** redacted **"}"#), None);
}
