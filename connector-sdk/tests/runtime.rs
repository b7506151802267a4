//! `Connector` in process: exactly one result per input document whatever the operation does,
//! invalid components refused before any work, and connections built once per component id and
//! settings.

#[path = "support/echo.rs"]
mod echo;
// Each test binary uses a different part of the fixtures.
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use connector_sdk::{
    Component, Connector, ConnectorError, Document, DocumentResult, ErrorKind, ExecutionContext,
    INVALID_DOCUMENT, InputDocument, ResultStatus,
};
use serde_json::json;

use echo::{FAILING_MESSAGE, PANIC_MESSAGE};
use fixtures::{
    API_KEY, ENDPOINT, assert_echoed, assert_failure_mentions, assert_one_result_per_document,
    connection, connection_with, documents, operation, statuses,
};

fn ctx() -> ExecutionContext {
    ExecutionContext::new("exec-runtime", "runtime tests")
}

async fn run(
    connector: &Connector,
    conn: &Component,
    op: &str,
    inputs: &[Document],
) -> Result<Vec<DocumentResult>, ConnectorError> {
    connector
        .execute(&ctx(), conn, &operation(op, json!({})), inputs.to_vec())
        .await
}

async fn results(connector: &Connector, op: &str, inputs: &[Document]) -> Vec<DocumentResult> {
    run(connector, &connection("conn-rt", API_KEY), op, inputs)
        .await
        .unwrap_or_else(|e| panic!("expected {op} to give results; got the error {e:?}"))
}

#[tokio::test]
async fn every_document_gets_its_own_result_in_input_order() {
    let connector = echo::connector();
    let inputs = documents(5);
    let results = results(&connector, "ECHO", &inputs).await;
    assert_one_result_per_document(&results, 5);
    for (result, input) in results.iter().zip(&inputs) {
        assert_echoed(result, input);
    }
    let none = self::results(&connector, "ECHO", &[]).await;
    assert_eq!(none, Vec::new(), "expected no result for an empty batch");
}

#[tokio::test]
async fn documents_left_without_a_result_become_failures_naming_them() {
    let connector = echo::connector();
    let inputs = documents(5);
    let results = results(&connector, "PARTIAL", &inputs).await;
    assert_one_result_per_document(&results, 5);
    assert_eq!(
        statuses(&results),
        vec![
            ResultStatus::Success,
            ResultStatus::Failure,
            ResultStatus::Success,
            ResultStatus::Failure,
            ResultStatus::Success,
        ]
    );
    for index in [0, 2, 4] {
        assert_echoed(&results[index], &inputs[index]);
    }
    for index in [1, 3] {
        assert_failure_mentions(
            &results[index],
            &inputs[index],
            &[&format!("document {index}"), "PARTIAL", "no result"],
        );
    }
}

#[tokio::test]
async fn an_error_fails_the_remaining_documents_with_its_message() {
    let connector = echo::connector();
    let inputs = documents(3);
    let results = results(&connector, "FAILING", &inputs).await;
    assert_one_result_per_document(&results, 3);
    assert_echoed(&results[0], &inputs[0]);
    for index in [1, 2] {
        assert_failure_mentions(
            &results[index],
            &inputs[index],
            &[&format!("document {index}"), FAILING_MESSAGE],
        );
    }
}

#[tokio::test]
async fn a_panic_fails_the_remaining_documents_and_the_connector_keeps_working() {
    let connector = echo::connector();
    let inputs = documents(3);
    let results = results(&connector, "PANICKING", &inputs).await;
    assert_one_result_per_document(&results, 3);
    assert_echoed(&results[0], &inputs[0]);
    for index in [1, 2] {
        assert_failure_mentions(
            &results[index],
            &inputs[index],
            &[&format!("document {index}"), PANIC_MESSAGE],
        );
    }
    let after = self::results(&connector, "ECHO", &inputs).await;
    assert_eq!(
        statuses(&after),
        vec![ResultStatus::Success; 3],
        "expected the connector to work after a panic; got {after:#?}"
    );
}

#[tokio::test]
async fn a_second_result_for_the_same_document_is_ignored() {
    let connector = echo::connector();
    let inputs = documents(3);
    let results = results(&connector, "DOUBLE", &inputs).await;
    assert_one_result_per_document(&results, 3);
    for (result, input) in results.iter().zip(&inputs) {
        assert_echoed(result, input);
    }
}

