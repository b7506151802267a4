//! LISTEN through the plugin against moto: 1,000 messages, one in ten failing once, are each
//! processed successfully exactly once in the end while failed ones come back; the heartbeat
//! keeps a slow batch's messages from being delivered twice (and without it they are); a drained
//! stop leaves nothing in flight; a killed plugin's messages go to a second listener; FIFO
//! groups keep their order across failures; shutdown releases what waits; a deleted queue is
//! reported as retrying.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_sdk::ResultStatus;
use connector_sdk::host::{
    BatchResult, ListenBatchParams, ListenBatchResult, ListenHandler, ListenParams,
    ListenStatusParams, RpcError,
};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::json;
use support::*;

/// The tests share one moto server, which serves one request at a time: run together, the
/// 1,000-message test would slow the heartbeat test's calls past its 2 s visibility timeout.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the test's process saw: every delivery of every message, by body.
#[derive(Default)]
struct Seen {
    /// Body → how many times it was delivered, and how many times it succeeded.
    deliveries: HashMap<String, (u32, u32)>,
    /// Body → the receive counts SQS gave it, in delivery order.
    receive_counts: HashMap<String, Vec<u32>>,
    /// How many batches were answered.
    batches: u32,
    statuses: Vec<ListenStatusParams>,
}

/// A process that takes `delay` per batch and fails a document the first time it sees it when
/// `fail_first` says so.
struct Process {
    seen: Arc<Mutex<Seen>>,
    delay: Duration,
    fail_first: fn(&str) -> bool,
}

impl ListenHandler for Process {
    fn batch(
        &self,
        batch: ListenBatchParams,
    ) -> BoxFuture<'static, Result<ListenBatchResult, RpcError>> {
        let seen = self.seen.clone();
        let delay = self.delay;
        let fail_first = self.fail_first;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let mut seen = seen.lock();
            seen.batches += 1;
            let results = batch
                .documents
                .iter()
                .enumerate()
                .map(|(index, document)| {
                    let body = String::from_utf8_lossy(&document.data).into_owned();
                    let count = document
                        .properties
                        .get("sqs.approximateReceiveCount")
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    seen.receive_counts
                        .entry(body.clone())
                        .or_default()
                        .push(count);
                    let entry = seen.deliveries.entry(body.clone()).or_default();
                    entry.0 += 1;
                    let status = if entry.0 == 1 && fail_first(&body) {
                        ResultStatus::Failure
                    } else {
                        entry.1 += 1;
                        ResultStatus::Success
                    };
                    BatchResult {
                        index,
                        status,
                        message: None,
                    }
                })
                .collect();
            Ok(ListenBatchResult::new(results))
        })
    }

    fn status(&self, status: ListenStatusParams) {
        self.seen.lock().statuses.push(status);
    }
}

fn listen_params(id: &str, queue: &str, fields: serde_json::Value) -> ListenParams {
    let mut all = json!({"queue": queue, "waitTimeSeconds": 1});
    for (key, value) in fields.as_object().unwrap() {
        all[key] = value.clone();
    }
    ListenParams {
        listener_id: id.to_owned(),
        connection: moto_connection("conn-listen"),
        operation: operation(&format!("op-{id}"), "LISTEN", all),
    }
}

/// Waits until every body succeeded at least once (at most `seconds`), then stops the listener
/// with drain.
async fn stop_once_all_succeeded(
    plugin: &connector_sdk::host::PluginProcess,
    listener_id: &str,
    seen: &Mutex<Seen>,
    bodies: &[String],
    seconds: u64,
) {
    wait_until(
        Duration::from_secs(seconds),
        "every message succeeded",
        || {
            let seen = seen.lock();
            bodies
                .iter()
                .all(|b| seen.deliveries.get(b).is_some_and(|(_, ok)| *ok >= 1))
        },
    )
    .await;
    plugin
        .listen_stop(listener_id, true, Duration::from_secs(30))
        .await
        .expect("the listener stops");
}

