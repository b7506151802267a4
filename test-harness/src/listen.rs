//! `test-harness listen`: runs a process whose first step is a listener (an operation of type
//! `LISTEN`, protocol 1.1), the way an integration runtime runs a long-running consumer: for
//! each batch the listener sends, the process's next steps run over the batch's documents, and
//! the batch is answered per document, which commits (`SUCCESS`) or releases (`FAILURE`) its
//! message.
//!
//! The later steps take their input as in `test-harness run` (the previous step's outputs, or
//! `{"step": NAME}` for an earlier step's, the listener's step naming the batch's documents);
//! they may not read a file or be an operation without input. Every document of a step's input
//! comes from one document of the batch, its origin: the batch's documents are their own, and
//! the outputs of a step's result have the origin of the input document the result's `index`
//! names. A batch's document succeeds when every result of every step with its origin is
//! `SUCCESS` and every step found at least one document of it in its input. Otherwise it fails
//! (`FAILURE`), with the message of the first step where it failed or was dropped (a step's
//! result without outputs for it before a step that needed them); the documents of a failed
//! origin go no further, so a message that will come again is not passed on twice.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use connector_sdk::host::{
    BatchResult, ClientError, INTERNAL, INVALID_FIELDS, LISTEN_OPERATION, ListenBatchParams,
    ListenBatchResult, ListenHandler, ListenParams, ListenStatusParams, ListenerState,
    PluginProcess, RpcError,
};
use connector_sdk::{Document, DocumentResult, ResultStatus};
use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::future::{BoxFuture, LocalBoxFuture};
use futures::stream::FuturesUnordered;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::errors::ErrorGroups;
use crate::process::{Input, Process, ProcessError, Step};
use crate::run::{StepCall, execute_documents, takes_input, validate_components};
use crate::{EXIT_FAILED, EXIT_INVALID, EXIT_OK, outln, plugin, process};

/// The name of the results file in the output folder: one line per document of every batch.
pub const RESULTS_FILE: &str = "listen.results.jsonl";

/// How `listen` runs.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// The process file; its first step is the listener.
    pub process: PathBuf,
    /// The plugin executable (default: next to the harness).
    pub plugin: Option<PathBuf>,
    /// Where the results go (default: `output/<process name>` in the current folder).
    pub output: Option<PathBuf>,
    /// Stop after this long (default: until Ctrl-C, or the listener stops).
    pub duration: Option<Duration>,
    /// Stop once this many batches were taken (later ones are released unprocessed).
    pub max_batches: Option<u64>,
    /// Stop with `drain` (the batches in flight are finished and answered) rather than
    /// releasing them at once.
    pub drain: bool,
    /// The most documents per `execute` call of the later steps.
    pub batch_size: usize,
    /// A call's timeout and grace period; stopping the listener may take both.
    pub limits: plugin::CallLimits,
    /// Where the plugin's log goes.
    pub plugin_log: plugin::PluginLog,
}

/// What the listener sends, as the loop of [`listen_with`] takes it.
enum Event {
    /// A batch, and where its answer goes.
    Batch(
        ListenBatchParams,
        oneshot::Sender<Result<ListenBatchResult, RpcError>>,
    ),
    /// A change of state.
    Status(ListenStatusParams),
}

/// The listener's handler: hands everything to the loop of [`listen_with`], which owns the
/// plugin and runs the process's steps.
struct Forward(mpsc::UnboundedSender<Event>);

fn not_listening() -> RpcError {
    RpcError::plain(INTERNAL, "the harness is no longer listening")
}

impl ListenHandler for Forward {
    fn batch(
        &self,
        batch: ListenBatchParams,
    ) -> BoxFuture<'static, Result<ListenBatchResult, RpcError>> {
        let (answer, answered) = oneshot::channel();
        let sent = self.0.send(Event::Batch(batch, answer)).is_ok();
        async move {
            match sent {
                true => answered.await.unwrap_or_else(|_| Err(not_listening())),
                false => Err(not_listening()),
            }
        }
        .boxed()
    }

    fn status(&self, status: ListenStatusParams) {
        let _ = self.0.send(Event::Status(status));
    }
}

/// What one batch came to.
struct BatchOutcome {
    batch_id: String,
    results: Vec<BatchResult>,
    elapsed: Duration,
}

impl BatchOutcome {
    fn succeeded(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.status == ResultStatus::Success)
            .count()
    }
}

/// Why the harness stops listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Duration,
    MaxBatches,
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Duration => "the time is up",
            StopReason::MaxBatches => "the last batch was taken",
            StopReason::Interrupted => "interrupted",
        })
    }
}

