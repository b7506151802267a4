//! The plugin protocol end to end: a host (`PluginProcess`, or raw pipes where the host must
//! misbehave) drives the `sdk-test-plugin` executable through every method and failure the
//! protocol spec describes.

#[path = "support/echo.rs"]
mod echo;
// Each test binary uses a different part of the fixtures.
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "support/raw.rs"]
mod raw;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_sdk::host::{
    ClientError, ExecuteParams, ExecuteResult, INVALID_FIELDS, INVALID_PARAMS, INVALID_REQUEST,
    METHOD_NOT_FOUND, PARSE_ERROR, PluginCommand, PluginProcess, RpcError, RpcOutcome, SlowCall,
    Stream, UNSUPPORTED_VERSION,
};
use connector_sdk::{Document, FieldError, ObjectType, ResultStatus, StepStatus, TestStep};
use serde_json::{Value, json};

use echo::{
    FAILING_MESSAGE, PANIC_MESSAGE, REVOKED_KEY, SLOW_STARTED, WAIT_CANCELLED, WAIT_STARTED,
};
use fixtures::{
    API_KEY, ENDPOINT, assert_echoed, assert_failure_mentions, assert_one_result_per_document,
    connection, connection_with, documents, execute_params, operation, plugin, plugin_command,
    statuses, wait_for_log,
};
use raw::{
    Finished, PATIENCE, RawPlugin, assert_json_log_lines, initialize_request, request,
    response_error, response_result,
};

/// The JSON-RPC error of a call that must fail with `code`.
fn rpc_error<T: Debug>(result: Result<T, ClientError>, code: i64) -> RpcError {
    match result {
        Err(ClientError::Rpc(err)) => {
            assert_eq!(
                err.code, code,
                "expected a JSON-RPC error with code {code}; got {err:?}"
            );
            err
        }
        other => panic!("expected a JSON-RPC error with code {code}; got {other:?}"),
    }
}

#[tokio::test]
async fn initialize_returns_the_descriptor_of_the_connector() {
    let process = plugin().await;
    let in_process = echo::connector();
    assert_eq!(
        &*process.descriptor(),
        in_process.descriptor(),
        "expected the descriptor sent at initialize to equal Connector::descriptor()"
    );
    let descriptor = process.descriptor();
    let operations: Vec<&str> = descriptor
        .operations
        .iter()
        .map(|op| op.operation_type.as_str())
        .collect();
    assert_eq!(
        operations,
        vec![
            "ECHO",
            "PARTIAL",
            "FAILING",
            "PANICKING",
            "SLOW",
            "DOUBLE",
            "CRASH",
            "DEFERRED",
            "WAIT",
            "REFUSING",
            "POLL"
        ],
        "expected the descriptor's operations in the order they were added"
    );

    // The raw result also carries the protocol version; a newer minor version is accepted and
    // answered with the highest version both know.
    let result = process
        .call_with_timeout::<_, serde_json::Value>(
            "initialize",
            &json!({"protocolVersion": "1.9", "host": {"name": "test", "version": "0"}}),
            PATIENCE,
        )
        .await
        .expect("expected a 1.x version to be accepted");
    assert_eq!(
        result["protocolVersion"],
        json!("1.1"),
        "expected the plugin to answer with the highest version both know; got {result}"
    );
    assert_eq!(
        result["connector"],
        serde_json::to_value(in_process.descriptor()).unwrap()
    );
}

#[tokio::test]
async fn an_unsupported_major_version_is_refused_with_the_versions_spoken() {
    let process = plugin().await;
    let err = rpc_error(
        process
            .call_with_timeout::<_, serde_json::Value>(
                "initialize",
                &json!({"protocolVersion": "2.0", "host": {"name": "future-host", "version": "9"}}),
                PATIENCE,
            )
            .await,
        UNSUPPORTED_VERSION,
    );
    assert_eq!(
        err.data.as_ref().map(|d| &d["supported"]),
        Some(&json!(["1.0", "1.1"])),
        "expected data.supported to be [\"1.0\", \"1.1\"]; got {err:?}"
    );
    assert!(
        err.message.contains("2.0"),
        "expected the message to name the refused version; got {:?}",
        err.message
    );
}

#[tokio::test]
async fn test_connection_reports_each_step() {
    let process = plugin().await;
    let result = process
        .test_connection(&connection("conn-test", API_KEY))
        .await
        .expect("expected testConnection to succeed");
    let names: Vec<(&str, StepStatus)> = result
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert_eq!(
        (result.ok, names),
        (
            true,
            vec![
                ("Settings valid", StepStatus::Passed),
                ("Endpoint parsed", StepStatus::Passed),
                ("API key accepted", StepStatus::Passed),
            ]
        ),
        "expected three passed steps; got {result:?}"
    );
    assert_eq!(
        result.steps[1].message,
        format!("will call {ENDPOINT} in region standard")
    );

    let custom = connection_with(
        "conn-revoked",
        json!({"endpoint": ENDPOINT, "apiKey": REVOKED_KEY, "regionType": "CUSTOM",
               "customRegion": "eu-north-7"}),
    );
    let result = process
        .test_connection(&custom)
        .await
        .expect("expected testConnection to answer with steps");
    assert!(
        !result.ok,
        "expected ok: false with a failed step; got {result:?}"
    );
    assert_eq!(
        result.steps.last(),
        Some(&TestStep::failed(
            "API key accepted",
            "the echo service refused the API key; create a new key and enter it"
        )),
    );
    assert_eq!(
        result.steps[1].message,
        format!("will call {ENDPOINT} in region eu-north-7")
    );
}

#[tokio::test]
async fn invalid_connection_fields_are_named_with_their_labels() {
    let process = plugin().await;
    let invalid = connection_with(
        "conn-invalid",
        json!({"endpoint": ENDPOINT, "regionType": "CUSTOM"}),
    );
    let err = rpc_error(process.test_connection(&invalid).await, INVALID_FIELDS);
    assert_eq!(
        err.field_errors(),
        vec![
            FieldError {
                field: "apiKey".into(),
                label: "API Key".into(),
                message: "is required; enter a value".into(),
            },
            FieldError {
                field: "customRegion".into(),
                label: "Custom Region".into(),
                message: "is required when Region Type is Custom region; enter a value".into(),
            },
        ],
        "expected data.fieldErrors to name both fields; got {err:?}"
    );

    // An operation's fields are checked the same way.
    let slow_without_delay = operation("SLOW", json!({}));
    let err = rpc_error(
        process
            .execute(&execute_params(
                &connection("conn-ok", API_KEY),
                &slow_without_delay,
                documents(1),
            ))
            .await,
        INVALID_FIELDS,
    );
    let fields: Vec<(String, String)> = err
        .field_errors()
        .into_iter()
        .map(|e| (e.field, e.label))
        .collect();
    assert_eq!(
        fields,
        vec![("delayMs".to_owned(), "Delay (ms)".to_owned())],
        "expected the SLOW operation's missing delay to be named; got {err:?}"
    );
}

#[tokio::test]
async fn browse_lists_objects_filtered_by_prefix() {
    let process = plugin().await;
    let conn = connection("conn-browse", API_KEY);
    let object = |name: &str| ObjectType {
        id: format!("{ENDPOINT}/queues/{name}"),
        label: name.to_owned(),
    };
    let all = process
        .browse(&conn, "ECHO", None)
        .await
        .expect("expected browse to succeed");
    assert_eq!(
        all.object_types,
        vec![object("orders"), object("orders-dlq"), object("invoices")]
    );
    let filtered = process
        .browse(&conn, "ECHO", Some("orders"))
        .await
        .expect("expected browse to succeed");
    assert_eq!(
        filtered.object_types,
        vec![object("orders"), object("orders-dlq")]
    );
    let none = process
        .browse(&conn, "SLOW", Some("zzz"))
        .await
        .expect("expected browse to succeed");
    assert_eq!(none.object_types, Vec::<ObjectType>::new());
}

#[tokio::test]
async fn execute_gives_one_result_per_document_in_input_order() {
    let process = plugin().await;
    let mut inputs = documents(3);
    // A body that is not UTF-8 travels as dataBase64 and comes back intact.
    inputs.push(Document::new(vec![0xff, 0x00, 0xfe]).with_property("kind", "bytes"));
    let result = process
        .execute(&execute_params(
            &connection("conn-exec", API_KEY),
            &operation("ECHO", json!({})),
            inputs.clone(),
        ))
        .await
        .expect("expected execute to succeed");
    assert_one_result_per_document(&result.results, inputs.len());
    for (result, input) in result.results.iter().zip(&inputs) {
        assert_echoed(result, input);
    }

    let empty = process
        .execute(&execute_params(
            &connection("conn-exec", API_KEY),
            &operation("ECHO", json!({})),
            Vec::new(),
        ))
        .await
        .expect("expected execute of an empty batch to succeed");
    assert_eq!(
        empty.results,
        Vec::new(),
        "expected no result for no document"
    );
}

