//! What every contender shares: the suite's state (clients, plugin processes, messages), the
//! contenders of SEND and of the drains, the rounds that interleave them, the timing, and the
//! untimed warm-up.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use connector_sdk::host::PluginProcess;
use connector_sdk::{Component, Connector, Document};

use crate::connector::{self, Host};
use crate::drain::drained;
use crate::messages::Message;
use crate::python::Boto3;
use crate::report::Sample;
use crate::{Args, cpu, raw, say};

/// What every contender shares.
pub(crate) struct Bench<'a> {
    pub args: &'a Args,
    pub client: aws_sdk_sqs::Client,
    pub messages: Vec<Message>,
    pub documents: Vec<Document>,
    pub plugin: PluginProcess,
    pub other_plugin: Option<PluginProcess>,
    pub in_process: Connector,
    pub connection: Component,
    pub boto3: Boto3,
    pub queues: AtomicUsize,
    /// The process id of the server measured against.
    pub server_pid: Option<u32>,
    /// Whether SEND's execute calls in flight share the `--concurrency` requests (the
    /// latency-bound scenario: as many SendMessageBatch calls in flight as the raw SDK's) or
    /// each have them all (loopback).
    pub shared_requests: bool,
}

/// Messages per RECEIVE execution in the drains.
pub(crate) const RECEIVE_PER_CALL: usize = 2_000;
/// RECEIVE executions in flight in the drains.
pub(crate) const RECEIVE_CALLS_IN_FLIGHT: usize = 2;

/// The SEND contenders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendBy {
    RawBest,
    Plugin,
    OtherPlugin,
    InProcess,
    RawSequential,
    Boto3,
}

/// The RECEIVE-with-delete contenders, and LISTEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DrainBy {
    RawBest,
    Plugin,
    OtherPlugin,
    Listen,
    OtherListen,
    InProcess,
    Boto3,
}

impl Bench<'_> {
    /// Messages per SEND and per drain.
    pub(crate) fn n(&self) -> usize {
        self.args.messages
    }

    /// A fresh queue, named after `tag`; returns its URL.
    pub(crate) async fn queue(&self, tag: &str) -> Result<String, String> {
        let n = self.queues.fetch_add(1, Ordering::Relaxed);
        raw::create_queue(
            &self.client,
            &format!("bench-{tag}-{}-{n}", std::process::id()),
        )
        .await
    }

    /// The SEND operation's maxConcurrentRequests with `in_flight` execute calls at once.
    pub(crate) fn send_requests(&self, in_flight: usize) -> usize {
        match self.shared_requests {
            true => (self.args.concurrency / in_flight.max(1)).max(1),
            false => self.args.concurrency,
        }
    }

    /// The SEND operation to `queue`, for `in_flight` execute calls at once.
    pub(crate) fn send_operation(&self, queue: &str, in_flight: usize) -> Component {
        let n = self.queues.load(Ordering::Relaxed);
        connector::send_operation(
            &format!("bench-op-send-{n}"),
            queue,
            self.send_requests(in_flight),
        )
    }

    /// The RECEIVE of every message of `queue`, deleting what it read, `concurrency` reads in
    /// flight.
    pub(crate) fn receive_operation(&self, queue: &str) -> Component {
        let n = self.queues.load(Ordering::Relaxed);
        connector::receive_operation(
            &format!("bench-op-receive-{n}"),
            queue,
            self.args.concurrency,
        )
    }

    /// The RECEIVE of the drains: RECEIVE_PER_CALL messages per execution, the raw drain's
    /// workers shared between the executions in flight.
    pub(crate) fn drain_operation(&self, queue: &str) -> Component {
        let n = self.queues.load(Ordering::Relaxed);
        connector::receive_operation_of(
            &format!("bench-op-drain-{n}"),
            queue,
            (self.args.concurrency / RECEIVE_CALLS_IN_FLIGHT).max(1),
            RECEIVE_PER_CALL as i64,
        )
    }

    /// The `--compare-plugin` build's host, or with `--compare-outputs-full` the plugin's
    /// asking for full outputs (its contender is measured only with one of them).
    pub(crate) fn other_host(&self) -> Host<'_> {
        match self.args.compare_outputs_full {
            true => Host::PluginFull(&self.plugin),
            false => Host::Plugin(self.other_plugin()),
        }
    }

    /// The `--compare-plugin` build's process (the plugin's when there is none).
    pub(crate) fn other_plugin(&self) -> &PluginProcess {
        self.other_plugin.as_ref().unwrap_or(&self.plugin)
    }

    /// The LISTEN contender's shape: the raw drain's workers as pollers, twice as many batches
    /// waiting at most (so a poller seldom waits for a place).
    pub(crate) fn listen_shape(&self) -> connector::ListenShape {
        let pollers = self.args.concurrency.clamp(1, 16);
        connector::ListenShape {
            pollers,
            max_concurrent_batches: (2 * pollers).min(64),
            wait_seconds: self.args.listen_wait_seconds,
        }
    }

    /// LISTEN through `plugin` until every message of `queue` was answered and the drained stop
    /// came back; returns how many documents were answered.
    pub(crate) async fn listen(
        &self,
        plugin: &PluginProcess,
        queue: &str,
        n: usize,
    ) -> Result<usize, String> {
        let serial = self.queues.fetch_add(1, Ordering::Relaxed);
        let id = format!("bench-listen-{serial}");
        let op = connector::listen_operation(&format!("bench-op-{id}"), queue, self.listen_shape());
        connector::listen_drain(plugin, &id, &self.connection, &op, n).await
    }

    /// The process id of the server measured against, if known.
    pub(crate) fn server(&self) -> Option<u32> {
        self.server_pid
    }

    /// `repetitions` rounds of `runs`, interleaved (round 1 of each, then round 2, ...), each run
    /// printed with its `name`; the samples of each, in the order of `runs`. Even rounds run the
    /// contenders in reverse order: a contender measured right after another tends to do better
    /// or worse for it (seen in A/B runs of two plugin builds), and alternating evens that out.
    pub(crate) async fn rounds<T: Copy>(
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
    pub(crate) async fn rounds_with_other<T: Copy + PartialEq + std::fmt::Debug>(
        &self,
        title: &str,
        contenders: &[T],
        others: &[(T, T)],
        run: impl AsyncFn(T) -> Result<Sample, String>,
    ) -> Result<Vec<Vec<Sample>>, String> {
        let compared = self.other_plugin.is_some() || self.args.compare_outputs_full;
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
    pub(crate) async fn timed<F>(&self, count: usize, work: F) -> Result<Sample, String>
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

    /// Opens every client's connections and fills the caches (queue URLs and limits, built
    /// connections) once, untimed.
    pub(crate) async fn warm_up(&self) -> Result<(), String> {
        say("warming up every contender");
        let c = self.args.concurrency;
        let warm = self.queue("warmup").await?;
        raw::send_batches(&self.client, &warm, &self.messages[..1_000], c).await?;
        raw::send_sequential(&self.client, &warm, &self.messages[..100]).await?;
        let op = self.send_operation(&warm, 2);
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
}
