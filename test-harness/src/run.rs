//! `test-harness run`: executes a process through one plugin process, the way an integration
//! runtime would, and reports per step what happened to every document.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use connector_sdk::host::{ClientError, ExecuteParamsRef, Outputs, PluginProcess};
use connector_sdk::{Component, Descriptor, Document, DocumentResult, FieldError, ResultStatus};
use futures::StreamExt as _;
use serde_json::json;

use crate::errors::ComponentFieldError;
use crate::process::{Input, Process, read_documents};
use crate::summary::RunSummary;
use crate::{plugin, process};

/// How `run` runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The process file.
    pub process: PathBuf,
    /// The plugin executable (default: next to the harness).
    pub plugin: Option<PathBuf>,
    /// Where results and outputs go (default: `output/<process name>` in the current folder).
    pub output: Option<PathBuf>,
    /// How many process executions to run, all through the same plugin process.
    pub executions: usize,
    /// Run the executions at the same time instead of one after the other.
    pub parallel: bool,
    /// The most documents per `execute` call.
    pub batch_size: usize,
    /// Print only the summary.
    pub quiet: bool,
    /// A call's timeout and grace period.
    pub limits: plugin::CallLimits,
    /// Print the outcome as one JSON object on stdout ([`RunSummary`]) instead of the table.
    pub json: bool,
    /// Where the plugin's log goes.
    pub plugin_log: plugin::PluginLog,
}

/// What one step did in one execution.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// The step name.
    pub name: String,
    /// One result per input document.
    pub results: Vec<DocumentResult>,
    /// Every output document, in result order.
    pub outputs: Vec<Document>,
    /// How long the step took.
    pub elapsed: Duration,
}

/// Runs the process; prints progress and a summary; returns the exit code.
pub async fn run(options: &RunOptions) -> u8 {
    let process = match process::load(&options.process) {
        Ok(process) => process,
        Err(err) => {
            eprintln!("error: {err}");
            return refused(options, None, RunSummary::invalid(err.to_string()));
        }
    };
    let plugin = match plugin::start_for_command(
        options.plugin.as_deref(),
        options.limits,
        &options.plugin_log,
    )
    .await
    {
        Ok(plugin) => plugin,
        Err(err) => {
            eprintln!("error: {err}");
            return refused(options, Some(&process), RunSummary::failed(err.to_string()));
        }
    };
    let code = run_with(&plugin, &process, options).await;
    plugin::shut_down(&plugin).await;
    code
}

/// Prints the summary of a run that did not run (with `--json`; the reason is on stderr
/// already) and returns its exit code.
fn refused(options: &RunOptions, process: Option<&Process>, mut summary: RunSummary) -> u8 {
    summary.process = process.map(|p| p.file.name.clone());
    if options.json {
        summary.print_json();
    }
    summary.exit_code
}

/// Runs an already loaded process on an already running plugin (for tests and embedding hosts).
///
/// Every component and every documents file is checked before anything runs: one that is
/// invalid is reported (exit code 2) and nothing is sent.
///
/// A plugin that exited, or was stopped because it did not answer a call within its timeout and
/// grace period (every document of the calls in flight then fails), is started again before the
/// next `execute` call, and a line on stderr says so; the run goes on.
pub async fn run_with(plugin: &PluginProcess, process: &Process, options: &RunOptions) -> u8 {
    let descriptor = plugin.descriptor();
    let invalid = validate_components(&descriptor, process);
    if !invalid.is_empty() {
        let mut field_errors = Vec::new();
        for (id, errors) in invalid {
            eprintln!("component {id} is invalid; nothing was run:");
            for error in &errors {
                eprintln!("  - {error}");
            }
            field_errors.extend(ComponentFieldError::of(&id, &errors));
        }
        let mut summary = RunSummary::invalid("a component is invalid; nothing was run".into());
        summary.field_errors = field_errors;
        return refused(options, Some(process), summary);
    }
    let inputs = match read_inputs(process) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("error: {message}; nothing was run");
            return refused(options, Some(process), RunSummary::invalid(message));
        }
    };
    let started = Instant::now();
    let executions = options.executions.max(1);
    let run_one = |n| execute_process(plugin, process, &descriptor, &inputs, n, options);
    let reports: Vec<Vec<StepReport>> = if options.parallel {
        futures::future::join_all((1..=executions).map(run_one)).await
    } else {
        let mut all = Vec::new();
        for n in 1..=executions {
            all.push(run_one(n).await);
        }
        all
    };
    let output_dir = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&process.file.name));
    if let Err(err) = write_reports(&output_dir, &reports) {
        let message = format!("cannot write results into {}: {err}", output_dir.display());
        eprintln!("error: {message}");
        return refused(options, Some(process), RunSummary::failed(message));
    }
    let summary = RunSummary::of(process, &reports, &output_dir, started.elapsed());
    if options.json {
        summary.print_json();
    } else {
        summary.print();
    }
    summary.exit_code
}