/// Counts over every batch.
#[derive(Debug, Default)]
struct Totals {
    batches: u64,
    documents: usize,
    succeeded: usize,
    released: usize,
}

/// Loads the process, starts the plugin, listens until told to stop, and shuts the plugin down;
/// prints a line per batch and status, and a summary; returns the exit code: 0 when every
/// document of every batch succeeded and the listener stopped only when asked to, 2 when a file
/// or component is invalid, 1 otherwise.
pub async fn listen(options: &ListenOptions) -> u8 {
    let process = match process::load(&options.process)
        .and_then(|p| check_shape(&p).map(|_| p).map_err(ProcessError::Unsuitable))
    {
        Ok(process) => process,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_INVALID;
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
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_FAILED;
        }
    };
    let code = listen_with(&plugin, &process, options).await;
    plugin::shut_down(&plugin).await;
    code
}

/// What a listening process must look like, as far as the file tells (see the module docs).
fn check_shape(process: &Process) -> Result<(), String> {
    let name = &process.file.name;
    let Some(first) = process.file.steps.first() else {
        return Err(format!("process {name} has no steps"));
    };
    let is_listener = |step: &Step| {
        process.components[&step.operation]
            .operation_type
            .as_deref()
            == Some(LISTEN_OPERATION)
    };
    if !is_listener(first) {
        return Err(format!(
            "the first step of process {name} (\"{}\") must be an operation of type {LISTEN_OPERATION}",
            first.name
        ));
    }
    if first.input.is_some() {
        return Err(format!(
            "step \"{}\" is the listener: it takes no input",
            first.name
        ));
    }
    for step in &process.file.steps[1..] {
        if is_listener(step) {
            return Err(format!(
                "step \"{}\": only the first step of a process listens",
                step.name
            ));
        }
        if let Some(Input::File(path)) = &step.input {
            return Err(format!(
                "step \"{}\" reads {}: the steps after a listener take the documents of its \
                 batches (the previous step's outputs, or {{\"step\": NAME}})",
                step.name,
                path.display()
            ));
        }
    }
    Ok(())
}

