//! `test-harness test-connection`: Test Connection for a connection component, through the plugin.

use std::path::Path;

use connector_sdk::protocol::{ClientError, INVALID_FIELDS, TestConnectionResult};
use connector_sdk::{Component, FieldError, StepStatus};

use crate::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, components, descriptor, plugin};

/// Runs Test Connection for the component in `file`, prints the outcome, and returns the exit code.
pub async fn run(file: &Path, plugin_path: Option<&Path>, json: bool) -> u8 {
    let component = match components::load(file) {
        Ok(component) => component,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_INVALID;
        }
    };
    let plugin_path = plugin::locate(plugin_path);
    let process = match plugin::start(&plugin_path).await {
        Ok(process) => process,
        Err(err) => {
            eprintln!(
                "error: could not start the connector plugin {}: {err}",
                plugin_path.display()
            );
            return EXIT_FAILED;
        }
    };
    let code = match descriptor::check_connection(&process.descriptor(), &component) {
        Err(errors) => {
            print_field_errors(file, &errors);
            EXIT_INVALID
        }
        Ok(()) => match process.test_connection(&component).await {
            Ok(result) => {
                print_result(&component, &result, json);
                if result.ok { EXIT_OK } else { EXIT_FAILED }
            }
            Err(ClientError::Rpc(err)) if err.code == INVALID_FIELDS => {
                print_field_errors(file, &err.field_errors());
                if err.field_errors().is_empty() {
                    eprintln!("error: {}", err.message);
                }
                EXIT_INVALID
            }
            Err(err) => {
                eprintln!("error: Test Connection could not run: {err}");
                EXIT_FAILED
            }
        },
    };
    plugin::shut_down(&process).await;
    code
}

fn print_field_errors(file: &Path, errors: &[FieldError]) {
    eprintln!(
        "{}: the connection's fields are invalid; nothing was sent to AWS:",
        file.display()
    );
    for error in errors {
        eprintln!("  - {error}");
    }
}

fn print_result(component: &Component, result: &TestConnectionResult, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(result).unwrap_or_default()
        );
        return;
    }
    println!("Test Connection for {}:", component.id);
    for step in &result.steps {
        let mark = match step.status {
            StepStatus::Passed => "PASSED ",
            StepStatus::Failed => "FAILED ",
            StepStatus::Warning => "WARNING",
            StepStatus::Skipped => "SKIPPED",
        };
        println!("  [{mark}] {}: {}", step.name, step.message);
    }
    println!(
        "{}",
        if result.ok {
            "Test Connection passed."
        } else {
            "Test Connection failed: fix the step marked FAILED and test again."
        }
    );
}
