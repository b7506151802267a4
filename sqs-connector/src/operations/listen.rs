//! LISTEN: receives messages as they arrive and hands each batch to the host's process
//! (protocol 1.1 `listen/batch`); settles each message by the process's answer: deleted when it
//! succeeded, made visible again when it failed (`AT_LEAST_ONCE`), or left to the process
//! (`PROCESS_MANAGED`). While a batch waits, a heartbeat keeps its messages hidden.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName};
use connector_sdk::listen::{BatchResult, ListenerState};
use connector_sdk::listen::{DeliveryError, ListenContext, Listener};
use connector_sdk::{ConnectorError, Document, OperationInfo, ResultStatus};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::batching::MAX_BATCH_ENTRIES;
use super::receive::{OUTPUT, Wanted, delete_received, message_document, verify};
use crate::config::{CommitStrategy, ListenConfig, SystemAttribute};
use crate::connection::SqsConnection;
use crate::errors::SqsFailure;
use crate::message::attributes_from_sqs;
use crate::queue::Queue;

/// SQS keeps a received message hidden for at most 12 hours from its receipt.
const MAX_HIDDEN: Duration = Duration::from_secs(43_200);

/// The longest wait between two receives after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The LISTEN operation.
#[derive(Debug)]
pub struct ListenOperation {
    config: ListenConfig,
    wanted: Wanted,
}

/// One received message's handles.
struct Receipt {
    message_id: String,
    receipt_handle: String,
    group: Option<String>,
}

/// A batch received and waiting for the process's answer; it holds its place among the
/// concurrent batches until settled.
struct Received {
    documents: Vec<Document>,
    receipts: Vec<Receipt>,
    at: Instant,
    _place: OwnedSemaphorePermit,
}

/// Where the listener reads and what it was told.
struct Source {
    queue: Queue,
    queue_url: String,
    visibility: Duration,
}

impl Listener for ListenOperation {
    type Connection = SqsConnection;
    type Config = ListenConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "LISTEN",
            label: "Listen",
            description: "Receive messages as they arrive and run the process for each batch; \
                          each message is deleted when the process succeeded with it and \
                          delivered again when it failed.",
            takes_input: false,
            input_properties: &[],
            output_properties: OUTPUT,
        }
    }

    fn build(config: ListenConfig) -> Result<Self, ConnectorError> {
        // A FIFO queue's rule (a message after a failed one of its group is released too) needs
        // each message's group: always asked for.
        let mut system = config.system_attributes.clone();
        system.push(SystemAttribute::MessageGroupId);
        let wanted = Wanted::new(
            &system,
            &config.message_attributes,
            config.return_sequence_number,
        )?;
        Ok(Self { config, wanted })
    }

    async fn listen(
        &self,
        ctx: &ListenContext,
        connection: &SqsConnection,
    ) -> Result<(), ConnectorError> {
        // What cannot work is the answer to `listen`: nothing polls yet.
        let queue = connection.queue(&self.config.queue).await?;
        let visibility = match self.config.visibility_timeout_seconds {
            Some(seconds) => Duration::from_secs(seconds.into()),
            None => queue_visibility(&queue).await?,
        };
        let source = Source {
            queue_url: queue.url.clone(),
            queue,
            visibility,
        };
        ctx.ready();
        ctx.status(
            ListenerState::Polling,
            format!("listening to {}", source.queue_url),
            None,
        );
        let places = Arc::new(Semaphore::new(self.config.max_concurrent_batches as usize));
        let (received, mut batches) = mpsc::channel::<Received>(64);
        // Polled as they wake (a join of every poller would poll all of them on each wake).
        let mut pollers: FuturesUnordered<_> = (0..self.config.pollers)
            .map(|_| self.poll(ctx, &source, &places, received.clone()))
            .collect();
        drop(received);
        let pollers = async { while pollers.next().await.is_some() {} };
        let settling = async {
            let mut waiting = FuturesUnordered::new();
            loop {
                tokio::select! {
                    batch = batches.recv() => match batch {
                        Some(batch) => waiting.push(self.settle(ctx, &source, batch)),
                        None => break,
                    },
                    Some(()) = waiting.next(), if !waiting.is_empty() => {}
                }
            }
            while waiting.next().await.is_some() {}
        };
        tokio::join!(pollers, settling);
        Ok(())
    }
}

