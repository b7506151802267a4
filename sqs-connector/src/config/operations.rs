//! The options of each operation (`../spec/connector.md`): pure data.

// The doc comments of these fields are the descriptions users read in the descriptor, where
// `<region>` or `<Name>` is a placeholder, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most SendMessageBatch calls a SEND keeps in flight by default.
pub const DEFAULT_CONCURRENT_REQUESTS: u32 = 8;

fn default_true() -> bool {
    true
}

fn default_concurrency() -> u32 {
    DEFAULT_CONCURRENT_REQUESTS
}

fn default_max_messages() -> i64 {
    1
}

/// How long a RECEIVE reads by default: well below the 120 s a host typically waits for a call.
pub const DEFAULT_EXECUTION_TIMEOUT_SECONDS: u32 = 60;

fn default_execution_timeout() -> u32 {
    DEFAULT_EXECUTION_TIMEOUT_SECONDS
}

/// SEND: send each document as a message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("allOf" = [{
    "if": {"properties": {"dynamicQueue": {"const": false}}},
    "then": {"required": ["queue"]}
}]))]
pub struct SendConfig {
    /// The queue to send to: its name (resolved in the connection's region when the operation
    /// runs) or its full URL. Pick it from the list or type it.
    #[schemars(title = "Queue", length(min = 1, max = 1024), extend("x-order" = 1, "x-widget" = "browse"))]
    pub queue: Option<String>,

    /// Take the queue from each document's sqs.queue property instead (a name or a URL).
    #[schemars(title = "Dynamic queue", extend("x-order" = 2, "x-widget" = "checkbox"))]
    #[serde(default)]
    pub dynamic_queue: bool,

    /// How long each message stays invisible after it is sent, 0 to 900 seconds; a document's
    /// sqs.delaySeconds property overrides it. FIFO queues accept only 0 (use the queue's own delay).
    #[schemars(title = "Delay (in seconds)", range(min = 0, max = 900), extend("x-order" = 3, "x-widget" = "number"))]
    #[serde(default)]
    pub delay_seconds: u32,

    /// Send up to 10 documents per request (SendMessageBatch). Turn off to send one request per document.
    #[schemars(title = "Batch", extend("x-order" = 4, "x-widget" = "checkbox"))]
    #[serde(default = "default_true")]
    pub batch: bool,

    /// How many requests to SQS may be in flight at once, 1 to 64.
    #[schemars(title = "Concurrent requests", range(min = 1, max = 64), extend("x-order" = 5, "x-widget" = "number"))]
    #[serde(default = "default_concurrency")]
    pub max_concurrent_requests: u32,
}

/// A system attribute of a message that RECEIVE can ask SQS for (`All` asks for every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum SystemAttribute {
    /// Every system attribute.
    All,
    /// Who sent the message: an IAM user id or role id.
    SenderId,
    /// When the message was sent, in milliseconds since 1970.
    SentTimestamp,
    /// How many times the message has been received.
    ApproximateReceiveCount,
    /// When the message was first received, in milliseconds since 1970.
    ApproximateFirstReceiveTimestamp,
    /// FIFO: the message's sequence number (also with Return sequence number).
    SequenceNumber,
    /// FIFO: the deduplication id.
    MessageDeduplicationId,
    /// FIFO: the message group id.
    MessageGroupId,
    /// The AWS X-Ray trace header.
    #[serde(rename = "AWSTraceHeader")]
    AwsTraceHeader,
    /// The ARN of the queue a dead-letter queue's message was moved from.
    DeadLetterQueueSourceArn,
}

impl SystemAttribute {
    /// The attribute's name in SQS's API (`AWSTraceHeader`).
    pub fn as_str(self) -> &'static str {
        match self {
            SystemAttribute::All => "All",
            SystemAttribute::SenderId => "SenderId",
            SystemAttribute::SentTimestamp => "SentTimestamp",
            SystemAttribute::ApproximateReceiveCount => "ApproximateReceiveCount",
            SystemAttribute::ApproximateFirstReceiveTimestamp => "ApproximateFirstReceiveTimestamp",
            SystemAttribute::SequenceNumber => "SequenceNumber",
            SystemAttribute::MessageDeduplicationId => "MessageDeduplicationId",
            SystemAttribute::MessageGroupId => "MessageGroupId",
            SystemAttribute::AwsTraceHeader => "AWSTraceHeader",
            SystemAttribute::DeadLetterQueueSourceArn => "DeadLetterQueueSourceArn",
        }
    }
}

