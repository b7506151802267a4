//! RECEIVE: reads messages from a queue into output documents, verifying their MD5 digests, and
//! optionally deletes what it read.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use connector_sdk::{
    Batch, ConnectorError, Document, ExecutionContext, Operation, OperationInfo, Outcome,
    PropertyInfo, ResultStatus,
};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::batching::{Entry, MAX_BATCH_BYTES, chunk};
use super::delete::delete_batch;
use crate::config::ReceiveConfig;
use crate::connection::SqsConnection;
use crate::errors::SqsFailure;
use crate::message::{
    Attribute, attributes_from_sqs, attributes_into_properties, md5_hex, md5_matches,
    md5_of_attributes, props,
};
use crate::queue::is_fifo;

/// The system attributes RECEIVE writes as properties: the only ones it asks for.
const SYSTEM_ATTRIBUTES: [MessageSystemAttributeName; 5] = [
    MessageSystemAttributeName::SequenceNumber,
    MessageSystemAttributeName::MessageGroupId,
    MessageSystemAttributeName::MessageDeduplicationId,
    MessageSystemAttributeName::ApproximateReceiveCount,
    MessageSystemAttributeName::SentTimestamp,
];

/// The most messages one ReceiveMessage call returns.
pub const MAX_PER_CALL: i64 = 10;

const OUTPUT: &[PropertyInfo] = &[
    PropertyInfo {
        name: props::MESSAGE_ID,
        description: "The message id.",
    },
    PropertyInfo {
        name: props::RECEIPT_HANDLE,
        description: "The handle that deletes this receipt of the message (DELETE reads it).",
    },
    PropertyInfo {
        name: props::QUEUE_URL,
        description: "The queue's URL.",
    },
    PropertyInfo {
        name: props::MD5_OF_BODY,
        description: "The MD5 of the body.",
    },
    PropertyInfo {
        name: props::SEQUENCE_NUMBER,
        description: "FIFO: the sequence number.",
    },
    PropertyInfo {
        name: props::MESSAGE_GROUP_ID,
        description: "FIFO: the message group id.",
    },
    PropertyInfo {
        name: props::MESSAGE_DEDUPLICATION_ID,
        description: "FIFO: the deduplication id.",
    },
    PropertyInfo {
        name: props::APPROXIMATE_RECEIVE_COUNT,
        description: "How many times the message has been received.",
    },
    PropertyInfo {
        name: props::SENT_TIMESTAMP,
        description: "When the message was sent, in milliseconds since 1970.",
    },
    PropertyInfo {
        name: "sqs.attribute.<Name>",
        description: "Each message attribute's value (base64 for Binary).",
    },
    PropertyInfo {
        name: "sqs.attributeType.<Name>",
        description: "Each message attribute's type.",
    },
];

/// The RECEIVE operation.
#[derive(Debug)]
pub struct ReceiveOperation {
    config: ReceiveConfig,
}

fn message_document(message: Message, queue_url: &str) -> Document {
    // The message is taken apart, not copied: its strings become the document's.
    let mut properties = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            properties.insert(key.to_owned(), value);
        }
    };
    let mut system = message.attributes.unwrap_or_default();
    put(props::MESSAGE_ID, message.message_id);
    put(props::RECEIPT_HANDLE, message.receipt_handle);
    put(props::QUEUE_URL, Some(queue_url.to_owned()));
    put(props::MD5_OF_BODY, message.md5_of_body);
    for (key, name) in [
        (
            props::SEQUENCE_NUMBER,
            MessageSystemAttributeName::SequenceNumber,
        ),
        (
            props::MESSAGE_GROUP_ID,
            MessageSystemAttributeName::MessageGroupId,
        ),
        (
            props::MESSAGE_DEDUPLICATION_ID,
            MessageSystemAttributeName::MessageDeduplicationId,
        ),
        (
            props::APPROXIMATE_RECEIVE_COUNT,
            MessageSystemAttributeName::ApproximateReceiveCount,
        ),
        (
            props::SENT_TIMESTAMP,
            MessageSystemAttributeName::SentTimestamp,
        ),
    ] {
        put(key, system.remove(&name));
    }
    if let Some(attributes) = message.message_attributes {
        attributes_into_properties(attributes, &mut properties);
    }
    Document {
        data: message.body.unwrap_or_default().into_bytes(),
        properties,
    }
}