#[tokio::test]
async fn execute_turns_missing_results_errors_and_panics_into_failures() {
    let process = plugin().await;
    let conn = connection("conn-faults", API_KEY);
    let inputs = documents(4);

    let partial = process
        .execute(&execute_params(
            &conn,
            &operation("PARTIAL", json!({})),
            inputs.clone(),
        ))
        .await
        .expect("expected execute to answer with results");
    assert_one_result_per_document(&partial.results, 4);
    assert_echoed(&partial.results[0], &inputs[0]);
    assert_failure_mentions(&partial.results[1], &inputs[1], &["document 1", "PARTIAL"]);
    assert_echoed(&partial.results[2], &inputs[2]);
    assert_failure_mentions(&partial.results[3], &inputs[3], &["document 3", "PARTIAL"]);

    let failing = process
        .execute(&execute_params(
            &conn,
            &operation("FAILING", json!({})),
            inputs.clone(),
        ))
        .await
        .expect("expected an operation error to become results, not a JSON-RPC error");
    assert_one_result_per_document(&failing.results, 4);
    assert_echoed(&failing.results[0], &inputs[0]);
    for (index, input) in inputs.iter().enumerate().skip(1) {
        assert_failure_mentions(
            &failing.results[index],
            input,
            &[&format!("document {index}"), FAILING_MESSAGE],
        );
    }

    let panicking = process
        .execute(&execute_params(
            &conn,
            &operation("PANICKING", json!({})),
            inputs.clone(),
        ))
        .await
        .expect("expected a panic to become results, not a JSON-RPC error");
    assert_one_result_per_document(&panicking.results, 4);
    assert_echoed(&panicking.results[0], &inputs[0]);
    for (index, input) in inputs.iter().enumerate().skip(1) {
        assert_failure_mentions(
            &panicking.results[index],
            input,
            &[&format!("document {index}"), PANIC_MESSAGE],
        );
    }

    // The plugin survived the panic and serves the next request.
    let after = process
        .execute(&execute_params(
            &conn,
            &operation("ECHO", json!({})),
            inputs.clone(),
        ))
        .await
        .expect("expected the plugin to keep serving after a panic");
    assert_eq!(statuses(&after.results), vec![ResultStatus::Success; 4]);
    assert!(!process.has_exited(), "expected the plugin to still run");
}

#[tokio::test]
async fn a_malformed_line_gets_a_parse_error_and_the_plugin_keeps_serving() {
    let process = plugin().await;
    let response = process
        .send_raw_line(r#"{"jsonrpc":"2.0","id":41,"method":"testConn"#, PATIENCE)
        .await
        .expect("expected an answer to a malformed line");
    assert_eq!(
        response.id,
        Value::Null,
        "expected id null; got {response:?}"
    );
    response_error(&response, PARSE_ERROR);

    // JSON that is not a request (no method) is an invalid request.
    let response = process
        .send_raw_line(r#"{"jsonrpc":"2.0","id":null,"params":{}}"#, PATIENCE)
        .await
        .expect("expected an answer to an invalid request");
    assert_eq!(
        response.id,
        Value::Null,
        "expected id null; got {response:?}"
    );
    response_error(&response, INVALID_REQUEST);

    let result = process
        .test_connection(&connection("conn-after-garbage", API_KEY))
        .await
        .expect("expected the plugin to keep serving after a malformed line");
    assert!(result.ok, "expected ok: true; got {result:?}");
}

#[tokio::test]
async fn a_line_that_is_not_utf8_gets_a_parse_error_and_the_plugin_keeps_serving() {
    let conn = serde_json::to_value(connection("conn-bytes", API_KEY)).expect("serializes");
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);

    // The id at the line's head can be read: the error carries it.
    raw.send_bytes(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\xff\xfe\"}\n")
        .await;
    let response = raw.next_response().await;
    assert_eq!(
        response.id,
        json!(2),
        "expected the id read from the line's head; got {response:?}"
    );
    response_error(&response, PARSE_ERROR);
    // Not at the head, and not readable otherwise: id null.
    raw.send_bytes(b"{\"method\":\"\xff\",\"id\":4,\"jsonrpc\":\"2.0\"}\n")
        .await;
    let response = raw.next_response().await;
    assert_eq!(
        response.id,
        Value::Null,
        "expected id null; got {response:?}"
    );
    response_error(&response, PARSE_ERROR);
    // Bytes that are not UTF-8 outside an execute request's documents are a parse error, with
    // the request's id.
    let line = [
        &b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"execute\",\"params\":{\"executionId\":\"\xff\",\"processName\":\"p\",\"connection\":"[..],
        serde_json::to_string(&conn).expect("serializes").as_bytes(),
        b",\"operation\":",
        serde_json::to_string(&operation("ECHO", json!({})))
            .expect("serializes")
            .as_bytes(),
        b",\"documents\":[]}}\n",
    ]
    .concat();
    raw.send_bytes(&line).await;
    let response = raw.next_response().await;
    assert_eq!(response.id, json!(5), "got {response:?}");
    response_error(&response, PARSE_ERROR);

    raw.send(&request(3, "testConnection", json!({"connection": conn})))
        .await;
    let response = raw.next_response().await;
    assert_eq!(
        response.id,
        json!(3),
        "expected the next request answered; got {response:?}"
    );
    assert_eq!(response_result(&response)["ok"], json!(true));

    raw.close_stdin();
    let Finished {
        status,
        responses: rest,
        stderr: logs,
        ..
    } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    assert!(rest.is_empty(), "expected no more responses; got {rest:?}");
    assert_json_log_lines(&logs);
}

#[tokio::test]
async fn a_request_sent_right_behind_initialize_finds_the_plugin_initialized() {
    let conn = serde_json::to_value(connection("conn-pipelined", API_KEY)).expect("serializes");
    // A host may write its first requests without waiting for the initialize response; the race
    // this guards against lost about one time in three, so a few rounds catch it.
    for round in 0..12 {
        let mut raw = RawPlugin::spawn();
        let mut bytes = serde_json::to_vec(&initialize_request(1, "1.0")).expect("serializes");
        bytes.push(b'\n');
        bytes.extend(
            serde_json::to_vec(&request(
                2,
                "browse",
                json!({"connection": conn, "operationType": "ECHO", "filter": "inv"}),
            ))
            .expect("serializes"),
        );
        bytes.push(b'\n');
        raw.send_bytes(&bytes).await;
        let mut answered = [raw.next_response().await, raw.next_response().await];
        answered.sort_by_key(|r| r.id.as_u64());
        assert_eq!(
            answered.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            vec![json!(1), json!(2)]
        );
        response_result(&answered[0]);
        let RpcOutcome::Result(browsed) = &answered[1].outcome else {
            panic!(
                "round {round}: expected the request right behind initialize to be served; got {:?}",
                answered[1]
            )
        };
        assert_eq!(
            browsed["objectTypes"][0]["label"],
            json!("invoices"),
            "round {round}: expected the filtered browse result; got {browsed}"
        );
        raw.close_stdin();
        let status = raw.finish().await.status;
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: expected exit status 0; got {status}"
        );
    }
}

#[tokio::test]
async fn an_unknown_method_and_invalid_params_are_json_rpc_errors() {
    let process = plugin().await;
    let err = rpc_error(
        process
            .call_with_timeout::<_, serde_json::Value>("frobnicate", &json!({}), PATIENCE)
            .await,
        METHOD_NOT_FOUND,
    );
    assert!(
        err.message.contains("frobnicate"),
        "expected the message to name the method; got {:?}",
        err.message
    );
    rpc_error(
        process
            .call_with_timeout::<_, serde_json::Value>(
                "execute",
                &json!({"executionId": 7}),
                PATIENCE,
            )
            .await,
        INVALID_PARAMS,
    );
    rpc_error(
        process
            .call_with_timeout::<_, serde_json::Value>(
                "testConnection",
                &json!({"connection": "conn-1"}),
                PATIENCE,
            )
            .await,
        INVALID_PARAMS,
    );
}

