//! The SDK's second connector, `connector-sdk/examples/file-connector`, driven as a plugin by
//! the harness's own commands: Test Connection on a directory, and a process that writes
//! documents to files and reads them back.
//!
//! The example is built by `cargo test --workspace` (which builds every member's examples) and
//! by `cargo build --workspace --all-targets`; these tests find it next to the harness.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

/// The harness binary under test.
fn harness() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_test-harness"))
}

/// The example plugin: `<target>/debug/examples/file-connector`, found from this test binary
/// (`<target>/debug/deps/example_connector-…`), so it is the one this build made.
fn plugin() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's own path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("file-connector{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: it is connector-sdk's example file-connector; build it with \
         `cargo build --workspace --all-targets`, or run the tests with `cargo test --workspace` \
         (which builds every member's examples)",
        path.display()
    );
    path
}

/// Runs the harness with `args` and the example as its plugin; returns its output.
fn run_harness(args: &[&str]) -> Output {
    std::process::Command::new(harness())
        .args(args)
        .arg("--plugin")
        .arg(plugin())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", harness().display()))
}

/// Stdout and stderr, for assertions and their messages.
fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes `value` as JSON to `path`, creating its folder; returns the path as text.
/// Writes `documents` as a JSONL documents file.
fn write_documents(path: &Path, documents: &[Value]) {
    let jsonl: String = documents.iter().map(|d| format!("{d}\n")).collect();
    std::fs::write(path, jsonl).unwrap();
}

fn write_json(path: &Path, value: &Value) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path.display().to_string()
}

/// A connection component of the file connector on `directory`.
fn connection(directory: &Path, create_missing: bool) -> Value {
    json!({
        "id": "conn-files",
        "connector": "files",
        "kind": "connection",
        "fields": {"directory": directory.display().to_string(), "createMissing": create_missing}
    })
}

/// Runs Test Connection on `component`; returns the exit code and the output.
fn test_connection(component: &Value) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_json(&dir.path().join("connection.json"), component);
    let output = run_harness(&["test-connection", "--connection", &file]);
    (output.status.code().unwrap_or(-1), text(&output))
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The JSON lines of `path`.
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A work folder with an empty `inbox` and a `components` folder holding `conn-files.json`, a
/// connection to that inbox.
fn workspace() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let inbox = work.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let components = work.path().join("components");
    write_json(
        &components.join("conn-files.json"),
        &connection(&inbox, false),
    );
    (work, inbox, components)
}

#[test]
fn test_connection_passes_for_a_writable_directory_and_leaves_it_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = test_connection(&connection(dir.path(), false));
    assert_eq!(code, 0, "expected exit 0:\n{text}");
    for step in [
        "[PASSED ] Settings valid",
        "[PASSED ] Directory found",
        "[PASSED ] Directory writable",
    ] {
        assert!(text.contains(step), "{step:?} missing:\n{text}");
    }
    assert_eq!(
        files_in(dir.path()),
        Vec::<String>::new(),
        "the probe file was left"
    );
}

#[test]
fn test_connection_fails_for_a_missing_directory_naming_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let (code, text) = test_connection(&connection(&missing, false));
    assert_eq!(code, 1, "expected exit 1:\n{text}");
    let expected = format!(
        "[FAILED ] Directory found: Directory (directory) {} does not exist; create it, correct \
         the path, or turn on Create if missing (createMissing)",
        missing.display()
    );
    assert!(text.contains(&expected), "{expected:?} missing:\n{text}");
    assert!(text.contains("[SKIPPED] Directory writable"), "{text}");
    assert!(!missing.exists(), "Test Connection created the directory");
}

#[test]
fn test_connection_creates_a_missing_directory_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("new").join("inbox");
    let (code, text) = test_connection(&connection(&missing, true));
    assert_eq!(code, 0, "expected exit 0:\n{text}");
    assert!(
        text.contains("[PASSED ] Directory found: created"),
        "{text}"
    );
    assert!(missing.is_dir(), "{} was not created", missing.display());
}

#[test]
fn test_connection_refuses_a_relative_directory_as_an_invalid_field() {
    let (code, text) = test_connection(&connection(Path::new("spool/orders"), false));
    assert_eq!(code, 2, "expected exit 2 (invalid fields):\n{text}");
    assert!(
        text.contains("Directory (directory): \"spool/orders\" is a relative path"),
        "{text}"
    );
}