#[tokio::test]
async fn invalid_components_are_an_error_before_any_work() {
    let connector = echo::connector();
    let inputs = documents(2);

    let no_key = connection_with("conn-no-key", json!({"endpoint": ENDPOINT}));
    let err = run(&connector, &no_key, "ECHO", &inputs)
        .await
        .expect_err("expected a connection without its API key to be refused");
    assert_eq!(
        err.kind(),
        ErrorKind::Config,
        "expected a config error; got {err:?}"
    );
    let fields: Vec<(&str, &str)> = err
        .field_errors()
        .iter()
        .map(|e| (e.field.as_str(), e.label.as_str()))
        .collect();
    assert_eq!(fields, vec![("apiKey", "API Key")], "got {err:?}");
    assert_eq!(
        connector.stats().connections_built,
        0,
        "expected no connection built from an invalid component"
    );

    let unknown = connector
        .execute(
            &ctx(),
            &connection("conn-rt", API_KEY),
            &operation("TELEPORT", json!({})),
            inputs.clone(),
        )
        .await
        .expect_err("expected an unknown operation type to be refused");
    let fields: Vec<&str> = unknown
        .field_errors()
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, vec!["operationType"], "got {unknown:?}");

    // An operation component where the connection belongs is the wrong kind.
    let swapped = run(&connector, &operation("ECHO", json!({})), "ECHO", &inputs)
        .await
        .expect_err("expected an operation component to be refused as a connection");
    assert!(
        swapped.field_errors().iter().any(|e| e.field == "kind"),
        "expected a field error on kind; got {swapped:?}"
    );
    assert_eq!(
        connector.stats().connections_built,
        1,
        "expected only the valid connection of the TELEPORT call to be built"
    );
}

#[tokio::test]
async fn a_connection_is_built_once_per_component_and_again_when_edited() {
    let connector = echo::connector();
    let conn = connection("conn-cached", API_KEY);
    let ctx = ctx();
    let built = |expected: u64, after: &str| {
        let actual = connector.stats().connections_built;
        assert_eq!(
            actual, expected,
            "expected {expected} connections built after {after}; got {actual}"
        );
    };

    connector
        .test_connection(&ctx, &conn)
        .await
        .expect("expected Test Connection to run");
    built(1, "the first use");
    let results = run(&connector, &conn, "ECHO", &documents(1))
        .await
        .expect("expected ECHO to run");
    assert_eq!(statuses(&results), vec![ResultStatus::Success]);
    connector
        .browse(&ctx, &conn, "ECHO", None)
        .await
        .expect("expected browse to run");
    built(1, "three uses of the same component");

    let edited = connection_with(
        "conn-cached",
        json!({"endpoint": "https://elsewhere.example.test", "apiKey": API_KEY}),
    );
    let steps = connector
        .test_connection(&ctx, &edited)
        .await
        .expect("expected Test Connection to run");
    assert_eq!(
        steps[1].message, "will call https://elsewhere.example.test in region standard",
        "expected the edited settings to be used, not the cached connection's"
    );
    built(2, "an edit under the same id");
    connector
        .test_connection(&ctx, &edited)
        .await
        .expect("expected Test Connection to run");
    built(2, "the edited component used again");

    connector
        .test_connection(&ctx, &connection("conn-other", API_KEY))
        .await
        .expect("expected Test Connection to run");
    built(3, "another component id");

    // A refused edit builds nothing and leaves the working connection in place.
    let broken = connection_with("conn-cached", json!({"endpoint": ENDPOINT}));
    connector
        .test_connection(&ctx, &broken)
        .await
        .expect_err("expected an edit without an API key to be refused");
    connector
        .test_connection(&ctx, &edited)
        .await
        .expect("expected Test Connection to run");
    built(3, "a refused edit");
}

#[tokio::test]
async fn the_least_recently_used_connection_is_dropped_beyond_the_capacity() {
    let connector = echo::builder().cache_capacity(2).build();
    let ctx = ctx();
    for id in ["conn-a", "conn-b", "conn-a", "conn-c", "conn-a", "conn-b"] {
        connector
            .test_connection(&ctx, &connection(id, API_KEY))
            .await
            .expect("expected Test Connection to run");
    }
    // a, b built; a reused; c evicts b (a was used more recently); a reused; b built again.
    assert_eq!(
        connector.stats().connections_built,
        4,
        "expected 4 connections built with a capacity of 2"
    );
}

