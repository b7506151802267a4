//! The plugin's memory with large documents in flight (issue 17): a fresh `sqs-connector serve`
//! per case, two SEND execute calls of large documents at once, and the plugin's resident set
//! from `/proc/<pid>/status` (`VmRSS` before and after, `VmHWM` for the peak) against the bytes
//! of the documents. The plugin refuses request lines longer than its `maxLineBytes`; the cases
//! are: the calls as asked (over the limit by default, so refused), the largest calls that fit,
//! the asked documents split into calls that fit, and calls a quarter of the size for a second
//! point of the slope.

use std::path::Path;
use std::time::{Duration, Instant};

use connector_sdk::host::{
    ClientError, ExecuteParamsRef, INVALID_REQUEST, Outputs, PluginCommand, PluginProcess,
};
use connector_sdk::{Component, Document, ResultStatus};
use futures::StreamExt as _;

use crate::report::thousands;
use crate::{Args, connector, messages, raw, say};

/// Execute calls in flight at once, as the issue asks.
const IN_FLIGHT: usize = 2;
/// Documents sent on the case's queue before the baseline is read (connection built, queue
/// attributes read, a few batches sent).
pub(crate) const WARM_UP_DOCUMENTS: usize = 8;
/// Calls of one small document after the measurement, for [`MemoryCase::later_kib`].
const LATER_CALLS: usize = 2;
/// The body of those calls, in bytes.
const SMALL_BODY: usize = 1_000;
/// How long the plugin is left idle before an RSS reading (mimalloc gives freed memory back to
/// the system after a delay, when at all).
pub(crate) const IDLE_AFTER: Duration = Duration::from_secs(2);

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Every result SUCCESS, and the queue held this many messages of the case (the warm-up's
    /// not counted).
    Sent(u64),
    /// Every call answered with this JSON-RPC error code (the line limit), the queue holding none
    /// of the case's messages, and the plugin still running.
    Refused(i64),
}

/// One case of the memory figure.
#[derive(Debug, Clone)]
pub(crate) struct MemoryCase {
    /// What the case is.
    pub what: String,
    /// Execute calls in all.
    pub calls: usize,
    /// Execute calls in flight at once.
    pub in_flight: usize,
    /// Documents in each call (the largest call's, when they differ).
    pub per_call: usize,
    /// Documents in all.
    pub documents: usize,
    /// Each document's body, in bytes.
    pub body_bytes: usize,
    /// The longest request line of the case, in bytes.
    pub line_bytes: usize,
    /// The plugin's limit on a request line.
    pub max_line_bytes: usize,
    /// The plugin's resident set after initialize and the warm-up, in KiB.
    pub baseline_kib: u64,
    /// Its high-water mark after the calls, in KiB.
    pub peak_kib: u64,
    /// Its resident set right after the calls returned, in KiB.
    pub after_kib: u64,
    /// Its resident set after [`IDLE_AFTER`] more, in KiB.
    pub idle_kib: u64,
    /// Its resident set after two later calls of one small document, [`IDLE_AFTER`] apart: whether
    /// the allocator gave back what the calls freed once the plugin had work again, in KiB.
    pub later_kib: u64,
    /// The SQS server's resident set once the case's messages were in, in KiB (when known).
    pub server_kib: Option<u64>,
    /// Wall time of the calls.
    pub seconds: f64,
    /// How it ended.
    pub ending: Ending,
}

impl MemoryCase {
    /// The bytes of the documents of the calls that can be in flight at once.
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        (self.in_flight.min(self.calls) * self.per_call * self.body_bytes) as u64
    }

    /// The bytes of every document of the case.
    pub(crate) fn bytes_in_all(&self) -> u64 {
        (self.documents * self.body_bytes) as u64
    }

    /// (peak − baseline) / the bytes of the documents in flight.
    pub(crate) fn growth_per_byte(&self) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 * 1024.0
            / self.bytes_in_flight().max(1) as f64
    }

    /// The case in one line for the progress output and the summary.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{}: {} call(s) of {} documents of {} bytes ({} in flight, line {} bytes): baseline {}, peak {}, after {} (idle {}, after later calls {}); {:.2} bytes of RSS per byte in flight; {:.1} s; {}; server RSS {}",
            self.what,
            self.calls,
            thousands(self.per_call as u64),
            thousands(self.body_bytes as u64),
            self.in_flight,
            thousands(self.line_bytes as u64),
            mib(self.baseline_kib),
            mib(self.peak_kib),
            mib(self.after_kib),
            mib(self.idle_kib),
            mib(self.later_kib),
            self.growth_per_byte(),
            self.seconds,
            self.ending_text(),
            self.server_kib.map(mib).unwrap_or_else(|| "unknown".into())
        )
    }

    /// How it ended, in words.
    pub(crate) fn ending_text(&self) -> String {
        match self.ending {
            Ending::Sent(count) => format!(
                "every result SUCCESS; the queue held {} messages",
                thousands(count)
            ),
            Ending::Refused(code) => format!(
                "every call answered {code} (line over the limit); nothing sent; the plugin ran on"
            ),
        }
    }
}