/// The system attributes RECEIVE asks for unless told otherwise (the sequence number comes with
/// Return sequence number).
pub const DEFAULT_SYSTEM_ATTRIBUTES: [SystemAttribute; 4] = [
    SystemAttribute::SentTimestamp,
    SystemAttribute::ApproximateReceiveCount,
    SystemAttribute::MessageGroupId,
    SystemAttribute::MessageDeduplicationId,
];

fn default_system_attributes() -> Vec<SystemAttribute> {
    DEFAULT_SYSTEM_ATTRIBUTES.to_vec()
}

fn default_message_attributes() -> Vec<String> {
    vec!["All".to_owned()]
}

/// RECEIVE: read messages from a queue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveConfig {
    /// The queue to read from: its name or its full URL. A trigger document's sqs.queue
    /// property, when it has one, names the queue instead.
    #[schemars(title = "Queue", length(min = 1, max = 1024), extend("x-order" = 1, "x-widget" = "browse"))]
    pub queue: Option<String>,

    /// How many messages to read: 1 to 10000 (above 10 the connector reads repeatedly), or -1 for
    /// every message available now (at most 10000, and at most 64 MiB of bodies, per execution).
    #[schemars(title = "Maximum messages", range(min = -1, max = 10000), extend("not" = {"const": 0}, "x-order" = 2, "x-widget" = "number"))]
    #[serde(default = "default_max_messages")]
    pub max_messages: i64,

    /// Long polling: how long a read waits for messages to arrive, 0 to 20 seconds.
    #[schemars(title = "Wait time (in seconds)", range(min = 0, max = 20), extend("x-order" = 3, "x-widget" = "number"))]
    #[serde(default)]
    pub wait_time_seconds: u32,

    /// How long messages read stay hidden from other readers, 0 to 43200 seconds. Empty: the queue's default.
    #[schemars(title = "Visibility timeout (in seconds)", range(min = 0, max = 43200), extend("x-order" = 4, "x-widget" = "number"))]
    pub visibility_timeout_seconds: Option<u32>,

    /// Delete each message from the queue once it is read and verified.
    #[schemars(title = "Delete after read", extend("x-order" = 5, "x-widget" = "checkbox"))]
    #[serde(default)]
    pub delete_after_read: bool,

    /// Check the MD5 digests SQS sends with each message body and its attributes; a message that
    /// fails is reported and left on the queue.
    #[schemars(title = "Verify MD5", extend("x-order" = 6, "x-widget" = "checkbox"))]
    #[serde(default = "default_true")]
    pub verify_md5: bool,

    /// How many reads may be in flight at once when more than 10 messages are wanted, 1 to 64
    /// (FIFO queues are read by one reader, to keep their order).
    #[schemars(title = "Concurrent requests", range(min = 1, max = 64), extend("x-order" = 7, "x-widget" = "number"))]
    #[serde(default = "default_concurrency")]
    pub max_concurrent_requests: u32,

    /// Stop reading after this many seconds, 1 to 3600, and return what was read: a busy queue
    /// read with -1 never keeps an execution running longer.
    #[schemars(title = "Execution timeout (in seconds)", range(min = 1, max = 3600), extend("x-order" = 8, "x-widget" = "number"))]
    #[serde(default = "default_execution_timeout")]
    pub execution_timeout_seconds: u32,

    /// The system attributes to read, each written as a property (SentTimestamp as
    /// sqs.sentTimestamp, AWSTraceHeader as sqs.awsTraceHeader, ...); All for every one.
    #[schemars(title = "System attributes", length(max = 10), extend("uniqueItems" = true, "x-order" = 9, "x-widget" = "multiselect"))]
    #[serde(default = "default_system_attributes")]
    pub system_attributes: Vec<SystemAttribute>,

    /// The message attributes to read, by name or by prefix (orders.* reads every attribute
    /// whose name starts with orders.), each written as sqs.attribute.<Name>; All (the default)
    /// for every one, an empty list for none.
    #[schemars(title = "Message attributes", length(max = 10), inner(length(min = 1, max = 256)), extend("x-order" = 10, "x-widget" = "list"))]
    #[serde(default = "default_message_attributes")]
    pub message_attributes: Vec<String>,

    /// Write a FIFO message's sequence number as sqs.sequenceNumber (off leaves it out, also
    /// with All system attributes).
    #[schemars(title = "Return sequence number", extend("x-order" = 11, "x-widget" = "checkbox"))]
    #[serde(default = "default_true")]
    pub return_sequence_number: bool,
}

/// DELETE: delete the messages the documents name by receipt handle.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteConfig {
    /// The queue of the messages, used for documents that carry neither an sqs.queueUrl nor an
    /// sqs.queue property.
    #[schemars(title = "Queue", length(min = 1, max = 1024), extend("x-order" = 1, "x-widget" = "browse"))]
    pub queue: Option<String>,
}