#[tokio::test]
async fn results_other_than_success_carry_the_input_document_when_the_operation_takes_input() {
    let connector = echo::connector();
    let inputs = vec![
        Document::new("first").with_property("k", "v"),
        Document::new(vec![0xff, 0x00]).with_property("bytes", "yes"),
    ];
    let refused = results(&connector, "REFUSING", &inputs).await;
    assert_one_result_per_document(&refused, 2);
    for (result, input) in refused.iter().zip(&inputs) {
        assert_eq!(
            (
                result.status,
                result.status_code.as_deref(),
                &result.outputs
            ),
            (
                ResultStatus::ApplicationError,
                Some(echo::REFUSED),
                &vec![input.clone()]
            ),
            "expected an APPLICATION_ERROR carrying its input document unchanged; got {result:#?}"
        );
    }

    // An operation that takes no input has no input document to give back.
    let polled = results(&connector, "POLL", &[Document::default()]).await;
    assert_eq!(statuses(&polled), vec![ResultStatus::Failure]);
    assert!(
        polled[0].outputs.is_empty(),
        "expected no output for the trigger document of an operation without input; got {:?}",
        polled[0].outputs
    );
}

#[tokio::test]
async fn a_document_that_could_not_be_read_fails_alone_and_the_operation_sees_the_others() {
    let connector = echo::connector();
    let inputs = documents(4);
    let mut read: Vec<InputDocument> = inputs.iter().cloned().map(Into::into).collect();
    read[2] = InputDocument::Malformed(
        "\"dataBase64\" is not valid base64 (x); send bytes as standard base64".into(),
    );
    let (results, deferred) = connector
        .execute_deferred(
            &ctx(),
            &connection("conn-rt", API_KEY),
            &operation("ECHO", json!({})),
            read,
        )
        .await
        .expect("expected ECHO to give results");
    assert!(deferred.is_empty(), "ECHO registers no work after delivery");
    deferred.run(true).await;
    assert_one_result_per_document(&results, 4);
    for index in [0, 1, 3] {
        assert_echoed(&results[index], &inputs[index]);
    }
    assert_eq!(
        results[2],
        DocumentResult {
            index: 2,
            status: ResultStatus::ApplicationError,
            status_code: Some(INVALID_DOCUMENT.to_owned()),
            message: Some(
                "document 2 could not be read: \"dataBase64\" is not valid base64 (x); send \
                 bytes as standard base64"
                    .to_owned()
            ),
            outputs: Vec::new(),
        }
    );

    // Missing results name the documents by their index in the request too.
    let mut read: Vec<InputDocument> = inputs.iter().cloned().map(Into::into).collect();
    read[0] = InputDocument::Malformed("bad".into());
    let (results, deferred) = connector
        .execute_deferred(
            &ctx(),
            &connection("conn-rt", API_KEY),
            &operation("PARTIAL", json!({})),
            read,
        )
        .await
        .expect("expected PARTIAL to give results");
    deferred.run(true).await;
    assert_one_result_per_document(&results, 4);
    assert_eq!(results[0].status_code.as_deref(), Some(INVALID_DOCUMENT));
    // The batch holds documents 1, 2, 3; PARTIAL answers its positions 0 and 2.
    assert_echoed(&results[1], &inputs[1]);
    assert_failure_mentions(&results[2], &inputs[2], &["document 2", "PARTIAL"]);
    assert_echoed(&results[3], &inputs[3]);

    // With no document left, the operation is not run at all.
    let (results, deferred) = connector
        .execute_deferred(
            &ctx(),
            &connection("conn-rt", API_KEY),
            &operation("FAILING", json!({})),
            vec![InputDocument::Malformed("bad".into())],
        )
        .await
        .expect("expected results");
    deferred.run(true).await;
    assert_eq!(
        results[0].message.as_deref(),
        Some("document 0 could not be read: bad")
    );
}