/// KiB as MiB, for the progress output.
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes serde_json writes for `value` (the host's own writer writes the same bytes).
fn json_bytes(value: &impl serde::Serialize) -> Result<usize, String> {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value).map_err(|e| e.to_string())?;
    Ok(counter.0)
}

/// The request line of an execute call of `documents`, in bytes (without its `\n`): the envelope
/// the host writes around the params (with an id of up to 20 digits, so at most this).
fn line_bytes(
    connection: &Component,
    operation: &Component,
    documents: &[Document],
) -> Result<usize, String> {
    let params = json_bytes(&ExecuteParamsRef {
        execution_id: "bench-memory-00000000",
        process_name: "bench",
        connection,
        operation,
        documents,
    })?;
    let envelope = r#"{"jsonrpc":"2.0","id":,"method":"execute","params":}"#.len() + 20;
    Ok(params + envelope)
}

/// A body of exactly `bytes` bytes of JSON text: order events (their quotes need escaping on the
/// wire, as a real payload's would), then a padding string; the `index` varies the events.
pub(crate) fn body(index: usize, bytes: usize, pool: &[messages::Message]) -> String {
    let head = format!("{{\"document\":{index},\"events\":[");
    let tail = "],\"padding\":\"\"}";
    if bytes < head.len() + tail.len() || pool.is_empty() {
        return "x".repeat(bytes.max(1));
    }
    let mut text = String::with_capacity(bytes);
    text.push_str(&head);
    let mut n = index.wrapping_mul(37);
    let mut first = true;
    loop {
        let event = &pool[n % pool.len()].body;
        let comma = usize::from(!first);
        if text.len() + comma + event.len() + tail.len() > bytes {
            break;
        }
        if !first {
            text.push(',');
        }
        text.push_str(event);
        first = false;
        n += 1;
    }
    text.push_str("],\"padding\":\"");
    const FILL: &str = "lorem ipsum dolor sit amet ";
    while text.len() + 2 < bytes {
        let room = bytes - 2 - text.len();
        text.push_str(&FILL[..room.min(FILL.len())]);
    }
    text.push_str("\"}");
    text
}

/// `count` documents of `bytes` bytes, numbered from `first`.
fn documents(
    first: usize,
    count: usize,
    bytes: usize,
    pool: &[messages::Message],
) -> Vec<Document> {
    (first..first + count)
        .map(|index| Document::new(body(index, bytes, pool)))
        .collect()
}

/// A plugin with long timeouts: a call of a quarter of a gigabyte takes seconds.
async fn start_plugin(path: &Path) -> Result<PluginProcess, String> {
    let mut command = PluginCommand::new(path, &["serve"]);
    command.timeout = Duration::from_secs(600);
    command.slow_after = Duration::from_secs(600);
    PluginProcess::spawn(command)
        .await
        .map_err(|e| format!("starting the plugin {}: {e}", path.display()))
}

/// What a case sends: its calls' sizes and what it is called.
struct Plan {
    what: String,
    /// Documents per call, in order.
    calls: Vec<usize>,
}

/// The plugin's line limit, from a plugin started for it (protocol 1.1 states it at `initialize`).
async fn line_limit(path: &Path) -> Result<usize, String> {
    let plugin = start_plugin(path).await?;
    let limit = plugin
        .limits()
        .and_then(|limits| usize::try_from(limits.max_line_bytes).ok());
    let _ = plugin.shutdown().await;
    limit.ok_or_else(|| "the plugin stated no line limit at initialize (protocol 1.0)".into())
}

/// The cases, in order: as asked; when that is over the line limit, the largest calls that fit
/// and the asked documents in calls that fit; and calls of a quarter of what fits.
async fn plans(
    args: &Args,
    connection: &Component,
    operation: &Component,
    pool: &[messages::Message],
    limit: usize,
) -> Result<Vec<Plan>, String> {
    let asked = args.memory_documents.max(1);
    let bytes = args.memory_document_bytes.max(1);
    // The largest document of a sample sets how many fit (bodies differ a little in escapes).
    let sample = documents(0, 64, bytes, pool);
    let largest = sample
        .iter()
        .map(json_bytes)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(bytes);
    // The probe's queue URL is shorter than a real one: 4 KiB of room for that.
    let overhead = line_bytes(connection, operation, &[])? + 4096;
    let fits = (limit.saturating_sub(overhead) / (largest + 1)).max(1);
    let mut plans = vec![Plan {
        what: "as asked".into(),
        calls: vec![asked; IN_FLIGHT],
    }];
    if asked > fits {
        plans.push(Plan {
            what: "the largest calls that fit".into(),
            calls: vec![fits; IN_FLIGHT],
        });
        let calls = asked.div_ceil(fits);
        let per_call = asked.div_ceil(calls);
        let mut sizes = Vec::new();
        let mut left = asked;
        while left > 0 {
            let size = per_call.min(left);
            sizes.push(size);
            left -= size;
        }
        plans.push(Plan {
            what: format!("{} documents in calls that fit", thousands(asked as u64)),
            calls: sizes,
        });
    }
    let quarter = (asked.min(fits) / 4).max(1);
    plans.push(Plan {
        what: "a quarter of the calls that fit".into(),
        calls: vec![quarter; IN_FLIGHT],
    });
    Ok(plans)
}

