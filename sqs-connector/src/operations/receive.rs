//! RECEIVE: reads messages from a queue into output documents, verifying their MD5 digests, and
//! optionally deletes what it read.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use connector_sdk::{
    Batch, ConnectorError, Document, ExecutionContext, Operation, OperationInfo, Outcome,
    PropertyInfo, ResultStatus,
};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use futures::StreamExt as _;
use parking_lot::Mutex;

use super::batching::{Batcher, Entry};
use super::delete::delete_batch;
use crate::config::{ReceiveConfig, SystemAttribute};
use crate::connection::SqsConnection;
use crate::errors::{Retry, SqsFailure};
use crate::message::{
    Attribute, MAX_ATTRIBUTE_NAME, attribute_name_problem, attributes_from_sqs,
    attributes_into_properties, md5_hex, md5_matches, md5_of_attributes, props,
};
use crate::queue::{Queue, is_fifo};

/// Each system attribute and the property it is written as.
const SYSTEM_PROPERTIES: [(MessageSystemAttributeName, &str); 9] = [
    (
        MessageSystemAttributeName::SequenceNumber,
        props::SEQUENCE_NUMBER,
    ),
    (
        MessageSystemAttributeName::MessageGroupId,
        props::MESSAGE_GROUP_ID,
    ),
    (
        MessageSystemAttributeName::MessageDeduplicationId,
        props::MESSAGE_DEDUPLICATION_ID,
    ),
    (
        MessageSystemAttributeName::ApproximateReceiveCount,
        props::APPROXIMATE_RECEIVE_COUNT,
    ),
    (
        MessageSystemAttributeName::SentTimestamp,
        props::SENT_TIMESTAMP,
    ),
    (
        MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
        props::APPROXIMATE_FIRST_RECEIVE_TIMESTAMP,
    ),
    (MessageSystemAttributeName::SenderId, props::SENDER_ID),
    (
        MessageSystemAttributeName::AwsTraceHeader,
        props::AWS_TRACE_HEADER,
    ),
    (
        MessageSystemAttributeName::DeadLetterQueueSourceArn,
        props::DEAD_LETTER_QUEUE_SOURCE_ARN,
    ),
];

/// The property a system attribute is written as: `sqs.` and its name in lower camel case
/// (`sqs.awsTraceHeader`), also for an attribute SQS adds later.
fn system_property(name: &MessageSystemAttributeName) -> String {
    if let Some((_, property)) = SYSTEM_PROPERTIES.iter().find(|(n, _)| n == name) {
        return (*property).to_owned();
    }
    let text = name.as_str();
    let upper = text.chars().take_while(char::is_ascii_uppercase).count();
    // "AWSTraceHeader" -> "awsTraceHeader": a leading acronym is lowered but for its last
    // capital when a word follows it.
    let lower = if upper > 1 && upper < text.len() {
        upper - 1
    } else {
        upper.max(1)
    };
    let head: String = text.chars().take(lower).collect::<String>().to_lowercase();
    format!("sqs.{head}{}", text.chars().skip(lower).collect::<String>())
}

/// What a receive asks SQS for and passes on: the system attributes, the message attributes
/// (names or `prefix.*`), and whether the sequence number.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    system: Vec<MessageSystemAttributeName>,
    message: Option<Vec<String>>,
    sequence_number: bool,
    /// Every message attribute is asked for, so the attributes' MD5 covers what arrives.
    all_message_attributes: bool,
}

