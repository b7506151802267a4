//! The figures of a run and `BENCHMARKS.md`: machine, versions, method, one table of every figure
//! with its ratio to its baseline, where the CPU went, and the execute-call sweep.

use std::fmt::Write as _;

use crate::cache::ColdRun;
use crate::cpu::Cpu;
use crate::memory::{Ending, IDLE_AFTER, MemoryCase, WARM_UP_DOCUMENTS};
use crate::messages::{self, Message};

/// One timed run of a throughput contender.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Wall time.
    pub seconds: f64,
    /// Messages handled.
    pub messages: usize,
    /// CPU used meanwhile, per process.
    pub cpu: Cpu,
}

impl Sample {
    /// Messages per second.
    pub(crate) fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    fn micros(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.messages.max(1) as f64
    }

    /// The run in one line for the progress output: throughput and CPU per message.
    pub(crate) fn summary(&self) -> String {
        let cpu = &self.cpu;
        format!(
            "{:.0} msg/s; CPU µs/msg: bench {:.1}, plugin {:.1}, boto3 {:.1}, server {:.1}",
            self.rate(),
            self.micros(cpu.bench),
            self.micros(cpu.plugin),
            self.micros(cpu.exited_children),
            self.micros(cpu.server)
        )
    }
}

/// What a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Messages per second: higher is better.
    MsgPerSec,
    /// Nanoseconds per operation: lower is better.
    NanosPerOp,
}

/// One figure: the runs of one contender.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The table section.
    pub section: &'static str,
    /// A key other rows name as their baseline.
    pub key: &'static str,
    /// What was measured.
    pub label: String,
    /// How much work one run did.
    pub work: String,
    /// The unit of `runs`.
    pub unit: Unit,
    /// One figure per run.
    pub runs: Vec<f64>,
    /// The throughput runs, with their CPU.
    pub samples: Vec<Sample>,
    /// The key of the baseline row, `None` for a baseline.
    pub baseline: Option<&'static str>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl Row {
    /// A row of plain figures.
    pub(crate) fn new(
        section: &'static str,
        key: &'static str,
        label: &str,
        work: &str,
        unit: Unit,
        runs: Vec<f64>,
        baseline: Option<&'static str>,
    ) -> Self {
        Self {
            section,
            key,
            label: label.to_owned(),
            work: work.to_owned(),
            unit,
            runs,
            samples: Vec::new(),
            baseline,
        }
    }

    /// A throughput row from its runs.
    pub(crate) fn rates(
        section: &'static str,
        key: &'static str,
        label: &str,
        work: &str,
        samples: Vec<Sample>,
        baseline: Option<&'static str>,
    ) -> Self {
        let mut row = Self::new(
            section,
            key,
            label,
            work,
            Unit::MsgPerSec,
            samples.iter().map(Sample::rate).collect(),
            baseline,
        );
        row.samples = samples;
        row
    }

    /// The median of the runs.
    pub(crate) fn median(&self) -> f64 {
        median(&self.runs)
    }

    /// The run whose figure is the median (the lower middle for an even count).
    fn median_sample(&self) -> Option<&Sample> {
        let mut sorted: Vec<&Sample> = self.samples.iter().collect();
        sorted.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        sorted.get(sorted.len().saturating_sub(1) / 2).copied()
    }

    fn figure(&self, value: f64) -> String {
        match self.unit {
            Unit::MsgPerSec => format!("{} msg/s", thousands(value.round() as u64)),
            Unit::NanosPerOp => format!("{value:.1} ns/op"),
        }
    }

    fn runs_text(&self) -> String {
        self.runs
            .iter()
            .map(|v| match self.unit {
                Unit::MsgPerSec => thousands(v.round() as u64),
                Unit::NanosPerOp => format!("{v:.1}"),
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// `12345` as `12,345`.
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The execute-call sizes tried for plugin SEND, and the one chosen.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    /// Per chunking: (documents per call, calls in flight, runs).
    pub rows: Vec<(usize, usize, Row)>,
    /// The chunking with the best median: (documents per call, calls in flight).
    pub chosen: (usize, usize),
}

/// The latency-bound figures at one round trip.
#[derive(Debug)]
pub(crate) struct Delayed {
    /// The round trip asked for, in milliseconds.
    pub rtt_ms: u32,
    /// The median ListQueues call against the delayed server, in milliseconds.
    pub measured_ms: f64,
    /// The same against the loopback server.
    pub loopback_ms: f64,
    /// The figures, their baselines among them.
    pub rows: Vec<Row>,
    /// Plugin SEND's execute-call sizes at this round trip, measured first.
    pub sweep: Sweep,
    /// The CPU seconds the delay proxy of this round trip used over the section, when a proxy
    /// added the delay.
    pub proxy_cpu_seconds: Option<f64>,
    /// The messages every run of the section moved (sent and drained), for the proxy's figure.
    pub messages: u64,
}

/// The execute-call sweep's table: one line per chunking.
fn sweep_table(md: &mut String, rows: &[(usize, usize, Row)]) {
    let _ = writeln!(
        md,
        "| documents per call | calls in flight | median | runs | plugin CPU µs/msg | bench CPU µs/msg |\n|---|---|---|---|---|---|"
    );
    for (size, in_flight, row) in rows {
        let (plugin, bench) = row
            .median_sample()
            .map(|s| (s.micros(s.cpu.plugin), s.micros(s.cpu.bench)))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {in_flight} | {} | {} | {plugin:.1} | {bench:.1} |",
            thousands(*size as u64),
            row.figure(row.median()),
            row.runs_text(),
        );
    }
    md.push('\n');
}

/// The ratio of `row` to its baseline among `rows`.
fn ratio_in(rows: &[Row], row: &Row) -> String {
    match row
        .baseline
        .and_then(|key| rows.iter().find(|r| r.key == key))
    {
        None => "1.00× (baseline)".into(),
        Some(base) => format!("{:.2}×", row.median() / base.median()),
    }
}

/// Everything a run found.
#[derive(Debug)]
pub(crate) struct Report {
    info: Vec<(String, String)>,
    rows: Vec<Row>,
    /// Plugin SEND's execute-call sizes on loopback, and the one the SEND rows use.
    pub sweep: Sweep,
    /// The cold-cache run.
    pub cold: Option<ColdRun>,
    /// The latency-bound figures, one entry per round trip.
    pub delayed: Vec<Delayed>,
    /// The memory figure's cases.
    pub memory: Vec<MemoryCase>,
    /// Runs per figure.
    pub repetitions: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// Wall time of the whole benchmark.
    pub total_seconds: f64,
    messages: usize,
    body_sizes: (usize, usize, usize),
    message_sizes: (usize, usize, usize),
    attribute_counts: (usize, usize),
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The version of a package in `Cargo.lock`.
fn locked_version(package: &str) -> String {
    let lock = read("Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return version.trim_matches('"').to_owned();
            }
        }
    }
    "unknown".into()
}