/// Waits until `done` holds (at most `limit`).
async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_message_succeeds_exactly_once_and_failed_ones_come_back() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const COUNT: usize = 1000;
    let queue = create_queue(&unique_queue("listen-once"), &[]).await;
    let bodies: Vec<String> = (0..COUNT).map(|i| format!("listen-{i}")).collect();
    send_bodies(&queue, &bodies).await;
    let plugin = start_plugin().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let process = Arc::new(Process {
        seen: seen.clone(),
        delay: Duration::ZERO,
        // One in ten fails the first time.
        fail_first: |body| body.ends_with('7'),
    });
    let params = listen_params(
        "l-once",
        &queue,
        json!({"visibilityTimeoutSeconds": 30, "maxConcurrentBatches": 2}),
    );
    plugin
        .listen(&params, process)
        .await
        .expect("the listener polls");
    stop_once_all_succeeded(&plugin, "l-once", &seen, &bodies, 240).await;
    {
        let seen = seen.lock();
        for body in &bodies {
            let (delivered, succeeded) = seen.deliveries[body];
            assert_eq!(succeeded, 1, "{body} succeeded {succeeded} times");
            if body.ends_with('7') {
                assert_eq!(delivered, 2, "{body}: failed once, then delivered again");
                assert_eq!(seen.receive_counts[body], [1, 2], "{body}");
            } else {
                assert_eq!(delivered, 1, "{body} delivered {delivered} times");
            }
        }
        assert!(seen.batches >= (COUNT / 10) as u32);
    }
    let depth = queue_depth(&queue).await;
    assert_eq!(
        depth,
        (0, 0),
        "nothing left on the queue; the plugin's warnings:\n{}",
        plugin_warnings(&plugin)
    );
}

/// The plugin's log lines at warning level or above, for a failure's message.
fn plugin_warnings(plugin: &connector_sdk::host::PluginProcess) -> String {
    plugin
        .logs()
        .into_iter()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A process slower than the visibility timeout: with the heartbeat no message is delivered
/// again while its batch waits; without it, they are.
#[tokio::test(flavor = "multi_thread")]
async fn the_heartbeat_keeps_a_slow_batch_from_being_delivered_twice() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut duplicates = Vec::new();
    for heartbeat in [true, false] {
        let queue = create_queue(&unique_queue("listen-heartbeat"), &[]).await;
        let bodies: Vec<String> = (0..5).map(|i| format!("slow-{i}")).collect();
        send_bodies(&queue, &bodies).await;
        let plugin = start_plugin().await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let process = Arc::new(Process {
            seen: seen.clone(),
            delay: Duration::from_secs(5),
            fail_first: |_| false,
        });
        let id = format!("l-heartbeat-{heartbeat}");
        let params = listen_params(
            &id,
            &queue,
            json!({"visibilityTimeoutSeconds": 2, "heartbeat": heartbeat,
                   "maxConcurrentBatches": 4}),
        );
        plugin
            .listen(&params, process)
            .await
            .expect("the listener polls");
        stop_once_all_succeeded(&plugin, &id, &seen, &bodies, 30).await;
        let delivered_again: u32 = {
            let seen = seen.lock();
            bodies.iter().map(|b| seen.deliveries[b].0 - 1).sum()
        };
        duplicates.push(delivered_again);
    }
    assert_eq!(duplicates[0], 0, "with the heartbeat no message came twice");
    assert!(
        duplicates[1] > 0,
        "without the heartbeat a message slower than its visibility timeout comes again"
    );
}

/// A stop with drain waits for the batches in flight: their answers are committed, nothing
/// stays hidden, nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_drained_stop_commits_what_was_in_flight_and_loses_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let queue = create_queue(&unique_queue("listen-drain"), &[]).await;
    let bodies: Vec<String> = (0..20).map(|i| format!("drain-{i}")).collect();
    send_bodies(&queue, &bodies).await;
    let plugin = start_plugin().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let process = Arc::new(Process {
        seen: seen.clone(),
        delay: Duration::from_secs(2),
        fail_first: |_| false,
    });
    let params = listen_params(
        "l-drain",
        &queue,
        json!({"visibilityTimeoutSeconds": 60, "maxMessages": 5, "maxConcurrentBatches": 2}),
    );
    plugin
        .listen(&params, process)
        .await
        .expect("the listener polls");
    wait_until(Duration::from_secs(20), "a first batch", || {
        seen.lock().batches >= 1
    })
    .await;
    plugin
        .listen_stop("l-drain", true, Duration::from_secs(30))
        .await
        .expect("the listener stops");
    let succeeded: u32 = seen.lock().deliveries.values().map(|(_, ok)| ok).sum();
    // Everything delivered was committed; what was never delivered is still visible.
    let (visible, hidden) = queue_depth(&queue).await;
    assert_eq!(hidden, 0, "nothing is left in flight after a drained stop");
    assert_eq!(
        visible + u64::from(succeeded),
        bodies.len() as u64,
        "every message was processed or is still on the queue"
    );
    assert!(succeeded >= 5, "{succeeded}");
}

