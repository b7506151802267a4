//! `test-harness run`: executes a process through one plugin process, the way an integration
//! runtime would, and reports per step what happened to every document.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use connector_sdk::protocol::{ClientError, ExecuteParamsRef, PluginProcess};
use connector_sdk::{Component, Document, DocumentResult, FieldError, ResultStatus};
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::process::{Input, Process, read_documents};
use crate::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, descriptor, plugin, process};

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

impl StepReport {
    fn count(&self, status: ResultStatus) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }
}

/// Runs the process; prints progress and a summary; returns the exit code.
pub async fn run(options: &RunOptions) -> u8 {
    let process = match process::load(&options.process) {
        Ok(process) => process,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_INVALID;
        }
    };
    let plugin = match plugin::start_for_command(options.plugin.as_deref(), options.limits).await {
        Ok(plugin) => plugin,
        Err(code) => return code,
    };
    let code = run_with(&plugin, &process, options).await;
    plugin::shut_down(&plugin).await;
    code
}

/// Runs an already loaded process on an already running plugin (for tests and embedding hosts).
///
/// A plugin that exited, or was stopped because it did not answer a call within its timeout and
/// grace period (every document of the calls in flight then fails), is started again before the
/// next `execute` call, and a line on stderr says so; the run goes on.
pub async fn run_with(plugin: &PluginProcess, process: &Process, options: &RunOptions) -> u8 {
    let descriptor = plugin.descriptor();
    let invalid = validate_components(&descriptor, process);
    if !invalid.is_empty() {
        for (id, errors) in invalid {
            eprintln!("component {id} is invalid; nothing was run:");
            for error in errors {
                eprintln!("  - {error}");
            }
        }
        return EXIT_INVALID;
    }
    let started = Instant::now();
    let executions = options.executions.max(1);
    let reports: Vec<Vec<StepReport>> = if options.parallel {
        futures::future::join_all(
            (1..=executions).map(|n| execute_process(plugin, process, &descriptor, n, options)),
        )
        .await
    } else {
        let mut all = Vec::new();
        for n in 1..=executions {
            all.push(execute_process(plugin, process, &descriptor, n, options).await);
        }
        all
    };
    let output_dir = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&process.file.name));
    if let Err(err) = write_reports(&output_dir, &reports) {
        eprintln!(
            "error: cannot write results into {}: {err}",
            output_dir.display()
        );
        return EXIT_FAILED;
    }
    print_summary(process, &reports, &output_dir, started.elapsed());
    let all_succeeded = reports.iter().flatten().all(|step| {
        step.results
            .iter()
            .all(|r| r.status == ResultStatus::Success)
    });
    if all_succeeded { EXIT_OK } else { EXIT_FAILED }
}

/// The components of every step that do not fit the plugin's descriptor, with their errors.
pub(crate) fn validate_components(
    descriptor: &Value,
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
            if let Err(errors) = descriptor::check(descriptor, component) {
                invalid.push((id.clone(), errors));
            }
        }
    }
    invalid
}

async fn execute_process(
    plugin: &PluginProcess,
    process: &Process,
    descriptor: &Value,
    execution: usize,
    options: &RunOptions,
) -> Vec<StepReport> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let execution_id = format!("{}-{stamp}-{execution}", process.file.name);
    let mut reports: Vec<StepReport> = Vec::new();
    for step in &process.file.steps {
        let started = Instant::now();
        let operation = &process.components[&step.operation];
        let connection = &process.components[&step.connection];
        let documents = match &step.input {
            Some(Input::File(path)) => match read_documents(&process.dir.join(path)) {
                Ok(documents) => documents,
                Err(message) => {
                    eprintln!("error: step {}: {message}", step.name);
                    reports.push(StepReport {
                        name: step.name.clone(),
                        ..StepReport::default()
                    });
                    break;
                }
            },
            Some(Input::Step { step: from }) => reports
                .iter()
                .find(|r| &r.name == from)
                .map(|r| r.outputs.clone())
                .unwrap_or_default(),
            None if !descriptor::takes_input(descriptor, operation) => vec![Document::default()],
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
            match plugin.execute_ref(&params).await {
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

fn print_summary(
    process: &Process,
    reports: &[Vec<StepReport>],
    output_dir: &Path,
    elapsed: Duration,
) {
    let executions = reports.len();
    println!(
        "Process {} ({executions} execution{}, {:.1} s):",
        process.file.name,
        if executions == 1 { "" } else { "s" },
        elapsed.as_secs_f64()
    );
    println!(
        "  {:<12} {:>10} {:>10} {:>12} {:>10} {:>10}",
        "step", "documents", "successes", "app. errors", "failures", "outputs"
    );
    let mut totals: BTreeMap<usize, (String, [usize; 5])> = BTreeMap::new();
    for steps in reports {
        for (position, step) in steps.iter().enumerate() {
            let entry = totals
                .entry(position)
                .or_insert_with(|| (step.name.clone(), [0; 5]));
            entry.1[0] += step.results.len();
            entry.1[1] += step.count(ResultStatus::Success);
            entry.1[2] += step.count(ResultStatus::ApplicationError);
            entry.1[3] += step.count(ResultStatus::Failure);
            entry.1[4] += step.outputs.len();
        }
    }
    for (name, [docs, ok, app, fail, outputs]) in totals.values() {
        println!("  {name:<12} {docs:>10} {ok:>10} {app:>12} {fail:>10} {outputs:>10}");
    }
    let mut shown = 0;
    for step in reports.iter().flatten() {
        for result in step
            .results
            .iter()
            .filter(|r| r.status != ResultStatus::Success)
        {
            if shown == 10 {
                println!("  ... more in the results files");
                break;
            }
            println!(
                "  {} document {}: {} {}: {}",
                step.name,
                result.index,
                result.status,
                result.status_code.as_deref().unwrap_or(""),
                result.message.as_deref().unwrap_or("")
            );
            shown += 1;
        }
    }
    println!("Results and outputs: {}", output_dir.display());
}