impl Report {
    /// An empty report for these messages and facts.
    pub(crate) fn new(info: Vec<(String, String)>, messages: &[Message]) -> Self {
        let (body_sizes, message_sizes) = messages::sizes(messages);
        let counts = messages.iter().map(|m| m.attributes.len());
        Self {
            info,
            rows: Vec::new(),
            sweep: Sweep::default(),
            cold: None,
            delayed: Vec::new(),
            memory: Vec::new(),
            repetitions: 0,
            concurrency: 0,
            total_seconds: 0.0,
            messages: messages.len(),
            body_sizes,
            message_sizes,
            attribute_counts: (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0)),
        }
    }

    /// Adds a figure.
    pub(crate) fn add(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The row with this key.
    pub(crate) fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    fn info(&self, key: &str) -> String {
        self.info
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "unknown".into())
    }

    fn ratio(&self, row: &Row) -> String {
        ratio_in(&self.rows, row)
    }

    /// The memory figure's section (none when it was not measured).
    fn memory_markdown(&self, md: &mut String) {
        let Some(first) = self.memory.first() else {
            return;
        };
        let _ = writeln!(md, "## Plugin memory with large documents in flight\n");
        let _ = writeln!(
            md,
            "Each case: a fresh plugin process (`sqs-connector serve`), a fresh queue, and {} SEND execute calls \
             at once (maxConcurrentRequests {}) of documents whose bodies are {} bytes of JSON text (order \
             events, so every few bytes a quote to escape on the wire; no properties), asking for \
             `\"outputs\": \"added\"` as the harness's process runner does (so the answers carry each message's \
             id and MD5, not the documents again). Before the calls the \
             plugin sends {} documents of the same size on the same queue (connection built, queue attributes \
             read); its `VmRSS` then is the baseline. The peak is `VmHWM` (the high-water mark of the resident \
             set) read from `/proc/<pid>/status` once every call returned; `VmRSS` is read again at that moment, \
             after {} s idle, and after two later calls of one small document: whether the plugin's \
             allocator (mimalloc) gave back what the calls freed (the plugin inherits the benchmark's \
             environment, so `MIMALLOC_PURGE_DELAY` set for the benchmark applies to it). Growth per byte: (peak − baseline) divided by the bytes of the document bodies \
             of the calls in flight at once. The plugin refuses a request line longer than its limit ({} bytes, \
             stated at `initialize`) with -32600. Checked in every case: a call under the limit gets SUCCESS for \
             every document and the queue then holds exactly the messages sent, the warm-up's and the later calls' \
             included (GetQueueAttributes); a call over \
             it is answered -32600, nothing of it is sent, and the plugin runs on. The queue is deleted after \
             each case. fauxqs RSS: the server's resident set once the case's messages were in.\n",
            first.in_flight,
            self.concurrency,
            thousands(first.body_bytes as u64),
            WARM_UP_DOCUMENTS,
            IDLE_AFTER.as_secs(),
            thousands(first.max_line_bytes as u64),
        );
        let _ = writeln!(
            md,
            "| case | execute calls (in flight) | documents per call | request line | documents' bytes in flight (in all) | \
             baseline RSS | peak RSS (VmHWM) | RSS after: at once / idle {} s / after later calls | growth per byte in flight | wall time | outcome | fauxqs RSS |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|",
            IDLE_AFTER.as_secs()
        );
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        let bytes_mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / 1_048_576.0);
        for case in &self.memory {
            let outcome = match case.ending {
                Ending::Sent(count) => format!(
                    "every result SUCCESS; {} messages on the queue",
                    thousands(count)
                ),
                Ending::Refused(code) => {
                    format!("both calls answered {code}; nothing sent; the plugin ran on")
                }
            };
            let _ = writeln!(
                md,
                "| {} | {} ({}) | {} | {} | {} ({}) | {} | **{}** | {} / {} / {} | {:.2} | {:.1} s | {outcome} | {} |",
                case.what,
                case.calls,
                case.in_flight,
                thousands(case.per_call as u64),
                bytes_mib(case.line_bytes as u64),
                bytes_mib(case.bytes_in_flight()),
                bytes_mib(case.bytes_in_all()),
                mib(case.baseline_kib),
                mib(case.peak_kib),
                mib(case.after_kib),
                mib(case.idle_kib),
                mib(case.later_kib),
                case.growth_per_byte(),
                case.seconds,
                case.server_kib.map(mib).unwrap_or_else(|| "unknown".into()),
            );
        }
        md.push('\n');
    }

    /// One section per round trip of the latency-bound scenario.
    fn delayed_markdown(&self, md: &mut String) {
        if self.delayed.is_empty() {
            let _ = writeln!(
                md,
                "## Latency-bound
"
            );
            let _ = writeln!(
                md,
                "Not measured in this run: {}.\n",
                self.info("delayed-skipped")
            );
            return;
        }
        for delayed in &self.delayed {
            let _ = writeln!(md, "## Latency-bound: {} ms round trip\n", delayed.rtt_ms);
            let _ = writeln!(
                md,
                "The same contenders with the same {} requests in flight each (boto3 in as many threads), against a \
                 second fauxqs of the same version seen through a round trip of {} ms: {} A ListQueues call took \
                 {:.2} ms there (median of 9, the round trip plus the server's handling), {:.2} ms against the \
                 loopback server. The connector's SEND uses the execute-call size that was fastest at this \
                 round trip (the sweep below the table, measured first), its calls in flight sharing the {} \
                 requests (as RECEIVE's executions do); the order of the contenders \
                 alternates between rounds as above; median of {} runs. LISTEN deletes a batch while its poller \
                 already receives the next, so it has more calls in flight than the raw drain's workers, which \
                 wait for each DeleteMessageBatch. Client CPU: the benchmark process, the plugin process and the \
                 boto3 script, per message, in the median run.\n",
                self.concurrency,
                delayed.rtt_ms,
                self.info("delay"),
                delayed.measured_ms,
                delayed.loopback_ms,
                self.concurrency,
                self.repetitions
            );
            if let Some(seconds) = delayed.proxy_cpu_seconds {
                let _ = writeln!(
                    md,
                    "The delay proxy used {seconds:.2} s of CPU over this section ({:.1} µs per message moved, \
                     {} messages in all runs), on the server's core: not counted in the client's CPU below.\n",
                    seconds * 1e6 / delayed.messages.max(1) as f64,
                    thousands(delayed.messages)
                );
            }
            let _ = writeln!(
                md,
                "| section | what | work per run | median | runs | ratio to the raw SDK's best | client CPU µs/msg |\n|---|---|---|---|---|---|---|"
            );
            for row in &delayed.rows {
                let cpu = row
                    .median_sample()
                    .map(|s| {
                        format!(
                            "{:.1}",
                            s.micros(s.cpu.bench + s.cpu.plugin + s.cpu.exited_children)
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | **{}** | {} | {} | {cpu} |",
                    row.section,
                    row.label,
                    row.work,
                    row.figure(row.median()),
                    row.runs_text(),
                    ratio_in(&delayed.rows, row)
                );
            }
            md.push('\n');
            let _ = writeln!(
                md,
                "Execute-call sizes of plugin SEND at this round trip, the execute calls in flight sharing the {} \
                 requests; {} runs of each, interleaved; the best median is the chunking used above. CPU of the \
                 median run.\n",
                self.concurrency, self.repetitions
            );
            sweep_table(md, &delayed.sweep.rows);
        }
    }

    /// The report as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let mut md = String::new();
        let now = time::OffsetDateTime::now_utc();
        let date = now
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".into());
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().map(str::trim) == Some(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_else(|| "?".into())
        };
        let detail = format!(
            "family {}, model {}, {} MHz{}",
            field("cpu family"),
            field("model"),
            field("cpu MHz"),
            if field("flags").split(' ').any(|f| f == "hypervisor") {
                ", virtual machine"
            } else {
                ""
            }
        );
        let processors = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let memory = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();

        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Written by `./scripts/bench.sh` (not part of the tests), which rewrites this file on every run. \
             Figures below: {date}, one run of the suite (its measurements took {:.0} s).\n",
            self.total_seconds
        );
        let _ = writeln!(md, "## Machine\n");
        let _ = writeln!(
            md,
            "- CPU: {model} ({detail}), {processors} logical processors"
        );
        let _ = writeln!(md, "- Memory: {memory}");
        let _ = writeln!(md, "- Linux kernel {kernel}\n");
        let _ = writeln!(md, "## Versions\n");
        let _ = writeln!(md, "| component | version |\n|---|---|");
        let _ = writeln!(
            md,
            "| rustc | {} |",
            command_output("rustc", &["--version"])
        );
        let _ = writeln!(
            md,
            "| aws-sdk-sqs (Cargo.lock) | {} |",
            locked_version("aws-sdk-sqs")
        );
        for (label, key) in [
            ("fauxqs (SQS server)", "fauxqs"),
            ("Node.js running fauxqs", "node"),
            ("Python", "python"),
            ("boto3", "boto3"),
            ("botocore", "botocore"),
        ] {
            let _ = writeln!(md, "| {label} | {} |", self.info(key));
        }
        md.push('\n');

        let (chunk, in_flight) = self.sweep.chosen;
        let (bmin, bmean, bmax) = self.body_sizes;
        let (mmin, mmean, mmax) = self.message_sizes;
        let _ = writeln!(md, "## Method\n");
        let _ = writeln!(
            md,
            "- Server: fauxqs on 127.0.0.1 (the same server for every figure). Pinning: {}. Children of the \
             benchmark (the plugin process, the boto3 script) inherit its core.",
            self.info("pinning")
        );
        let _ = writeln!(
            md,
            "- Messages: {} generated JSON order events, bodies {bmin}..{bmax} bytes (mean {bmean}), \
             {}..{} message attributes each (String and Number), {mmin}..{mmax} bytes with the \
             attributes (mean {mmean}). Every contender sends the same messages (boto3 reads them from a file).",
            thousands(self.messages as u64),
            self.attribute_counts.0,
            self.attribute_counts.1
        );
        let _ = writeln!(
            md,
            "- Every client: region us-east-1, the server as endpoint, static credentials; the raw SDK with \
             the connector's client settings (standard retries, 4 attempts, same timeouts, no identity cache). \
             The benchmark process runs one single-threaded Tokio runtime (its core is one core): the raw SDK, \
             the in-process connector and the host side of the plugin calls (`PluginProcess`); the plugin \
             process is `sqs-connector serve` as shipped."
        );
        let _ = writeln!(
            md,
            "- Not the same work, by design: the connector checks every document against SQS's rules, \
             compares the MD5 SQS returns for each body (SEND) and verifies body and attribute MD5s (RECEIVE), \
             and returns one result per document with an output document (the input plus message id, queue \
             URL and MD5 for SEND; body and every property for RECEIVE); the raw SDK contenders do none of that \
             (the Rust SDK verifies no MD5); botocore verifies the MD5s."
        );
        let _ = writeln!(
            md,
            "- Warm-up before measuring: each Rust contender sends and drains a few thousand messages first \
             (connections, queue URL and attribute caches, built connection); the boto3 script makes one call \
             before its timed loop in each run."
        );
        let _ = writeln!(
            md,
            "- Each figure is the median of {} runs; runs interleave the contenders (round 1 of every contender, \
             then round 2, ...), in reverse order in even rounds so that no contender always follows \
             the same one. Every run uses a fresh standard queue (600 s visibility timeout, so no \
             message read early in a long drain is delivered twice), deleted after it.",
            self.repetitions
        );
        let _ = writeln!(
            md,
            "- SEND through the connector: maxConcurrentRequests {}, {chunk} documents per execute call, \
             {in_flight} call(s) in flight: the fastest of the sweep below. The in-process figure uses the same \
             chunking on `sqs_connector::connector()` and `Connector::execute` in the benchmark's process. \
             Both get documents the benchmark owns, cut into execute calls before the clock starts: \
             `Connector::execute` takes them, the plugin's host serializes them and drops them after the call. \
             The plugin's host asks for `\"outputs\": \"added\"` (protocol 1.1), as the harness's process runner \
             does: the plugin writes each SEND output as the properties SEND added, without the body, and the \
             host merges them onto the documents it holds (so both contenders end with the same results).",
            self.concurrency
        );
        let _ = writeln!(
            md,
            "- RECEIVE: before each drain the raw SDK fills a fresh queue with the {} messages (untimed); \
             the connector runs executions of RECEIVE of 2,000 messages each, two at a time, until all are read \
             (deleteAfterRead true, verifyMd5 default on, every attribute; the raw drain's 16 reads shared between \
             the two), as a runtime polls a queue in process executions; the plugin deletes what an execution read \
             once its answer was written, after the call, so its time runs until the queue is empty \
             (GetQueueAttributes every 2 ms), while `Connector::execute` deletes before it returns; the raw \
             SDK and boto3 ask for every attribute too, and stop after two empty answers.",
            thousands(self.messages as u64)
        );
        let _ = writeln!(
            md,
            "- LISTEN: the same fresh queue of {} messages; the plugin (the same process as RECEIVE's) \
             runs a listener whose receives go out as the raw drain's do (10 messages, every attribute, \
             one loop per poller), and sends each batch to the benchmark as a `listen/batch` request; the \
             benchmark's `ListenHandler` answers every document SUCCESS at once, and the plugin then \
             deletes the batch's messages (DeleteMessageBatch). Timed from `listen` to the answer of a \
             drained `listen/stop` sent once every message was answered, which comes when the last \
             deletes are done and every poller's receive in flight has returned (so waitTimeSeconds is \
             part of the time: 0 here, as the raw drain's); exactly {} documents must have been answered.",
            thousands(self.messages as u64),
            thousands(self.messages as u64)
        );
        let _ = writeln!(
            md,
            "- Correctness, checked in every run (a failed check stops the benchmark): every SEND result is \
             SUCCESS and the queue then holds exactly the messages sent, none in flight; every drain returns \
             exactly {} messages and leaves the queue empty; batch calls report no failed entry.",
            thousands(self.messages as u64)
        );
        let _ = writeln!(
            md,
            "- Ratio: the figure divided by its baseline's. For msg/s higher is better (0.50× is half the \
             baseline's throughput); for ns/op it is the cost in multiples of the baseline's.\n"
        );

        let _ = writeln!(md, "## Results\n");
        let _ = writeln!(
            md,
            "| section | what | work per run | median | runs | ratio to baseline |\n|---|---|---|---|---|---|"
        );
        for row in &self.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | **{}** | {} | {} |",
                row.section,
                row.label,
                row.work,
                row.figure(row.median()),
                row.runs_text(),
                self.ratio(row)
            );
        }
        if let Some(cold) = &self.cold {
            let _ = writeln!(
                md,
                "| Credential cache | CreateSession calls made by {} concurrent SEND executions (one document each) \
                 on a cold cache, through a fresh plugin process, Roles Anywhere connection against the \
                 harness's emulator (counted by the emulator; {} refused) | {} executions | **{}** | {:.2} s for \
                 all | expected 1 |",
                thousands(cold.executions as u64),
                cold.refused,
                thousands(cold.executions as u64),
                cold.create_sessions,
                cold.seconds
            );
        }
        md.push('\n');

        let _ = writeln!(md, "## Where the CPU went\n");
        let _ = writeln!(
            md,
            "Per message, in the median run, from `/proc/<pid>/stat` (10 ms ticks): wall time, and the CPU time of \
             the benchmark process (host side of the plugin calls, or the raw SDK, or the in-process connector), \
             the plugin process, the boto3 script (its own `process_time` of the timed loop) and the fauxqs server. \
             With the client on one core, client CPU close to the wall time means the client core was the limit.\n"
        );
        let _ = writeln!(
            md,
            "| contender | wall µs/msg | bench process | plugin process | boto3 script | server |\n|---|---|---|---|---|---|"
        );
        for row in self.rows.iter().filter(|r| !r.key.ends_with("-2")) {
            if let Some(s) = row.median_sample() {
                let _ = writeln!(
                    md,
                    "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    row.label.trim_start_matches("Baseline: "),
                    s.micros(s.seconds),
                    s.micros(s.cpu.bench),
                    s.micros(s.cpu.plugin),
                    s.micros(s.cpu.exited_children),
                    s.micros(s.cpu.server)
                );
            }
        }
        md.push('\n');

        self.delayed_markdown(&mut md);

        let _ = writeln!(md, "## Execute-call size (plugin SEND)\n");
        let _ = writeln!(
            md,
            "Measured first, in the same run: {} runs of each, interleaved; the best median is the chunking used above. \
             CPU of the median run.\n",
            self.repetitions
        );
        sweep_table(&mut md, &self.sweep.rows);

        self.memory_markdown(&mut md);

        let _ = writeln!(md, "## What limited it and what changed\n");
        // Written by hand after profiling, kept beside the benchmark so each run carries it.
        let analysis = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/bench/analysis.md");
        match std::fs::read_to_string(analysis) {
            Ok(text) => md.push_str(&text),
            Err(_) => {
                let _ = writeln!(md, "_No analysis yet (scripts/bench/analysis.md)._");
            }
        }
        md
    }

    /// A short plain-text summary for the terminal.
    pub(crate) fn summary(&self) -> String {
        let mut out = String::from("\nResults (median; ratio to baseline):\n");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "  {:<17} {:>18}  {:<18} {}",
                row.section,
                row.figure(row.median()),
                self.ratio(row),
                row.label
            );
        }
        for delayed in &self.delayed {
            let _ = writeln!(
                out,
                "Latency-bound, {} ms round trip (ListQueues {:.2} ms):",
                delayed.rtt_ms, delayed.measured_ms
            );
            for row in &delayed.rows {
                let _ = writeln!(
                    out,
                    "  {:<17} {:>18}  {:<18} {}",
                    row.section,
                    row.figure(row.median()),
                    ratio_in(&delayed.rows, row),
                    row.label
                );
            }
        }
        for case in &self.memory {
            let _ = writeln!(out, "  Memory: {}", case.summary());
        }
        if let Some(cold) = &self.cold {
            let _ = writeln!(
                out,
                "  {:<17} {:>18}  {:<18} CreateSession calls for {} concurrent executions on a cold cache (expected 1)",
                "Credential cache", cold.create_sessions, "", cold.executions
            );
        }
        out
    }
}