/// A plugin killed while its batch waits for the process: nothing was committed, so every
/// message comes back after its visibility timeout and a second listener processes them all.
#[tokio::test(flavor = "multi_thread")]
async fn messages_of_a_plugin_killed_mid_batch_are_processed_by_a_second_listener() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let queue = create_queue(&unique_queue("listen-killed"), &[]).await;
    let bodies: Vec<String> = (0..12).map(|i| format!("killed-{i}")).collect();
    send_bodies(&queue, &bodies).await;

    let first = start_plugin().await;
    let never = Arc::new(Process {
        seen: Arc::new(Mutex::new(Seen::default())),
        delay: Duration::from_secs(3600),
        fail_first: |_| false,
    });
    let fields = json!({"visibilityTimeoutSeconds": 3, "heartbeat": false});
    first
        .listen(&listen_params("l-first", &queue, fields.clone()), never)
        .await
        .expect("the first listener polls");
    wait_until(Duration::from_secs(20), "messages in flight", || {
        queue_depth_blocking(&queue).1 > 0
    })
    .await;
    first.kill().await;

    let second = start_plugin().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let process = Arc::new(Process {
        seen: seen.clone(),
        delay: Duration::ZERO,
        fail_first: |_| false,
    });
    second
        .listen(&listen_params("l-second", &queue, fields), process)
        .await
        .expect("the second listener polls");
    stop_once_all_succeeded(&second, "l-second", &seen, &bodies, 40).await;
    assert_eq!(
        queue_depth(&queue).await,
        (0, 0),
        "nothing left on the queue"
    );
}

/// A FIFO queue: a message that fails is delivered again before the later messages of its group
/// are settled, so each group's messages are finally processed in order.
#[tokio::test(flavor = "multi_thread")]
async fn fifo_groups_keep_their_order_across_failures() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let name = format!("{}.fifo", unique_queue("listen-fifo"));
    let queue = create_queue(
        &name,
        &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")],
    )
    .await;
    for group in 0..3 {
        for index in 0..6 {
            sqs_client()
                .send_message()
                .queue_url(&queue)
                .message_group_id(format!("g{group}"))
                .message_body(format!("g{group}-{index}"))
                .send()
                .await
                .expect("sent");
        }
    }
    let plugin = start_plugin().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    struct Ordered {
        inner: Process,
        order: Arc<Mutex<Vec<String>>>,
    }
    impl ListenHandler for Ordered {
        fn batch(
            &self,
            batch: ListenBatchParams,
        ) -> BoxFuture<'static, Result<ListenBatchResult, RpcError>> {
            let order = self.order.clone();
            let bodies: Vec<String> = batch
                .documents
                .iter()
                .map(|d| String::from_utf8_lossy(&d.data).into_owned())
                .collect();
            let answer = self.inner.batch(batch);
            Box::pin(async move {
                let answer = answer.await?;
                let mut order = order.lock();
                for result in &answer.results {
                    if result.status == ResultStatus::Success {
                        order.push(bodies[result.index].clone());
                    }
                }
                Ok(answer)
            })
        }
    }
    let handler = Arc::new(Ordered {
        inner: Process {
            seen: seen.clone(),
            delay: Duration::ZERO,
            fail_first: |body| body == "g1-2",
        },
        order: order.clone(),
    });
    plugin
        .listen(
            &listen_params("l-fifo", &queue, json!({"visibilityTimeoutSeconds": 30})),
            handler,
        )
        .await
        .expect("the listener polls");
    wait_until(Duration::from_secs(40), "the queue drained", || {
        queue_depth_blocking(&queue) == (0, 0) && seen.lock().batches > 0
    })
    .await;
    plugin
        .listen_stop("l-fifo", true, Duration::from_secs(30))
        .await
        .expect("the listener stops");
    // The last successful processing of each message, per group, in order of time.
    let order = order.lock().clone();
    for group in 0..3 {
        let prefix = format!("g{group}-");
        let mut last: Vec<(usize, String)> = Vec::new();
        for (at, body) in order.iter().enumerate() {
            if body.starts_with(&prefix) {
                last.retain(|(_, b)| b != body);
                last.push((at, body.clone()));
            }
        }
        let bodies: Vec<String> = last.into_iter().map(|(_, b)| b).collect();
        let expected: Vec<String> = (0..6).map(|i| format!("g{group}-{i}")).collect();
        assert_eq!(bodies, expected, "group g{group} in order: {order:?}");
    }
    assert_eq!(seen.lock().deliveries["g1-2"].0, 2, "g1-2 failed once");
}

