//! `test-harness test-connection`: Test Connection for a connection component, through the plugin.

use std::path::Path;

use connector_sdk::host::{ClientError, INVALID_FIELDS, TestConnectionResult};
use connector_sdk::{Component, FieldError, TestStep};
use serde::Serialize;

use crate::errors::ComponentFieldError;
use crate::summary::Outcome;
use crate::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, components, outln, plugin};

/// What `test-connection --json` prints: one JSON object on stdout, whatever the outcome. Every
/// key is always there (`null` or empty when it does not apply).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestConnectionSummary {
    /// The connection component's id; `null` when its file could not be loaded.
    pub component: Option<String>,
    /// `passed`, `failed` or `invalid`.
    pub outcome: Outcome,
    /// The harness's exit code: 0, 1 or 2.
    pub exit_code: u8,
    /// Whether Test Connection ran and no step failed (the protocol result's `ok`).
    pub ok: bool,
    /// The protocol result's steps; empty when Test Connection did not run.
    pub steps: Vec<TestStep>,
    /// The connection's field errors, when its fields are invalid.
    pub field_errors: Vec<ComponentFieldError>,
    /// Why Test Connection did not run (also printed on stderr).
    pub error: Option<String>,
}

impl TestConnectionSummary {
    fn new(exit_code: u8) -> Self {
        Self {
            component: None,
            outcome: Outcome::of(exit_code),
            exit_code,
            ok: false,
            steps: Vec::new(),
            field_errors: Vec::new(),
            error: None,
        }
    }

    fn ran(component: &Component, result: TestConnectionResult) -> Self {
        let mut summary = Self::new(if result.ok { EXIT_OK } else { EXIT_FAILED });
        summary.component = Some(component.id.to_string());
        summary.ok = result.ok;
        summary.steps = result.steps;
        summary
    }

    fn error(exit_code: u8, error: String) -> Self {
        let mut summary = Self::new(exit_code);
        summary.error = Some(error);
        summary
    }

    fn invalid_fields(component: &Component, errors: &[FieldError], error: String) -> Self {
        let mut summary = Self::error(EXIT_INVALID, error);
        summary.component = Some(component.id.to_string());
        summary.field_errors = ComponentFieldError::of(&component.id.to_string(), errors);
        summary
    }
}

/// Runs Test Connection for the component in `file` (the plugin's log going where `log` says),
/// prints the outcome (with `json` as a [`TestConnectionSummary`]), and returns the exit code.
pub async fn run(
    file: &Path,
    plugin_path: Option<&Path>,
    json: bool,
    log: &plugin::PluginLog,
) -> u8 {
    let summary = test(file, plugin_path, log).await;
    if json {
        match serde_json::to_string_pretty(&summary) {
            Ok(text) => outln!("{text}"),
            Err(err) => eprintln!("error: cannot write the outcome as JSON: {err}"),
        }
    } else if let (Some(component), false) = (&summary.component, summary.steps.is_empty()) {
        print_steps(component, &summary);
    }
    summary.exit_code
}

fn print_steps(component: &str, summary: &TestConnectionSummary) {
    outln!("Test Connection for {component}:");
    for step in &summary.steps {
        let mark = format!("{:7}", step.status.as_str().to_uppercase());
        outln!("  [{mark}] {}: {}", step.name, step.message);
    }
    outln!(
        "{}",
        if summary.ok {
            "Test Connection passed."
        } else {
            "Test Connection failed: fix the step marked FAILED and test again."
        }
    );
}

/// Runs Test Connection; prints on stderr what went wrong.
async fn test(
    file: &Path,
    plugin_path: Option<&Path>,
    log: &plugin::PluginLog,
) -> TestConnectionSummary {
    let component = match components::load(file) {
        Ok(component) => component,
        Err(err) => {
            eprintln!("error: {err}");
            return TestConnectionSummary::error(EXIT_INVALID, err.to_string());
        }
    };
    let process =
        match plugin::start_for_command(plugin_path, plugin::CallLimits::default(), log).await {
            Ok(process) => process,
            Err(err) => {
                eprintln!("error: {err}");
                return TestConnectionSummary::error(EXIT_FAILED, err.to_string());
            }
        };
    let summary = match process.descriptor().validate_connection(&component) {
        Err(errors) => {
            let error = print_field_errors(file, &errors);
            TestConnectionSummary::invalid_fields(&component, &errors, error)
        }
        Ok(_) => match process.test_connection(&component).await {
            Ok(result) => TestConnectionSummary::ran(&component, result),
            Err(ClientError::Rpc(err)) if err.code == INVALID_FIELDS => {
                let errors = err.field_errors();
                let error = print_field_errors(file, &errors);
                if errors.is_empty() {
                    eprintln!("error: {}", err.message);
                }
                TestConnectionSummary::invalid_fields(&component, &errors, error)
            }
            Err(err) => {
                let error = format!("Test Connection could not run: {err}");
                eprintln!("error: {error}");
                let mut summary = TestConnectionSummary::error(EXIT_FAILED, error);
                summary.component = Some(component.id.to_string());
                summary
            }
        },
    };
    plugin::shut_down(&process).await;
    summary
}

/// Prints the field errors on stderr; returns the line that introduces them.
fn print_field_errors(file: &Path, errors: &[FieldError]) -> String {
    let error = format!(
        "{}: the connection's fields are invalid; nothing was sent to AWS",
        file.display()
    );
    eprintln!("{error}:");
    for error in errors {
        eprintln!("  - {error}");
    }
    error
}