/// The documents of every step whose input is a file, by step position; an error names the step,
/// the file, and for a bad line its number and what is wrong.
fn read_inputs(process: &Process) -> Result<BTreeMap<usize, Vec<Document>>, String> {
    let mut inputs = BTreeMap::new();
    for (position, step) in process.file.steps.iter().enumerate() {
        if let Some(Input::File(path)) = &step.input {
            let documents = read_documents(&process.dir.join(path))
                .map_err(|err| format!("step \"{}\": {err}", step.name))?;
            inputs.insert(position, documents);
        }
    }
    Ok(inputs)
}

/// Whether the operation component's type takes input documents.
pub(crate) fn takes_input(descriptor: &Descriptor, operation: &Component) -> bool {
    descriptor.takes_input(operation.operation_type.as_deref().unwrap_or_default())
}

/// The components of every step that do not fit the plugin's descriptor, with their errors.
pub(crate) fn validate_components(
    descriptor: &Descriptor,
    process: &Process,
) -> Vec<(String, Vec<FieldError>)> {
    let mut invalid = Vec::new();
    let mut checked: Vec<&str> = Vec::new();
    for step in &process.file.steps {
        for id in [&step.connection, &step.operation] {
            if checked.contains(&id.as_str()) {
                continue;
            }
            checked.push(id);
            let component = &process.components[id];
            if let Err(errors) = descriptor.validate(component) {
                invalid.push((id.clone(), errors));
            }
        }
    }
    invalid
}

async fn execute_process(
    plugin: &PluginProcess,
    process: &Process,
    descriptor: &Descriptor,
    inputs: &BTreeMap<usize, Vec<Document>>,
    execution: usize,
    options: &RunOptions,
) -> Vec<StepReport> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let execution_id = format!("{}-{stamp}-{execution}", process.file.name);
    let mut reports: Vec<StepReport> = Vec::new();
    for (position, step) in process.file.steps.iter().enumerate() {
        let started = Instant::now();
        let operation = &process.components[&step.operation];
        let connection = &process.components[&step.connection];
        let documents = match &step.input {
            Some(Input::File(_)) => inputs.get(&position).cloned().unwrap_or_default(),
            Some(Input::Step { step: from }) => reports
                .iter()
                .find(|r| &r.name == from)
                .map(|r| r.outputs.clone())
                .unwrap_or_default(),
            None if !takes_input(descriptor, operation) => vec![Document::default()],
            None => reports
                .last()
                .map(|r| r.outputs.clone())
                .unwrap_or_default(),
        };
        let total = documents.len();
        let batch_size = options.batch_size.max(1);
        let call = StepCall {
            execution_id: &execution_id,
            process_name: &process.file.name,
            connection,
            operation,
        };
        let results = execute_documents(plugin, &call, &documents, batch_size, |done| {
            if !options.quiet && total > batch_size {
                eprintln!("  [{execution}] {}: {done}/{total} documents", step.name);
            }
        })
        .await;
        let outputs = results
            .iter()
            .flat_map(|r| r.outputs.iter().cloned())
            .collect();
        reports.push(StepReport {
            name: step.name.clone(),
            results,
            outputs,
            elapsed: started.elapsed(),
        });
    }
    reports
}

/// What one step's `execute` calls carry besides the documents.
pub(crate) struct StepCall<'a> {
    /// The execution id.
    pub execution_id: &'a str,
    /// The process name.
    pub process_name: &'a str,
    /// The step's connection component.
    pub connection: &'a Component,
    /// The step's operation component.
    pub operation: &'a Component,
}

