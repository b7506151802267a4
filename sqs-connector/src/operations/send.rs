//! SEND: each document becomes a message. Documents are checked against SQS's rules first, then
//! grouped into SendMessageBatch calls (several in flight), and each gets its own result.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use connector_sdk::{
    Batch, ConnectorError, Document, ExecutionContext, Operation, OperationInfo, Outcome,
    PropertyInfo,
};
use futures::StreamExt as _;

use super::batching::{
    Action, BatchAnswer, ByKey, Entry, EntryFailure, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES,
    cancelled_outcome, entry_index, send_with_retries,
};
use crate::config::SendConfig;
use crate::connection::SqsConnection;
use crate::message::{
    Attribute, Rejection, attributes_from_properties, check_text, md5_matches, props,
    to_sqs_attributes,
};
use crate::queue::{Queue, QueueInfo, is_fifo};

/// The longest delay SQS accepts.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// What SEND adds to a document's body to make its message, borrowed from the document (the body
/// itself stays there too, and is read from there when the call is built).
#[derive(Debug)]
pub struct Prepared<'a> {
    attributes: Vec<Attribute<'a>>,
    group_id: Option<&'a str>,
    deduplication_id: Option<&'a str>,
    delay_seconds: Option<i32>,
    size: usize,
}

/// The SEND operation.
#[derive(Debug)]
pub struct SendOperation {
    config: SendConfig,
}

const INPUT: &[PropertyInfo] = &[
    PropertyInfo {
        name: props::QUEUE,
        description: "With Dynamic queue on: the queue's name or URL.",
    },
    PropertyInfo {
        name: props::MESSAGE_GROUP_ID,
        description: "The message group id; required for FIFO queues.",
    },
    PropertyInfo {
        name: props::MESSAGE_DEDUPLICATION_ID,
        description: "FIFO: the deduplication id (else the queue's content-based deduplication).",
    },
    PropertyInfo {
        name: props::DELAY_SECONDS,
        description: "This message's delay, 0 to 900 seconds, overriding the operation's.",
    },
    PropertyInfo {
        name: "sqs.attribute.<Name>",
        description: "A message attribute's value (base64 for Binary); at most 10 attributes.",
    },
    PropertyInfo {
        name: "sqs.attributeType.<Name>",
        description: "The attribute's type: String (default), Number, Binary, or a custom String.x / Number.x / Binary.x.",
    },
];

const OUTPUT: &[PropertyInfo] = &[
    PropertyInfo {
        name: props::MESSAGE_ID,
        description: "The id SQS gave the message.",
    },
    PropertyInfo {
        name: props::SEQUENCE_NUMBER,
        description: "FIFO: the message's sequence number.",
    },
    PropertyInfo {
        name: props::MD5_OF_BODY,
        description: "The MD5 of the body, as SQS computed it.",
    },
    PropertyInfo {
        name: props::QUEUE_URL,
        description: "The URL of the queue the message was sent to.",
    },
    PropertyInfo {
        name: props::POSSIBLE_DUPLICATE,
        description: "\"true\" when the message was sent again after an attempt that may already have put it on the queue: a standard queue may hold it twice (the result's status code is then POSSIBLE_DUPLICATE).",
    },
];

/// The entries of one SendMessageBatch (or one SendMessage) call.
type Call<'a> = Vec<Entry<Arc<Prepared<'a>>>>;

/// A document's queue: its URL and its rules.
type Target = (Arc<str>, QueueInfo);

/// Where an execution's documents go.
struct Targets {
    /// Per document, its queue; `None` when the document already has its result.
    targets: Vec<Option<Target>>,
    /// The queues, by URL.
    queues: HashMap<Arc<str>, Queue>,
}

/// The body of document `index`, checked to be text when it was prepared.
fn body_of(batch: &Batch, index: usize) -> &str {
    batch.documents()[index].text().unwrap_or_default()
}

fn reject(batch: &Batch, index: usize, rejection: Rejection) {
    batch.application_error(
        index,
        rejection.rule,
        format!(
            "document {}: {}",
            batch.input_index(index),
            rejection.message
        ),
    );
}