/// The queue's (visible, in flight) counts, from a synchronous context.
fn queue_depth_blocking(queue: &str) -> (u64, u64) {
    let queue = queue.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(queue_depth(&queue))
    })
    .join()
    .unwrap()
}

/// `shutdown` with a batch still waiting: the listener drains for its grace period, then
/// releases what it holds, so another consumer gets those messages at once (not after their
/// visibility timeout).
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_releases_what_is_still_waiting_after_the_grace_period() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let queue = create_queue(&unique_queue("listen-shutdown"), &[]).await;
    let bodies: Vec<String> = (0..5).map(|i| format!("shutdown-{i}")).collect();
    send_bodies(&queue, &bodies).await;
    let plugin = start_plugin().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let never = Arc::new(Process {
        seen: seen.clone(),
        delay: Duration::from_secs(3600),
        fail_first: |_| false,
    });
    plugin
        .listen(
            &listen_params(
                "l-shutdown",
                &queue,
                json!({"visibilityTimeoutSeconds": 600}),
            ),
            never,
        )
        .await
        .expect("the listener polls");
    wait_until(Duration::from_secs(20), "messages in flight", || {
        queue_depth_blocking(&queue).1 == bodies.len() as u64
    })
    .await;
    let started = Instant::now();
    plugin.shutdown().await.expect("the plugin shuts down");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "shutdown took {took:?}");
    assert_eq!(
        queue_depth(&queue).await,
        (bodies.len() as u64, 0),
        "every message is visible again at once"
    );
}

/// A listener whose queue goes away tells the host it is retrying, with the cause, and keeps
/// running until stopped.
#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_queue_is_reported_as_retrying_and_the_listener_stops_when_told() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let queue = create_queue(&unique_queue("listen-deleted"), &[]).await;
    let plugin = start_plugin().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let process = Arc::new(Process {
        seen: seen.clone(),
        delay: Duration::ZERO,
        fail_first: |_| false,
    });
    plugin
        .listen(&listen_params("l-deleted", &queue, json!({})), process)
        .await
        .expect("the listener polls");
    sqs_client()
        .delete_queue()
        .queue_url(&queue)
        .send()
        .await
        .expect("deleted");
    wait_until(Duration::from_secs(20), "a retrying status", || {
        seen.lock()
            .statuses
            .iter()
            .any(|s| s.state == connector_sdk::host::ListenerState::Retrying)
    })
    .await;
    let retrying = seen
        .lock()
        .statuses
        .iter()
        .find(|s| s.state == connector_sdk::host::ListenerState::Retrying)
        .cloned()
        .unwrap();
    assert!(
        retrying.message.contains("does not exist") && retrying.message.contains("again in"),
        "{retrying:?}"
    );
    plugin
        .listen_stop("l-deleted", false, Duration::from_secs(30))
        .await
        .expect("the listener stops");
    assert!(
        seen.lock()
            .statuses
            .iter()
            .any(|s| s.state == connector_sdk::host::ListenerState::Stopped),
        "a stopped status at the end"
    );
}
