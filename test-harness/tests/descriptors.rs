//! The checked-in descriptors match what the config types generate, and the README's reference
//! section matches the descriptors; `descriptors --check` says which file is stale and how to fix it.

use std::path::Path;
use std::process::Command;

use test_harness::descriptors::{self, Problem, StaleFile};
use test_harness::reference::section::{BEGIN, END};

#[test]
fn checked_in_descriptors_are_current() {
    let dir = descriptors::default_dir();
    let stale = descriptors::stale(&dir);
    assert!(
        stale.is_empty(),
        "descriptors/{} is stale: the config types changed. Regenerate it with:\n    {}\nand commit the result.",
        stale.join(", descriptors/"),
        descriptors::WRITE_COMMAND
    );
}

#[test]
fn the_checked_in_readme_reference_is_current() {
    let readme = descriptors::default_readme();
    assert_eq!(
        descriptors::readme_problem(&readme),
        None,
        "the reference section of {} is stale: the descriptors changed. Regenerate it with:\n    {}\nand commit the result.",
        readme.display(),
        descriptors::WRITE_COMMAND
    );
}

/// A README with hand-written text around an empty generated section.
fn readme_template() -> String {
    format!("# Demo\n\nIntro.\n\n## Reference\n\n{BEGIN}\n{END}\n\n## After\n\nThe end.\n")
}

/// A folder with current descriptors and a README whose reference section is filled in.
fn current_files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("descriptors");
    let readme = root.path().join("README.md");
    descriptors::write(&dir).unwrap();
    std::fs::write(&readme, readme_template()).unwrap();
    assert!(
        descriptors::write_readme(&readme).unwrap(),
        "the section was empty"
    );
    (root, dir, readme)
}

#[test]
fn a_readme_with_an_edited_table_is_reported_stale_and_rewritten_around_the_text() {
    let (_root, dir, readme) = current_files();
    assert_eq!(
        descriptors::check(&dir, Some(&readme)),
        Vec::<StaleFile>::new()
    );

    let current = std::fs::read_to_string(&readme).unwrap();
    let edited_row = current
        .lines()
        .find(|line| line.starts_with("| `secretKey` |"))
        .expect("a row for secretKey");
    assert!(edited_row.contains("| yes |"), "{edited_row}");
    let edited = current.replace(edited_row, &edited_row.replace("| yes |", "| |"));
    std::fs::write(&readme, &edited).unwrap();
    assert_eq!(
        descriptors::check(&dir, Some(&readme)),
        [StaleFile {
            path: readme.clone(),
            problem: Problem::Differs
        }]
    );

    assert!(descriptors::write_readme(&readme).unwrap(), "it was stale");
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), current);
    assert!(
        !descriptors::write_readme(&readme).unwrap(),
        "it was current"
    );
    assert!(
        current.starts_with("# Demo\n\nIntro.\n\n## Reference\n\n")
            && current.ends_with(&format!("{END}\n\n## After\n\nThe end.\n")),
        "the text around the section changed:\n{current}"
    );
}

#[test]
fn a_readme_without_its_markers_is_reported_and_not_written() {
    let (_root, dir, readme) = current_files();
    std::fs::write(&readme, "# Demo\n\nNo section here.\n").unwrap();
    let stale = descriptors::check(&dir, Some(&readme));
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(
        matches!(stale[0].problem, Problem::NoSection(_)),
        "{stale:?}"
    );
    let message = stale[0].to_string();
    assert!(
        message.contains(BEGIN) && message.contains(END),
        "{message}"
    );
    assert!(descriptors::write_readme(&readme).is_err());
    assert_eq!(
        std::fs::read_to_string(&readme).unwrap(),
        "# Demo\n\nNo section here.\n"
    );
}

fn harness(args: &[&str], dir: &Path, readme: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_test-harness"))
        .arg("descriptors")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .arg("--readme")
        .arg(readme)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn descriptors_check_names_each_stale_file_and_the_command_that_fixes_it() {
    let (_root, dir, readme) = current_files();
    let (code, stdout, stderr) = harness(&["--check"], &dir, &readme);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");

    let text = std::fs::read_to_string(&readme).unwrap();
    std::fs::write(&readme, text.replace("| Queue |", "| The queue |")).unwrap();
    let descriptor = dir.join("amazon-sqs.json");
    std::fs::write(&descriptor, "{}\n").unwrap();
    let (code, stdout, stderr) = harness(&["--check"], &dir, &readme);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    for named in [
        format!("stale: {} is stale", descriptor.display()),
        format!("stale: {} is stale", readme.display()),
        format!(
            "regenerate with: {} --dir {} --readme {}",
            descriptors::WRITE_COMMAND,
            dir.display(),
            readme.display()
        ),
    ] {
        assert!(stderr.contains(&named), "expected {named:?} in:\n{stderr}");
    }

    let (code, stdout, stderr) = harness(&["--write"], &dir, &readme);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), text);
    let (code, _, stderr) = harness(&["--check"], &dir, &readme);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn the_descriptor_is_valid_json_schema_and_marks_secrets() {
    let (_, text) = descriptors::generated().remove(0);
    let descriptor: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fields = &descriptor["connection"]["fields"];
    let typed: connector_sdk::Descriptor = serde_json::from_str(&text).unwrap();
    typed
        .connection
        .fields
        .compiles()
        .expect("valid JSON Schema");
    for secret in [
        "secretKey",
        "sessionToken",
        "privateKey",
        "privateKeyPassphrase",
    ] {
        let field = &fields["properties"][secret];
        assert_eq!(
            field["writeOnly"], true,
            "{secret} must be writeOnly: {field}"
        );
        assert_eq!(
            field["x-secret"], true,
            "{secret} must be x-secret: {field}"
        );
    }
}

/// Every number a user can enter has a minimum and a maximum in the descriptor, so the host's
/// form and its validation refuse what the plugin would refuse.
#[test]
fn every_number_field_has_a_minimum_and_a_maximum() {
    let (_, text) = descriptors::generated().remove(0);
    let descriptor: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut unbounded = Vec::new();
    let mut numbers = 0;
    walk(&descriptor, "", &mut |path, schema| {
        let types: Vec<&str> = match &schema["type"] {
            serde_json::Value::String(one) => vec![one.as_str()],
            serde_json::Value::Array(many) => many.iter().filter_map(|t| t.as_str()).collect(),
            _ => Vec::new(),
        };
        if types.iter().any(|t| matches!(*t, "integer" | "number")) {
            numbers += 1;
            if schema.get("minimum").is_none() || schema.get("maximum").is_none() {
                unbounded.push(format!("{path} (a number without minimum and maximum)"));
            }
        }
    });
    assert!(
        numbers >= 8,
        "expected the SQS descriptor's number fields; found {numbers}"
    );
    assert!(unbounded.is_empty(), "unbounded fields: {unbounded:#?}");
}

fn walk(value: &serde_json::Value, path: &str, visit: &mut dyn FnMut(&str, &serde_json::Value)) {
    match value {
        serde_json::Value::Object(map) => {
            visit(path, value);
            for (key, child) in map {
                walk(child, &format!("{path}/{key}"), visit);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, &format!("{path}/{index}"), visit);
            }
        }
        _ => {}
    }
}