/// Runs a step's operation over `documents` in `execute` calls of at most `batch_size`
/// documents, two in flight, and returns exactly one result per document, in input order (the
/// results' `index` is the document's). A plugin that stopped is started again before a call (a
/// note on stderr says so); a call that fails, or answers with the wrong number of results,
/// fails each of its documents. `progress` is told after each call how many documents are done.
pub(crate) async fn execute_documents(
    plugin: &PluginProcess,
    call: &StepCall<'_>,
    documents: &[Document],
    batch_size: usize,
    mut progress: impl FnMut(usize),
) -> Vec<DocumentResult> {
    let mut results: Vec<DocumentResult> = Vec::with_capacity(documents.len());
    // Two execute calls in flight, results kept in input order: while the plugin sends one
    // call's messages, it already reads the next call.
    let mut calls = futures::stream::iter(documents.chunks(batch_size.max(1)))
        .map(|chunk| async move {
            let params = ExecuteParamsRef {
                execution_id: call.execution_id,
                process_name: call.process_name,
                connection: call.connection,
                operation: call.operation,
                documents: chunk,
            };
            match plugin.ensure_running().await {
                Ok(false) => {}
                Ok(true) => eprintln!(
                    "note: the plugin process had stopped; started it again (start {})",
                    plugin.starts()
                ),
                Err(err) => {
                    return host_failures(
                        chunk.len(),
                        &format!("the plugin could not be started again: {err}"),
                    );
                }
            }
            // The runner holds the documents it sent: SEND's and DELETE's outputs come back as
            // what they added and are merged onto them (protocol 1.1; full with a 1.0 plugin).
            match plugin.execute_ref_with(&params, Outputs::Added).await {
                Ok(answer) if answer.results.len() == chunk.len() => answer.results,
                Ok(answer) => host_failures(
                    chunk.len(),
                    &format!(
                        "the plugin returned {} results for {} documents",
                        answer.results.len(),
                        chunk.len()
                    ),
                ),
                Err(err) => {
                    if let ClientError::Timeout {
                        stopped: Some(_), ..
                    } = &err
                    {
                        eprintln!("note: {err}");
                    }
                    host_failures(chunk.len(), &format!("the execute call failed: {err}"))
                }
            }
        })
        .buffered(CALLS_IN_FLIGHT);
    let mut offset = 0;
    while let Some(chunk_results) = calls.next().await {
        let count = chunk_results.len();
        results.extend(chunk_results.into_iter().map(|mut r| {
            r.index += offset;
            r
        }));
        offset += count;
        progress(offset);
    }
    results
}

/// Execute calls a step keeps in flight.
const CALLS_IN_FLIGHT: usize = 2;

fn host_failures(count: usize, message: &str) -> Vec<DocumentResult> {
    (0..count)
        .map(|index| DocumentResult {
            index,
            status: ResultStatus::Failure,
            status_code: None,
            message: Some(message.to_owned()),
            outputs: Vec::new(),
        })
        .collect()
}

fn write_reports(dir: &Path, reports: &[Vec<StepReport>]) -> std::io::Result<()> {
    for (n, steps) in reports.iter().enumerate() {
        let dir = if reports.len() == 1 {
            dir.to_owned()
        } else {
            dir.join(format!("execution-{}", n + 1))
        };
        std::fs::create_dir_all(&dir)?;
        for step in steps {
            let mut results = std::io::BufWriter::new(std::fs::File::create(
                dir.join(format!("{}.results.jsonl", step.name)),
            )?);
            for result in &step.results {
                let line = json!({
                    "index": result.index,
                    "status": result.status,
                    "statusCode": result.status_code,
                    "message": result.message,
                    "outputs": result.outputs.len(),
                });
                writeln!(results, "{line}")?;
            }
            results.flush()?;
            let mut outputs = std::io::BufWriter::new(std::fs::File::create(
                dir.join(format!("{}.outputs.jsonl", step.name)),
            )?);
            for document in &step.outputs {
                writeln!(
                    outputs,
                    "{}",
                    serde_json::to_string(document).map_err(std::io::Error::other)?
                )?;
            }
            outputs.flush()?;
        }
    }
    Ok(())
}