impl Wanted {
    /// From an operation's options; a message attribute name or prefix SQS would refuse is a
    /// configuration error naming it.
    pub(crate) fn new(
        system: &[SystemAttribute],
        message: &[String],
        sequence_number: bool,
    ) -> Result<Self, ConnectorError> {
        let mut names: Vec<MessageSystemAttributeName> = Vec::new();
        for attribute in system {
            let name = MessageSystemAttributeName::from(attribute.as_str());
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.contains(&MessageSystemAttributeName::All) {
            names = vec![MessageSystemAttributeName::All];
        } else if sequence_number {
            if !names.contains(&MessageSystemAttributeName::SequenceNumber) {
                names.push(MessageSystemAttributeName::SequenceNumber);
            }
        } else {
            names.retain(|n| *n != MessageSystemAttributeName::SequenceNumber);
        }
        let mut wanted: Vec<String> = Vec::new();
        for entry in message.iter().map(|m| m.trim()) {
            if !(entry == "All" || entry == ".*") {
                let name = entry.strip_suffix(".*").unwrap_or(entry);
                if let Some(problem) = attribute_name_problem(name) {
                    return Err(ConnectorError::config(format!(
                        "Message attributes: \"{}\" {problem}; give attribute names, prefixes \
                         ending in .* (orders.*), or All",
                        entry.chars().take(MAX_ATTRIBUTE_NAME).collect::<String>()
                    )));
                }
            }
            if !wanted.iter().any(|w| w == entry) {
                wanted.push(entry.to_owned());
            }
        }
        let all_message_attributes = wanted.iter().any(|w| w == "All" || w == ".*");
        Ok(Self {
            system: names,
            message: (!wanted.is_empty()).then_some(wanted),
            sequence_number,
            all_message_attributes,
        })
    }

    /// Whether every message attribute is asked for (so the attributes' MD5 is checked).
    pub(crate) fn all_message_attributes(&self) -> bool {
        self.all_message_attributes
    }

    /// Sets them on a ReceiveMessage request.
    pub(crate) fn apply(
        &self,
        request: aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder,
    ) -> aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder {
        request
            .set_message_system_attribute_names(
                (!self.system.is_empty()).then(|| self.system.clone()),
            )
            .set_message_attribute_names(self.message.clone())
    }
}

/// The most messages one ReceiveMessage call returns.
pub const MAX_PER_CALL: i64 = 10;

pub(crate) const OUTPUT: &[PropertyInfo] = &[
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
        description: "FIFO, with Return sequence number: the sequence number.",
    },
    PropertyInfo {
        name: props::MESSAGE_GROUP_ID,
        description: "FIFO, with System attributes MessageGroupId (default): the message group id.",
    },
    PropertyInfo {
        name: props::MESSAGE_DEDUPLICATION_ID,
        description: "FIFO, with System attributes MessageDeduplicationId (default): the deduplication id.",
    },
    PropertyInfo {
        name: props::APPROXIMATE_RECEIVE_COUNT,
        description: "With System attributes ApproximateReceiveCount (default): how many times the message has been received.",
    },
    PropertyInfo {
        name: props::SENT_TIMESTAMP,
        description: "With System attributes SentTimestamp (default): when the message was sent, in milliseconds since 1970.",
    },
    PropertyInfo {
        name: props::APPROXIMATE_FIRST_RECEIVE_TIMESTAMP,
        description: "With System attributes ApproximateFirstReceiveTimestamp (or All): when the message was first received, in milliseconds since 1970.",
    },
    PropertyInfo {
        name: props::SENDER_ID,
        description: "With System attributes SenderId (or All): the IAM user or role id that sent the message.",
    },
    PropertyInfo {
        name: props::AWS_TRACE_HEADER,
        description: "With System attributes AWSTraceHeader (or All): the message's AWS X-Ray trace header.",
    },
    PropertyInfo {
        name: props::DEAD_LETTER_QUEUE_SOURCE_ARN,
        description: "With System attributes DeadLetterQueueSourceArn (or All): the queue a dead-letter queue's message came from.",
    },
    PropertyInfo {
        name: "sqs.attribute.<Name>",
        description: "Each message attribute Message attributes asks for (All by default): its value (base64 for Binary).",
    },
    PropertyInfo {
        name: "sqs.attributeType.<Name>",
        description: "Each message attribute's type.",
    },
];

const INPUT: &[PropertyInfo] = &[
    PropertyInfo {
        name: props::QUEUE,
        description: "On the trigger document: the queue to read from (a name or a URL), instead of the operation's.",
    },
    PropertyInfo {
        name: props::RECEIVE_REQUEST_ATTEMPT_ID,
        description: "On the trigger document, FIFO queues: the receive request attempt id of the first ReceiveMessage call (a host that retries a whole execution passes the same one and gets the same messages).",
    },
];

/// The RECEIVE operation.
#[derive(Debug)]
pub struct ReceiveOperation {
    config: ReceiveConfig,
    wanted: Wanted,
}

