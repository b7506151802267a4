//! The benchmark suite of the SQS connector, run by `scripts/bench.sh` (never by the tests).
//!
//! In one run, against one SQS server (fauxqs) and with the same messages, it measures:
//! - SEND through the plugin process against the raw `aws-sdk-sqs` at its best (SendMessageBatch
//!   of 10, 16 calls in flight), raw sequential SendMessage, and boto3's send_message_batch loop;
//! - RECEIVE with delete through the plugin against the raw SDK's best drain (16 workers of
//!   ReceiveMessage + DeleteMessageBatch) and boto3's loop;
//! - LISTEN through the plugin (16 pollers, a host process that answers each batch at once,
//!   deletes after the answer) against the same raw drain, in the same rounds;
//! - the credential cache: the cost of a hit, and the CreateSession calls of 1,000 concurrent
//!   executions on a cold cache;
//! - property names: a RECEIVE output document's properties with allocated names against
//!   static ones (the lever of names that need no allocation, where it acts);
//! - the plugin boundary: the same SEND (and RECEIVE) in-process against through the plugin;
//! - latency-bound (`--delayed RTT=URL`): SEND, RECEIVE with delete and LISTEN by the raw SDK's
//!   best, the connector through the plugin and in-process, and boto3, all with the same
//!   requests in flight, against a server seen through a fixed round trip;
//! - memory (`--only memory`): the plugin's peak RSS with two SEND execute calls of large
//!   documents in flight, against the bytes of the documents, and what its line limit does with
//!   calls longer than it.
//!
//! Every figure is the median of several runs, contenders interleaved, each run on a fresh queue
//! whose message count is checked; it writes `BENCHMARKS.md`.

// STYLE: code that is not a test does not panic on a value it did not check.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod cache;
mod connector;
mod contenders;
mod cpu;
mod delayed;
mod drain;
mod memory;
mod messages;
mod names;
mod python;
mod raw;
mod report;
mod send;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use clap::Parser;
use connector_sdk::host::{PluginCommand, PluginProcess};
use futures::StreamExt as _;

use contenders::Bench;
use messages::Message;
use python::Boto3;
use report::Report;

/// Command-line options; `scripts/bench.sh` passes the server, the Python and the facts.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    args_override_self = true,
    about = "Benchmarks the SQS connector against the raw SDK and boto3 on a local SQS server; writes BENCHMARKS.md"
)]
struct Args {
    /// The SQS server to measure against (fauxqs on loopback).
    #[arg(long)]
    endpoint: String,
    /// The server's process id, to read its CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Messages per SEND and per drain.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Messages for the sequential SendMessage contender.
    #[arg(long, default_value_t = 2_000)]
    sequential_messages: usize,
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Requests in flight: the SEND operation's maxConcurrentRequests, the raw SDK's calls and
    /// drain workers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Documents per execute call to try; the fastest (with each of `--calls-in-flight`) is kept.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,5000")]
    chunk_sizes: Vec<usize>,
    /// Execute calls in flight to try with each size in the sweeps.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    calls_in_flight: Vec<usize>,
    /// Iterations of each credential-cache loop.
    #[arg(long, default_value_t = 5_000_000)]
    cache_iterations: u64,
    /// Concurrent executions on a cold credential cache.
    #[arg(long, default_value_t = 1_000)]
    cold_executions: usize,
    /// The plugin executable (default: `sqs-connector` next to this one).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Another build of the plugin, measured as one more contender of SEND, RECEIVE and LISTEN
    /// next to the plugin's, after it in odd rounds and before it in even ones (to compare two
    /// builds in one run; not in the report).
    #[arg(long)]
    compare_plugin: Option<PathBuf>,
    /// Measure, as that other contender, the plugin's SEND with its execute calls asking for
    /// full outputs (protocol 1.0's shape: the input echoed) instead of `"outputs": "added"`
    /// (protocol 1.1: only what SEND added, merged by the host), to compare the two in one run
    /// (RECEIVE and LISTEN measure the plugin twice).
    #[arg(long, conflicts_with = "compare_plugin")]
    compare_outputs_full: bool,
    /// The Roles Anywhere emulator's configuration.
    #[arg(long, default_value = "test-harness/fixtures/emulator/config.json")]
    emulator_config: PathBuf,
    /// The Python with boto3.
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
    /// The boto3 contender's script.
    #[arg(long, default_value = "scripts/bench/boto3_bench.py")]
    boto3_script: PathBuf,
    /// Where the messages file goes.
    #[arg(long, default_value = ".tools/bench/run")]
    work_dir: PathBuf,
    /// The report to write.
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
    /// The LISTEN contender's long poll (waitTimeSeconds): a drained stop waits for the receives
    /// in flight, so on the emptied queue each poller's last wait is in the time.
    #[arg(long, default_value_t = 0)]
    listen_wait_seconds: u32,
    /// Run one part only (for profiling); the summary is printed and no report is written.
    #[arg(long, value_enum, default_value = "all")]
    only: Only,
    /// `RTT_MS=URL`: the same kind of server seen through a round trip of RTT_MS milliseconds,
    /// for the latency-bound scenario (repeatable; none: the scenario is not run).
    #[arg(long = "delayed", value_parser = parse_delayed)]
    delayed: Vec<(u32, String)>,
    /// The delayed server's process id, to read its CPU time.
    #[arg(long)]
    delayed_server_pid: Option<u32>,
    /// `RTT_MS=PID`: the delay proxy of that round trip, to report its own CPU time (when the
    /// kernel has no netem and a proxy adds the delay); repeatable.
    #[arg(long = "delay-proxy-pid", value_parser = parse_proxy_pid)]
    delay_proxy_pids: Vec<(u32, u32)>,
    /// Documents in each of the two execute calls of the memory figure (the plugin's peak RSS
    /// with them in flight).
    #[arg(long, default_value_t = 5_000)]
    memory_documents: usize,
    /// Bytes of each document's body in the memory figure.
    #[arg(long, default_value_t = 256 * 1024)]
    memory_document_bytes: usize,
    /// `name=value` facts for the report (versions, pinning); repeatable.
    #[arg(long = "info", value_parser = parse_info)]
    info: Vec<(String, String)>,
}

