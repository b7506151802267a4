//! DELETE: deletes the messages the documents name by receipt handle, in DeleteMessageBatch
//! calls; a bad handle fails its own document only.

use std::collections::{BTreeMap, HashMap};

use connector_sdk::{
    Batch, ConnectorError, ExecutionContext, Operation, OperationInfo, Outcome, PropertyInfo,
};

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

use super::batching::{
    Action, BatchAnswer, Batcher, Entry, EntryFailure, cancelled_outcome, send_with_retries,
};
use crate::config::DeleteConfig;
use crate::connection::SqsConnection;
use crate::message::props;
use crate::queue::Queue;

const INPUT: &[PropertyInfo] = &[
    PropertyInfo {
        name: props::RECEIPT_HANDLE,
        description: "The receipt handle of the message to delete (RECEIVE writes it).",
    },
    PropertyInfo {
        name: props::QUEUE_URL,
        description: "The URL of the message's queue (RECEIVE writes it); it wins over sqs.queue and the operation's queue.",
    },
    PropertyInfo {
        name: props::QUEUE,
        description: "The message's queue, a name (resolved in the connection's region) or a URL, when the document has no sqs.queueUrl; the operation's queue when it has neither.",
    },
];

const OUTPUT: &[PropertyInfo] = &[PropertyInfo {
    name: props::QUEUE_URL,
    description: "The queue the message was deleted from.",
}];

/// The DELETE operation.
#[derive(Debug)]
pub struct DeleteOperation {
    config: DeleteConfig,
}

/// DELETE's wording; deleting again after an attempt of unknown outcome changes nothing.
pub(crate) const DELETED: Action = Action {
    done: "deleted",
    after_ambiguity: |outcome, _| outcome,
};

/// One DeleteMessageBatch call (retried as [`send_with_retries`] says) for the receipt handles
/// in `entries`, recording each outcome: `success()` for each deleted message.
pub(crate) async fn delete_batch<H: AsRef<str> + Clone>(
    queue: &Queue,
    batch: &Batch,
    entries: Vec<Entry<H>>,
    cancelled: &(dyn Fn() -> bool + Sync),
    success: impl Fn() -> Outcome,
) {
    let success = &success;
    send_with_retries(batch, entries, &DELETED, cancelled, |pending| async move {
        let mut request = queue
            .batch_client()
            .delete_message_batch()
            .queue_url(&queue.url);
        for entry in &pending {
            let built = DeleteMessageBatchRequestEntry::builder()
                .id(entry.id())
                .receipt_handle(entry.item.as_ref())
                .build()
                .map_err(|e| {
                    ConnectorError::internal(format!("could not build a delete entry: {e}"))
                })?;
            request = request.entries(built);
        }
        let answer = request.send().await.map_err(|e| queue.call_error(&e))?;
        let mut result = BatchAnswer::default();
        for ok in answer.successful() {
            result.succeeded.push((ok.id().to_owned(), success()));
        }
        result
            .failed
            .extend(answer.failed().iter().map(EntryFailure::from));
        Ok(result)
    })
    .await;
}

impl Operation for DeleteOperation {
    type Connection = SqsConnection;
    type Config = DeleteConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "DELETE",
            label: "Delete",
            description: "Deletes the message each document names by its receipt handle; one result per document.",
            takes_input: true,
            input_properties: INPUT,
            output_properties: OUTPUT,
        }
    }

    fn build(config: DeleteConfig) -> Result<Self, ConnectorError> {
        Ok(Self { config })
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        connection: &SqsConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        // Each queue named is resolved once per execution, also when it cannot be.
        let mut resolved: HashMap<String, Result<Queue, ConnectorError>> = HashMap::new();
        let mut by_queue: BTreeMap<String, (Queue, Vec<Entry<String>>)> = BTreeMap::new();
        for (index, document) in batch.documents().iter().enumerate() {
            let Some(handle) = document
                .property(props::RECEIPT_HANDLE)
                .filter(|h| !h.is_empty())
            else {
                batch.application_error(
                    index,
                    "MissingReceiptHandle",
                    format!(
                        "document {} has no {} property; pass the documents RECEIVE produced",
                        batch.input_index(index),
                        props::RECEIPT_HANDLE
                    ),
                );
                continue;
            };
            let Some(named) = super::queue_of(
                batch,
                index,
                &[props::QUEUE_URL, props::QUEUE],
                self.config.queue.as_deref(),
                "document",
            ) else {
                continue;
            };
            if !resolved.contains_key(named) {
                resolved.insert(named.to_owned(), connection.queue(named).await);
            }
            let queue = match &resolved[named] {
                Ok(queue) => queue,
                Err(err) => {
                    batch.record(index, Outcome::from_error(err));
                    continue;
                }
            };
            by_queue
                .entry(queue.url.clone())
                .or_insert_with(|| (queue.clone(), Vec::new()))
                .1
                .push(Entry {
                    index,
                    item: handle.to_owned(),
                });
        }
        let cancelled = || ctx.cancellation.is_cancelled();
        for (url, (queue, entries)) in by_queue {
            // Only the entry count bounds a DeleteMessageBatch call.
            for call in Batcher::sqs().split(entries, |_| 0) {
                if cancelled() {
                    for entry in call {
                        batch.record(entry.index, cancelled_outcome(batch, entry.index, &DELETED));
                    }
                    continue;
                }
                delete_batch(&queue, batch, call, &cancelled, || {
                    Outcome::success_with_input(vec![(props::QUEUE_URL.to_owned(), url.clone())])
                })
                .await;
            }
        }
        Ok(())
    }
}
