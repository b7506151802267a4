//! What `test-harness run` prints at the end: a table of the steps and the documents that did not
//! succeed, grouped, or with `--json` one object, [`RunSummary`], whatever the outcome.

use std::path::Path;
use std::time::Duration;

use connector_sdk::ResultStatus;
use serde::Serialize;

use crate::errors::{ComponentFieldError, ErrorGroup, ErrorGroups};
use crate::process::Process;
use crate::run::StepReport;
use crate::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, outln};

/// How many groups of errors the table shows; the results files have every document.
const GROUPS_SHOWN: usize = 10;

/// How a command ended, as its exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Exit code 0: everything succeeded (every document, every step).
    Passed,
    /// Exit code 1: something ran and failed, or could not run.
    Failed,
    /// Exit code 2: a file, a component or its fields are invalid; nothing was run.
    Invalid,
}

impl Outcome {
    /// The outcome an exit code stands for.
    pub fn of(exit_code: u8) -> Self {
        match exit_code {
            EXIT_OK => Outcome::Passed,
            EXIT_INVALID => Outcome::Invalid,
            _ => Outcome::Failed,
        }
    }
}

/// What `run --json` prints: one JSON object on stdout, whatever the outcome. Every key is always
/// there (`null` or empty when it does not apply).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The process name; `null` when the process file could not be loaded.
    pub process: Option<String>,
    /// `passed`, `failed` or `invalid`.
    pub outcome: Outcome,
    /// The harness's exit code: 0, 1 or 2.
    pub exit_code: u8,
    /// Why nothing ran, or why the run could not finish (also printed on stderr).
    pub error: Option<String>,
    /// The field errors of the invalid components.
    pub field_errors: Vec<ComponentFieldError>,
    /// How many executions ran (0 when nothing ran).
    pub executions: usize,
    /// How long the executions took.
    pub elapsed_seconds: f64,
    /// The folder of the results and outputs files; `null` when nothing was written.
    pub output: Option<String>,
    /// Each step's counts over every execution.
    pub steps: Vec<StepSummary>,
}

/// One step's counts over every execution of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSummary {
    /// The step name.
    pub name: String,
    /// Input documents (one result each).
    pub documents: usize,
    /// Results `SUCCESS`.
    pub succeeded: usize,
    /// Results `APPLICATION_ERROR`.
    pub application_errors: usize,
    /// Results `FAILURE`.
    pub failures: usize,
    /// Output documents.
    pub outputs: usize,
    /// The documents that did not succeed, grouped by status, status code and message, in the
    /// order each group was first seen.
    pub errors: Vec<ErrorGroup>,
}

impl RunSummary {
    /// A run that did not start because something is invalid (exit code 2).
    pub fn invalid(error: String) -> Self {
        Self::refused(EXIT_INVALID, error)
    }

    /// A run that could not run or finish (exit code 1).
    pub fn failed(error: String) -> Self {
        Self::refused(EXIT_FAILED, error)
    }

    fn refused(exit_code: u8, error: String) -> Self {
        Self {
            process: None,
            outcome: Outcome::of(exit_code),
            exit_code,
            error: Some(error),
            field_errors: Vec::new(),
            executions: 0,
            elapsed_seconds: 0.0,
            output: None,
            steps: Vec::new(),
        }
    }

    /// The summary of the executions of a process: 0 when every document succeeded, else 1.
    pub fn of(
        process: &Process,
        reports: &[Vec<StepReport>],
        output_dir: &Path,
        elapsed: Duration,
    ) -> Self {
        let mut steps: Vec<(StepSummary, ErrorGroups)> = Vec::new();
        for execution in reports {
            for (position, step) in execution.iter().enumerate() {
                if steps.len() == position {
                    steps.push((
                        StepSummary {
                            name: step.name.clone(),
                            documents: 0,
                            succeeded: 0,
                            application_errors: 0,
                            failures: 0,
                            outputs: 0,
                            errors: Vec::new(),
                        },
                        ErrorGroups::default(),
                    ));
                }
                let (summary, groups) = &mut steps[position];
                summary.documents += step.results.len();
                summary.outputs += step.outputs.len();
                for result in &step.results {
                    match result.status {
                        ResultStatus::Success => summary.succeeded += 1,
                        ResultStatus::ApplicationError => summary.application_errors += 1,
                        ResultStatus::Failure => summary.failures += 1,
                    }
                    groups.add(
                        result.index,
                        result.status,
                        result.status_code.as_deref(),
                        result.message.as_deref(),
                    );
                }
            }
        }
        let steps: Vec<StepSummary> = steps
            .into_iter()
            .map(|(mut summary, groups)| {
                summary.errors = groups.into_groups();
                summary
            })
            .collect();
        let all_succeeded = steps.iter().all(|s| s.succeeded == s.documents);
        let exit_code = if all_succeeded { EXIT_OK } else { EXIT_FAILED };
        Self {
            process: Some(process.file.name.clone()),
            outcome: Outcome::of(exit_code),
            exit_code,
            error: None,
            field_errors: Vec::new(),
            executions: reports.len(),
            elapsed_seconds: elapsed.as_secs_f64(),
            output: Some(output_dir.display().to_string()),
            steps,
        }
    }

    /// Prints the summary as one JSON object on stdout.
    pub fn print_json(&self) {
        match serde_json::to_string_pretty(self) {
            Ok(text) => outln!("{text}"),
            Err(err) => eprintln!("error: cannot write the summary as JSON: {err}"),
        }
    }

    /// Prints the table of the steps and the documents that did not succeed, grouped, on stdout.
    pub fn print(&self) {
        let executions = self.executions;
        outln!(
            "Process {} ({executions} execution{}, {:.1} s):",
            self.process.as_deref().unwrap_or_default(),
            if executions == 1 { "" } else { "s" },
            self.elapsed_seconds
        );
        outln!(
            "  {:<12} {:>10} {:>10} {:>12} {:>10} {:>10}",
            "step",
            "documents",
            "successes",
            "app. errors",
            "failures",
            "outputs"
        );
        for step in &self.steps {
            outln!(
                "  {:<12} {:>10} {:>10} {:>12} {:>10} {:>10}",
                step.name,
                step.documents,
                step.succeeded,
                step.application_errors,
                step.failures,
                step.outputs
            );
        }
        let groups: Vec<(&str, &ErrorGroup)> = self
            .steps
            .iter()
            .flat_map(|step| step.errors.iter().map(|group| (step.name.as_str(), group)))
            .collect();
        for (step, group) in groups.iter().take(GROUPS_SHOWN) {
            outln!("  {step}: {group}");
        }
        if groups.len() > GROUPS_SHOWN {
            let rest = &groups[GROUPS_SHOWN..];
            let documents: usize = rest.iter().map(|(_, group)| group.count).sum();
            outln!(
                "  ... {documents} more documents with {} other errors: see the results files",
                rest.len()
            );
        }
        if let Some(output) = &self.output {
            outln!("Results and outputs: {output}");
        }
    }
}
