//! The RECEIVE-with-delete and LISTEN scenario: every contender drains a full queue (the raw
//! SDK's best, RECEIVE through the plugin and in-process, boto3, LISTEN), and their report rows.

use crate::connector::{self, Host};
use crate::contenders::{Bench, DrainBy, RECEIVE_CALLS_IN_FLIGHT, RECEIVE_PER_CALL};
use crate::report::{self, Report, Row, Sample};
use crate::{cpu, raw};

/// Fails unless a drain returned `wanted` messages.
pub(crate) fn drained(contender: DrainBy, wanted: usize, got: usize) -> Result<(), String> {
    if got == wanted {
        Ok(())
    } else {
        Err(format!(
            "{contender:?} drained {got} messages instead of {wanted}"
        ))
    }
}

impl Bench<'_> {
    /// One drain by `contender` of a queue filled with the messages, checked to end empty.
    pub(crate) async fn drain_once(&self, contender: DrainBy) -> Result<Sample, String> {
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

    /// [`Bench::rounds_with_other`] of the drain contenders and LISTEN; their rows in `report`.
    pub(crate) async fn drains(&self, report: &mut Report) -> Result<(), String> {
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
