//! Test Connection with access keys, end to end: the harness, the plugin process, and a real
//! SQS-compatible server (moto) on loopback, or a loopback stub where only a stub can give the
//! answer (refused credentials, a denied permission, silence).

mod support;

use std::time::Duration;

use connector_sdk::{Component, StepStatus};
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "tc-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0EXAMPLE";

fn write_component(dir: &tempfile::TempDir, component: &Value) -> String {
    let path = dir.path().join("connection.json");
    std::fs::write(&path, serde_json::to_vec_pretty(component).unwrap()).unwrap();
    path.display().to_string()
}

fn test_connection(component: &Value) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_component(&dir, component);
    let output = run_harness(&["test-connection", "--connection", &file]);
    let text = text(&output);
    assert!(
        !text.contains(SECRET),
        "the secret key was printed:\n{text}"
    );
    (output.status.code().unwrap_or(-1), text)
}

fn with_field(mut component: Value, key: &str, value: Value) -> Value {
    let fields = component["fields"].as_object_mut().unwrap();
    if value.is_null() {
        fields.remove(key);
    } else {
        fields.insert(key.to_owned(), value);
    }
    component
}

#[test]
fn a_good_connection_passes_every_step() {
    let (code, text) = test_connection(&access_key_component("conn-good", &sqs_endpoint(), SECRET));
    assert_eq!(code, 0, "expected exit 0:\n{text}");
    assert!(text.contains("[PASSED ] Settings valid"), "{text}");
    assert!(text.contains("[PASSED ] SQS reachable"), "{text}");
    assert!(
        text.contains(
            "[PASSED ] Credentials accepted: AWS accepted the credentials in region us-east-1"
        ),
        "{text}"
    );
}

#[test]
fn the_secret_key_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let component = access_key_component("conn-env", &sqs_endpoint(), "unused");
    let component = with_field(component, "secretKey", json!({"env": "TC_SECRET_FROM_ENV"}));
    let file = write_component(&dir, &component);
    let output = scanned_output(
        std::process::Command::new(harness())
            .args(["test-connection", "--connection", &file, "--plugin"])
            .arg(plugin())
            .env("TC_SECRET_FROM_ENV", SECRET),
    );
    let text = text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn json_output_is_the_protocol_result_object() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_component(
        &dir,
        &access_key_component("conn-json", &sqs_endpoint(), SECRET),
    );
    let output = run_harness(&["test-connection", "--connection", &file, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let result: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(result["ok"], true);
    let names: Vec<&str> = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Settings valid", "SQS reachable", "Credentials accepted"]
    );
}

#[test]
fn an_endpoint_that_is_not_sqs_fails_and_says_to_check_the_endpoint_url() {
    let endpoint = format!("{}/not-sqs/", sqs_endpoint());
    let (code, text) = test_connection(&access_key_component(
        "conn-wrong-endpoint",
        &endpoint,
        SECRET,
    ));
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    assert!(text.contains("[FAILED ] SQS reachable"), "{text}");
    assert!(
        text.contains("but not as Amazon SQS (it said: <!doctype html>")
            && text.contains("check the SQS endpoint URL"),
        "{text}"
    );
    assert!(text.contains("[SKIPPED] Credentials accepted"), "{text}");
}

#[test]
fn a_closed_port_fails_with_connection_refused() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let (code, text) = test_connection(&access_key_component("conn-closed", &endpoint, SECRET));
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    assert!(
        text.contains(&format!("could not reach SQS at {endpoint}")),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
    assert!(
        text.contains("check the SQS endpoint URL, the region"),
        "{text}"
    );
}

#[test]
fn a_region_typed_in_capitals_is_an_invalid_field() {
    let component = access_key_component("conn-caps", &sqs_endpoint(), SECRET);
    let component = with_field(component, "customRegion", json!("US-EAST-2"));
    let (code, text) = test_connection(&component);
    assert_eq!(code, 2, "expected exit 2:\n{text}");
    assert!(
        text.contains("Custom AWS SQS Region (customRegion): \"US-EAST-2\" is not a region name: type it in lowercase with dashes, like us-east-2"),
        "{text}"
    );
}

#[test]
fn a_missing_secret_key_is_an_invalid_field() {
    let component = with_field(
        access_key_component("conn-nosecret", &sqs_endpoint(), SECRET),
        "secretKey",
        Value::Null,
    );
    let (code, text) = test_connection(&component);
    assert_eq!(code, 2, "expected exit 2:\n{text}");
    assert!(
        text.contains("Amazon AWS secret key (secretKey): is required when Authentication Type is Access keys; enter a value"),
        "{text}"
    );
}