/// How LISTEN settles each message once the host's process answered its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CommitStrategy {
    /// Delete a message the process succeeded with; make one it failed visible again (after
    /// the release delay), message by message.
    #[default]
    AtLeastOnce,
    /// Neither delete nor release: the process deletes with DELETE (from `sqs.receiptHandle`).
    ProcessManaged,
}

/// LISTEN: receive messages as they arrive and hand each batch to the host's process.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenConfig {
    /// The queue to listen to: its name or its full URL.
    #[schemars(title = "Queue", length(min = 1, max = 1024), extend("x-order" = 1, "x-widget" = "browse"))]
    pub queue: String,

    /// The most messages per batch, 1 to 10 (one ReceiveMessage call).
    #[schemars(title = "Maximum messages per batch", range(min = 1, max = 10), extend("x-order" = 2, "x-widget" = "number"))]
    #[serde(default = "default_listen_batch")]
    pub max_messages: u32,

    /// Long polling: how long each receive waits for messages, 0 to 20 seconds.
    #[schemars(title = "Wait time (in seconds)", range(min = 0, max = 20), extend("x-order" = 3, "x-widget" = "number"))]
    #[serde(default = "default_listen_wait")]
    pub wait_time_seconds: u32,

    /// How long a batch's messages stay hidden from other consumers while the process runs, 1
    /// to 43200 seconds (the heartbeat extends it). Empty: the queue's default.
    #[schemars(title = "Visibility timeout (in seconds)", range(min = 1, max = 43200), extend("x-order" = 4, "x-widget" = "number"))]
    pub visibility_timeout_seconds: Option<u32>,

    /// How many receive loops run at once, 1 to 16 (a FIFO queue keeps each group's order
    /// whatever the number: SQS hands out a group's next messages only once the earlier ones are
    /// settled).
    #[schemars(title = "Pollers", range(min = 1, max = 16), extend("x-order" = 5, "x-widget" = "number"))]
    #[serde(default = "default_pollers")]
    pub pollers: u32,

    /// How many batches may wait for the process's answer at once, 1 to 64; no message is
    /// received while that many wait (backpressure).
    #[schemars(title = "Concurrent batches", range(min = 1, max = 64), extend("x-order" = 6, "x-widget" = "number"))]
    #[serde(default = "default_concurrent_batches")]
    pub max_concurrent_batches: u32,

    /// AT_LEAST_ONCE: delete what the process succeeded with, release what it failed.
    /// PROCESS_MANAGED: the process deletes with DELETE.
    #[schemars(title = "Commit strategy", extend("x-order" = 7, "x-widget" = "select"))]
    #[serde(default)]
    pub commit_strategy: CommitStrategy,

    /// How long a message the process failed stays hidden before it is delivered again, 0 to
    /// 43200 seconds (a retry backoff).
    #[schemars(title = "Release delay (in seconds)", range(min = 0, max = 43200), extend("x-order" = 8, "x-widget" = "number"))]
    #[serde(default)]
    pub release_delay_seconds: u32,

    /// While a batch waits for the process, extend its messages' visibility before it lapses (up
    /// to SQS's 12 hours), so a long process does not see a message delivered twice.
    #[schemars(title = "Heartbeat", extend("x-order" = 9, "x-widget" = "checkbox"))]
    #[serde(default = "default_true")]
    pub heartbeat: bool,

    /// The system attributes to read, as RECEIVE's System attributes.
    #[schemars(title = "System attributes", length(max = 10), extend("uniqueItems" = true, "x-order" = 10, "x-widget" = "multiselect"))]
    #[serde(default = "default_system_attributes")]
    pub system_attributes: Vec<SystemAttribute>,

    /// The message attributes to read, as RECEIVE's Message attributes (names, prefixes
    /// ending in .*, All by default, or none).
    #[schemars(title = "Message attributes", length(max = 10), inner(length(min = 1, max = 256)), extend("x-order" = 11, "x-widget" = "list"))]
    #[serde(default = "default_message_attributes")]
    pub message_attributes: Vec<String>,

    /// Write a FIFO message's sequence number as sqs.sequenceNumber.
    #[schemars(title = "Return sequence number", extend("x-order" = 12, "x-widget" = "checkbox"))]
    #[serde(default = "default_true")]
    pub return_sequence_number: bool,
}

fn default_listen_batch() -> u32 {
    10
}

fn default_listen_wait() -> u32 {
    20
}

fn default_pollers() -> u32 {
    1
}

fn default_concurrent_batches() -> u32 {
    4
}