#[tokio::test]
async fn a_request_before_initialize_is_refused() {
    let conn = serde_json::to_value(connection("conn-early", API_KEY)).expect("serializes");
    let mut raw = RawPlugin::spawn();

    raw.send(&request(1, "testConnection", json!({"connection": conn})))
        .await;
    let response = raw.next_response().await;
    assert_eq!(
        response.id,
        json!(1),
        "expected the request's id; got {response:?}"
    );
    let err = response_error(&response, INVALID_REQUEST);
    assert!(
        err.message.contains("initialize"),
        "expected the message to say initialize comes first; got {:?}",
        err.message
    );

    // A refused initialize does not count.
    raw.send(&initialize_request(2, "2.0")).await;
    response_error(&raw.next_response().await, UNSUPPORTED_VERSION);
    raw.send(&request(
        3,
        "browse",
        json!({"connection": conn, "operationType": "ECHO"}),
    ))
    .await;
    response_error(&raw.next_response().await, INVALID_REQUEST);

    raw.send(&initialize_request(4, "1.0")).await;
    let response = raw.next_response().await;
    assert_eq!(response.id, json!(4));
    assert_eq!(response_result(&response)["protocolVersion"], json!("1.0"));
    raw.send(&request(5, "testConnection", json!({"connection": conn})))
        .await;
    let response = raw.next_response().await;
    assert_eq!(response.id, json!(5));
    assert_eq!(response_result(&response)["ok"], json!(true));

    raw.close_stdin();
    let Finished {
        status,
        responses: rest,
        stderr: logs,
        ..
    } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    assert!(rest.is_empty(), "expected no more responses; got {rest:?}");
    assert_json_log_lines(&logs);
}

#[tokio::test]
async fn closing_stdin_finishes_in_flight_requests_and_exits_with_zero() {
    let conn = serde_json::to_value(connection("conn-stdin", API_KEY)).expect("serializes");
    let slow =
        serde_json::to_value(operation("SLOW", json!({"delayMs": 300}))).expect("serializes");
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);

    raw.send(&request(
        2,
        "execute",
        json!({"executionId": "e-stdin", "processName": "p", "connection": conn,
               "operation": slow, "documents": [{"data": "a"}, {"data": "b"}]}),
    ))
    .await;
    raw.close_stdin();

    let Finished {
        status,
        responses,
        stderr: logs,
        ..
    } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    assert_eq!(
        responses.len(),
        1,
        "expected the in-flight execute to be answered before exit; got {responses:?}"
    );
    assert_eq!(responses[0].id, json!(2));
    let statuses: Vec<Value> = response_result(&responses[0])["results"]
        .as_array()
        .expect("results is a list")
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("SUCCESS"), json!("SUCCESS")]);
    assert_json_log_lines(&logs);
    assert!(
        logs.iter().any(|l| l.contains("stdin closed")),
        "expected the plugin to log why it exits; got {logs:?}"
    );
}

