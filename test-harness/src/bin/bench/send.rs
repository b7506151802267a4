//! The SEND scenario: the execute-call sweep of the plugin, then SEND by every contender (the raw
//! SDK's best and sequential calls, the plugin, in-process, boto3), and their report rows.

use crate::connector::{self, Host};
use crate::contenders::{Bench, SendBy};
use crate::report::{self, Report, Row, Sample, Sweep};
use crate::{cpu, raw, say};

impl Bench<'_> {
    /// Plugin SENDs of every document per chunking, `repetitions` runs each (interleaved);
    /// returns each chunking's row and the chunking with the best median.
    pub(crate) async fn sweep(&self, title: &str) -> Result<Sweep, String> {
        let mut options: Vec<(usize, usize)> = Vec::new();
        for &size in &self.args.chunk_sizes {
            for &in_flight in &self.args.calls_in_flight {
                options.push((size, in_flight.max(1)));
            }
        }
        options.push((self.n(), 1));
        let runs = self
            .rounds(
                title,
                &options,
                |(size, in_flight)| format!("{size} documents per call, {in_flight} in flight"),
                async |(size, in_flight)| self.send_once(SendBy::Plugin, size, in_flight).await,
            )
            .await?;
        let mut sweep = Sweep {
            rows: Vec::new(),
            chosen: (self.n(), 1),
        };
        let mut best = 0.0;
        for (&(size, in_flight), samples) in options.iter().zip(runs) {
            let row = Row::rates("sweep", "sweep", "", "", samples, None);
            if row.median() > best {
                best = row.median();
                sweep.chosen = (size, in_flight);
            }
            sweep.rows.push((size, in_flight, row));
        }
        say(format!(
            "chosen: execute calls of {} documents, {} in flight",
            sweep.chosen.0, sweep.chosen.1
        ));
        Ok(sweep)
    }

    /// One SEND of the messages by `contender` on a fresh queue (with `chunk` documents per
    /// execute call, `in_flight` at once, for the connector), checked by the queue's count.
    pub(crate) async fn send_once(
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
                let op = self.send_operation(&queue, in_flight);
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

    /// [`Bench::rounds_with_other`] of the SEND contenders; their rows in `report`.
    pub(crate) async fn sends(
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
}
