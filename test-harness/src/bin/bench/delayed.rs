//! The latency-bound scenario: the SEND, RECEIVE-with-delete and LISTEN contenders again, with
//! the same requests in flight each (boto3 included, in threads), against a second server that
//! the client sees through a fixed round trip (`--delayed RTT=URL`; `scripts/bench.sh` sets it
//! up). Each round trip is one report section, its ratios to the raw SDK's best at that round
//! trip.

use std::time::Instant;

use crate::contenders::{Bench, DrainBy, RECEIVE_CALLS_IN_FLIGHT, RECEIVE_PER_CALL, SendBy};
use crate::report::{self, Delayed, Row, Sweep};
use crate::{connector, raw, say};

/// Calls timed to measure a round trip (the median is kept).
const ROUND_TRIP_CALLS: usize = 9;

/// The median wall time of a ListQueues call, in milliseconds: the round trip with the
/// server's handling of a small request.
pub(crate) async fn round_trip_ms(client: &aws_sdk_sqs::Client) -> Result<f64, String> {
    let mut times = Vec::with_capacity(ROUND_TRIP_CALLS);
    for _ in 0..ROUND_TRIP_CALLS {
        let started = Instant::now();
        client
            .list_queues()
            .send()
            .await
            .map_err(|e| format!("ListQueues: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

impl Bench<'_> {
    /// Every `--delayed` endpoint in turn, after the loopback figures.
    pub(crate) async fn delayed_all(&mut self, report: &mut report::Report) -> Result<(), String> {
        let loopback_ms = round_trip_ms(&self.client).await?;
        for (rtt, endpoint) in self.args.delayed.clone() {
            self.client = raw::client(&endpoint);
            self.connection =
                connector::connection_named(&format!("bench-conn-rtt{rtt}"), &endpoint);
            self.boto3.endpoint = endpoint.clone();
            self.boto3.concurrency = self.args.concurrency;
            self.server_pid = self.args.delayed_server_pid;
            // The execute calls in flight share the requests, as the drains' executions do, so
            // the connector has as many SendMessageBatch calls in flight as the raw SDK.
            self.shared_requests = true;
            let measured_ms = round_trip_ms(&self.client).await?;
            say(format!(
                "latency-bound, {rtt} ms round trip ({endpoint}): a ListQueues call takes {measured_ms:.2} ms (median of {ROUND_TRIP_CALLS}; {loopback_ms:.2} ms on loopback)"
            ));
            let proxy = self
                .args
                .delay_proxy_pids
                .iter()
                .find(|(of, _)| *of == rtt)
                .map(|(_, pid)| *pid);
            let proxy_before = proxy.and_then(crate::cpu::process_seconds);
            let (sweep, rows) = self.delayed(rtt).await?;
            let proxy_cpu_seconds = proxy
                .and_then(crate::cpu::process_seconds)
                .zip(proxy_before)
                .map(|(after, before)| after - before);
            // Every contender's runs went through the proxy: four SENDs and five drains, and the
            // sweep's SENDs.
            let runs = 9 + sweep.rows.len();
            let messages = (runs * self.n() * self.args.repetitions) as u64;
            report.delayed.push(Delayed {
                rtt_ms: rtt,
                measured_ms,
                loopback_ms,
                rows,
                sweep,
                proxy_cpu_seconds,
                messages,
            });
        }
        Ok(())
    }

    /// The figures at one round trip: the plugin's execute-call sizes first (at a round trip
    /// the size that keeps the requests busy differs from loopback's), then every contender.
    async fn delayed(&self, rtt: u32) -> Result<(Sweep, Vec<Row>), String> {
        self.warm_up().await?;
        let sweep = self
            .sweep(&format!(
                "{rtt} ms round trip: execute-call sizes (plugin SEND)"
            ))
            .await?;
        let (chunk, in_flight) = sweep.chosen;
        let c = self.args.concurrency;
        let n = format!("{} msgs", report::thousands(self.n() as u64));
        let title = format!("{rtt} ms round trip: SEND");
        let sends = self
            .rounds_with_other(
                &title,
                &[
                    SendBy::RawBest,
                    SendBy::Plugin,
                    SendBy::InProcess,
                    SendBy::Boto3,
                ],
                &[],
                async |contender| self.send_once(contender, chunk, in_flight).await,
            )
            .await?;
        let title = format!("{rtt} ms round trip: RECEIVE with delete, and LISTEN");
        let drains = self
            .rounds_with_other(
                &title,
                &[
                    DrainBy::RawBest,
                    DrainBy::Plugin,
                    DrainBy::InProcess,
                    DrainBy::Boto3,
                    DrainBy::Listen,
                ],
                &[],
                async |contender| self.drain_once(contender).await,
            )
            .await?;
        let mut sends = sends.into_iter();
        let mut drains = drains.into_iter();
        let chunking = format!("{chunk} documents per execute call, {in_flight} in flight");
        let per_drain = (c / RECEIVE_CALLS_IN_FLIGHT).max(1);
        let shape = self.listen_shape();
        let rows = vec![
            Row::rates(
                "SEND",
                "send-raw",
                &format!("Baseline: raw aws-sdk-sqs, SendMessageBatch of 10, {c} calls in flight"),
                &n,
                sends.next().unwrap_or_default(),
                None,
            ),
            Row::rates(
                "SEND",
                "send-plugin",
                &format!(
                    "Connector SEND through the plugin ({chunking}, maxConcurrentRequests {} each)",
                    self.send_requests(in_flight)
                ),
                &n,
                sends.next().unwrap_or_default(),
                Some("send-raw"),
            ),
            Row::rates(
                "SEND",
                "send-in-process",
                "Connector SEND in-process (`Connector::execute`, the same settings)",
                &n,
                sends.next().unwrap_or_default(),
                Some("send-raw"),
            ),
            Row::rates(
                "SEND",
                "send-boto3",
                &format!("boto3 send_message_batch of 10, {c} threads sharing one client"),
                &n,
                sends.next().unwrap_or_default(),
                Some("send-raw"),
            ),
            Row::rates(
                "RECEIVE + delete",
                "drain-raw",
                &format!(
                    "Baseline: raw aws-sdk-sqs, {c} workers of ReceiveMessage (10) + DeleteMessageBatch"
                ),
                &n,
                drains.next().unwrap_or_default(),
                None,
            ),
            Row::rates(
                "RECEIVE + delete",
                "drain-plugin",
                &format!(
                    "Connector RECEIVE through the plugin (executions of maxMessages {}, {} in flight, maxConcurrentRequests {per_drain} each, deleteAfterRead)",
                    RECEIVE_PER_CALL, RECEIVE_CALLS_IN_FLIGHT
                ),
                &n,
                drains.next().unwrap_or_default(),
                Some("drain-raw"),
            ),
            Row::rates(
                "RECEIVE + delete",
                "drain-in-process",
                "Connector RECEIVE in-process (`Connector::execute`, the same executions)",
                &n,
                drains.next().unwrap_or_default(),
                Some("drain-raw"),
            ),
            Row::rates(
                "RECEIVE + delete",
                "drain-boto3",
                &format!(
                    "boto3 receive_message (10) + delete_message_batch, {c} threads sharing one client"
                ),
                &n,
                drains.next().unwrap_or_default(),
                Some("drain-raw"),
            ),
            Row::rates(
                "LISTEN",
                "listen-plugin",
                &format!(
                    "Connector LISTEN through the plugin (pollers {}, maxConcurrentBatches {}, waitTimeSeconds {}), answered at once, until the drained stop",
                    shape.pollers, shape.max_concurrent_batches, shape.wait_seconds
                ),
                &n,
                drains.next().unwrap_or_default(),
                Some("drain-raw"),
            ),
        ];
        Ok((sweep, rows))
    }
}