#[tokio::test]
async fn a_slow_execute_does_not_block_test_connection() {
    let process = plugin().await;
    let conn = connection("conn-concurrent", API_KEY);
    let slow = execute_params(
        &conn,
        &operation("SLOW", json!({"delayMs": 1500})),
        documents(2),
    );
    let started = Instant::now();
    let ((executed, execute_took), (tested, test_took)) = tokio::join!(
        async {
            let result = process.execute(&slow).await;
            (result, started.elapsed())
        },
        async {
            // Issue testConnection only once the plugin is inside the slow execute.
            wait_for_log(&process, SLOW_STARTED).await;
            let result = process.test_connection(&conn).await;
            (result, started.elapsed())
        },
    );
    let executed = executed.expect("expected the slow execute to succeed");
    let tested = tested.expect("expected testConnection to succeed");
    assert_eq!(statuses(&executed.results), vec![ResultStatus::Success; 2]);
    assert!(tested.ok, "expected ok: true; got {tested:?}");
    assert!(
        execute_took >= Duration::from_millis(1500),
        "expected the SLOW execute to take at least 1.5 s; it took {execute_took:?}"
    );
    assert!(
        test_took < execute_took,
        "expected testConnection ({test_took:?}) to answer before the slow execute \
         ({execute_took:?})"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_exits_with_zero() {
    let process = plugin().await;
    let conn = connection("conn-shutdown", API_KEY);
    let slow = execute_params(
        &conn,
        &operation("SLOW", json!({"delayMs": 300})),
        documents(2),
    );
    let (executed, status) = tokio::join!(process.execute(&slow), async {
        wait_for_log(&process, SLOW_STARTED).await;
        process.shutdown().await
    });
    let status = status.expect("expected shutdown to succeed");
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    let executed = executed.expect("expected the in-flight execute to be answered");
    assert_eq!(statuses(&executed.results), vec![ResultStatus::Success; 2]);

    let after = process.test_connection(&conn).await;
    assert!(
        matches!(after, Err(ClientError::Exited { .. })),
        "expected a call after shutdown to report the exit; got {after:?}"
    );
    wait_for_log(&process, "plugin shutting down on request").await;
}

#[tokio::test]
async fn a_crash_is_reported_as_exited_and_restart_brings_the_plugin_back() {
    let process = plugin().await;
    let conn = connection("conn-crash", API_KEY);
    let slow = execute_params(
        &conn,
        &operation("SLOW", json!({"delayMs": 5000})),
        documents(1),
    );
    let crash = execute_params(&conn, &operation("CRASH", json!({})), documents(1));
    let (slow_result, crash_result) = tokio::join!(process.execute(&slow), async {
        wait_for_log(&process, SLOW_STARTED).await;
        process.execute(&crash).await
    });
    // Both the crashing call and the call still in flight learn of the exit; neither hangs.
    assert!(
        matches!(crash_result, Err(ClientError::Exited { .. })),
        "expected the CRASH execute to give ClientError::Exited; got {crash_result:?}"
    );
    assert!(
        matches!(slow_result, Err(ClientError::Exited { .. })),
        "expected the in-flight SLOW execute to give ClientError::Exited; got {slow_result:?}"
    );
    assert!(process.has_exited(), "expected has_exited() after a crash");

    let before_restart = process.test_connection(&conn).await;
    assert!(
        matches!(before_restart, Err(ClientError::Exited { .. })),
        "expected a call to a crashed plugin to give ClientError::Exited; got {before_restart:?}"
    );
    // The exit status is known once the process is reaped, a moment after its output closed.
    let mut said = before_restart.unwrap_err().to_string();
    for _ in 0..40 {
        if said.contains("exit status: 3") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        said = process
            .test_connection(&conn)
            .await
            .unwrap_err()
            .to_string();
    }
    assert!(
        said.contains("exit status: 3"),
        "expected the error to give the plugin's exit status; got {said:?}"
    );

    process
        .restart()
        .await
        .expect("expected restart to succeed");
    assert_eq!(process.starts(), 2, "expected two starts after one restart");
    assert!(
        !process.has_exited(),
        "expected the restarted plugin to run"
    );
    let tested = process
        .test_connection(&conn)
        .await
        .expect("expected testConnection to work after restart");
    assert!(tested.ok, "expected ok: true; got {tested:?}");
    let echoed = process
        .execute(&execute_params(
            &conn,
            &operation("ECHO", json!({})),
            documents(2),
        ))
        .await
        .expect("expected execute to work after restart");
    assert_eq!(statuses(&echoed.results), vec![ResultStatus::Success; 2]);
}

#[tokio::test]
async fn a_call_to_a_plugin_whose_output_closed_fails_at_once() {
    // A stand-in plugin that answers initialize, closes its stdout and keeps reading stdin: writes
    // to it succeed, yet no response can ever come.
    let script = r#"read line
printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1.0","connector":{}}}'
exec 1>&-
exec cat >/dev/null"#;
    let mut command = PluginCommand::new("sh", &["-c", script]);
    command.timeout = Duration::from_secs(3);
    let process = PluginProcess::spawn(command)
        .await
        .expect("expected the stand-in plugin to initialize");
    let deadline = Instant::now() + PATIENCE;
    while !process.has_exited() {
        assert!(
            Instant::now() < deadline,
            "expected the host to notice the closed output within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let result = process
        .test_connection(&connection("conn-closed", API_KEY))
        .await;
    assert!(
        matches!(result, Err(ClientError::Exited { .. })),
        "expected ClientError::Exited at once, not a wait for the timeout; got {result:?}"
    );
    let raw = process.send_raw_line("{}", Duration::from_secs(3)).await;
    assert!(
        matches!(raw, Err(ClientError::Exited { .. })),
        "expected ClientError::Exited for a raw line too; got {raw:?}"
    );
}

/// A document that cannot be read, as the bytes of its JSON, and the words its result's message
/// must hold.
const MALFORMED: [(&[u8], &str); 11] = [
    (
        br#"{"dataBase64":"not base64!","properties":{}}"#,
        "\"dataBase64\" is not valid base64",
    ),
    (
        br#"{"data":"a","dataBase64":"YQ==","properties":{}}"#,
        "both \"data\" and \"dataBase64\"",
    ),
    (
        br#"{"data":"a","properties":{"x":1}}"#,
        "property \"x\" is a number; property values are strings",
    ),
    (
        br#"{"data":"a","properties":{"x":null}}"#,
        "property \"x\" is null",
    ),
    (
        br#"{"data":"a","properties":{"x":{"y":"z"}}}"#,
        "property \"x\" is an object",
    ),
    (
        br#"{"data":"a\ud800b","properties":{}}"#,
        "\"data\" is not valid UTF-8",
    ),
    (
        br#"{"data":"a","properties":{"x":"\udc00"}}"#,
        "property \"x\" is not valid UTF-8",
    ),
    (
        b"{\"data\":\"a\xffb\",\"properties\":{}}",
        "\"data\" is not valid UTF-8",
    ),
    (
        b"{\"data\":\"a\",\"properties\":{\"x\":\"\xc3\"}}",
        "property \"x\" is not valid UTF-8",
    ),
    (
        b"{\"data\":\"\xed\xa0\x80\",\"properties\":{}}",
        "\"data\" is not valid UTF-8",
    ),
    (b"7", "it is a number; a document is an object"),
];

/// An execute request line with `documents` (the bytes of each) as hosts using the SDK write it
/// (read by the plugin's fast path) or, with `reordered`, with every object's keys in another
/// order (read by its general path).
fn execute_line(id: u64, op: &str, documents: &[Vec<u8>], reordered: bool) -> Vec<u8> {
    let conn = serde_json::to_string(&connection("conn-malformed", API_KEY)).expect("serializes");
    let op = serde_json::to_string(&operation(op, json!({}))).expect("serializes");
    let documents = [&b"["[..], &documents.join(&b","[..]), b"]"].concat();
    let (head, params) = if reordered {
        (
            format!(r#"{{"id":{id},"method":"execute","jsonrpc":"2.0","params":{{"#),
            [
                &b"\"documents\": "[..],
                &documents,
                format!(r#", "operation": {op}, "connection": {conn}, "processName": "p", "executionId": "e-{id}"}}}}"#).as_bytes(),
            ]
            .concat(),
        )
    } else {
        (
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"execute","params":{{"#),
            [
                format!(r#""executionId":"e-{id}","processName":"p","connection":{conn},"operation":{op},"documents":"#).as_bytes(),
                &documents,
                b"}}",
            ]
            .concat(),
        )
    };
    [head.as_bytes(), &params, b"\n"].concat()
}

/// Good document `index`, as `fixtures::documents` makes it, and its JSON (keys reordered or not).
fn good_document(index: usize, reordered: bool) -> (Document, Vec<u8>) {
    let json = if reordered {
        format!(r#"{{"properties": {{"source": "test-{index}"}}, "data": "doc-{index}"}}"#)
    } else {
        format!(r#"{{"data":"doc-{index}","properties":{{"source":"test-{index}"}}}}"#)
    };
    (documents(index + 1).remove(index), json.into_bytes())
}

#[tokio::test]
async fn a_document_that_cannot_be_read_gets_its_own_error_and_its_neighbours_are_served() {
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);
    let mut id = 1;
    for reordered in [false, true] {
        // In the middle of three good documents: at index 1, and at index 2.
        let bad_at = if reordered { 2 } else { 1 };
        for (bad, expected) in MALFORMED {
            id += 1;
            let mut inputs = Vec::new();
            let mut lines = Vec::new();
            for index in 0..4 {
                let (document, json) = good_document(index, reordered);
                inputs.push(document);
                lines.push(if index == bad_at { bad.to_vec() } else { json });
            }
            raw.send_bytes(&execute_line(id, "ECHO", &lines, reordered))
                .await;
            let response = raw.next_response().await;
            let case = format!("{} (reordered: {reordered})", String::from_utf8_lossy(bad));
            assert_eq!(response.id, json!(id), "{case}: got {response:?}");
            let result: connector_sdk::host::ExecuteResult =
                serde_json::from_value(response_result(&response))
                    .unwrap_or_else(|e| panic!("{case}: not an execute result ({e})"));
            assert_one_result_per_document(&result.results, 4);
            for index in (0..4).filter(|i| *i != bad_at) {
                assert_echoed(&result.results[index], &inputs[index]);
            }
            let refused = &result.results[bad_at];
            assert_eq!(
                (refused.status, refused.status_code.as_deref()),
                (ResultStatus::ApplicationError, Some("InvalidDocument")),
                "{case}: got {refused:#?}"
            );
            let message = refused.message.as_deref().unwrap_or_default();
            let prefix = format!("document {bad_at} could not be read: ");
            assert!(
                message.starts_with(&prefix) && message.contains(expected),
                "{case}: expected a message starting {prefix:?} and holding {expected:?}; got \
                 {message:?}"
            );
            assert!(refused.outputs.is_empty(), "{case}: {refused:#?}");
        }
    }

    // Problems of the request itself are still errors of the request, with its id.
    let conn = serde_json::to_value(connection("conn-malformed", API_KEY)).expect("serializes");
    let echo = serde_json::to_value(operation("ECHO", json!({}))).expect("serializes");
    for (documents, connection) in [(json!({}), conn.clone()), (json!([]), json!(7))] {
        raw.send(&request(
            90,
            "execute",
            json!({"executionId": "e", "processName": "p", "connection": connection,
                   "operation": echo, "documents": documents}),
        ))
        .await;
        let response = raw.next_response().await;
        assert_eq!(response.id, json!(90), "got {response:?}");
        response_error(&response, INVALID_PARAMS);
    }

    raw.close_stdin();
    let Finished {
        status, responses, ..
    } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    assert!(
        responses.is_empty(),
        "expected no more responses; got {responses:?}"
    );
}

#[tokio::test]
async fn results_other_than_success_carry_the_input_document_through_the_plugin() {
    let process = plugin().await;
    let inputs = vec![
        Document::new("text").with_property("k", "v"),
        Document::new(vec![0xff, 0x01]),
    ];
    let refused = process
        .execute(&execute_params(
            &connection("conn-refusing", API_KEY),
            &operation("REFUSING", json!({})),
            inputs.clone(),
        ))
        .await
        .expect("expected execute to succeed");
    assert_one_result_per_document(&refused.results, 2);
    for (result, input) in refused.results.iter().zip(&inputs) {
        assert_eq!(
            (result.status, &result.outputs),
            (ResultStatus::ApplicationError, &vec![input.clone()]),
            "expected an APPLICATION_ERROR carrying its input; got {result:#?}"
        );
    }
}

#[tokio::test]
async fn cancel_request_cancels_a_running_execute_and_an_unknown_or_finished_id_does_nothing() {
    let conn = serde_json::to_value(connection("conn-cancel", API_KEY)).expect("serializes");
    let wait = serde_json::to_value(operation("WAIT", json!({}))).expect("serializes");
    let cancel =
        |id: u64| json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}});
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);

    // Unknown: no answer (the next line read is the execute's).
    raw.send(&cancel(99)).await;
    raw.send(&request(
        2,
        "execute",
        json!({"executionId": "e-cancel", "processName": "p", "connection": conn,
               "operation": wait, "documents": [{"data": "a"}, {"data": "b"}]}),
    ))
    .await;
    raw.send(&cancel(2)).await;
    let started = std::time::Instant::now();
    let response = raw.next_response().await;
    assert_eq!(response.id, json!(2), "got {response:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "expected the cancel to end the WAIT at once"
    );
    let results = response_result(&response)["results"].clone();
    let codes: Vec<(Value, Value)> = results
        .as_array()
        .expect("results is a list")
        .iter()
        .map(|r| (r["status"].clone(), r["statusCode"].clone()))
        .collect();
    assert_eq!(
        codes,
        vec![(json!("FAILURE"), json!("CANCELLED")); 2],
        "expected every document cancelled; got {results}"
    );

    // Finished: nothing happens; a cancel sent as a request is answered with null.
    raw.send(&cancel(2)).await;
    raw.send(
        &json!({"jsonrpc": "2.0", "id": 3, "method": "$/cancelRequest", "params": {"id": 77}}),
    )
    .await;
    let response = raw.next_response().await;
    assert_eq!(response.id, json!(3), "got {response:?}");
    assert_eq!(response_result(&response), Value::Null);
    raw.send(&request(4, "testConnection", json!({"connection": conn})))
        .await;
    let response = raw.next_response().await;
    assert_eq!(response.id, json!(4), "got {response:?}");
    assert_eq!(response_result(&response)["ok"], json!(true));

    raw.close_stdin();
    let Finished {
        status,
        responses,
        stderr,
        ..
    } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    assert!(
        responses.is_empty(),
        "expected no more responses; got {responses:?}"
    );
    let told: Vec<&String> = stderr
        .iter()
        .filter(|l| l.contains("work after delivery ran") && l.contains("e-cancel"))
        .collect();
    assert!(
        told.len() == 1 && told[0].contains("\"delivered\":false"),
        "expected the cancelled execute's work after delivery to be told false; got {told:?}"
    );
}

#[tokio::test]
async fn work_after_delivery_is_told_true_once_the_response_was_written() {
    let conn = serde_json::to_value(connection("conn-deferred", API_KEY)).expect("serializes");
    let deferred = serde_json::to_value(operation("DEFERRED", json!({}))).expect("serializes");
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);
    raw.send(&request(
        2,
        "execute",
        json!({"executionId": "e-deferred", "processName": "p", "connection": conn,
               "operation": deferred, "documents": [{"data": "a"}]}),
    ))
    .await;
    let response = raw.next_response().await;
    assert_eq!(
        response_result(&response)["results"][0]["status"],
        json!("SUCCESS")
    );
    raw.close_stdin();
    let Finished { status, stderr, .. } = raw.finish().await;
    assert_eq!(
        status.code(),
        Some(0),
        "expected exit status 0; got {status}"
    );
    let told: Vec<&String> = stderr
        .iter()
        .filter(|l| l.contains("work after delivery ran") && l.contains("e-deferred"))
        .collect();
    assert!(
        told.len() == 1 && told[0].contains("\"delivered\":true"),
        "expected the work after delivery to be told true; got {told:?}"
    );
}

#[tokio::test]
async fn initialize_negotiates_1_1_with_limits_and_answers_a_1_0_host_exactly_as_before() {
    let mut raw = RawPlugin::spawn();
    let result_of = |response: &connector_sdk::host::Response| response_result(response);

    raw.send(&initialize_request(1, "1.0")).await;
    let result = result_of(&raw.next_response().await);
    let keys: Vec<&String> = result.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        ["protocolVersion", "connector"],
        "expected a 1.0 answer without 1.1's additions; got {result}"
    );
    assert_eq!(result["protocolVersion"], "1.0");
    assert_eq!(
        result["connector"],
        serde_json::to_value(echo::connector().descriptor()).unwrap()
    );
    assert_eq!(result["connector"]["protocolVersion"], "1.1");

    let defaults = json!({"maxLineBytes": 256 << 20, "maxRequestsInFlight": 64});
    for (id, asked, limits, expected) in [
        (2, "1.1", None, defaults.clone()),
        (3, "1.4", None, defaults.clone()),
        (
            4,
            "1.1",
            Some(json!({"maxLineBytes": 2 << 20})),
            json!({"maxLineBytes": 2 << 20, "maxRequestsInFlight": 64}),
        ),
        (
            5,
            "1.1",
            Some(json!({"maxLineBytes": 10})),
            json!({"maxLineBytes": 1 << 20, "maxRequestsInFlight": 64}),
        ),
        (
            6,
            "1.1",
            Some(json!({"maxLineBytes": 1_u64 << 50})),
            defaults,
        ),
    ] {
        let mut request = initialize_request(id, asked);
        if let Some(limits) = limits {
            request["params"]["limits"] = limits;
        }
        raw.send(&request).await;
        let response = raw.next_response().await;
        assert_eq!(response.id, json!(id));
        let result = result_of(&response);
        assert_eq!(
            (&result["protocolVersion"], &result["limits"]),
            (&json!("1.1"), &expected),
            "asked for {asked}: {request}"
        );
    }
    for (id, asked) in [(7, "2.0"), (8, "0.9"), (9, "one")] {
        raw.send(&initialize_request(id, asked)).await;
        let err = response_error(&raw.next_response().await, UNSUPPORTED_VERSION);
        assert_eq!(
            err.data.map(|data| data["supported"].clone()),
            Some(json!(["1.0", "1.1"])),
            "asked for {asked}"
        );
    }
    raw.close_stdin();
    assert_eq!(raw.finish().await.status.code(), Some(0));

    // The host of this SDK asks for 1.1 and keeps what was negotiated.
    let process = plugin().await;
    assert_eq!(process.protocol_version(), "1.1");
    let limits = process.limits().expect("1.1 limits");
    assert_eq!(
        (limits.max_line_bytes, limits.max_requests_in_flight),
        (256 << 20, 64)
    );
}

/// A figure of `/proc/<pid>/status`, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the plugin's /proc status is readable");
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("unreadable: {line}"));
    kib * 1024
}

/// Sends an execute request line of `mib` MiB of document data to `raw`, a MiB at a time (the
/// line is never whole in this process), then a testConnection (id 3) behind it; returns the
/// -32600 answer to the line, after checking the testConnection was served.
async fn send_huge_line(raw: &mut RawPlugin, mib: usize, limit: usize) {
    let conn = serde_json::to_value(connection("conn-huge", API_KEY)).expect("serializes");
    let echo_op = serde_json::to_value(operation("ECHO", json!({}))).expect("serializes");
    let head = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"execute","params":{{"executionId":"e-huge","processName":"p","connection":{conn},"operation":{echo_op},"documents":[{{"data":""#
    );
    raw.send_bytes(head.as_bytes()).await;
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..mib {
        raw.send_bytes(&chunk).await;
    }
    raw.send_bytes(b"\"}]}}\n").await;
    raw.send(&request(3, "testConnection", json!({"connection": conn})))
        .await;

    let refused = raw.next_response().await;
    assert_eq!(refused.id, json!(2), "got {refused:?}");
    let err = response_error(&refused, INVALID_REQUEST);
    assert_eq!(
        err.message,
        format!(
            "the line is {} bytes or more; this plugin accepts lines of at most {limit} bytes \
             (limits.maxLineBytes)",
            limit + 1
        )
    );
    let tested = raw.next_response().await;
    assert_eq!(tested.id, json!(3), "got {tested:?}");
    assert_eq!(response_result(&tested)["ok"], json!(true));
}

#[tokio::test]
async fn a_line_of_300_mib_is_refused_and_discarded_without_being_held_in_memory() {
    const LIMIT: usize = 16 << 20;
    const LINE_MIB: usize = 300;
    const BOUND: u64 = 64 << 20;
    let limit = LIMIT.to_string();
    let mut raw = RawPlugin::spawn_with_env(&[("SDK_TEST_PLUGIN_MAX_LINE_BYTES", &limit)]);
    raw.send(&initialize_request(1, "1.1")).await;
    let initialized = response_result(&raw.next_response().await);
    assert_eq!(initialized["limits"]["maxLineBytes"], LIMIT);

    let pid = raw.pid();
    let before = proc_status_bytes(pid, "VmRSS");
    let started = Instant::now();
    send_huge_line(&mut raw, LINE_MIB, LIMIT).await;
    let took = started.elapsed();
    let peak = proc_status_bytes(pid, "VmHWM");
    eprintln!(
        "a {LINE_MIB} MiB line against a limit of {} MiB: RSS before {:.1} MiB, peak {:.1} MiB \
         (+{:.1} MiB), {took:?}",
        LIMIT >> 20,
        before as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        peak.saturating_sub(before) as f64 / 1048576.0
    );
    assert!(
        peak < before + BOUND,
        "expected the plugin's peak RSS to stay under {} MiB above its RSS before ({} MiB); it \
         reached {} MiB",
        BOUND >> 20,
        before >> 20,
        peak >> 20
    );
    raw.close_stdin();
    let Finished { status, stderr, .. } = raw.finish().await;
    assert_eq!(status.code(), Some(0));
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("discarded the rest of the line")),
        "expected the plugin to log the discarded line; got {stderr:?}"
    );
}

#[tokio::test]
async fn with_the_default_limit_a_line_of_300_mib_is_refused_and_not_held_past_the_limit() {
    const LINE_MIB: usize = 300;
    const LIMIT: usize = 256 << 20;
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);
    let pid = raw.pid();
    let before = proc_status_bytes(pid, "VmRSS");
    let started = Instant::now();
    send_huge_line(&mut raw, LINE_MIB, LIMIT).await;
    let took = started.elapsed();
    let peak = proc_status_bytes(pid, "VmHWM");
    eprintln!(
        "a {LINE_MIB} MiB line against the default limit of 256 MiB (a 1.0 host): RSS before \
         {:.1} MiB, peak {:.1} MiB (+{:.1} MiB), {took:?}",
        before as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        peak.saturating_sub(before) as f64 / 1048576.0
    );
    // The line's first 256 MiB are held (a line up to the limit is served), the rest is not.
    assert!(
        peak < before + LIMIT as u64 + (32 << 20),
        "expected the plugin's peak RSS to stay under the limit + 32 MiB above its RSS before \
         ({} MiB); it reached {} MiB",
        before >> 20,
        peak >> 20
    );
    raw.close_stdin();
    assert_eq!(raw.finish().await.status.code(), Some(0));
}

#[tokio::test]
async fn with_max_requests_in_flight_running_the_plugin_binary_reads_no_further_line() {
    const DELAY: Duration = Duration::from_millis(800);
    let conn = serde_json::to_value(connection("conn-in-flight", API_KEY)).expect("serializes");
    let slow = serde_json::to_value(operation("SLOW", json!({"delayMs": DELAY.as_millis()})))
        .expect("serializes");
    let mut raw = RawPlugin::spawn_with_env(&[("SDK_TEST_PLUGIN_MAX_REQUESTS_IN_FLIGHT", "2")]);
    raw.send(&initialize_request(1, "1.1")).await;
    let initialized = response_result(&raw.next_response().await);
    assert_eq!(initialized["limits"]["maxRequestsInFlight"], 2);

    let started = Instant::now();
    for id in 2..=4 {
        raw.send(&request(
            id,
            "execute",
            json!({"executionId": format!("e-in-flight-{id}"), "processName": "p",
                   "connection": conn, "operation": slow, "documents": [{"data": "a"}]}),
        ))
        .await;
    }
    raw.send(&request(5, "testConnection", json!({"connection": conn})))
        .await;
    let mut answered = Vec::new();
    for _ in 2..=5 {
        let response = raw.next_response().await;
        response_result(&response);
        answered.push((
            response.id.as_u64().expect("a numeric id"),
            started.elapsed(),
        ));
    }
    let at = |id: u64| answered.iter().find(|(n, _)| *n == id).map(|(_, at)| *at);
    // Two SLOW executes run: the third and the testConnection behind it wait to be read until
    // they finish.
    let test_connection_at = at(5).expect("the testConnection is answered");
    let third_at = at(4).expect("the third execute is answered");
    assert!(
        test_connection_at >= DELAY && third_at >= 2 * DELAY,
        "expected the testConnection to be answered after {DELAY:?} at the earliest and the \
         third execute after {:?}; got {answered:?}",
        2 * DELAY
    );
    raw.close_stdin();
    assert_eq!(raw.finish().await.status.code(), Some(0));
}

/// The index of the first log line holding every one of `needles`.
fn log_index(process: &PluginProcess, needles: &[&str]) -> Option<usize> {
    process
        .logs()
        .iter()
        .position(|line| needles.iter().all(|needle| line.contains(needle)))
}

/// Waits (at most 10 s) for a log line holding every one of `needles`; returns its index.
async fn wait_for_log_with(process: &PluginProcess, needles: &[&str]) -> usize {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(index) = log_index(process, needles) {
            return index;
        }
        assert!(
            Instant::now() < deadline,
            "expected a log line with {needles:?} within 10 s; the logs are:\n{}",
            process.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The params of a WAIT execute with its own execution id.
fn wait_params(execution_id: &str) -> connector_sdk::host::ExecuteParams {
    let mut params = execute_params(
        &connection("conn-wait", API_KEY),
        &operation("WAIT", json!({})),
        documents(1),
    );
    params.execution_id = execution_id.to_owned();
    params
}

/// Checks that an execute was answered by the plugin after its cancel: every document FAILURE
/// with `CANCELLED`.
fn assert_cancelled_answer(answer: &Result<ExecuteResult, ClientError>, documents: usize) {
    match answer {
        Ok(answer) => {
            assert_one_result_per_document(&answer.results, documents);
            for result in &answer.results {
                assert_eq!(
                    (result.status, result.status_code.as_deref()),
                    (ResultStatus::Failure, Some(echo::CANCELLED)),
                    "{result:?}"
                );
            }
        }
        Err(err) => panic!("expected the plugin's answer to the cancel; got {err:?}"),
    }
}

#[tokio::test]
async fn a_call_whose_timeout_passes_is_cancelled_and_returns_the_plugins_answer() {
    let process = plugin().await;
    let started = Instant::now();
    let answer = process
        .call_with_timeout::<_, ExecuteResult>(
            "execute",
            &wait_params("e-timed-out"),
            Duration::from_millis(500),
        )
        .await;
    // WAIT waits 30 s for its cancellation token: it saw it, and its answer came back.
    assert_cancelled_answer(&answer, 1);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(started.elapsed() < PATIENCE);
    wait_for_log_with(&process, &[WAIT_CANCELLED, "e-timed-out"]).await;
    assert!(log_index(&process, &["cancel requested", "\"found\":true"]).is_some());
    let tested = process
        .test_connection(&connection("conn-after-timeout", API_KEY))
        .await
        .expect("the plugin keeps serving");
    assert!(tested.ok);
}

#[tokio::test]
async fn at_the_plugins_limit_the_host_keeps_a_slot_free_so_its_cancels_are_read() {
    let mut command = plugin_command();
    command.env.push((
        "SDK_TEST_PLUGIN_MAX_REQUESTS_IN_FLIGHT".to_owned(),
        "2".to_owned(),
    ));
    let process = PluginProcess::spawn(command)
        .await
        .expect("the test plugin starts");
    assert_eq!(process.limits().map(|l| l.max_requests_in_flight), Some(2));

    // Two WAIT executes, which end only when cancelled: were both sent, they would fill the
    // plugin's slots and their cancels would wait unread.
    let first = wait_params("e-slot-first");
    let second = wait_params("e-slot-second");
    let started = Instant::now();
    let (first, second) = tokio::join!(
        process.call_with_timeout::<_, ExecuteResult>("execute", &first, Duration::from_secs(1)),
        async {
            wait_for_log_with(&process, &[WAIT_STARTED, "e-slot-first"]).await;
            process
                .call_with_timeout::<_, ExecuteResult>("execute", &second, Duration::from_secs(4))
                .await
        },
    );
    // Both timed out, were cancelled and answered.
    assert_cancelled_answer(&first, 1);
    assert_cancelled_answer(&second, 1);
    let first_cancelled = wait_for_log_with(&process, &[WAIT_CANCELLED, "e-slot-first"]).await;
    let second_started = wait_for_log_with(&process, &[WAIT_STARTED, "e-slot-second"]).await;
    wait_for_log_with(&process, &[WAIT_CANCELLED, "e-slot-second"]).await;
    assert!(
        first_cancelled < second_started,
        "expected the second execute to be sent only once the first was cancelled"
    );
    assert!(started.elapsed() < PATIENCE);
}

/// A stand-in plugin: a shell script that answers `initialize` with each of `answers` in turn
/// (reading a line before each) and then copies whatever it reads to the file `record`, the
/// lines it answered included, without answering any more.
fn stand_in(answers: &[&str], record: &std::path::Path) -> PluginCommand {
    let mut script = String::new();
    for answer in answers {
        script.push_str(&format!(
            "read line\nprintf '%s\\n' \"$line\" >> \"$RECORD\"\nprintf '%s\\n' '{answer}'\n"
        ));
    }
    // Not `exec`: the shell keeps the host's end of stdout open. A process of its own (which
    // outlives a kill of the shell) copies the input, and marks its end once the host closed it.
    script.push_str("(cat; printf '%s\\n' \"$INPUT_CLOSED\") >> \"$RECORD\"\n");
    let mut command = PluginCommand::new("sh", &["-c", &script]);
    command.timeout = Duration::from_secs(3);
    command.grace = Duration::from_millis(300);
    command
        .env
        .push(("INPUT_CLOSED".to_owned(), INPUT_CLOSED.to_owned()));
    command
        .env
        .push(("RECORD".to_owned(), record.display().to_string()));
    command
}

/// What the stand-in plugin writes to its record once the host closed its input.
const INPUT_CLOSED: &str = "the host closed the input";

/// Waits (at most 10 s) until the file `record` holds `needle`; returns its text.
async fn recorded(record: &std::path::Path, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(record).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "expected {needle:?} to reach the stand-in plugin; it read:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_host_asks_for_1_1_and_cancels_a_call_that_timed_out_only_when_the_plugin_speaks_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let short = Duration::from_millis(200);

    // A 1.1 plugin: the call that times out is cancelled.
    let record = dir.path().join("1.1.jsonl");
    let process = PluginProcess::spawn(stand_in(
        &[
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1.1","limits":{"maxLineBytes":1048576,"maxRequestsInFlight":4},"connector":{}}}"#,
        ],
        &record,
    ))
    .await
    .expect("the stand-in initializes");
    assert_eq!(process.protocol_version(), "1.1");
    let limits = process.limits().expect("1.1 limits");
    assert_eq!(
        (limits.max_line_bytes, limits.max_requests_in_flight),
        (1 << 20, 4)
    );
    let started = Instant::now();
    let timed_out = process
        .call_with_timeout::<_, serde_json::Value>("browse", &json!({}), short)
        .await;
    // The stand-in never answers: after the grace period it was stopped.
    assert!(
        matches!(&timed_out, Err(ClientError::Timeout { stopped: Some(what), .. }) if what.contains("grace period")),
        "{timed_out:?}"
    );
    assert!(started.elapsed() >= short + Duration::from_millis(300));
    assert!(process.has_exited());
    let text = recorded(&record, "$/cancelRequest").await;
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON lines"))
        .collect();
    assert_eq!(lines[0]["params"]["protocolVersion"], "1.1");
    assert_eq!(
        (&lines[1]["id"], &lines[1]["method"]),
        (&json!(2), &json!("browse"))
    );
    assert_eq!(
        lines[2],
        json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 2}})
    );

    // A 1.0 plugin: no cancel.
    let record = dir.path().join("1.0.jsonl");
    let process = PluginProcess::spawn(stand_in(
        &[r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1.0","connector":{}}}"#],
        &record,
    ))
    .await
    .expect("the stand-in initializes");
    assert_eq!(
        (process.protocol_version(), process.limits()),
        ("1.0", None)
    );
    let started = Instant::now();
    let timed_out = process
        .call_with_timeout::<_, serde_json::Value>("browse", &json!({}), short)
        .await;
    // A 1.0 plugin cannot cancel: it is stopped at once, without a grace period.
    assert!(
        matches!(&timed_out, Err(ClientError::Timeout { stopped: Some(what), .. }) if what.contains("1.0")),
        "{timed_out:?}"
    );
    assert!(started.elapsed() < short + Duration::from_millis(300));
    assert!(process.has_exited());
    drop(process);
    let text = recorded(&record, INPUT_CLOSED).await;
    assert!(text.contains("\"browse\""), "{text}");
    assert!(!text.contains("$/cancelRequest"), "{text}");

    // A plugin that refuses 1.1 and names 1.0 is asked again with 1.0.
    let record = dir.path().join("strict-1.0.jsonl");
    let process = PluginProcess::spawn(stand_in(
        &[
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"1.1 is not supported","data":{"supported":["1.0"]}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"protocolVersion":"1.0","connector":{}}}"#,
        ],
        &record,
    ))
    .await
    .expect("the stand-in initializes with 1.0");
    assert_eq!(process.protocol_version(), "1.0");
    let text = recorded(&record, "\"1.0\"").await;
    let asked: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON lines"))
        .map(|line| line["params"]["protocolVersion"].clone())
        .collect();
    assert_eq!(asked, [json!("1.1"), json!("1.0")]);

    // A plugin that answers a version the host did not offer broke the protocol.
    let answered = PluginProcess::spawn(stand_in(
        &[r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1.7","connector":{}}}"#],
        &dir.path().join("1.7.jsonl"),
    ))
    .await;
    assert!(
        matches!(&answered, Err(ClientError::Protocol(message)) if message.contains("1.7")),
        "{answered:?}"
    );
}

#[tokio::test]
async fn an_id_of_null_is_answered_and_an_id_that_is_not_a_string_or_number_is_refused() {
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.0")).await;
    response_result(&raw.next_response().await);

    // `"id": null` is a request, not a notification: it is answered, with id null.
    raw.send(&json!({"jsonrpc": "2.0", "id": null, "method": "nosuchmethod"}))
        .await;
    let response = raw.next_response().await;
    assert_eq!(response.id, Value::Null, "{response:?}");
    response_error(&response, METHOD_NOT_FOUND);

    // true, {} and []: refused, not echoed.
    for id in [json!(true), json!({}), json!([1])] {
        raw.send(&json!({"jsonrpc": "2.0", "id": id, "method": "browse", "params": {}}))
            .await;
        let response = raw.next_response().await;
        assert_eq!(response.id, Value::Null, "{id}: {response:?}");
        let error = response_error(&response, INVALID_REQUEST);
        assert!(
            error.message.contains("must be a string, a number or null"),
            "{error:?}"
        );
    }

    // The plugin still serves: a shutdown with an id is answered.
    raw.send(&json!({"jsonrpc": "2.0", "id": 9, "method": "shutdown"}))
        .await;
    assert_eq!(raw.next_response().await.id, json!(9));
}

/// Ids are echoed as written: an integer beyond 64 bits exactly (not as a float), a negative
/// or fractional number, a string with escapes; a cancel finds a request by such an id.
#[tokio::test]
async fn ids_are_echoed_exactly_as_written_and_cancels_find_requests_by_them() {
    let mut raw = RawPlugin::spawn();
    raw.send(&initialize_request(1, "1.1")).await;
    response_result(&raw.next_response().await);
    for id in [
        "18446744073709551616123",
        "-98765432109876543210",
        "1.5",
        "-7",
        r#""r\u00e9quest-\"7\"""#,
    ] {
        raw.send_bytes(
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"nosuchmethod\"}}\n").as_bytes(),
        )
        .await;
        let line = raw.next_line().await.expect("a response line");
        assert!(
            line.starts_with(&format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":")),
            "{id}: {line}"
        );
    }

    // An execute whose id is beyond 64 bits, cancelled by that id.
    let conn = serde_json::to_value(connection("conn-big-id", API_KEY)).expect("serializes");
    let wait = serde_json::to_value(operation("WAIT", json!({}))).expect("serializes");
    let big = "340282366920938463463374607431768211456";
    let params = json!({"executionId": "e-big-id", "processName": "p", "connection": conn,
                        "operation": wait, "documents": [{"data": "a"}]});
    raw.send_bytes(
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{big},\"method\":\"execute\",\"params\":{params}}}\n"
        )
        .as_bytes(),
    )
    .await;
    raw.send_bytes(
        format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{{\"id\":{big}}}}}\n"
        )
        .as_bytes(),
    )
    .await;
    let line = raw.next_line().await.expect("the execute's response");
    assert!(
        line.starts_with(&format!("{{\"jsonrpc\":\"2.0\",\"id\":{big},\"result\":")),
        "{line}"
    );
    assert!(line.contains("\"statusCode\":\"CANCELLED\""), "{line}");
}