/// Listens with an already loaded process on an already running plugin (for tests and
/// embedding hosts); see [`listen`]. Leaves the plugin running.
pub async fn listen_with(plugin: &PluginProcess, process: &Process, options: &ListenOptions) -> u8 {
    if let Err(message) = check_shape(process) {
        eprintln!("error: {message}");
        return EXIT_INVALID;
    }
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
    let steps = &process.file.steps;
    if let Some(step) = steps[1..]
        .iter()
        .find(|step| !takes_input(&descriptor, &process.components[&step.operation]))
    {
        eprintln!(
            "error: step \"{}\" is an operation that takes no input; the steps after a listener \
             process its batches",
            step.name
        );
        return EXIT_INVALID;
    }
    let output_dir = options
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&process.file.name));
    let mut results_file = match open_results(&output_dir) {
        Ok(file) => file,
        Err(err) => {
            eprintln!(
                "error: cannot write results into {}: {err}",
                output_dir.display()
            );
            return EXIT_FAILED;
        }
    };

    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let listener_id = format!("{}-{stamp}", process.file.name);
    let listener = &steps[0];
    let params = ListenParams {
        listener_id: listener_id.clone(),
        connection: process.components[&listener.connection].clone(),
        operation: process.components[&listener.operation].clone(),
    };
    let (events, mut received) = mpsc::unbounded_channel();
    match plugin.listen(&params, Arc::new(Forward(events))).await {
        Ok(_) => outln!(
            "listening: listener {listener_id} ({} on {})",
            listener.operation,
            listener.connection
        ),
        Err(ClientError::Rpc(error)) if error.code == INVALID_FIELDS => {
            eprintln!(
                "component {} is invalid; nothing was run:",
                listener.operation
            );
            for field in error.field_errors() {
                eprintln!("  - {field}");
            }
            return EXIT_INVALID;
        }
        Err(err) => {
            eprintln!("error: the listener did not start: {err}");
            return EXIT_FAILED;
        }
    }

    let started = Instant::now();
    let mut totals = Totals::default();
    let mut all_succeeded = true;
    let mut stopping: Option<StopReason> = None;
    let mut stop_call: Option<LocalBoxFuture<'_, Result<(), ClientError>>> = None;
    let mut stopped_by_host = false;
    // The listener stopped (answered listen/stop, or stopped on its own).
    let mut over = false;
    let mut running = FuturesUnordered::new();
    let mut interrupt = Box::pin(crate::wait_for_signal());
    let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
    let stop_timeout = options.limits.timeout + options.limits.grace;
    loop {
        if over && (running.is_empty() || !options.drain) {
            break;
        }
        if let Some(reason) = stopping
            && stop_call.is_none()
            && !over
        {
            outln!(
                "stopping ({reason}): listen/stop{}",
                if options.drain { " with drain" } else { "" }
            );
            stop_call = Some(
                plugin
                    .listen_stop(&listener_id, options.drain, stop_timeout)
                    .boxed_local(),
            );
        }
        tokio::select! {
            event = received.recv() => match event {
                Some(Event::Batch(batch, answer)) if stopping.is_some() || over => {
                    outln!(
                        "batch {}: {} documents released (stopping)",
                        batch.batch_id,
                        batch.documents.len()
                    );
                    totals.released += batch.documents.len();
                    let _ = answer.send(Err(RpcError::plain(INTERNAL, "the harness is stopping")));
                }
                Some(Event::Batch(batch, answer)) => {
                    totals.batches += 1;
                    if options.max_batches.is_some_and(|max| totals.batches >= max) {
                        stopping = Some(StopReason::MaxBatches);
                    }
                    let execution_id = format!("{listener_id}-{}", batch.batch_id);
                    running.push(async move {
                        let outcome =
                            process_batch(plugin, process, &execution_id, batch, options.batch_size).await;
                        (outcome, answer)
                    });
                }
                Some(Event::Status(status)) => {
                    outln!("{}", status_line(&status));
                    if status.state == ListenerState::Stopped && !over {
                        over = true;
                        if stop_call.is_none() {
                            // Stopped on its own (a failure that cannot pass, or the plugin
                            // ended): nothing to ask it.
                            all_succeeded = false;
                            stopping.get_or_insert(StopReason::Interrupted);
                        }
                    }
                }
                // The handler is gone: the listener was unregistered.
                None => over = true,
            },
            Some((outcome, answer)) = running.next(), if !running.is_empty() => {
                let outcome: BatchOutcome = outcome;
                let succeeded = outcome.succeeded();
                let failed = outcome.results.len() - succeeded;
                totals.documents += outcome.results.len();
                totals.succeeded += succeeded;
                all_succeeded &= failed == 0;
                let elapsed = started.elapsed();
                outln!(
                    "batch {}: {} documents, {succeeded} succeeded, {failed} failed, {} | {} documents in {}, {:.1} messages/s",
                    outcome.batch_id,
                    outcome.results.len(),
                    plugin::seconds(outcome.elapsed),
                    totals.documents,
                    plugin::seconds(elapsed),
                    rate(totals.documents, elapsed)
                );
                let mut groups = ErrorGroups::default();
                for result in &outcome.results {
                    groups.add(result.index, result.status, None, result.message.as_deref());
                }
                for group in groups.into_groups().iter().take(3) {
                    outln!(
                        "  {}: {}",
                        group.documents(),
                        group.message.as_deref().unwrap_or_default()
                    );
                }
                if let Err(err) = write_results(&mut results_file, &outcome) {
                    eprintln!("error: cannot write {}: {err}", output_dir.join(RESULTS_FILE).display());
                    all_succeeded = false;
                }
                if answer.send(Ok(ListenBatchResult::new(outcome.results))).is_err() {
                    outln!("  (the answer reached no one: the listener had stopped)");
                }
            }
            () = sleep_until(deadline), if stopping.is_none() && !over => {
                stopping = Some(StopReason::Duration);
            }
            () = &mut interrupt => {
                if stopping.is_none() && !over {
                    stopping = Some(StopReason::Interrupted);
                    interrupt = Box::pin(crate::wait_for_signal());
                } else {
                    outln!("interrupted again: not waiting for the listener");
                    all_succeeded = false;
                    break;
                }
            }
            stopped = async {
                match stop_call.as_mut() {
                    Some(call) => call.await,
                    None => std::future::pending().await,
                }
            }, if stop_call.is_some() && !stopped_by_host => {
                stopped_by_host = true;
                over = true;
                if let Err(err) = stopped {
                    eprintln!("error: listen/stop failed: {err}");
                    all_succeeded = false;
                }
            }
        }
    }
    if !running.is_empty() {
        outln!(
            "{} batches in flight left unanswered (released by the plugin)",
            running.len()
        );
        all_succeeded = false;
    }
    let elapsed = started.elapsed();
    outln!(
        "Listener {listener_id} stopped after {}: {} batches, {} documents, {} succeeded, {} failed{}, {:.1} messages/s",
        plugin::seconds(elapsed),
        totals.batches,
        totals.documents,
        totals.succeeded,
        totals.documents - totals.succeeded,
        match totals.released {
            0 => String::new(),
            released => format!(", {released} released unprocessed"),
        },
        rate(totals.documents, elapsed)
    );
    outln!("Results: {}", output_dir.join(RESULTS_FILE).display());
    if all_succeeded { EXIT_OK } else { EXIT_FAILED }
}