impl SendOperation {
    fn prepare<'a>(
        &self,
        document: &'a Document,
        queue: &QueueInfo,
        queue_url: &str,
    ) -> Result<Prepared<'a>, Rejection> {
        let fifo = is_fifo(queue_url);
        let max_size = queue.max_message_size;
        let body = document.text().ok_or_else(|| Rejection {
            rule: "InvalidBody",
            message: "the body is not UTF-8 text; SQS messages are text, so base64-encode binary content first".into(),
        })?;
        if body.is_empty() {
            return Err(Rejection {
                rule: "EmptyBody",
                message: "the body is empty; SQS needs at least one character".into(),
            });
        }
        check_text(body, || "the body".into())?;
        let attributes = attributes_from_properties(&document.properties)?;
        let size = body.len() + attributes.iter().map(Attribute::size).sum::<usize>();
        if size > max_size {
            return Err(Rejection {
                rule: "MessageTooLong",
                message: format!(
                    "the message is {size} bytes (body and attributes); queue {queue_url} accepts at most {max_size} bytes (its MaximumMessageSize)"
                ),
            });
        }
        let delay = match document.property(props::DELAY_SECONDS) {
            Some(text) => Some(text.trim().parse::<u32>().ok().filter(|d| *d <= MAX_DELAY_SECONDS).ok_or_else(|| Rejection {
                rule: "InvalidDelay",
                message: format!("property {} is \"{text}\"; use a whole number of seconds from 0 to {MAX_DELAY_SECONDS}", props::DELAY_SECONDS),
            })?),
            None if self.config.delay_seconds > 0 => Some(self.config.delay_seconds),
            None => None,
        };
        let group_id = document.property(props::MESSAGE_GROUP_ID);
        if fifo {
            if delay.is_some_and(|d| d > 0) {
                return Err(Rejection {
                    rule: "InvalidDelay",
                    message: "FIFO queues do not accept a per-message delay; set the delay on the queue instead".into(),
                });
            }
            if group_id.is_none_or(str::is_empty) {
                return Err(Rejection {
                    rule: "MissingMessageGroupId",
                    message: format!(
                        "queue {queue_url} is a FIFO queue and needs a message group id: set property {}",
                        props::MESSAGE_GROUP_ID
                    ),
                });
            }
        }
        let deduplication_id = document.property(props::MESSAGE_DEDUPLICATION_ID);
        if fifo
            && queue.content_based_deduplication == Some(false)
            && deduplication_id.is_none_or(str::is_empty)
        {
            return Err(Rejection {
                rule: "MissingMessageDeduplicationId",
                message: format!(
                    "queue {queue_url} is a FIFO queue without content-based deduplication and needs a deduplication id: set property {}",
                    props::MESSAGE_DEDUPLICATION_ID
                ),
            });
        }
        if let Some(group) = group_id
            && (group.is_empty() || group.len() > 128)
        {
            return Err(Rejection {
                rule: "InvalidMessageGroupId",
                message: format!(
                    "property {} must be 1 to 128 characters",
                    props::MESSAGE_GROUP_ID
                ),
            });
        }
        Ok(Prepared {
            attributes,
            group_id,
            deduplication_id,
            delay_seconds: delay.map(|d| d as i32),
            size,
        })
    }

    fn success(
        document: &Document,
        queue_url: &str,
        message_id: &str,
        md5: Option<&str>,
        sequence: Option<&str>,
    ) -> Outcome {
        if let Some(md5) = md5
            && !md5_matches(md5, &document.data)
        {
            return Outcome::failure(format!(
                "SQS accepted message {message_id}, but the MD5 of the body it computed ({md5}) differs from the body sent; the message may have been corrupted on the way"
            ));
        }
        let mut added = vec![
            (props::MESSAGE_ID.to_owned(), message_id.to_owned()),
            (props::QUEUE_URL.to_owned(), queue_url.to_owned()),
        ];
        if let Some(md5) = md5 {
            added.push((props::MD5_OF_BODY.to_owned(), md5.to_owned()));
        }
        if let Some(sequence) = sequence {
            added.push((props::SEQUENCE_NUMBER.to_owned(), sequence.to_owned()));
        }
        Outcome::success_with_input(added)
    }

    /// Where each document goes and that queue's rules: names resolved and limits read once per
    /// queue. A document whose queue is missing or cannot be resolved gets its result here.
    async fn targets(
        &self,
        connection: &SqsConnection,
        batch: &Batch,
    ) -> Result<Targets, ConnectorError> {
        let static_queue = match (&self.config.queue, self.config.dynamic_queue) {
            (Some(queue), false) => Some(connection.queue(queue).await?),
            _ => None,
        };
        let mut targets = Vec::with_capacity(batch.len());
        let mut infos: HashMap<String, Result<Target, Outcome>> = HashMap::new();
        let mut queues: HashMap<Arc<str>, Queue> = HashMap::new();
        for (index, document) in batch.documents().iter().enumerate() {
            let queue = match &static_queue {
                Some(queue) => queue.clone(),
                None => match document
                    .property(props::QUEUE)
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                {
                    None => {
                        batch.application_error(
                            index,
                            "MissingQueue",
                            format!(
                                "document {} has no {} property, which Dynamic queue needs",
                                batch.input_index(index),
                                props::QUEUE
                            ),
                        );
                        targets.push(None);
                        continue;
                    }
                    Some(queue) => match connection.queue(queue).await {
                        Ok(queue) => queue,
                        Err(err) => {
                            batch.record(index, Outcome::from_error(&err));
                            targets.push(None);
                            continue;
                        }
                    },
                },
            };
            if !infos.contains_key(&queue.url) {
                let url: Arc<str> = Arc::from(queue.url.as_str());
                let info = connection
                    .queue_info(&queue)
                    .await
                    .map(|info| (url.clone(), info))
                    .map_err(|e| Outcome::from_error(&e));
                infos.insert(queue.url.clone(), info);
                queues.insert(url, queue.clone());
            }
            match &infos[&queue.url] {
                Ok(target) => targets.push(Some(target.clone())),
                Err(outcome) => {
                    batch.record(index, outcome.clone());
                    targets.push(None);
                }
            }
        }
        Ok(Targets { targets, queues })
    }

    async fn send_batch(
        &self,
        queue: &Queue,
        batch: &Batch,
        entries: Call<'_>,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) {
        let queue_url = queue.url.as_str();
        let action = action_for(queue_url);
        send_with_retries(batch, entries, action, cancelled, |pending| async move {
            let mut request = queue
                .batch_client()
                .send_message_batch()
                .queue_url(queue_url);
            for entry in &pending {
                let item = &entry.item;
                let built = SendMessageBatchRequestEntry::builder()
                    .id(entry.id())
                    .message_body(body_of(batch, entry.index))
                    .set_delay_seconds(item.delay_seconds)
                    .set_message_attributes(to_sqs_attributes(&item.attributes)?)
                    .set_message_group_id(item.group_id.map(str::to_owned))
                    .set_message_deduplication_id(item.deduplication_id.map(str::to_owned))
                    .build()
                    .map_err(|e| {
                        ConnectorError::internal(format!("could not build a batch entry: {e}"))
                    })?;
                request = request.entries(built);
            }
            let answer = request.send().await.map_err(|e| queue.call_error(&e))?;
            let mut result = BatchAnswer::default();
            for ok in answer.successful() {
                if let Some(index) = entry_index(&pending, ok.id()) {
                    let outcome = Self::success(
                        &batch.documents()[index],
                        queue_url,
                        ok.message_id(),
                        Some(ok.md5_of_message_body()),
                        ok.sequence_number(),
                    );
                    result.succeeded.push((ok.id().to_owned(), outcome));
                }
            }
            result
                .failed
                .extend(answer.failed().iter().map(EntryFailure::from));
            Ok(result)
        })
        .await;
    }

    async fn send_one(
        &self,
        queue: &Queue,
        batch: &Batch,
        entry: Entry<Arc<Prepared<'_>>>,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) {
        let queue_url = queue.url.as_str();
        let action = action_for(queue_url);
        send_with_retries(
            batch,
            vec![entry],
            action,
            cancelled,
            |pending| async move {
                let entry = &pending[0];
                let item = &entry.item;
                let answer = queue
                    .batch_client()
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(body_of(batch, entry.index))
                    .set_delay_seconds(item.delay_seconds)
                    .set_message_attributes(to_sqs_attributes(&item.attributes)?)
                    .set_message_group_id(item.group_id.map(str::to_owned))
                    .set_message_deduplication_id(item.deduplication_id.map(str::to_owned))
                    .send()
                    .await
                    .map_err(|e| queue.call_error(&e))?;
                let mut result = BatchAnswer::default();
                result.succeeded.push((
                    entry.id(),
                    Self::success(
                        &batch.documents()[entry.index],
                        queue_url,
                        answer.message_id().unwrap_or_default(),
                        answer.md5_of_message_body(),
                        answer.sequence_number(),
                    ),
                ));
                Ok(result)
            },
        )
        .await;
    }
}