impl ListenOperation {
    /// One receive loop: a batch at a time, while there is a place for it, until stopped.
    async fn poll(
        &self,
        ctx: &ListenContext,
        source: &Source,
        places: &Arc<Semaphore>,
        received: mpsc::Sender<Received>,
    ) {
        let mut failures: u32 = 0;
        loop {
            let place = tokio::select! {
                biased;
                () = ctx.stopping().cancelled() => return,
                place = places.clone().acquire_owned() => match place {
                    Ok(place) => place,
                    Err(_) => return,
                },
            };
            // A receive is not cut short by a stop (it waits at most 20 s): what it brings is
            // then released at once rather than left hidden.
            let request = source
                .queue
                .client()
                .receive_message()
                .queue_url(&source.queue_url)
                .max_number_of_messages(self.config.max_messages as i32)
                .wait_time_seconds(self.config.wait_time_seconds as i32)
                .visibility_timeout(source.visibility.as_secs() as i32);
            let answer = self.wanted.apply(request).send().await;
            let messages = match answer {
                Ok(answer) => {
                    if failures > 0 {
                        ctx.status(
                            ListenerState::Polling,
                            format!("receiving from {} again", source.queue_url),
                            None,
                        );
                    }
                    failures = 0;
                    answer.messages.unwrap_or_default()
                }
                Err(err) => {
                    drop(place);
                    failures += 1;
                    let error = source.queue.error(SqsFailure::classify(&err));
                    let backoff = backoff(failures);
                    ctx.status(
                        ListenerState::Retrying,
                        format!(
                            "{}; receiving again in {} s",
                            error.display_chain(),
                            backoff.as_secs()
                        ),
                        Some(error.kind().as_str()),
                    );
                    tokio::select! {
                        () = ctx.stopping().cancelled() => return,
                        () = tokio::time::sleep(backoff) => continue,
                    }
                }
            };
            if messages.is_empty() {
                continue;
            }
            let at = Instant::now();
            let mut documents = Vec::with_capacity(messages.len());
            let mut receipts = Vec::with_capacity(messages.len());
            for message in messages {
                let message_id = message.message_id().unwrap_or_default().to_owned();
                let Some(receipt_handle) = message.receipt_handle().map(str::to_owned) else {
                    continue;
                };
                if let Some(problem) = verify(
                    &message,
                    &attributes_from_sqs(message.message_attributes()),
                    self.wanted.all_message_attributes(),
                ) {
                    // Left hidden, not handed on: SQS delivers it again after its visibility
                    // timeout (a corrupted answer is rare and passes).
                    tracing::error!(queue = %source.queue_url, message = %message_id, problem, "a received message failed MD5 verification; it is not handed to the process");
                    continue;
                }
                let group = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned();
                receipts.push(Receipt {
                    message_id,
                    receipt_handle,
                    group,
                });
                documents.push(message_document(message, &source.queue_url, &self.wanted));
            }
            if receipts.is_empty() {
                continue;
            }
            let batch = Received {
                documents,
                receipts,
                at,
                _place: place,
            };
            if ctx.stopping().is_cancelled() {
                release(source, &batch.receipts, Duration::ZERO).await;
                return;
            }
            if let Err(mpsc::error::SendError(batch)) = received.send(batch).await {
                release(source, &batch.receipts, Duration::ZERO).await;
                return;
            }
        }
    }

    /// Hands a batch to the process, keeps it hidden while it waits, and settles each message
    /// by the answer.
    async fn settle(&self, ctx: &ListenContext, source: &Source, batch: Received) {
        let Received {
            documents,
            receipts,
            at,
            _place,
        } = batch;
        let answered = {
            let delivery = ctx.deliver(documents);
            tokio::pin!(delivery);
            if self.config.heartbeat {
                tokio::select! {
                    answered = &mut delivery => answered,
                    () = heartbeat(source, &receipts, at) => delivery.await,
                }
            } else {
                delivery.await
            }
        };
        let release_delay = Duration::from_secs(self.config.release_delay_seconds.into());
        match (self.config.commit_strategy, answered) {
            (CommitStrategy::AtLeastOnce, Ok(results)) => {
                let (commit, failed) = split(&receipts, &results);
                let deleted: Vec<(String, String)> = commit
                    .iter()
                    .map(|r| (r.message_id.clone(), r.receipt_handle.clone()))
                    .collect();
                for (message, why) in delete_received(&source.queue, &deleted, 1).await {
                    tracing::warn!(queue = %source.queue_url, message = %message, reason = %why, "a message the process succeeded with could not be deleted; SQS delivers it again after its visibility timeout");
                }
                release(source, &failed, release_delay).await;
            }
            (_, Err(DeliveryError::Abandoned(why))) => {
                tracing::info!(queue = %source.queue_url, reason = %why, messages = receipts.len(), "a batch without an answer is released");
                let all: Vec<&Receipt> = receipts.iter().collect();
                release(source, &all, Duration::ZERO).await;
            }
            // Refused, or a reason a newer SDK adds: released after the delay.
            (CommitStrategy::AtLeastOnce, Err(why)) => {
                tracing::warn!(queue = %source.queue_url, reason = %why, messages = receipts.len(), "the host refused a batch; its messages are released");
                let all: Vec<&Receipt> = receipts.iter().collect();
                release(source, &all, release_delay).await;
            }
            (CommitStrategy::ProcessManaged, _) => {}
        }
    }
}

