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
//! - the plugin boundary: the same SEND (and RECEIVE) in-process against through the plugin;
//! - latency-bound (`--delayed RTT=URL`): SEND, RECEIVE with delete and LISTEN by the raw SDK's
//!   best, the connector through the plugin and in-process, and boto3, all with the same
//!   requests in flight, against a server seen through a fixed round trip.
//!
//! Every figure is the median of several runs, contenders interleaved, each run on a fresh queue
//! whose message count is checked; it writes `BENCHMARKS.md`.

mod cache;
mod connector;
mod cpu;
mod delayed;
mod messages;
mod python;
mod raw;
mod report;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use connector_sdk::protocol::{PluginCommand, PluginProcess};
use connector_sdk::{Component, Connector, Document};
use futures::StreamExt as _;

use connector::Host;
use messages::Message;
use python::Boto3;
use report::{Report, Row, Sample, Unit};

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
    /// Documents per execute call to try; the fastest (with 1 or 2 calls in flight) is kept.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,5000")]
    chunk_sizes: Vec<usize>,
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
    /// The credential-cache figures.
    Cache,
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
        cache_hits(&args, &mut report)?;
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
        send_requests: args.concurrency,
        args: &args,
    };
    let mut outcome = bench.all(&mut report, args.only).await;
    if outcome.is_ok() && args.only == Only::All {
        outcome = bench.delayed_all(&mut report).await;
    }
    let _ = bench.plugin.shutdown().await;
    if let Some(other) = &bench.other_plugin {
        let _ = other.shutdown().await;
    }
    outcome?;
    if !args.only.includes(Only::Cache) {
        return Ok(report);
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
    Ok(report)
}

/// The cost of a cache hit against plain lookups, `repetitions` runs of each loop.
fn cache_hits(args: &Args, report: &mut Report) -> Result<(), String> {
    say(format!(
        "credential cache hit: {} iterations x {} runs",
        args.cache_iterations, args.repetitions
    ));
    let mut costs = Vec::new();
    for _ in 0..args.repetitions {
        let cost = cache::hit_costs(args.cache_iterations)?;
        say(format!(
            "  get {:.1} ns, get by id {:.1} ns, map {:.1} ns, clone {:.1} ns",
            cost.cache_get, cost.lookup_get, cost.map_lookup, cost.arc_clone
        ));
        costs.push(cost);
    }
    let work = format!("{} lookups", report::thousands(args.cache_iterations));
    report.add(Row::new(
        "Credential cache",
        "map",
        "Baseline: `HashMap<ComponentId, Credentials>` lookup under a `parking_lot::Mutex`, plus the clone",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.map_lookup).collect(),
        None,
    ));
    report.add(Row::new(
        "Credential cache",
        "cache-hit",
        "`CacheHandle::cached` on a warm entry (cache hit): what each SQS call of a connection pays",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.cache_get).collect(),
        Some("map"),
    ));
    report.add(Row::new(
        "Credential cache",
        "cache-hit-by-id",
        "`CredentialCache::get` by component id (the handle looked up in the locked map first)",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.lookup_get).collect(),
        Some("map"),
    ));
    report.add(Row::new(
        "Credential cache",
        "arc-clone",
        "For scale: `Credentials::clone` alone (one `Arc` clone and drop)",
        &work,
        Unit::NanosPerOp,
        costs.iter().map(|c| c.arc_clone).collect(),
        Some("map"),
    ));
    Ok(())
}

/// Fails unless a drain returned `wanted` messages.
fn drained(contender: DrainBy, wanted: usize, got: usize) -> Result<(), String> {
    if got == wanted {
        Ok(())
    } else {
        Err(format!(
            "{contender:?} drained {got} messages instead of {wanted}"
        ))
    }
}