/// The test plugin with this call timeout and grace period.
async fn plugin_with_timeouts(timeout: Duration, grace: Duration) -> PluginProcess {
    let mut command = plugin_command();
    command.timeout = timeout;
    command.grace = grace;
    PluginProcess::spawn(command)
        .await
        .expect("the test plugin starts")
}

/// The params of a SLOW execute that takes `delay_ms` and ignores cancellation.
fn slow_params(execution_id: &str, delay_ms: u64, count: usize) -> ExecuteParams {
    let mut params = execute_params(
        &connection("conn-slow", API_KEY),
        &operation("SLOW", json!({ "delayMs": delay_ms })),
        documents(count),
    );
    params.execution_id = execution_id.to_owned();
    params
}

#[tokio::test]
async fn a_plugin_that_ignores_the_cancel_is_killed_after_the_grace_period_and_started_again() {
    let process = plugin_with_timeouts(Duration::from_secs(1), Duration::from_secs(1)).await;
    // SLOW sleeps 30 s whatever it is told: the first call's cancel goes unanswered. The second
    // call, with a timeout of its own far away, is in flight when the plugin is killed.
    let stuck_params = slow_params("e-stuck", 30_000, 2);
    let started = Instant::now();
    let (stuck, other) = tokio::join!(process.execute(&stuck_params), async {
        wait_for_log_with(&process, &[SLOW_STARTED, "e-stuck"]).await;
        process
            .call_with_timeout::<_, ExecuteResult>(
                "execute",
                &slow_params("e-bystander", 30_000, 1),
                Duration::from_secs(60),
            )
            .await
    });
    let took = started.elapsed();
    match &stuck {
        Err(
            err @ ClientError::Timeout {
                stopped: Some(_), ..
            },
        ) => {
            let said = err.to_string();
            assert!(
                said.contains("$/cancelRequest") && said.contains("stopped the plugin process"),
                "{said}"
            );
        }
        other => panic!("expected a timeout that stopped the plugin; got {other:?}"),
    }
    assert!(
        took >= Duration::from_secs(2) && took < PATIENCE,
        "expected the timeout (1 s) and the grace period (1 s) to pass, not more; took {took:?}"
    );
    match &other {
        Err(ClientError::Exited { status, .. }) => {
            assert!(status.contains("the host stopped it"), "{status}")
        }
        other => panic!("expected the call in flight to fail with the stop; got {other:?}"),
    }
    assert!(process.has_exited());
    wait_for_log_with(&process, &["cancel requested", "\"found\":true"]).await;

    // Two callers at once: one start between them.
    let (first, second) = tokio::join!(process.ensure_running(), process.ensure_running());
    let mut restarted = [
        first.expect("the plugin starts again"),
        second.expect("the plugin starts again"),
    ];
    restarted.sort();
    assert_eq!(restarted, [false, true]);
    assert_eq!(process.starts(), 2);
    assert!(!process.ensure_running().await.expect("it runs"));
    let answer = process
        .execute(&execute_params(
            &connection("conn-after-stop", API_KEY),
            &operation("ECHO", json!({})),
            documents(2),
        ))
        .await
        .expect("the restarted plugin answers");
    assert_eq!(statuses(&answer.results), vec![ResultStatus::Success; 2]);
}