/// The messages to delete and the ones to release, by the process's results. On a FIFO queue a
/// message after a failed one of its group is released too, so the group's order holds when the
/// failed one comes back.
fn split<'a>(
    receipts: &'a [Receipt],
    results: &[BatchResult],
) -> (Vec<&'a Receipt>, Vec<&'a Receipt>) {
    let mut failed_groups: HashSet<&str> = HashSet::new();
    let mut commit = Vec::new();
    let mut release = Vec::new();
    for (receipt, result) in receipts.iter().zip(results) {
        let group_failed = receipt
            .group
            .as_deref()
            .is_some_and(|g| failed_groups.contains(g));
        if result.status == ResultStatus::Success && !group_failed {
            commit.push(receipt);
        } else {
            if let Some(group) = receipt.group.as_deref() {
                failed_groups.insert(group);
            }
            release.push(receipt);
        }
    }
    (commit, release)
}

/// Extends the visibility of a batch's messages before it lapses, until SQS's 12 hours from
/// their receipt are used up; never returns before that.
async fn heartbeat(source: &Source, receipts: &[Receipt], received_at: Instant) {
    let visibility = source.visibility.max(Duration::from_secs(1));
    let every = (visibility / 2).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(every).await;
        let left = MAX_HIDDEN.saturating_sub(received_at.elapsed());
        let extend = visibility.min(left);
        if extend < Duration::from_secs(1) {
            std::future::pending::<()>().await;
        }
        let all: Vec<&Receipt> = receipts.iter().collect();
        change_visibility(source, &all, extend).await;
    }
}

/// Makes messages visible again after `delay`.
async fn release(source: &Source, receipts: &[impl std::borrow::Borrow<Receipt>], delay: Duration) {
    let receipts: Vec<&Receipt> = receipts.iter().map(|r| r.borrow()).collect();
    change_visibility(source, &receipts, delay).await;
}

/// Sets the visibility timeout of `receipts`, ten per call; failures are logged (the message
/// then becomes visible when its current timeout lapses).
async fn change_visibility(source: &Source, receipts: &[&Receipt], timeout: Duration) {
    for chunk in receipts.chunks(MAX_BATCH_ENTRIES) {
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(index, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(&receipt.receipt_handle)
                    .visibility_timeout(timeout.as_secs() as i32)
                    .build()
                    .ok()
            })
            .collect();
        let answer = source
            .queue
            .client()
            .change_message_visibility_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match answer {
            Ok(answer) => {
                for failed in answer.failed() {
                    tracing::warn!(queue = %source.queue_url, code = failed.code(), "a message's visibility could not be changed");
                }
            }
            Err(err) => {
                let failure = SqsFailure::classify(&err);
                tracing::warn!(queue = %source.queue_url, error = %source.queue.describe(&failure), "changing the visibility of messages failed");
            }
        }
    }
}

/// The queue's own visibility timeout.
async fn queue_visibility(queue: &Queue) -> Result<Duration, ConnectorError> {
    let answer = queue
        .client()
        .get_queue_attributes()
        .queue_url(&queue.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .map_err(|err| queue.error(SqsFailure::classify(&err)))?;
    let seconds = answer
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30);
    Ok(Duration::from_secs(seconds))
}

/// The wait before receiving again after `failures` failed receives in a row.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << failures.min(8))).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(id: &str, group: Option<&str>) -> Receipt {
        Receipt {
            message_id: id.into(),
            receipt_handle: format!("handle-{id}"),
            group: group.map(str::to_owned),
        }
    }

    fn result(index: usize, status: ResultStatus) -> BatchResult {
        BatchResult {
            index,
            status,
            message: None,
        }
    }

    #[test]
    fn a_failure_releases_the_rest_of_its_group_and_nothing_else() {
        let receipts = [
            receipt("a1", Some("a")),
            receipt("b1", Some("b")),
            receipt("a2", Some("a")),
            receipt("a3", Some("a")),
            receipt("b2", Some("b")),
            receipt("s", None),
        ];
        let results = [
            result(0, ResultStatus::Success),
            result(1, ResultStatus::Success),
            result(2, ResultStatus::Failure),
            result(3, ResultStatus::Success),
            result(4, ResultStatus::Success),
            result(5, ResultStatus::ApplicationError),
        ];
        let (commit, release) = split(&receipts, &results);
        let ids = |list: Vec<&Receipt>| -> Vec<String> {
            list.iter().map(|r| r.message_id.clone()).collect()
        };
        assert_eq!(ids(commit), ["a1", "b1", "b2"]);
        assert_eq!(ids(release), ["a2", "a3", "s"]);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(20), MAX_BACKOFF);
    }
}