/// Runs every case; fails when a check fails (a result not SUCCESS, a call under the limit
/// refused or one over it accepted, a wrong message count).
pub(crate) async fn measure(
    args: &Args,
    plugin_path: &Path,
    client: &aws_sdk_sqs::Client,
) -> Result<Vec<MemoryCase>, String> {
    let connection = connector::connection(&args.endpoint);
    // Enough events to fill the largest body several times over without repeating.
    let pool = messages::generate(2_000);
    let limit = line_limit(plugin_path).await?;
    let probe = connector::send_operation("bench-op-memory", "probe", args.concurrency);
    let plans = plans(args, &connection, &probe, &pool, limit).await?;
    let setup = Setup {
        args,
        plugin_path,
        client,
        connection: &connection,
        pool: &pool,
        limit,
    };
    let mut cases = Vec::new();
    for (n, plan) in plans.into_iter().enumerate() {
        say(format!(
            "memory: {}: {} call(s) of up to {} documents of {} bytes, {IN_FLIGHT} in flight",
            plan.what,
            plan.calls.len(),
            plan.calls.iter().max().copied().unwrap_or(0),
            args.memory_document_bytes
        ));
        let case = setup.run_case(n, plan).await?;
        say(format!("  {}", case.summary()));
        cases.push(case);
    }
    Ok(cases)
}

/// What every case shares.
struct Setup<'a> {
    args: &'a Args,
    plugin_path: &'a Path,
    client: &'a aws_sdk_sqs::Client,
    connection: &'a Component,
    /// The events the bodies are made of.
    pool: &'a [messages::Message],
    /// The plugin's line limit.
    limit: usize,
}