/// What every contender shares.
struct Bench<'a> {
    args: &'a Args,
    client: aws_sdk_sqs::Client,
    messages: Vec<Message>,
    documents: Vec<Document>,
    plugin: PluginProcess,
    other_plugin: Option<PluginProcess>,
    in_process: Connector,
    connection: Component,
    boto3: Boto3,
    queues: AtomicUsize,
    /// The process id of the server measured against.
    server_pid: Option<u32>,
    /// The SEND operation's maxConcurrentRequests (per execute call).
    send_requests: usize,
}

/// Messages per RECEIVE execution in the drains.
const RECEIVE_PER_CALL: usize = 2_000;
/// RECEIVE executions in flight in the drains.
const RECEIVE_CALLS_IN_FLIGHT: usize = 2;

/// The SEND contenders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendBy {
    RawBest,
    Plugin,
    OtherPlugin,
    InProcess,
    RawSequential,
    Boto3,
}

/// The RECEIVE-with-delete contenders, and LISTEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DrainBy {
    RawBest,
    Plugin,
    OtherPlugin,
    Listen,
    OtherListen,
    InProcess,
    Boto3,
}

impl Bench<'_> {
    fn n(&self) -> usize {
        self.args.messages
    }

    async fn queue(&self, tag: &str) -> Result<String, String> {
        let n = self.queues.fetch_add(1, Ordering::Relaxed);
        raw::create_queue(
            &self.client,
            &format!("bench-{tag}-{}-{n}", std::process::id()),
        )
        .await
    }

    fn send_operation(&self, queue: &str) -> Component {
        let n = self.queues.load(Ordering::Relaxed);
        connector::send_operation(&format!("bench-op-send-{n}"), queue, self.send_requests)
    }

    fn receive_operation(&self, queue: &str) -> Component {
        let n = self.queues.load(Ordering::Relaxed);
        connector::receive_operation(
            &format!("bench-op-receive-{n}"),
            queue,
            self.args.concurrency,
        )
    }

    /// The RECEIVE of the drains: RECEIVE_PER_CALL messages per execution, the raw drain's
    /// workers shared between the executions in flight.
    fn drain_operation(&self, queue: &str) -> Component {
        let n = self.queues.load(Ordering::Relaxed);
        connector::receive_operation_of(
            &format!("bench-op-drain-{n}"),
            queue,
            (self.args.concurrency / RECEIVE_CALLS_IN_FLIGHT).max(1),
            RECEIVE_PER_CALL as i64,
        )
    }

    /// The `--compare-plugin` build's host (its contender is measured only when there is one).
    fn other_host(&self) -> Host<'_> {
        Host::Plugin(self.other_plugin())
    }

    fn other_plugin(&self) -> &PluginProcess {
        self.other_plugin.as_ref().unwrap_or(&self.plugin)
    }

    /// The LISTEN contender's shape: the raw drain's workers as pollers, twice as many batches
    /// waiting at most (so a poller seldom waits for a place).
    fn listen_shape(&self) -> connector::ListenShape {
        let pollers = self.args.concurrency.clamp(1, 16);
        connector::ListenShape {
            pollers,
            max_concurrent_batches: (2 * pollers).min(64),
            wait_seconds: self.args.listen_wait_seconds,
        }
    }

    /// LISTEN through `plugin` until every message of `queue` was answered and the drained stop
    /// came back; returns how many documents were answered.
    async fn listen(&self, plugin: &PluginProcess, queue: &str, n: usize) -> Result<usize, String> {
        let serial = self.queues.fetch_add(1, Ordering::Relaxed);
        let id = format!("bench-listen-{serial}");
        let op = connector::listen_operation(&format!("bench-op-{id}"), queue, self.listen_shape());
        connector::listen_drain(plugin, &id, &self.connection, &op, n).await
    }

    fn server(&self) -> Option<u32> {
        self.server_pid
    }

    /// `repetitions` rounds of `runs`, interleaved (round 1 of each, then round 2, ...), each run
    /// printed with its `name`; the samples of each, in the order of `runs`. Even rounds run the
    /// contenders in reverse order: a contender measured right after another tends to do better
    /// or worse for it (seen in A/B runs of two plugin builds), and alternating evens that out.
    async fn rounds<T: Copy>(
        &self,
        title: &str,
        runs: &[T],
        name: impl Fn(T) -> String,
        run: impl AsyncFn(T) -> Result<Sample, String>,
    ) -> Result<Vec<Vec<Sample>>, String> {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); runs.len()];
        for round in 1..=self.args.repetitions {
            say(format!(
                "{title}, round {round} of {}",
                self.args.repetitions
            ));
            let mut order: Vec<usize> = (0..runs.len()).collect();
            if round % 2 == 0 {
                order.reverse();
            }
            for i in order {
                let one = runs[i];
                let sample = run(one).await?;
                say(format!("  {}: {}", name(one), sample.summary()));
                samples[i].push(sample);
            }
        }
        Ok(samples)
    }

    /// [`Bench::rounds`] of `contenders`, with `others`, pairs of a plugin contender and the
    /// same on the `--compare-plugin` build, measured right after it when there is that build:
    /// their figures are printed, and their samples left out of those returned (one list per
    /// contender).
    async fn rounds_with_other<T: Copy + PartialEq + std::fmt::Debug>(
        &self,
        title: &str,
        contenders: &[T],
        others: &[(T, T)],
        run: impl AsyncFn(T) -> Result<Sample, String>,
    ) -> Result<Vec<Vec<Sample>>, String> {
        let compared = self.other_plugin.is_some();
        let mut all = Vec::new();
        let mut reported = Vec::new();
        for &contender in contenders {
            all.push(contender);
            reported.push(true);
            if let Some(&(_, other)) = others.iter().find(|(of, _)| *of == contender)
                && compared
            {
                all.push(other);
                reported.push(false);
            }
        }
        let samples = self
            .rounds(title, &all, |contender| format!("{contender:?}"), run)
            .await?;
        Ok(samples
            .into_iter()
            .zip(reported)
            .filter_map(|(samples, reported)| reported.then_some(samples))
            .collect())
    }

    /// Times `work` on `count` messages, with the CPU each process used meanwhile.
    async fn timed<F>(&self, count: usize, work: F) -> Result<Sample, String>
    where
        F: Future<Output = Result<(), String>>,
    {
        let before = cpu::snapshot(self.server());
        let started = Instant::now();
        work.await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu::snapshot(self.server()).since(&before);
        Ok(Sample {
            seconds,
            messages: count,
            cpu,
        })
    }

    async fn all(&self, report: &mut Report, only: Only) -> Result<(), String> {
        if only == Only::Cache {
            return Ok(());
        }
        self.warm_up().await?;
        if only.includes(Only::Send) {
            let (chunk, in_flight) = self.sweep(report).await?;
            report.chunk = (chunk, in_flight);
            self.sends(report, chunk, in_flight).await?;
        }
        if only.includes(Only::Receive) {
            self.drains(report).await?;
        }
        Ok(())
    }

    /// Opens every client's connections and fills the caches (queue URLs and limits, built
    /// connections) once, untimed.
    async fn warm_up(&self) -> Result<(), String> {
        say("warming up every contender");
        let c = self.args.concurrency;
        let warm = self.queue("warmup").await?;
        raw::send_batches(&self.client, &warm, &self.messages[..1_000], c).await?;
        raw::send_sequential(&self.client, &warm, &self.messages[..100]).await?;
        let op = self.send_operation(&warm);
        let calls = || connector::execute_calls(&self.documents[..2_000], 1_000);
        connector::send(
            Host::Plugin(&self.plugin),
            &self.connection,
            &op,
            calls(),
            2,
        )
        .await?;
        let host = Host::InProcess(&self.in_process);
        connector::send(host, &self.connection, &op, calls(), 2).await?;
        raw::expect_count(&self.client, &warm, 5_100).await?;
        let receive = self.receive_operation(&warm);
        connector::receive(Host::Plugin(&self.plugin), &self.connection, &receive).await?;
        raw::wait_empty(&self.client, &warm).await?;
        raw::send_batches(&self.client, &warm, &self.messages[..1_000], c).await?;
        connector::receive(host, &self.connection, &receive).await?;
        raw::send_batches(&self.client, &warm, &self.messages[..1_000], c).await?;
        raw::drain(&self.client, &warm, c).await?;
        raw::expect_count(&self.client, &warm, 0).await?;
        let mut plugins = vec![&self.plugin];
        plugins.extend(self.other_plugin.as_ref());
        for plugin in plugins {
            raw::send_batches(&self.client, &warm, &self.messages[..1_000], c).await?;
            drained(
                DrainBy::Listen,
                1_000,
                self.listen(plugin, &warm, 1_000).await?,
            )?;
            raw::expect_count(&self.client, &warm, 0).await?;
        }
        raw::delete_queue(&self.client, &warm).await;
        Ok(())
    }

    /// Plugin SENDs of every document per chunking, `repetitions` runs each (interleaved);
    /// returns the chunking with the best median.
    async fn sweep(&self, report: &mut Report) -> Result<(usize, usize), String> {
        let mut options: Vec<(usize, usize)> = Vec::new();
        for &size in &self.args.chunk_sizes {
            options.push((size, 1));
            options.push((size, 2));
        }
        options.push((self.n(), 1));
        let runs = self
            .rounds(
                "execute-call sizes (plugin SEND)",
                &options,
                |(size, in_flight)| format!("{size} documents per call, {in_flight} in flight"),
                async |(size, in_flight)| self.send_once(SendBy::Plugin, size, in_flight).await,
            )
            .await?;
        let mut best = (0.0, (self.n(), 1));
        for (&(size, in_flight), samples) in options.iter().zip(runs) {
            let row = Row::rates("sweep", "sweep", "", "", samples, None);
            if row.median() > best.0 {
                best = (row.median(), (size, in_flight));
            }
            report.sweep.push((size, in_flight, row));
        }
        say(format!(
            "chosen: execute calls of {} documents, {} in flight",
            best.1.0, best.1.1
        ));
        Ok(best.1)
    }

    async fn send_once(
        &self,
        contender: SendBy,
        chunk: usize,
        in_flight: usize,
    ) -> Result<Sample, String> {
        let count = match contender {
            SendBy::RawSequential => self.args.sequential_messages,
            _ => self.n(),
        };
        let queue = self.queue("send").await?;
        let c = self.args.concurrency;
        let sample = match contender {
            SendBy::RawBest => {
                self.timed(
                    count,
                    raw::send_batches(&self.client, &queue, &self.messages[..count], c),
                )
                .await?
            }
            SendBy::RawSequential => {
                self.timed(
                    count,
                    raw::send_sequential(&self.client, &queue, &self.messages[..count]),
                )
                .await?
            }
            SendBy::Plugin | SendBy::OtherPlugin | SendBy::InProcess => {
                let host = match contender {
                    SendBy::Plugin => Host::Plugin(&self.plugin),
                    SendBy::OtherPlugin => self.other_host(),
                    _ => Host::InProcess(&self.in_process),
                };
                let op = self.send_operation(&queue);
                let calls = connector::execute_calls(&self.documents[..count], chunk);
                self.timed(
                    count,
                    connector::send(host, &self.connection, &op, calls, in_flight),
                )
                .await?
            }
            SendBy::Boto3 => {
                let before = cpu::snapshot(self.server());
                let timing = self.boto3.run("send", &queue, count).await?;
                let mut cpu = cpu::snapshot(self.server()).since(&before);
                cpu.exited_children = timing.cpu_seconds;
                Sample {
                    seconds: timing.seconds,
                    messages: count,
                    cpu,
                }
            }
        };
        raw::expect_count(&self.client, &queue, count as u64).await?;
        raw::delete_queue(&self.client, &queue).await;
        Ok(sample)
    }

    async fn sends(
        &self,
        report: &mut Report,
        chunk: usize,
        in_flight: usize,
    ) -> Result<(), String> {
        let contenders = [
            SendBy::RawBest,
            SendBy::Plugin,
            SendBy::InProcess,
            SendBy::RawSequential,
            SendBy::Boto3,
        ];
        let samples = self
            .rounds_with_other(
                "SEND",
                &contenders,
                &[(SendBy::Plugin, SendBy::OtherPlugin)],
                async |contender| self.send_once(contender, chunk, in_flight).await,
            )
            .await?;
        let n = report::thousands(self.n() as u64);
        let c = self.args.concurrency;
        let chunking = format!("{chunk} documents per execute call, {in_flight} in flight");
        let mut samples = samples.into_iter();
        let mut next = || samples.next().unwrap_or_default();
        report.add(Row::rates(
            "SEND",
            "send-raw",
            &format!("Baseline: raw aws-sdk-sqs, SendMessageBatch of 10, {c} calls in flight"),
            &format!("{n} msgs"),
            next(),
            None,
        ));
        report.add(Row::rates(
            "SEND",
            "send-plugin",
            &format!(
                "Connector SEND through the plugin process (maxConcurrentRequests {c}; {chunking})"
            ),
            &format!("{n} msgs"),
            next(),
            Some("send-raw"),
        ));
        let in_process = next();
        report.add(Row::rates(
            "SEND",
            "send-raw-sequential",
            "raw aws-sdk-sqs, sequential SendMessage",
            &format!(
                "{} msgs",
                report::thousands(self.args.sequential_messages as u64)
            ),
            next(),
            Some("send-raw"),
        ));
        report.add(Row::rates(
            "SEND",
            "send-boto3",
            "boto3 send_message_batch of 10 in a loop (one call at a time)",
            &format!("{n} msgs"),
            next(),
            Some("send-raw"),
        ));
        report.add(Row::rates(
            "Plugin boundary",
            "send-in-process",
            &format!("Baseline: connector SEND in-process (`Connector::execute`, {chunking})"),
            &format!("{n} msgs"),
            in_process,
            None,
        ));
        let plugin = report.row("send-plugin").map(|r| r.samples.clone());
        report.add(Row::rates(
            "Plugin boundary",
            "send-plugin-2",
            "Connector SEND through the plugin process (the SEND row above)",
            &format!("{n} msgs"),
            plugin.unwrap_or_default(),
            Some("send-in-process"),
        ));
        Ok(())
    }

    async fn drain_once(&self, contender: DrainBy) -> Result<Sample, String> {
        let n = self.n();
        let queue = self.queue("drain").await?;
        let c = self.args.concurrency;
        raw::send_batches(&self.client, &queue, &self.messages[..n], c).await?;
        raw::expect_count(&self.client, &queue, n as u64).await?;
        let sample = match contender {
            DrainBy::RawBest => {
                self.timed(n, async {
                    drained(contender, n, raw::drain(&self.client, &queue, c).await?)
                })
                .await?
            }
            DrainBy::Listen | DrainBy::OtherListen => {
                // Until every message was answered and deleted: the drained stop answers once
                // the deletes after the last answers are done.
                let plugin = match contender {
                    DrainBy::Listen => &self.plugin,
                    _ => self.other_plugin(),
                };
                self.timed(n, async {
                    drained(contender, n, self.listen(plugin, &queue, n).await?)
                })
                .await?
            }
            DrainBy::Plugin | DrainBy::OtherPlugin | DrainBy::InProcess => {
                let host = match contender {
                    DrainBy::Plugin => Host::Plugin(&self.plugin),
                    DrainBy::OtherPlugin => self.other_host(),
                    _ => Host::InProcess(&self.in_process),
                };
                // Executions of RECEIVE_PER_CALL messages, RECEIVE_CALLS_IN_FLIGHT at once, their
                // reads adding up to the raw drain's workers: as a runtime polls a queue.
                let op = self.drain_operation(&queue);
                self.timed(n, async {
                    let got = connector::receive_all(
                        host,
                        &self.connection,
                        &op,
                        RECEIVE_PER_CALL,
                        n,
                        RECEIVE_CALLS_IN_FLIGHT,
                    )
                    .await?;
                    drained(contender, n, got)?;
                    // The plugin deletes what it read once its answer was written, after the
                    // call; in process `Connector::execute` does so before it returns.
                    if matches!(host, Host::Plugin(_)) {
                        raw::wait_empty(&self.client, &queue).await?;
                    }
                    Ok(())
                })
                .await?
            }
            DrainBy::Boto3 => {
                let before = cpu::snapshot(self.server());
                let timing = self.boto3.run("drain", &queue, n).await?;
                let mut cpu = cpu::snapshot(self.server()).since(&before);
                cpu.exited_children = timing.cpu_seconds;
                Sample {
                    seconds: timing.seconds,
                    messages: n,
                    cpu,
                }
            }
        };
        raw::expect_count(&self.client, &queue, 0).await?;
        raw::delete_queue(&self.client, &queue).await;
        Ok(sample)
    }

    async fn drains(&self, report: &mut Report) -> Result<(), String> {
        let contenders = [
            DrainBy::RawBest,
            DrainBy::Plugin,
            DrainBy::InProcess,
            DrainBy::Boto3,
            DrainBy::Listen,
        ];
        let samples = self
            .rounds_with_other(
                "RECEIVE with delete, and LISTEN",
                &contenders,
                &[
                    (DrainBy::Plugin, DrainBy::OtherPlugin),
                    (DrainBy::Listen, DrainBy::OtherListen),
                ],
                async |contender| self.drain_once(contender).await,
            )
            .await?;
        let n = report::thousands(self.n() as u64);
        let c = self.args.concurrency;
        let mut samples = samples.into_iter();
        let mut next = || samples.next().unwrap_or_default();
        report.add(Row::rates(
            "RECEIVE + delete",
            "drain-raw",
            &format!(
                "Baseline: raw aws-sdk-sqs, {c} workers of ReceiveMessage (10) + DeleteMessageBatch"
            ),
            &format!("{n} msgs"),
            next(),
            None,
        ));
        report.add(Row::rates(
            "RECEIVE + delete",
            "drain-plugin",
            &format!(
                "Connector RECEIVE through the plugin (executions of maxMessages {RECEIVE_PER_CALL}, {RECEIVE_CALLS_IN_FLIGHT} in flight, maxConcurrentRequests {} each, deleteAfterRead)",
                (c / RECEIVE_CALLS_IN_FLIGHT).max(1)
            ),
            &format!("{n} msgs"),
            next(),
            Some("drain-raw"),
        ));
        let in_process = next();
        report.add(Row::rates(
            "RECEIVE + delete",
            "drain-boto3",
            "boto3 receive_message (10) + delete_message_batch in a loop",
            &format!("{n} msgs"),
            next(),
            Some("drain-raw"),
        ));
        let shape = self.listen_shape();
        report.add(Row::rates(
            "LISTEN",
            "listen-plugin",
            &format!(
                "Connector LISTEN through the plugin (pollers {}, maxConcurrentBatches {}, maxMessages 10, waitTimeSeconds {}, heartbeat, AT_LEAST_ONCE), the host answering each batch SUCCESS at once; until the drained listen/stop (every message deleted)",
                shape.pollers, shape.max_concurrent_batches, shape.wait_seconds
            ),
            &format!("{n} msgs"),
            next(),
            Some("drain-raw"),
        ));
        report.add(Row::rates(
            "Plugin boundary",
            "drain-in-process",
            "Baseline: connector RECEIVE in-process (`Connector::execute`, the same executions)",
            &format!("{n} msgs"),
            in_process,
            None,
        ));
        let plugin = report.row("drain-plugin").map(|r| r.samples.clone());
        report.add(Row::rates(
            "Plugin boundary",
            "drain-plugin-2",
            "Connector RECEIVE through the plugin process (the RECEIVE row above)",
            &format!("{n} msgs"),
            plugin.unwrap_or_default(),
            Some("drain-in-process"),
        ));
        Ok(())
    }
}