/// The parts of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    /// Everything; writes the report.
    All,
    /// The SEND figures (with the execute-call sweep).
    Send,
    /// The RECEIVE figures.
    Receive,
    /// The micro-benchmarks: the credential cache's figures and the property names'.
    Cache,
    /// The plugin's peak RSS with large documents in flight.
    Memory,
    /// The latency-bound scenario (`--delayed`) alone.
    Delayed,
}

impl Only {
    fn includes(self, part: Only) -> bool {
        self == Only::All || self == part
    }
}

fn parse_info(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("{text:?} is not name=value"))
}

fn parse_delayed(text: &str) -> Result<(u32, String), String> {
    let (rtt, url) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not RTT_MS=URL"))?;
    let rtt = rtt
        .trim()
        .parse()
        .map_err(|_| format!("{rtt:?} is not a round trip in whole milliseconds"))?;
    Ok((rtt, url.trim().to_owned()))
}

fn parse_proxy_pid(text: &str) -> Result<(u32, u32), String> {
    let (rtt, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not RTT_MS=PID"))?;
    match (rtt.trim().parse(), pid.trim().parse()) {
        (Ok(rtt), Ok(pid)) => Ok((rtt, pid)),
        _ => Err(format!("{text:?} is not RTT_MS=PID (two whole numbers)")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the futures with at most `limit` at a time; the first error ends it.
async fn limited<F>(futures: impl IntoIterator<Item = F>, limit: usize) -> Result<(), String>
where
    F: Future<Output = Result<(), String>>,
{
    let mut running = futures::stream::FuturesUnordered::new();
    for future in futures {
        if running.len() >= limit.max(1)
            && let Some(done) = running.next().await
        {
            done?;
        }
        running.push(future);
    }
    while let Some(done) = running.next().await {
        done?;
    }
    Ok(())
}

fn say(text: impl AsRef<str>) {
    eprintln!("bench: {}", text.as_ref());
}

fn run(args: Args) -> Result<(), String> {
    let args = Arc::new(args);
    let started = Instant::now();
    let messages = messages::generate(args.messages.max(args.sequential_messages));
    std::fs::create_dir_all(&args.work_dir).map_err(|e| e.to_string())?;
    let messages_file = args.work_dir.join("messages.jsonl");
    messages::write_jsonl(&messages_file, &messages).map_err(|e| e.to_string())?;
    let mut report = Report::new(args.info.clone(), &messages[..args.messages]);
    report.repetitions = args.repetitions;
    report.concurrency = args.concurrency;

    // The micro-benchmark first, on a quiet process.
    if args.only.includes(Only::Cache) {
        cache::hits(&args, &mut report)?;
        names::property_names(&args, &mut report)?;
    }

    // One thread: the benchmark's core (taskset) runs the raw SDK, the in-process connector and
    // the host side of the plugin calls, with no hand-offs between threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let boto3 = Boto3 {
        python: args.python.clone(),
        script: args.boto3_script.clone(),
        endpoint: args.endpoint.clone(),
        messages: messages_file,
        concurrency: 1,
    };
    let mut report = runtime.block_on(measure(args.clone(), messages, boto3, report))?;
    report.total_seconds = started.elapsed().as_secs_f64();
    println!("{}", report.summary());
    if args.only != Only::All {
        say("one part only (--only): the report is not written");
        return Ok(());
    }
    std::fs::write(&args.output, report.markdown())
        .map_err(|e| format!("writing {}: {e}", args.output.display()))?;
    say(format!(
        "wrote {} ({:.0} s)",
        args.output.display(),
        report.total_seconds
    ));
    Ok(())
}

/// The plugin and in-process measurements, then the cold cache.
async fn measure(
    args: Arc<Args>,
    messages: Vec<Message>,
    boto3: Boto3,
    mut report: Report,
) -> Result<Report, String> {
    let plugin_path = test_harness::plugin::locate(args.plugin.as_deref());
    let plugin = PluginProcess::spawn(PluginCommand::new(&plugin_path, &["serve"]))
        .await
        .map_err(|e| format!("starting the plugin {}: {e}", plugin_path.display()))?;
    let other_plugin = match &args.compare_plugin {
        Some(path) => Some(
            PluginProcess::spawn(PluginCommand::new(path, &["serve"]))
                .await
                .map_err(|e| format!("starting the plugin {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut bench = Bench {
        client: raw::client(&args.endpoint),
        connection: connector::connection(&args.endpoint),
        documents: messages[..args.messages]
            .iter()
            .map(Message::document)
            .collect(),
        messages,
        in_process: sqs_connector::connector(),
        plugin,
        other_plugin,
        boto3,
        queues: AtomicUsize::new(0),
        server_pid: args.server_pid,
        shared_requests: false,
        args: &args,
    };
    let mut outcome = bench.all(&mut report, args.only).await;
    if outcome.is_ok() && args.only.includes(Only::Delayed) {
        outcome = bench.delayed_all(&mut report).await;
    }
    let _ = bench.plugin.shutdown().await;
    if let Some(other) = &bench.other_plugin {
        let _ = other.shutdown().await;
    }
    outcome?;
    if !args.only.includes(Only::Cache) {
        return memory(&args, &plugin_path, report).await;
    }
    say("credential cache: cold cache, concurrent executions through a fresh plugin");
    let cold = cache::cold_cache(
        &plugin_path,
        &args.emulator_config,
        &args.endpoint,
        &raw::client(&args.endpoint),
        args.cold_executions,
    )
    .await?;
    say(format!(
        "  {} executions: {} CreateSession call(s), {} refused, {:.2} s",
        cold.executions, cold.create_sessions, cold.refused, cold.seconds
    ));
    if cold.create_sessions != 1 {
        say("  WARNING: expected exactly one CreateSession call");
    }
    report.cold = Some(cold);
    memory(&args, &plugin_path, report).await
}

/// The memory figure, when `--only` includes it.
async fn memory(
    args: &Args,
    plugin_path: &std::path::Path,
    mut report: Report,
) -> Result<Report, String> {
    if args.only.includes(Only::Memory) {
        say("memory: the plugin's peak RSS with two SEND calls of large documents in flight");
        report.memory = memory::measure(args, plugin_path, &raw::client(&args.endpoint)).await?;
    }
    Ok(report)
}

impl Bench<'_> {
    /// The parts `only` names, in order: the warm-up, the SEND sweep and SEND, the drains.
    async fn all(&self, report: &mut Report, only: Only) -> Result<(), String> {
        if matches!(only, Only::Cache | Only::Memory | Only::Delayed) {
            return Ok(());
        }
        self.warm_up().await?;
        if only.includes(Only::Send) {
            report.sweep = self.sweep("execute-call sizes (plugin SEND)").await?;
            let (chunk, in_flight) = report.sweep.chosen;
            self.sends(report, chunk, in_flight).await?;
        }
        if only.includes(Only::Receive) {
            self.drains(report).await?;
        }
        Ok(())
    }
}