/// Sleeps until `deadline`; forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => futures::future::pending().await,
    }
}

fn rate(documents: usize, elapsed: Duration) -> f64 {
    documents as f64 / elapsed.as_secs_f64().max(1e-3)
}

/// A `listen/status` as a line: `status: retrying (transient): throttled`.
fn status_line(status: &ListenStatusParams) -> String {
    let mut line = format!("status: {}", status.state.as_str());
    if let Some(kind) = &status.kind {
        line.push_str(&format!(" ({kind})"));
    }
    if !status.message.is_empty() {
        line.push_str(": ");
        line.push_str(&status.message);
    }
    line
}

fn open_results(dir: &Path) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
    std::fs::create_dir_all(dir)?;
    Ok(std::io::BufWriter::new(std::fs::File::create(
        dir.join(RESULTS_FILE),
    )?))
}

fn write_results(
    file: &mut std::io::BufWriter<std::fs::File>,
    outcome: &BatchOutcome,
) -> std::io::Result<()> {
    for result in &outcome.results {
        let line = json!({
            "batchId": outcome.batch_id,
            "index": result.index,
            "status": result.status,
            "message": result.message,
        });
        writeln!(file, "{line}")?;
    }
    file.flush()
}

/// Runs the process's later steps over a batch and returns one result per document (see the
/// module docs for the rule).
async fn process_batch(
    plugin: &PluginProcess,
    process: &Process,
    execution_id: &str,
    batch: ListenBatchParams,
    batch_size: usize,
) -> BatchOutcome {
    let started = Instant::now();
    let steps = &process.file.steps;
    let count = batch.documents.len();
    let mut failures: Vec<Option<String>> = vec![None; count];
    // Per step so far: its output documents and the origin of each.
    let mut outputs: Vec<(Vec<Document>, Vec<usize>)> =
        vec![(batch.documents, (0..count).collect())];
    for (position, step) in steps.iter().enumerate().skip(1) {
        let source = match &step.input {
            Some(Input::Step { step: from }) => steps
                .iter()
                .position(|s| &s.name == from)
                .unwrap_or(position - 1),
            _ => position - 1,
        };
        let (documents, origins): (Vec<Document>, Vec<usize>) = outputs[source]
            .0
            .iter()
            .zip(&outputs[source].1)
            .filter(|(_, origin)| failures[**origin].is_none())
            .map(|(document, origin)| (document.clone(), *origin))
            .unzip();
        let mut present = vec![false; count];
        for origin in &origins {
            present[*origin] = true;
        }
        for (origin, failure) in failures.iter_mut().enumerate() {
            if failure.is_none() && !present[origin] {
                *failure = Some(format!(
                    "step {}: step {} gave no document of it to process",
                    step.name, steps[source].name
                ));
            }
        }
        let call = StepCall {
            execution_id,
            process_name: &process.file.name,
            connection: &process.components[&step.connection],
            operation: &process.components[&step.operation],
        };
        let results = match documents.is_empty() {
            true => Vec::new(),
            false => execute_documents(plugin, &call, &documents, batch_size, |_| {}).await,
        };
        let mut step_outputs = (Vec::new(), Vec::new());
        for result in results {
            let Some(&origin) = origins.get(result.index) else {
                continue;
            };
            if result.status != ResultStatus::Success {
                failures[origin].get_or_insert_with(|| failure_message(&step.name, &result));
            }
            for output in result.outputs {
                step_outputs.0.push(output);
                step_outputs.1.push(origin);
            }
        }
        outputs.push(step_outputs);
    }
    let results = failures
        .into_iter()
        .enumerate()
        .map(|(index, failure)| BatchResult {
            index,
            status: match failure {
                None => ResultStatus::Success,
                Some(_) => ResultStatus::Failure,
            },
            message: failure,
        })
        .collect();
    BatchOutcome {
        batch_id: batch.batch_id,
        results,
        elapsed: started.elapsed(),
    }
}

/// `step send: APPLICATION_ERROR InvalidParameterValue: …`.
fn failure_message(step: &str, result: &DocumentResult) -> String {
    let mut message = format!("step {step}: {}", result.status);
    if let Some(code) = &result.status_code {
        message.push(' ');
        message.push_str(code);
    }
    if let Some(text) = &result.message {
        message.push_str(": ");
        message.push_str(text);
    }
    message
}