#[tokio::test]
async fn shutdown_of_a_plugin_that_does_not_finish_takes_the_grace_period_not_the_timeout() {
    let process = plugin_with_timeouts(Duration::from_secs(60), Duration::from_secs(1)).await;
    // The plugin finishes the calls in flight before it answers shutdown: this one takes 30 s.
    let slow_at_shutdown = slow_params("e-at-shutdown", 30_000, 1);
    let started = Instant::now();
    let (slow, shutdown) = tokio::join!(process.execute(&slow_at_shutdown), async {
        wait_for_log_with(&process, &[SLOW_STARTED, "e-at-shutdown"]).await;
        let asked = Instant::now();
        (process.shutdown().await, asked.elapsed())
    });
    let (shutdown, took) = shutdown;
    match &shutdown {
        Err(
            err @ ClientError::Timeout {
                stopped: Some(_), ..
            },
        ) => assert!(err.to_string().contains("killed"), "{err}"),
        other => panic!("expected shutdown to say it killed the plugin; got {other:?}"),
    }
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "expected shutdown to take the grace period of 1 s; took {took:?}"
    );
    assert!(matches!(slow, Err(ClientError::Exited { .. })), "{slow:?}");
    assert!(started.elapsed() < PATIENCE);
    assert!(process.has_exited());
}