/// The status code of a SEND that succeeded after an attempt that may already have put the
/// message on a standard queue: the queue may hold it twice.
pub const POSSIBLE_DUPLICATE: &str = "POSSIBLE_DUPLICATE";

/// SEND to a standard queue: a message sent again after an attempt of unknown outcome may be on
/// the queue twice (SQS standard queues deliver at least once); the result says so.
const SEND_STANDARD: Action = Action {
    done: "sent",
    after_ambiguity: |mut outcome, attempts| {
        outcome.add_to_input(props::POSSIBLE_DUPLICATE, "true");
        outcome
            .with_status_code(POSSIBLE_DUPLICATE)
            .with_message(format!(
                "sent on attempt {attempts}; an earlier attempt failed after the request may have \
                 reached SQS, so the queue may hold this message twice (standard queues deliver \
                 at least once: make the consumer idempotent)"
            ))
    },
};

/// SEND to a FIFO queue: a retry carries the same deduplication id (or the same body, with
/// content-based deduplication), so SQS keeps one copy within its 5-minute window.
const SEND_FIFO: Action = Action {
    done: "sent",
    after_ambiguity: |outcome, attempts| {
        outcome.with_message(format!(
            "sent on attempt {attempts}; an earlier attempt may have reached SQS, and FIFO \
             deduplication keeps one copy"
        ))
    },
};