#[test]
fn a_process_writes_documents_one_bad_name_fails_alone_and_read_takes_the_others_back() {
    let (work, inbox, components) = workspace();
    // What READ's pattern `*.txt` must pass over: another name, a hidden file, a directory.
    std::fs::write(inbox.join("notes.md"), "not a .txt").unwrap();
    std::fs::write(inbox.join(".hidden.txt"), "hidden").unwrap();
    std::fs::create_dir(inbox.join("sub.txt")).unwrap();
    let untouched = [".hidden.txt", "notes.md", "sub.txt"];
    write_json(
        &components.join("op-write.json"),
        &json!({"id": "op-write", "connector": "files", "kind": "operation",
                "operationType": "WRITE", "fields": {"extension": ".txt"}}),
    );
    write_json(
        &components.join("op-read.json"),
        &json!({"id": "op-read", "connector": "files", "kind": "operation",
                "operationType": "READ", "fields": {"pattern": "*.txt", "deleteAfterRead": true}}),
    );
    let documents = [
        json!({"data": "first", "properties": {"file.name": "a.txt"}}),
        json!({"data": "escape", "properties": {"file.name": "../escape.txt"}}),
        json!({"data": "second, named by the connector"}),
    ];
    write_documents(&work.path().join("documents.jsonl"), &documents);
    let process = write_json(
        &work.path().join("files.process.json"),
        &json!({
            "name": "files-roundtrip",
            "components": "components",
            "steps": [
                {"name": "write", "connection": "conn-files", "operation": "op-write",
                 "input": "documents.jsonl"},
                {"name": "read", "connection": "conn-files", "operation": "op-read"}
            ]
        }),
    );
    let out = work.path().join("output");
    let output = run_harness(&[
        "run",
        "--process",
        &process,
        "--output",
        &out.display().to_string(),
    ]);
    let text = text(&output);
    assert_eq!(output.status.code(), Some(1), "one document fails:\n{text}");

    // Exactly one result per document: the bad name fails alone, its neighbours are written.
    let written = lines(&out.join("write.results.jsonl"));
    let statuses: Vec<&str> = written
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["SUCCESS", "APPLICATION_ERROR", "SUCCESS"],
        "{written:?}"
    );
    assert_eq!(written[1]["statusCode"], "InvalidFileName", "{written:?}");
    let message = written[1]["message"].as_str().unwrap();
    assert!(
        message.starts_with("document 1: its file.name \"../escape.txt\" is not a plain file name"),
        "{message}"
    );
    assert!(
        !work.path().join("escape.txt").exists(),
        "a file escaped the directory"
    );
    let outputs = lines(&out.join("write.outputs.jsonl"));
    assert_eq!(
        outputs[0]["properties"]["file.name"], "a.txt",
        "{outputs:?}"
    );
    let generated = outputs[2]["properties"]["file.name"].as_str().unwrap();
    assert!(
        generated.starts_with("document-") && generated.ends_with(".txt"),
        "generated name {generated:?}"
    );
    assert_eq!(
        outputs[2]["properties"]["file.path"],
        inbox.join(generated).display().to_string()
    );

    // READ got the two files back, in name order, and deleted them once delivered.
    let read = lines(&out.join("read.results.jsonl"));
    assert_eq!(read.len(), 1, "one trigger document, one result: {read:?}");
    assert_eq!(
        (read[0]["status"].as_str(), read[0]["outputs"].as_u64()),
        (Some("SUCCESS"), Some(2))
    );
    let documents = lines(&out.join("read.outputs.jsonl"));
    let got: Vec<(&str, &str, &str)> = documents
        .iter()
        .map(|d| {
            (
                d["properties"]["file.name"].as_str().unwrap(),
                d["data"].as_str().unwrap(),
                d["properties"]["file.size"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.txt", "first", "5"),
            (generated, "second, named by the connector", "30")
        ]
    );
    assert_eq!(
        files_in(&inbox),
        untouched,
        "READ with deleteAfterRead left files, or took one it should not have"
    );
}

#[test]
fn writing_a_name_that_exists_fails_that_document_unless_overwrite() {
    let (work, inbox, components) = workspace();
    std::fs::write(inbox.join("taken.txt"), "old").unwrap();
    for (id, if_exists) in [("op-keep", "FAIL"), ("op-replace", "OVERWRITE")] {
        write_json(
            &components.join(format!("{id}.json")),
            &json!({"id": id, "connector": "files", "kind": "operation",
                    "operationType": "WRITE", "fields": {"ifExists": if_exists}}),
        );
    }
    let documents = [
        json!({"data": "new", "properties": {"file.name": "taken.txt"}}),
        json!({"data": "free", "properties": {"file.name": "free.txt"}}),
    ];
    write_documents(&work.path().join("documents.jsonl"), &documents);
    let process = write_json(
        &work.path().join("p.process.json"),
        &json!({
            "name": "files-exists",
            "components": "components",
            "steps": [
                {"name": "keep", "connection": "conn-files", "operation": "op-keep",
                 "input": "documents.jsonl"}
            ]
        }),
    );
    let out = work.path().join("output").display().to_string();
    let output = run_harness(&["run", "--process", &process, "--output", &out]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let results = lines(&Path::new(&out).join("keep.results.jsonl"));
    assert_eq!(results[0]["statusCode"], "FileExists", "{results:?}");
    assert_eq!(results[1]["status"], "SUCCESS", "{results:?}");
    assert_eq!(
        std::fs::read_to_string(inbox.join("taken.txt")).unwrap(),
        "old"
    );

    std::fs::remove_file(inbox.join("free.txt")).unwrap();
    let process = write_json(
        &work.path().join("p.process.json"),
        &json!({
            "name": "files-exists",
            "components": "components",
            "steps": [
                {"name": "replace", "connection": "conn-files", "operation": "op-replace",
                 "input": "documents.jsonl"}
            ]
        }),
    );
    let output = run_harness(&["run", "--process", &process, "--output", &out]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        std::fs::read_to_string(inbox.join("taken.txt")).unwrap(),
        "new"
    );
    assert_eq!(
        files_in(&inbox),
        ["free.txt", "taken.txt"],
        "a partial file was left"
    );
}