#[test]
fn an_unknown_authentication_type_lists_the_choices() {
    let component = access_key_component("conn-auth", &sqs_endpoint(), SECRET);
    let component = with_field(component, "authenticationType", json!("PASSWORD"));
    let (code, text) = test_connection(&component);
    assert_eq!(code, 2, "expected exit 2:\n{text}");
    assert!(
        text.contains("Authentication Type (authenticationType): \"PASSWORD\" is not a valid choice; choose one of: ACCESS_KEYS (Access keys), ROLES_ANYWHERE (AWS IAM Roles Anywhere)"),
        "{text}"
    );
}

#[test]
fn a_missing_component_file_is_exit_code_2() {
    let output = run_harness(&[
        "test-connection",
        "--connection",
        "/nonexistent/connection.json",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("cannot read component file /nonexistent/connection.json"));
}

fn sqs_error(code: &str, query_code: &str, message: &str) -> (Vec<(String, String)>, String) {
    (
        vec![
            ("content-type".into(), "application/x-amz-json-1.0".into()),
            ("x-amzn-query-error".into(), format!("{query_code};Sender")),
        ],
        json!({"__type": format!("com.amazon.coral.service#{code}"), "message": message})
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_fail_the_credentials_step() {
    let (headers, body) = sqs_error(
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    let endpoint = stub_http(403, headers, body).await;
    let component = access_key_component("conn-refused", &endpoint, SECRET);
    let (code, text) = tokio::task::spawn_blocking(move || test_connection(&component))
        .await
        .unwrap();
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    assert!(text.contains("[PASSED ] SQS reachable"), "{text}");
    assert!(
        text.contains(
            "[FAILED ] Credentials accepted: AWS refused the credentials in region us-east-1"
        ),
        "{text}"
    );
    assert!(
        text.contains("check the access key and secret key"),
        "{text}"
    );
}

/// A service that echoes the request's canonical string in its error (SignatureDoesNotMatch
/// does) must not get the session token or the signature into Test Connection's text or the
/// plugin's log.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_error_that_quotes_a_token_and_a_signature_is_scrubbed() {
    let token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIBz4N0bVexample";
    let signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    secret_scan::register("the token an SQS error quotes", token);
    secret_scan::register("the signature an SQS error quotes", signature);
    let (headers, body) = sqs_error(
        "SignatureDoesNotMatch",
        "SignatureDoesNotMatch",
        &format!(
            "The request signature we calculated does not match the signature you provided. The \
             Canonical String for this request should have been 'POST\n/\n\nhost:localhost\n\
             x-amz-security-token:{token}\n' and the signature Signature={signature}"
        ),
    );
    let endpoint = stub_http(403, headers, body).await;
    let component = access_key_component("conn-scrubbed", &endpoint, SECRET);
    let (code, text) = tokio::task::spawn_blocking(move || test_connection(&component))
        .await
        .unwrap();
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    assert!(
        text.contains("The request signature we calculated does not match"),
        "{text}"
    );
    assert!(
        text.contains("x-amz-security-token:[redacted]") && text.contains("Signature=[redacted]"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_permission_is_a_warning_that_the_credentials_work() {
    let (headers, body) = sqs_error(
        "AccessDeniedException",
        "AccessDenied",
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sqs:listqueues",
    );
    let endpoint = stub_http(400, headers, body).await;
    let component = access_key_component("conn-denied", &endpoint, SECRET);
    let (code, text) = tokio::task::spawn_blocking(move || test_connection(&component))
        .await
        .unwrap();
    assert_eq!(code, 0, "a warning is not a failure:\n{text}");
    assert!(text.contains("[WARNING] Credentials accepted: the credentials work in region us-east-1, but they may not list queues"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out_with_advice() {
    let endpoint = silent_server().await;
    let component = access_key_component("conn-silent", &endpoint, SECRET);
    let (code, text) = tokio::task::spawn_blocking(move || test_connection(&component))
        .await
        .unwrap();
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    assert!(text.contains("did not answer in time"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tests_of_one_component_build_one_client_and_log_no_secret() {
    let token = "tc-session-token-IQoJb3JpZ2luX2VjEXAMPLETOKEN";
    secret_scan::register("the test's session token", token);
    let process =
        start_plugin_with(|command| command.env.push(("CONNECTOR_LOG".into(), "trace".into())))
            .await;
    let value = access_key_component("conn-reused", &sqs_endpoint(), SECRET);
    let value = with_field(value, "sessionToken", json!(token));
    let component: Component = serde_json::from_value(value).unwrap();
    for _ in 0..2 {
        let result = process.test_connection(&component).await.unwrap();
        assert!(result.ok, "{result:?}");
        assert!(
            result.steps.iter().all(|s| s.status == StepStatus::Passed),
            "{result:?}"
        );
        let text = serde_json::to_string(&result).unwrap();
        assert!(!text.contains(SECRET) && !text.contains(token), "{text}");
    }
    process.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = process.logs();
    let built: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("SQS client built"))
        .collect();
    assert_eq!(
        built.len(),
        1,
        "expected one client for two Test Connections, log lines: {built:#?}"
    );
    assert!(built[0].contains("conn-reused"), "{}", built[0]);
    assert!(
        logs.len() > 5,
        "trace logging should have produced lines: {logs:#?}"
    );
    for line in &logs {
        assert!(
            !line.contains(SECRET),
            "secret was exposed in a log line: {line}"
        );
        assert!(
            !line.contains(token),
            "session token was exposed in a log line: {line}"
        );
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "a log line that is not JSON: {line}"
        );
    }
}

#[test]
fn a_misspelt_field_is_refused_with_the_field_it_meant_before_anything_is_sent() {
    // `endpointURL` ignored would send the credentials to AWS instead of the server meant.
    let mut component = access_key_component("conn-misspelt", &sqs_endpoint(), SECRET);
    let fields = component["fields"].as_object_mut().unwrap();
    let endpoint = fields.remove("endpointUrl").unwrap();
    fields.insert("endpointURL".into(), endpoint);
    fields.insert("regoin".into(), "eu-west-1".into());
    let (code, text) = test_connection(&component);
    assert_eq!(code, 2, "expected exit 2 (invalid fields):\n{text}");
    assert!(
        text.contains("endpointURL") && text.contains("did you mean \"endpointUrl\""),
        "{text}"
    );
    assert!(text.contains("did you mean \"region\""), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[test]
fn an_endpoint_url_with_a_password_or_a_key_in_the_certificate_field_is_refused_unquoted() {
    let component = access_key_component(
        "conn-userinfo",
        "http://admin:hunter2pw@127.0.0.1:1",
        SECRET,
    );
    let (code, text) = test_connection(&component);
    assert_eq!(code, 2, "expected exit 2 (invalid fields):\n{text}");
    assert!(text.contains("SQS endpoint URL"), "{text}");
    assert!(
        !text.contains("hunter2pw"),
        "the password is not quoted:\n{text}"
    );

    // A private key pasted into the (non-secret) certificate field: named by its block type,
    // never quoted (its first bytes are the key's own).
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/rolesanywhere/keys/p384-key.pem"
    ))
    .unwrap();
    let body_line = key.lines().nth(1).unwrap().to_owned();
    let component = json!({
        "id": "conn-key-in-cert", "connector": "amazon-sqs", "kind": "connection",
        "fields": {
            "authenticationType": "ROLES_ANYWHERE",
            "profileArn": "arn:aws:rolesanywhere:eu-central-1:123456789012:profile/p",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "trustAnchorArn": "arn:aws:rolesanywhere:eu-central-1:123456789012:trust-anchor/t",
            "publicCertificate": key,
            "privateKey": key
        }
    });
    let (code, text) = test_connection(&component);
    assert_eq!(code, 2, "expected exit 2 (invalid fields):\n{text}");
    assert!(
        text.contains("PRIVATE KEY"),
        "the block type is named:\n{text}"
    );
    assert!(
        !text.contains(&body_line[..20]),
        "no byte of the key is quoted:\n{text}"
    );
}

/// A gateway or proxy that answers 5xx without an SQS error is quoted (status and the start of
/// its body), not called "busy"; through Test Connection and through a SEND.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_without_an_sqs_error_quotes_the_status_and_body() {
    let endpoint = stub_http(
        501,
        vec![("content-type".into(), "text/plain".into())],
        "Not Implemented: this gateway does not forward POST".into(),
    )
    .await;
    let component = access_key_component("conn-gateway", &endpoint, SECRET);
    let (code, text) = tokio::task::spawn_blocking(move || test_connection(&component))
        .await
        .unwrap();
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    assert!(
        text.contains("[FAILED ] SQS reachable")
            && text.contains("answered HTTP 501 without an SQS error")
            && text.contains("(it said: Not Implemented: this gateway does not forward POST)"),
        "{text}"
    );
    assert!(!text.contains("busy"), "{text}");

    let endpoint = stub_http(
        503,
        vec![("content-type".into(), "text/html".into())],
        "<html><body>Service Unavailable: maintenance until 06:00</body></html>".into(),
    )
    .await;
    let plugin = start_plugin().await;
    let connection: connector_sdk::Component =
        serde_json::from_value(access_key_component("conn-maintenance", &endpoint, SECRET))
            .unwrap();
    let send = operation(
        "op-send-maintenance",
        "SEND",
        json!({"queue": format!("{endpoint}/123456789012/orders")}),
    );
    let results = execute(
        &plugin,
        &connection,
        &send,
        vec![connector_sdk::Document::new("order")],
    )
    .await;
    let message = results[0].message.clone().unwrap_or_default();
    assert_eq!(results[0].status, connector_sdk::ResultStatus::Failure);
    assert!(
        message.contains("answered HTTP 503 without an SQS error")
            && message.contains("Service Unavailable: maintenance until 06:00"),
        "{message}"
    );
    plugin.shutdown().await.unwrap();
}