#[tokio::test]
async fn work_after_delivery_runs_once_the_results_are_returned_or_when_told() {
    let connector = echo::connector();
    let conn = connection("conn-rt", API_KEY);
    let deferred_op = operation("DEFERRED", json!({}));

    let ctx = ExecutionContext::new("exec-rt-returned", "runtime tests");
    let results = connector
        .execute(&ctx, &conn, &deferred_op, documents(2))
        .await
        .expect("expected DEFERRED to give results");
    assert_eq!(statuses(&results), vec![ResultStatus::Success; 2]);
    let told: Vec<bool> = echo::deliveries("exec-rt-returned")
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(told, vec![true], "expected the work to run once, told true");

    // Deferred: nothing runs until the caller says whether the results were delivered; two
    // calls sharing one context keep their work apart.
    let ctx = ExecutionContext::new("exec-rt-deferred", "runtime tests");
    let inputs: Vec<InputDocument> = documents(1).into_iter().map(Into::into).collect();
    let (_, first) = connector
        .execute_deferred(&ctx, &conn, &deferred_op, inputs.clone())
        .await
        .expect("expected results");
    let (_, second) = connector
        .execute_deferred(&ctx, &conn, &deferred_op, inputs)
        .await
        .expect("expected results");
    assert_eq!((first.len(), second.len()), (1, 1));
    assert!(echo::deliveries("exec-rt-deferred").is_empty());
    first.run(false).await;
    let told: Vec<bool> = echo::deliveries("exec-rt-deferred")
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(told, vec![false]);
    second.run(true).await;
    let told: Vec<bool> = echo::deliveries("exec-rt-deferred")
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(told, vec![false, true]);
}

#[tokio::test]
async fn a_component_of_another_kind_or_connector_is_refused_also_after_its_id_was_built() {
    let connector = echo::connector();
    let good = connection("conn-kind", API_KEY);
    run(&connector, &good, "ECHO", &documents(1))
        .await
        .expect("the connection is built");
    // The same id and fields, another kind or another connector: refused, not served from the
    // cache of the component that was built.
    let mut wrong_kind = good.clone();
    wrong_kind.kind = connector_sdk::ComponentKind::Operation;
    let mut wrong_connector = good.clone();
    wrong_connector.connector = "kafka".into();
    for component in [wrong_kind, wrong_connector] {
        let err = run(&connector, &component, "ECHO", &documents(1))
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
        assert!(
            !err.field_errors().is_empty(),
            "the error names the field: {err:?}"
        );
    }
    let mut operation = operation("ECHO", json!({}));
    operation.kind = connector_sdk::ComponentKind::Connection;
    let err = connector
        .execute(&ctx(), &good, &operation, documents(1))
        .await
        .expect_err("an operation component of the wrong kind is refused");
    assert!(!err.field_errors().is_empty(), "{err:?}");
}

/// A connection whose build blocks its thread (as a costly key derivation does) holds up only
/// the calls for its own component: another connection is served meanwhile, on a runtime of one
/// thread even, and the calls that share the slow component wait for one build.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_connection_build_holds_up_only_its_own_component() {
    let connector = echo::connector();
    let slow = connection_with(
        "conn-slow-build",
        json!({"endpoint": echo::SLOW_ENDPOINT, "apiKey": API_KEY}),
    );
    let fast = connection("conn-fast-build", API_KEY);
    let inputs = documents(1);
    let started = std::time::Instant::now();
    let slow_calls = futures::future::join_all((0..5).map(|_| {
        let connector = &connector;
        let slow = &slow;
        let inputs = &inputs;
        async move { run(connector, slow, "ECHO", inputs).await }
    }));
    let fast_call = async {
        // Started once the slow build is under way.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let results = run(&connector, &fast, "ECHO", &inputs).await;
        (results, started.elapsed())
    };
    let (slow_results, (fast_results, fast_done)) = tokio::join!(slow_calls, fast_call);
    assert_eq!(
        statuses(&fast_results.unwrap()),
        vec![ResultStatus::Success]
    );
    assert!(
        fast_done < echo::SLOW_CONNECT,
        "the other connection waited for the slow build: served after {fast_done:?}"
    );
    for results in slow_results {
        assert_eq!(statuses(&results.unwrap()), vec![ResultStatus::Success]);
    }
    assert_eq!(
        echo::SLOW_CONNECTS.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "five concurrent calls for one component built its connection once"
    );
    assert_eq!(connector.stats().connections_built, 2);
}