pub(crate) fn message_document(message: Message, queue_url: &str, wanted: &Wanted) -> Document {
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
    if !wanted.sequence_number {
        system.remove(&MessageSystemAttributeName::SequenceNumber);
    }
    for (name, value) in system.drain() {
        put(&system_property(&name), Some(value));
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
pub(crate) fn verify(
    message: &Message,
    attributes: &[Attribute],
    all_attributes: bool,
) -> Option<String> {
    let body = message.body().unwrap_or_default();
    if let Some(expected) = message.md5_of_body()
        && !md5_matches(expected, body.as_bytes())
    {
        return Some(format!(
            "the MD5 of its body ({}) differs from the one SQS sent ({expected})",
            md5_hex(body.as_bytes())
        ));
    }
    // SQS's digest covers the attributes it returns; checked when every one was asked for,
    // where servers agree on that.
    if let Some(expected) = message.md5_of_message_attributes()
        && all_attributes
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

/// The most messages one RECEIVE execution returns, also with `-1`: a bound on the memory one
/// request can make the plugin hold.
pub const MAX_MESSAGES_PER_EXECUTION: i64 = 10_000;
/// The most bytes of message bodies one RECEIVE execution holds; reading stops when it is reached.
pub const MAX_BYTES_PER_EXECUTION: usize = 64 << 20;
/// How many reads in a row (each with the SDK's own retries) may fail for a reason that may pass
/// before a reader gives up.
const READ_ROUNDS: u32 = 3;
/// The longest FIFO receive request attempt id SQS accepts.
const MAX_ATTEMPT_ID: usize = 128;

/// A FIFO receive request attempt id unique to one ReceiveMessage call (the SDK's retries of
/// that call reuse it, as SQS intends; no other call does). With `given` (the trigger document's
/// `sqs.receiveRequestAttemptId`), the first call uses it as it is and later calls add `-<n>`.
fn attempt_id(ctx: &ExecutionContext, given: Option<&str>, call: usize) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let allowed = |c: &char| c.is_ascii_alphanumeric() || c.is_ascii_punctuation();
    if let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) {
        let given: String = given.chars().filter(allowed).collect();
        return if call == 1 {
            given.chars().take(MAX_ATTEMPT_ID).collect()
        } else {
            let suffix = format!("-{call}");
            let keep = MAX_ATTEMPT_ID - suffix.len();
            format!("{}{suffix}", given.chars().take(keep).collect::<String>())
        };
    }
    let process = *PROCESS.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    let base: String = ctx
        .execution_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(80)
        .collect();
    format!(
        "{base}-{process:016x}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the readers of one execution have read: each message once, by message id.
#[derive(Default)]
struct Received {
    documents: Vec<Document>,
    by_message_id: HashMap<String, usize>,
    bytes: usize,
}

impl Received {
    /// Adds a message; one read again (SQS may deliver a message twice, and a visibility timeout
    /// of 0 makes it visible at once) replaces the earlier copy, so its newest receipt handle is
    /// the one passed on. Returns whether it was new.
    fn add(&mut self, document: Document) -> bool {
        let id = document.property(props::MESSAGE_ID).unwrap_or_default();
        if let Some(&at) = self.by_message_id.get(id) {
            self.bytes = self.bytes - self.documents[at].data.len() + document.data.len();
            self.documents[at] = document;
            return false;
        }
        self.by_message_id
            .insert(id.to_owned(), self.documents.len());
        self.bytes += document.data.len();
        self.documents.push(document);
        true
    }
}

/// What the receive workers of one execution share.
struct Shared {
    /// Messages still to claim.
    unclaimed: Mutex<i64>,
    received: Mutex<Received>,
    problems: Mutex<Vec<String>>,
    /// Why reading stopped before the queue looked empty, when a limit stopped it.
    limit: Mutex<Option<String>>,
    first_error: Mutex<Option<ConnectorError>>,
    calls: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    /// Claims up to ten messages to ask for; zero when there is nothing left to read.
    fn claim(&self) -> i64 {
        let mut unclaimed = self.unclaimed.lock();
        let count = (*unclaimed).min(MAX_PER_CALL);
        *unclaimed -= count;
        count
    }

    fn give_back(&self, count: i64) {
        *self.unclaimed.lock() += count;
    }

    fn stop_at_limit(&self, why: String) {
        self.stop.store(true, Ordering::Relaxed);
        self.limit.lock().get_or_insert(why);
    }
}

/// Where one RECEIVE reads and until when.
struct Reading<'a> {
    ctx: &'a ExecutionContext,
    queue: &'a Queue,
    queue_url: &'a str,
    attempt_id: Option<&'a str>,
    deadline: SystemTime,
}

impl ReceiveOperation {
    async fn receive(&self, reading: &Reading<'_>) -> Result<Outcome, ConnectorError> {
        let wanted = self.config.max_messages;
        let claimable = if wanted == -1 {
            MAX_MESSAGES_PER_EXECUTION
        } else {
            wanted.min(MAX_MESSAGES_PER_EXECUTION)
        };
        let shared = Shared {
            unclaimed: Mutex::new(claimable),
            received: Mutex::new(Received {
                // Room for what was asked (bounded: -1 or a large count need not be met).
                documents: Vec::with_capacity(claimable.clamp(0, 1_000) as usize),
                ..Received::default()
            }),
            problems: Mutex::new(Vec::new()),
            limit: Mutex::new(None),
            first_error: Mutex::new(None),
            calls: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        };
        // FIFO order matters, so one reader; otherwise as many as the work needs, up to the limit.
        let limit = self.config.max_concurrent_requests.max(1) as i64;
        let workers = if is_fifo(reading.queue_url) {
            1
        } else if wanted == -1 {
            limit
        } else {
            limit.min((claimable + MAX_PER_CALL - 1) / MAX_PER_CALL)
        };
        futures::future::join_all((0..workers).map(|_| self.worker(reading, &shared))).await;

        let outputs = shared.received.into_inner().documents;
        let mut problems = shared.problems.into_inner();
        if let Some(error) = shared.first_error.into_inner() {
            if outputs.is_empty() && problems.is_empty() {
                return Err(error);
            }
            // Keep what was already read: those messages are in flight and must reach the process.
            problems.push(format!("reading stopped early: {}", error.display_chain()));
        }
        let calls = shared.calls.load(Ordering::Relaxed);
        tracing::info!(queue = %reading.queue_url, messages = outputs.len(), calls, workers, "received");
        if self.config.delete_after_read && !outputs.is_empty() {
            self.delete_after_delivery(reading, &outputs);
        }
        let limit = shared.limit.into_inner();
        Ok(if problems.is_empty() {
            let mut outcome = Outcome::success(outputs);
            outcome.message = limit;
            outcome
        } else {
            problems.extend(limit);
            Outcome::failure(format!(
                "{} message(s) were read and are in the outputs; but {}",
                outputs.len(),
                problems.join("; ")
            ))
            .with_status_code("RECEIVE_INCOMPLETE")
            .with_outputs(outputs)
        })
    }

    /// With Delete after read: deletes the messages once the answer carrying them has reached
    /// the host, never before; when it has not (stdout closed, the call cancelled) nothing is
    /// deleted and SQS delivers them again after their visibility timeout. A delete that fails is
    /// logged, and that message too is delivered again: at least once, never lost.
    fn delete_after_delivery(&self, reading: &Reading<'_>, outputs: &[Document]) {
        let queue = reading.queue.clone();
        let queue_url = reading.queue_url.to_owned();
        let concurrency = self.config.max_concurrent_requests as usize;
        let messages: Vec<(String, String)> = outputs
            .iter()
            .map(|d| {
                (
                    d.property(props::MESSAGE_ID).unwrap_or_default().to_owned(),
                    d.property(props::RECEIPT_HANDLE)
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        reading.ctx.after_delivery(move |delivered| {
            Box::pin(async move {
                if !delivered {
                    tracing::warn!(queue = %queue_url, messages = messages.len(), "the answer carrying the messages read did not reach the host: none was deleted, and SQS delivers them again after their visibility timeout");
                    return;
                }
                let failed = delete_received(&queue, &messages, concurrency).await;
                for (message_id, why) in &failed {
                    tracing::warn!(queue = %queue_url, message = %message_id, reason = %why, "a message read and passed on could not be deleted; SQS delivers it again after its visibility timeout");
                }
                tracing::info!(queue = %queue_url, deleted = messages.len() - failed.len(), failed = failed.len(), "deleted after delivery");
            })
        });
    }

    /// One reader: receives and verifies until the claim runs out, the queue looks empty, a
    /// limit is reached, or another reader hit an error.
    async fn worker(&self, reading: &Reading<'_>, shared: &Shared) {
        let Reading {
            ctx,
            queue,
            queue_url,
            ..
        } = *reading;
        let fifo = is_fifo(queue_url);
        let mut empty_in_a_row = 0;
        let mut failed_in_a_row = 0;
        while !shared.stop.load(Ordering::Relaxed) {
            if ctx.cancellation.is_cancelled() {
                shared
                    .problems
                    .lock()
                    .push("the execution was cancelled before every message was read".into());
                shared.stop.store(true, Ordering::Relaxed);
                return;
            }
            let left = reading
                .deadline
                .duration_since(ctx.now())
                .unwrap_or_default();
            if left.is_zero() {
                shared.stop_at_limit(format!(
                    "reading stopped after the execution timeout of {} s; more messages may be waiting",
                    self.config.execution_timeout_seconds
                ));
                return;
            }
            let count = shared.claim();
            if count == 0 {
                return;
            }
            let call = shared.calls.fetch_add(1, Ordering::Relaxed) + 1;
            // A long poll never outlasts the execution timeout.
            let wait = (self.config.wait_time_seconds as u64).min(left.as_secs());
            let request = queue
                .client()
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(count as i32)
                .wait_time_seconds(wait as i32)
                .set_visibility_timeout(self.config.visibility_timeout_seconds.map(|v| v as i32))
                .set_receive_request_attempt_id(
                    fifo.then(|| attempt_id(ctx, reading.attempt_id, call)),
                );
            let answer = self.wanted.apply(request).send().await;
            let messages = match answer {
                Ok(answer) => {
                    failed_in_a_row = 0;
                    answer.messages.unwrap_or_default()
                }
                Err(err) => {
                    shared.give_back(count);
                    let failure = SqsFailure::classify(&err);
                    // A read is safe to make again (what a lost answer held becomes visible
                    // again after its visibility timeout): a flaky network gets a few more
                    // rounds of the SDK's retries before the execution gives up.
                    failed_in_a_row += 1;
                    if failure.retry() != Retry::Never && failed_in_a_row < READ_ROUNDS {
                        tracing::warn!(queue = %queue_url, error = %queue.describe(&failure), "a read failed after the SDK's retries; reading again");
                        tokio::time::sleep(Duration::from_millis(200 << failed_in_a_row)).await;
                        continue;
                    }
                    shared.stop.store(true, Ordering::Relaxed);
                    shared
                        .first_error
                        .lock()
                        .get_or_insert(queue.error(failure));
                    return;
                }
            };
            let mut new = 0;
            for message in messages {
                if self.config.verify_md5
                    && let Some(problem) = verify(
                        &message,
                        &attributes_from_sqs(message.message_attributes()),
                        self.wanted.all_message_attributes,
                    )
                {
                    let message_id = message.message_id().unwrap_or_default();
                    tracing::error!(queue = %queue_url, message = %message_id, "a received message failed MD5 verification; it is left on the queue");
                    let mut problems = shared.problems.lock();
                    let text = format!(
                        "message {message_id} failed verification: {problem}; it was not passed on nor deleted, and SQS will deliver it again after its visibility timeout"
                    );
                    if !problems.contains(&text) {
                        problems.push(text);
                    }
                    continue;
                }
                let mut received = shared.received.lock();
                if received.add(message_document(message, queue_url, &self.wanted)) {
                    new += 1;
                }
                if received.bytes >= MAX_BYTES_PER_EXECUTION {
                    shared.stop_at_limit(format!(
                        "reading stopped at {} messages, the most bytes one execution holds ({} MiB); more messages may be waiting",
                        received.documents.len(),
                        MAX_BYTES_PER_EXECUTION >> 20
                    ));
                }
            }
            shared.give_back(count - new);
            if new == 0 {
                // Nothing new: the queue is empty, or it only gave back messages already read
                // (visibility timeout 0).
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
            if self.config.max_messages == -1 && *shared.unclaimed.lock() == 0 {
                shared.stop_at_limit(format!(
                    "reading stopped at {MAX_MESSAGES_PER_EXECUTION} messages, the most one execution returns; more messages may be waiting"
                ));
            }
        }
    }
}

/// Deletes received messages (message id, receipt handle); returns (message id, why) for each
/// one that could not be deleted. Up to `concurrency` DeleteMessageBatch calls are in flight.
pub(crate) async fn delete_received(
    queue: &Queue,
    messages: &[(String, String)],
    concurrency: usize,
) -> Vec<(String, String)> {
    // Only each delete's status matters here: track it on empty documents, not copies.
    let tracker = Batch::new(vec![Document::default(); messages.len()]);
    let entries: Vec<Entry<&str>> = messages
        .iter()
        .enumerate()
        .map(|(index, (_, handle))| Entry {
            index,
            item: handle.as_str(),
        })
        .collect();
    let never = || false;
    let (tracker_ref, never) = (&tracker, &never);
    futures::stream::iter(Batcher::sqs().split(entries, |_| 0))
        .for_each_concurrent(concurrency.max(1), |call| async move {
            delete_batch(queue, tracker_ref, call, never, || {
                Outcome::success(Vec::new())
            })
            .await;
        })
        .await;
    tracker
        .into_results(|_| Outcome::failure("no answer"))
        .into_iter()
        .filter(|r| r.status != ResultStatus::Success)
        .map(|r| (messages[r.index].0.clone(), r.message.unwrap_or_default()))
        .collect()
}

impl Operation for ReceiveOperation {
    type Connection = SqsConnection;
    type Config = ReceiveConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "RECEIVE",
            label: "Receive",
            description: "Reads messages from a queue; each message becomes an output document of the trigger document's result (a message read twice in one execution is one output, with its newest receipt handle). Outputs are valid whatever the result's status: a FAILURE lists the messages that could not be verified. With Delete after read, messages are deleted only after the answer carrying them reached the host; one that cannot be deleted then is logged and delivered again later (at least once).",
            takes_input: false,
            input_properties: INPUT,
            output_properties: OUTPUT,
        }
    }

    fn build(config: ReceiveConfig) -> Result<Self, ConnectorError> {
        if config.max_messages == 0
            || config.max_messages < -1
            || config.max_messages > MAX_MESSAGES_PER_EXECUTION
        {
            return Err(ConnectorError::config(format!(
                "Maximum messages must be -1 (all available) or 1 to {MAX_MESSAGES_PER_EXECUTION}"
            )));
        }
        let wanted = Wanted::new(
            &config.system_attributes,
            &config.message_attributes,
            config.return_sequence_number,
        )?;
        Ok(Self { config, wanted })
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        connection: &SqsConnection,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        let timeout = Duration::from_secs(self.config.execution_timeout_seconds.max(1) as u64);
        for (index, trigger) in batch.documents().iter().enumerate() {
            let Some(named) = super::queue_of(
                batch,
                index,
                &[props::QUEUE],
                self.config.queue.as_deref(),
                "trigger document",
            ) else {
                continue;
            };
            let queue = match connection.queue(named).await {
                Ok(queue) => queue,
                Err(err) => {
                    batch.record(index, Outcome::from_error(&err));
                    continue;
                }
            };
            let reading = Reading {
                ctx,
                queue: &queue,
                queue_url: &queue.url,
                attempt_id: trigger.property(props::RECEIVE_REQUEST_ATTEMPT_ID),
                deadline: ctx.now() + timeout,
            };
            match self.receive(&reading).await {
                Ok(outcome) => batch.record(index, outcome),
                Err(err) => batch.record(index, Outcome::from_error(&err)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_attributes_become_lower_camel_case_properties() {
        assert_eq!(
            system_property(&MessageSystemAttributeName::AwsTraceHeader),
            "sqs.awsTraceHeader"
        );
        assert_eq!(
            system_property(&MessageSystemAttributeName::SenderId),
            "sqs.senderId"
        );
        // One SQS adds later gets a property by the same rule.
        assert_eq!(
            system_property(&MessageSystemAttributeName::from("SQSNewThing")),
            "sqs.sqsNewThing"
        );
        assert_eq!(
            system_property(&MessageSystemAttributeName::from("Later")),
            "sqs.later"
        );
        assert_eq!(
            system_property(&MessageSystemAttributeName::from("ABC")),
            "sqs.abc"
        );
    }

    #[test]
    fn what_a_receive_asks_for_follows_the_options() {
        use SystemAttribute as S;
        let wanted = Wanted::new(&[S::SenderId, S::SenderId], &["All".into()], true).unwrap();
        assert_eq!(
            wanted.system,
            [
                MessageSystemAttributeName::SenderId,
                MessageSystemAttributeName::SequenceNumber
            ]
        );
        assert!(wanted.all_message_attributes());
        let wanted = Wanted::new(&[S::SequenceNumber, S::All], &[], false).unwrap();
        assert_eq!(wanted.system, [MessageSystemAttributeName::All]);
        assert_eq!(wanted.message, None);
        assert!(!wanted.sequence_number);
        let wanted = Wanted::new(&[S::SequenceNumber], &["orders.*".into()], false).unwrap();
        assert!(wanted.system.is_empty());
        assert!(!wanted.all_message_attributes());
        for bad in ["", "bad name", "Amazon.x", "a..b", "orders..*"] {
            let err = Wanted::new(&[], &[bad.into()], true).unwrap_err();
            assert!(
                err.to_string().contains("Message attributes"),
                "{bad}: {err}"
            );
        }
    }
}