#[tokio::test]
async fn the_slow_call_handler_is_told_once_per_slow_call() {
    let told: Arc<Mutex<Vec<SlowCall>>> = Arc::default();
    let mut command = plugin_command();
    command.slow_after = Duration::from_millis(300);
    let seen = told.clone();
    command.on_slow_call = Some(Arc::new(move |call: &SlowCall| {
        seen.lock().unwrap().push(call.clone())
    }));
    let timeout = command.timeout;
    let process = PluginProcess::spawn(command)
        .await
        .expect("the test plugin starts");
    let (slow_1, slow_2) = (
        slow_params("e-slow-1", 1_200, 1),
        slow_params("e-slow-2", 1_200, 1),
    );
    let fast = execute_params(
        &connection("conn-fast", API_KEY),
        &operation("ECHO", json!({})),
        documents(1),
    );
    let (first, second, fast) = tokio::join!(
        process.execute(&slow_1),
        process.execute(&slow_2),
        process.execute(&fast),
    );
    for answer in [first, second, fast] {
        assert_eq!(
            statuses(&answer.expect("answered").results),
            vec![ResultStatus::Success]
        );
    }
    let told = told.lock().unwrap().clone();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_ne!(told[0].id, told[1].id);
    for call in &told {
        assert_eq!((call.method.as_str(), call.timeout), ("execute", timeout));
        assert!(
            call.elapsed >= Duration::from_millis(300)
                && call.elapsed < Duration::from_millis(1_200),
            "{call:?}"
        );
    }
}

