//! `sqs-connector describe` prints the descriptor (JSON, as checked in); `describe --summary` a
//! table for people built from it: every connection field and every operation's options, with
//! the secrets marked.

use std::process::Command;

use serde_json::Value;

/// The plugin under test: this build's, or another (`TEST_PLUGIN_UNDER_TEST`, as in the
/// harness's tests), to show a test fails there.
fn plugin() -> String {
    std::env::var("TEST_PLUGIN_UNDER_TEST")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_sqs-connector").to_owned())
}

fn describe(args: &[&str]) -> String {
    let output = Command::new(plugin())
        .arg("describe")
        .args(args)
        .output()
        .expect("the plugin runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "describe {args:?}: {stderr}");
    String::from_utf8(output.stdout).expect("UTF-8 text")
}

/// The row of `key` in the table that follows the line `heading` (the first row whose first
/// cell is `key`).
fn row<'a>(summary: &'a str, heading: &str, key: &str) -> &'a str {
    summary
        .lines()
        .skip_while(|line| line.trim() != heading)
        .find(|line| line.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no row {key} under {heading:?}:\n{summary}"))
}

#[test]
fn describe_prints_the_descriptor_json() {
    let text = describe(&[]);
    assert_eq!(text, sqs_connector::connector().descriptor_file_text());
}

#[test]
fn the_summary_has_every_field_and_operation_and_marks_the_secrets() {
    let summary = describe(&["--summary"]);
    let descriptor = serde_json::to_value(sqs_connector::connector().descriptor()).unwrap();
    let fields = descriptor["connection"]["fields"]["properties"]
        .as_object()
        .unwrap();
    let mut secrets = 0;
    for (key, field) in fields {
        let row = row(&summary, "Connection fields:", key);
        let title = field["title"].as_str().unwrap();
        assert!(row.contains(title), "{key}: its label {title:?}: {row}");
        let secret = field["x-secret"] == Value::Bool(true);
        let cells: Vec<&str> = row.split("  ").map(str::trim).collect();
        assert_eq!(
            cells.contains(&"secret"),
            secret,
            "{key} is secret: {secret}: {row}"
        );
        secrets += usize::from(secret);
    }
    assert_eq!(secrets, 4, "the four secret fields");
    for operation in descriptor["operations"].as_array().unwrap() {
        let kind = operation["type"].as_str().unwrap();
        let label = operation["label"].as_str().unwrap();
        let heading = summary
            .lines()
            .find(|line| line.trim().starts_with(&format!("{kind}: {label}")))
            .unwrap_or_else(|| panic!("no heading for {kind}:\n{summary}"));
        for key in operation["fields"]["properties"]
            .as_object()
            .unwrap()
            .keys()
        {
            row(&summary, heading.trim(), key);
        }
    }
    // Whether and when a field is required, its range and its default come from the schema.
    let access_key = row(&summary, "Connection fields:", "accessKey");
    assert!(
        access_key.contains("16 to 128 characters")
            && access_key.contains("if authenticationType = ACCESS_KEYS"),
        "{access_key}"
    );
    let duration = row(&summary, "Connection fields:", "durationSeconds");
    assert!(
        duration.contains("900 to 3600") && duration.ends_with(" 3600"),
        "{duration}"
    );
    let kind = row(&summary, "Connection fields:", "authenticationType");
    assert!(
        kind.contains("ACCESS_KEYS, ROLES_ANYWHERE") && kind.contains(" yes "),
        "{kind}"
    );
    let max_messages = row(
        &summary,
        "RECEIVE: Receive (takes no input documents)",
        "maxMessages",
    );
    assert!(
        max_messages.contains("-1 to 10000, not 0"),
        "{max_messages}"
    );
    let queue = row(&summary, "SEND: Send", "queue");
    assert!(queue.contains("if dynamicQueue = false"), "{queue}");
}