impl Setup<'_> {
    /// One case: a fresh queue and plugin, the warm-up, the baseline, the calls, the readings
    /// and the checks; the queue is deleted after it.
    async fn run_case(&self, serial: usize, plan: Plan) -> Result<MemoryCase, String> {
        let queue = raw::create_queue(
            self.client,
            &format!("bench-memory-{}-{serial}", std::process::id()),
        )
        .await?;
        let outcome = self.case_on_queue(serial, plan, &queue).await;
        raw::delete_queue(self.client, &queue).await;
        outcome
    }

    /// [`Setup::run_case`] on its queue: the calls' documents made, then a fresh plugin for
    /// them, shut down after the case.
    async fn case_on_queue(
        &self,
        serial: usize,
        plan: Plan,
        queue: &str,
    ) -> Result<MemoryCase, String> {
        let bytes = self.args.memory_document_bytes.max(1);
        let operation = connector::send_operation(
            &format!("bench-op-memory-{serial}"),
            queue,
            self.args.concurrency,
        );
        // The documents of every call, made before the plugin starts.
        let mut first = 0;
        let mut calls = Vec::new();
        for &count in &plan.calls {
            calls.push(documents(first, count, bytes, self.pool));
            first += count;
        }
        let mut longest = 0;
        for call in &calls {
            longest = longest.max(line_bytes(self.connection, &operation, call)?);
        }
        let case = Case {
            serial,
            plan,
            queue,
            operation,
            longest,
        };
        let plugin = start_plugin(self.plugin_path).await?;
        let outcome = self.measure_case(&plugin, case, calls).await;
        let _ = plugin.shutdown().await;
        outcome
    }

    /// The warm-up, the baseline, `calls` two at a time, the readings and the checks, on
    /// `plugin`.
    async fn measure_case(
        &self,
        plugin: &PluginProcess,
        case: Case<'_>,
        calls: Vec<Vec<Document>>,
    ) -> Result<MemoryCase, String> {
        let Setup {
            args,
            client,
            connection,
            pool,
            limit,
            ..
        } = *self;
        let Case {
            serial,
            plan,
            queue,
            operation,
            longest,
        } = case;
        let bytes = args.memory_document_bytes.max(1);
        let over = longest > limit;
        let pid = plugin
            .pid()
            .await
            .ok_or("the plugin exited before the measurement")?;
        let warm = documents(usize::MAX / 2, WARM_UP_DOCUMENTS, bytes, pool);
        execute(plugin, "bench-memory-warm", connection, &operation, warm)
            .await
            .map_err(|e| format!("the warm-up: {e}"))?
            .map_err(|code| format!("the warm-up was refused with {code}"))?;
        let baseline_kib = status_kib(pid, "VmRSS").ok_or("no VmRSS for the plugin")?;

        let started = Instant::now();
        let answers: Vec<Result<Result<(), i64>, String>> =
            futures::stream::iter(calls.into_iter().enumerate().map(|(n, documents)| {
                let operation = &operation;
                async move {
                    let id = format!("bench-memory-{serial}-{n}");
                    execute(plugin, &id, connection, operation, documents).await
                }
            }))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let seconds = started.elapsed().as_secs_f64();
        let peak_kib = status_kib(pid, "VmHWM").ok_or("no VmHWM for the plugin")?;
        let after_kib = status_kib(pid, "VmRSS").ok_or("no VmRSS for the plugin")?;
        tokio::time::sleep(IDLE_AFTER).await;
        let idle_kib = status_kib(pid, "VmRSS").ok_or("no VmRSS for the plugin")?;
        for n in 0..LATER_CALLS {
            if n > 0 {
                tokio::time::sleep(IDLE_AFTER).await;
            }
            let one = documents(usize::MAX / 4 + n, 1, SMALL_BODY, pool);
            execute(
                plugin,
                &format!("bench-memory-later-{n}"),
                connection,
                &operation,
                one,
            )
            .await
            .map_err(|e| format!("a later small call: {e}"))?
            .map_err(|code| format!("a later small call was refused with {code}"))?;
        }
        let later_kib = status_kib(pid, "VmRSS").ok_or("no VmRSS for the plugin")?;

        let mut refused = None;
        for answer in answers {
            match answer? {
                Ok(()) if over => {
                    return Err(format!(
                        "a call of a {longest}-byte line was accepted; the plugin's limit is {limit}"
                    ));
                }
                Ok(()) => {}
                Err(code) if over && code == INVALID_REQUEST => refused = Some(code),
                Err(code) => {
                    return Err(format!(
                        "a call of a {longest}-byte line was answered {code} (limit {limit})"
                    ));
                }
            }
        }
        if plugin.has_exited() {
            return Err("the plugin exited during the case".into());
        }
        let sent = if over { 0 } else { plan.calls.iter().sum() };
        raw::expect_count(
            client,
            queue,
            (WARM_UP_DOCUMENTS + LATER_CALLS + sent) as u64,
        )
        .await?;
        let server_kib = args.server_pid.and_then(|pid| status_kib(pid, "VmRSS"));
        Ok(MemoryCase {
            what: plan.what.clone(),
            calls: plan.calls.len(),
            in_flight: IN_FLIGHT,
            per_call: plan.calls.iter().max().copied().unwrap_or(0),
            documents: plan.calls.iter().sum(),
            body_bytes: bytes,
            line_bytes: longest,
            max_line_bytes: limit,
            baseline_kib,
            peak_kib,
            after_kib,
            idle_kib,
            later_kib,
            server_kib,
            seconds,
            ending: match refused {
                Some(code) => Ending::Refused(code),
                None => Ending::Sent(sent as u64),
            },
        })
    }
}

/// One case's queue, operation and plan, and the longest request line of its calls.
struct Case<'a> {
    serial: usize,
    plan: Plan,
    queue: &'a str,
    operation: Component,
    longest: usize,
}

/// One execute call: `Ok(Ok(()))` when every document got a SUCCESS, `Ok(Err(code))` when the
/// call was answered with a JSON-RPC error, `Err` for anything else.
async fn execute(
    plugin: &PluginProcess,
    execution_id: &str,
    connection: &Component,
    operation: &Component,
    documents: Vec<Document>,
) -> Result<Result<(), i64>, String> {
    let expected = documents.len();
    let answer = connector::plugin_execute(
        plugin,
        execution_id,
        connection,
        operation,
        &documents,
        Outputs::Added,
    )
    .await;
    drop(documents);
    match answer {
        Ok(result) => {
            let good = result
                .results
                .iter()
                .filter(|r| r.status == ResultStatus::Success)
                .count();
            if result.results.len() != expected || good != expected {
                return Err(format!(
                    "{good} SUCCESS among {} results for {expected} documents",
                    result.results.len()
                ));
            }
            Ok(Ok(()))
        }
        Err(ClientError::Rpc(error)) => Ok(Err(error.code)),
        Err(error) => Err(format!("execute through the plugin: {error}")),
    }
}