#[tokio::test]
async fn the_observer_sees_every_line_the_plugin_writes_on_both_streams() {
    let lines: Arc<Mutex<Vec<(Stream, String)>>> = Arc::default();
    let mut command = plugin_command();
    let seen = lines.clone();
    command.observer = Some(Arc::new(move |stream: Stream, line: &[u8]| {
        seen.lock()
            .unwrap()
            .push((stream, String::from_utf8_lossy(line).into_owned()))
    }));
    let process = PluginProcess::spawn(command)
        .await
        .expect("the test plugin starts");
    let answer = process
        .execute(&execute_params(
            &connection("conn-observed", API_KEY),
            &operation("ECHO", json!({})),
            documents(2),
        ))
        .await
        .expect("answered");
    assert_eq!(statuses(&answer.results), vec![ResultStatus::Success; 2]);
    process.shutdown().await.expect("it exits");
    let lines = lines.lock().unwrap().clone();
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|(stream, _)| *stream == Stream::Stdout)
        .map(|(_, line)| line.as_str())
        .collect();
    // initialize, execute and shutdown were answered, and nothing else was written.
    assert_eq!(stdout.len(), 3, "{stdout:?}");
    assert!(stdout[0].contains("\"protocolVersion\""), "{}", stdout[0]);
    assert!(stdout[1].contains("echo.index"), "{}", stdout[1]);
    let stderr: Vec<String> = lines
        .iter()
        .filter(|(stream, _)| *stream == Stream::Stderr)
        .map(|(_, line)| line.clone())
        .collect();
    assert!(!stderr.is_empty());
    assert_eq!(stderr, process.logs());
}

/// Protocol 1.1 `"outputs": "added"`: an output that is the input document travels as the
/// properties added, without its body, and the host merges it back; outputs the operation made
/// itself travel whole. The merged results are the full ones.
#[tokio::test]
async fn outputs_added_leave_the_echoed_input_out_of_the_line_and_merge_back() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut command = plugin_command();
    let seen = lines.clone();
    command.observer = Some(Arc::new(move |stream: Stream, line: &[u8]| {
        if stream == Stream::Stdout {
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(line).into_owned());
        }
    }));
    let process = PluginProcess::spawn(command)
        .await
        .expect("the test plugin starts");
    let conn = connection("conn-added", API_KEY);
    // PARTIAL: documents 0 and 2 succeed with an output of their own (the input with
    // `echo.index`), 1 and 3 get no result and fail with their input echoed.
    let op = operation("PARTIAL", json!({}));
    let inputs: Vec<Document> = documents(4)
        .into_iter()
        .map(|d| d.with_property("unique", "body-kept-by-the-host"))
        .collect();
    let params = execute_params(&conn, &op, inputs.clone());
    let full = process.execute(&params).await.expect("answered in full");
    let as_ref = connector_sdk::host::ExecuteParamsRef {
        execution_id: &params.execution_id,
        process_name: &params.process_name,
        connection: &params.connection,
        operation: &params.operation,
        documents: &params.documents,
    };
    let before = lines.lock().unwrap().len();
    let added = process
        .execute_ref_with(&as_ref, connector_sdk::host::Outputs::Added)
        .await
        .expect("answered with what was added");
    assert_eq!(added, full, "merged, the results are the full ones");
    assert_eq!(
        statuses(&added.results),
        vec![
            ResultStatus::Success,
            ResultStatus::Failure,
            ResultStatus::Success,
            ResultStatus::Failure
        ]
    );
    let line = lines.lock().unwrap()[before..]
        .iter()
        .find(|line| line.contains("\"results\""))
        .cloned()
        .expect("the execute response was seen");
    let response: Value = serde_json::from_str(&line).expect("a JSON line");
    let outputs = |index: usize| response["result"]["results"][index]["outputs"].clone();
    for failed in [1, 3] {
        assert_eq!(
            outputs(failed),
            json!([{"properties": {}}]),
            "the echoed input of document {failed} is left out: {line}"
        );
    }
    for succeeded in [0, 2] {
        assert!(
            outputs(succeeded)[0]["data"].is_string(),
            "an output the operation made travels whole: {line}"
        );
    }
}
