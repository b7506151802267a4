//! The raw `aws-sdk-sqs` contenders, and the queue housekeeping every contender relies on (create,
//! fill, count, delete). The client has the connector's settings: region, endpoint, static
//! credentials, standard retries with 4 attempts, the same timeouts, no identity cache.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, IdentityCache, Region};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};

use crate::messages::Message;

/// The region every contender signs for.
pub(crate) const REGION: &str = "us-east-1";
/// The static access key every contender uses (fauxqs accepts any).
pub(crate) const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// The static secret key.
pub(crate) const SECRET_KEY: &str = "bench-secret-key";

fn failed(what: &str, err: impl std::error::Error) -> String {
    format!("{what}: {}", DisplayErrorContext(err))
}

/// A client with the connector's settings, pointed at `endpoint`.
pub(crate) fn client(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "bench",
        ))
        .identity_cache(IdentityCache::no_cache())
        .retry_config(RetryConfig::standard().with_max_attempts(4))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(35))
                .build(),
        )
        .endpoint_url(endpoint.trim_end_matches('/'))
        .build();
    Client::from_conf(config)
}

/// Creates a queue; a 10-minute visibility timeout keeps a slow drain from seeing redeliveries.
pub(crate) async fn create_queue(client: &Client, name: &str) -> Result<String, String> {
    let answer = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "600")
        .send()
        .await
        .map_err(|e| failed(&format!("CreateQueue {name}"), e))?;
    answer
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| format!("CreateQueue {name} returned no URL"))
}

/// Deletes a queue (best effort: the figures are already taken).
pub(crate) async fn delete_queue(client: &Client, url: &str) {
    let _ = client.delete_queue().queue_url(url).send().await;
}

/// (visible, in flight) messages of a queue.
pub(crate) async fn count(client: &Client, url: &str) -> Result<(u64, u64), String> {
    let answer = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| failed("GetQueueAttributes", e))?;
    let get = |name: QueueAttributeName| {
        answer
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Fails unless the queue holds exactly `visible` visible messages and none in flight.
pub(crate) async fn expect_count(client: &Client, url: &str, visible: u64) -> Result<(), String> {
    let (found, in_flight) = count(client, url).await?;
    if found != visible || in_flight != 0 {
        return Err(format!(
            "queue {url} holds {found} visible and {in_flight} in-flight messages; {visible} visible and none in flight were expected"
        ));
    }
    Ok(())
}

/// Waits until the queue holds no message, visible or in flight (the plugin's RECEIVE deletes
/// what it read after its answer was written); then checks that with [`expect_count`]. Polls
/// every 2 ms for at most 60 s.
pub(crate) async fn wait_empty(client: &Client, url: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(client, url).await? != (0, 0) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    expect_count(client, url, 0).await
}

/// One SendMessageBatch of up to 10 messages; fails unless every entry succeeded.
async fn send_batch(client: &Client, url: &str, chunk: &[Message]) -> Result<(), String> {
    let entries = chunk
        .iter()
        .enumerate()
        .map(|(i, m)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&m.body)
                .set_message_attributes(Some(m.sdk_attributes()))
                .build()
                .map_err(|e| failed("batch entry", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let answer = client
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| failed("SendMessageBatch", e))?;
    if !answer.failed().is_empty() || answer.successful().len() != chunk.len() {
        return Err(format!(
            "SendMessageBatch: {} of {} entries failed",
            answer.failed().len(),
            chunk.len()
        ));
    }
    Ok(())
}

/// The best the SDK does: SendMessageBatch of 10, `concurrency` calls in flight.
pub(crate) async fn send_batches(
    client: &Client,
    url: &str,
    messages: &[Message],
    concurrency: usize,
) -> Result<(), String> {
    crate::limited(
        messages
            .chunks(10)
            .map(|chunk| send_batch(client, url, chunk)),
        concurrency,
    )
    .await
}

/// One SendMessage after the other.
pub(crate) async fn send_sequential(
    client: &Client,
    url: &str,
    messages: &[Message],
) -> Result<(), String> {
    for message in messages {
        client
            .send_message()
            .queue_url(url)
            .message_body(&message.body)
            .set_message_attributes(Some(message.sdk_attributes()))
            .send()
            .await
            .map_err(|e| failed("SendMessage", e))?;
    }
    Ok(())
}

/// One drain worker: ReceiveMessage and DeleteMessageBatch until two empty answers in a row.
async fn drain_worker(client: &Client, url: &str, deleted: &AtomicUsize) -> Result<(), String> {
    let mut empty = 0;
    while empty < 2 {
        let answer = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| failed("ReceiveMessage", e))?;
        let messages = answer.messages();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .map_err(|e| failed("delete entry", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let answer = client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| failed("DeleteMessageBatch", e))?;
        if !answer.failed().is_empty() {
            return Err(format!(
                "DeleteMessageBatch: {} entries failed",
                answer.failed().len()
            ));
        }
        deleted.fetch_add(answer.successful().len(), Ordering::Relaxed);
    }
    Ok(())
}

/// The best drain: `workers` loops of ReceiveMessage (10, every attribute, no wait) and
/// DeleteMessageBatch; a worker stops after two empty answers in a row. Returns how many
/// messages were deleted.
pub(crate) async fn drain(client: &Client, url: &str, workers: usize) -> Result<usize, String> {
    let deleted = AtomicUsize::new(0);
    let workers = workers.max(1);
    crate::limited(
        (0..workers).map(|_| drain_worker(client, url, &deleted)),
        workers,
    )
    .await?;
    Ok(deleted.load(Ordering::Relaxed))
}