/// What a retried SEND means on the queue at `queue_url`.
fn action_for(queue_url: &str) -> &'static Action {
    match is_fifo(queue_url) {
        true => &SEND_FIFO,
        false => &SEND_STANDARD,
    }
}

impl Operation for SendOperation {
    type Connection = SqsConnection;
    type Config = SendConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "SEND",
            label: "Send",
            description: "Sends each document as a message to a queue; one result per document.",
            takes_input: true,
            input_properties: INPUT,
            output_properties: OUTPUT,
        }
    }

    fn build(config: SendConfig) -> Result<Self, ConnectorError> {
        if !config.dynamic_queue && config.queue.as_deref().is_none_or(|q| q.trim().is_empty()) {
            return Err(ConnectorError::config(
                "choose a queue, or turn on Dynamic queue",
            ));
        }
        Ok(Self { config })
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        connection: &SqsConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        let Targets { targets, queues } = self.targets(connection, batch).await?;
        // Documents are checked and grouped lazily, as calls go out: while the first calls are in
        // flight, the next documents are being prepared.
        let prepared = targets.iter().enumerate().filter_map(|(index, target)| {
            let (url, info) = target.as_ref()?;
            match self.prepare(&batch.documents()[index], info, url) {
                Ok(item) => {
                    let size = item.size;
                    let item = Arc::new(item);
                    Some((url.clone(), Entry { index, item }, size))
                }
                Err(rejection) => {
                    reject(batch, index, rejection);
                    None
                }
            }
        });
        let max_entries = if self.config.batch {
            MAX_BATCH_ENTRIES
        } else {
            1
        };
        let calls = ByKey::new(prepared, max_entries, MAX_BATCH_BYTES);
        let concurrency = self.config.max_concurrent_requests.max(1) as usize;
        let cancelled = || ctx.cancellation.is_cancelled();
        let cancelled = &cancelled;
        let queues = &queues;
        futures::stream::iter(calls)
            .for_each_concurrent(concurrency, |(url, entries)| async move {
                let queue = &queues[&url];
                if cancelled() {
                    for entry in entries {
                        batch.record(
                            entry.index,
                            cancelled_outcome(batch, entry.index, &SEND_STANDARD),
                        );
                    }
                } else if self.config.batch {
                    self.send_batch(queue, batch, entries, cancelled).await;
                } else {
                    for entry in entries {
                        self.send_one(queue, batch, entry, cancelled).await;
                    }
                }
            })
            .await;
        Ok(())
    }
}