/// Why a message fails verification, if it does.
fn verify(message: &Message, attributes: &[Attribute]) -> Option<String> {
    let body = message.body().unwrap_or_default();
    if let Some(expected) = message.md5_of_body()
        && !md5_matches(expected, body.as_bytes())
    {
        return Some(format!(
            "the MD5 of its body ({}) differs from the one SQS sent ({expected})",
            md5_hex(body.as_bytes())
        ));
    }
    if let Some(expected) = message.md5_of_message_attributes()
        && !attributes.is_empty()
    {
        let actual = md5_of_attributes(attributes);
        if !expected.eq_ignore_ascii_case(&actual) {
            return Some(format!(
                "the MD5 of its attributes ({actual}) differs from the one SQS sent ({expected})"
            ));
        }
    }
    None
}

fn attempt_id(ctx: &ExecutionContext, call: usize) -> String {
    let base: String = ctx
        .execution_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(100)
        .collect();
    format!("{base}-{call}")
}

/// What the receive workers of one execution share.
struct Shared {
    /// Messages still to claim; `None` reads until the queue is empty.
    unclaimed: Mutex<Option<i64>>,
    received: Mutex<Vec<Document>>,
    problems: Mutex<Vec<String>>,
    first_error: Mutex<Option<ConnectorError>>,
    calls: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    /// Claims up to ten messages to ask for; zero when there is nothing left to read.
    fn claim(&self) -> i64 {
        let mut unclaimed = self.unclaimed.lock();
        match unclaimed.as_mut() {
            None => MAX_PER_CALL,
            Some(left) => {
                let count = (*left).min(MAX_PER_CALL);
                *left -= count;
                count
            }
        }
    }

    fn give_back(&self, count: i64) {
        if let Some(left) = self.unclaimed.lock().as_mut() {
            *left += count;
        }
    }
}

impl ReceiveOperation {
    async fn receive(
        &self,
        ctx: &ExecutionContext,
        connection: &SqsConnection,
        queue_url: &str,
    ) -> Result<Outcome, ConnectorError> {
        let wanted = self.config.max_messages;
        let shared = Shared {
            unclaimed: Mutex::new((wanted != -1).then_some(wanted)),
            // Room for what was asked (bounded: -1 or a large count need not be met).
            received: Mutex::new(Vec::with_capacity(wanted.clamp(0, 10_000) as usize)),
            problems: Mutex::new(Vec::new()),
            first_error: Mutex::new(None),
            calls: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        };
        // FIFO order matters, so one reader; otherwise as many as the work needs, up to the limit.
        let limit = self.config.max_concurrent_requests.max(1) as i64;
        let workers = if is_fifo(queue_url) {
            1
        } else if wanted == -1 {
            limit
        } else {
            limit.min((wanted + MAX_PER_CALL - 1) / MAX_PER_CALL)
        };
        futures::future::join_all(
            (0..workers).map(|_| self.worker(ctx, connection, queue_url, &shared)),
        )
        .await;

        let outputs = shared.received.into_inner();
        let mut problems = shared.problems.into_inner();
        if let Some(error) = shared.first_error.into_inner() {
            if outputs.is_empty() && problems.is_empty() {
                return Err(error);
            }
            // Keep what was already read: those messages are in flight and must reach the process.
            problems.push(format!("reading stopped early: {}", error.display_chain()));
        }
        tracing::info!(queue = %queue_url, messages = outputs.len(), calls = shared.calls.load(Ordering::Relaxed), workers, "received");
        Ok(if problems.is_empty() {
            Outcome::success(outputs)
        } else {
            Outcome {
                status: ResultStatus::Failure,
                status_code: Some("RECEIVE_INCOMPLETE".into()),
                message: Some(format!(
                    "{} message(s) were read and are in the outputs; but {}",
                    outputs.len(),
                    problems.join("; ")
                )),
                outputs,
                input_with: None,
            }
        })
    }

    /// One reader: receives, verifies, deletes what it read (with Delete after read), until the
    /// claim runs out, the queue looks empty, or another reader hit an error.
    async fn worker(
        &self,
        ctx: &ExecutionContext,
        connection: &SqsConnection,
        queue_url: &str,
        shared: &Shared,
    ) {
        let fifo = is_fifo(queue_url);
        let mut empty_in_a_row = 0;
        while !shared.stop.load(Ordering::Relaxed) {
            if ctx.cancellation.is_cancelled() {
                shared
                    .problems
                    .lock()
                    .push("the execution was cancelled before every message was read".into());
                shared.stop.store(true, Ordering::Relaxed);
                return;
            }
            let count = shared.claim();
            if count == 0 {
                return;
            }
            let call = shared.calls.fetch_add(1, Ordering::Relaxed) + 1;
            let answer = connection
                .client()
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(count as i32)
                .wait_time_seconds(self.config.wait_time_seconds as i32)
                .set_visibility_timeout(self.config.visibility_timeout_seconds.map(|v| v as i32))
                .set_message_system_attribute_names(Some(SYSTEM_ATTRIBUTES.to_vec()))
                .message_attribute_names("All")
                .set_receive_request_attempt_id(fifo.then(|| attempt_id(ctx, call)))
                .send()
                .await;
            let messages = match answer {
                Ok(answer) => answer.messages.unwrap_or_default(),
                Err(err) => {
                    shared.give_back(count);
                    shared.stop.store(true, Ordering::Relaxed);
                    let error = connection.error(SqsFailure::classify(&err));
                    shared.first_error.lock().get_or_insert(error);
                    return;
                }
            };
            shared.give_back(count - messages.len() as i64);
            if messages.is_empty() {
                empty_in_a_row += 1;
                // With long polling an empty answer means the queue is empty; without it SQS samples
                // servers, so ask once more before concluding.
                if self.config.wait_time_seconds > 0
                    || empty_in_a_row >= 2
                    || self.config.max_messages != -1
                {
                    return;
                }
                continue;
            }
            empty_in_a_row = 0;
            let mut valid: Vec<Document> = Vec::with_capacity(messages.len());
            for message in messages {
                if self.config.verify_md5
                    && let Some(problem) =
                        verify(&message, &attributes_from_sqs(message.message_attributes()))
                {
                    let message_id = message.message_id().unwrap_or_default();
                    tracing::error!(queue = %queue_url, message = %message_id, "a received message failed MD5 verification; it is left on the queue");
                    shared.problems.lock().push(format!(
                        "message {message_id} failed verification: {problem}; it was not passed on nor deleted, and SQS will deliver it again after its visibility timeout"
                    ));
                    continue;
                }
                valid.push(message_document(message, queue_url));
            }
            if self.config.delete_after_read && !valid.is_empty() {
                let failed = self.delete_received(connection, queue_url, &valid).await;
                shared.problems.lock().extend(failed);
            }
            shared.received.lock().extend(valid);
        }
    }

    /// Deletes the received messages; returns a sentence per message that could not be deleted.
    async fn delete_received(
        &self,
        connection: &SqsConnection,
        queue_url: &str,
        received: &[Document],
    ) -> Vec<String> {
        // Only each delete's status matters here: track it on empty documents, not copies.
        let tracker = Batch::new(vec![Document::default(); received.len()]);
        let entries: Vec<Entry<&str>> = received
            .iter()
            .enumerate()
            .map(|(index, document)| Entry {
                index,
                item: document.property(props::RECEIPT_HANDLE).unwrap_or_default(),
            })
            .collect();
        for chunk in chunk(entries, |_| 0, MAX_BATCH_BYTES) {
            delete_batch(connection, &tracker, queue_url, chunk, || {
                Outcome::success(Vec::new())
            })
            .await;
        }
        tracker
            .into_results(|_| Outcome::failure("no answer"))
            .into_iter()
            .filter(|r| r.status != ResultStatus::Success)
            .map(|r| {
                format!(
                    "message {} could not be deleted ({}) and will be delivered again",
                    received[r.index]
                        .property(props::MESSAGE_ID)
                        .unwrap_or_default(),
                    r.message.unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Operation for ReceiveOperation {
    type Connection = SqsConnection;
    type Config = ReceiveConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "RECEIVE",
            label: "Receive",
            description: "Reads messages from a queue; each message becomes an output document of the trigger document's result. Outputs are valid whatever the result's status: a FAILURE lists the messages that could not be verified or deleted.",
            takes_input: false,
            input_properties: &[],
            output_properties: OUTPUT,
        }
    }

    fn build(config: ReceiveConfig) -> Result<Self, ConnectorError> {
        if config.max_messages == 0 || config.max_messages < -1 {
            return Err(ConnectorError::config(
                "Maximum messages must be -1 (all available) or at least 1",
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
        let queue_url = connection.queue_url(&self.config.queue).await?;
        for index in 0..batch.len() {
            match self.receive(ctx, connection, &queue_url).await {
                Ok(outcome) => batch.record(index, outcome),
                Err(err) => batch.record(index, Outcome::from_error(&err)),
            }
        }
        Ok(())
    }
}
