//! Queues: names resolved to URLs when an operation runs (cached per connection), and each
//! queue's own size limit (read once, cached).

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use connector_sdk::{ConnectorError, ObjectType};
use parking_lot::Mutex;

use crate::connection::SqsConnection;
use crate::errors::SqsFailure;

/// SQS's default and largest message size (1 MiB).
pub const MAX_MESSAGE_SIZE: usize = 1_048_576;

/// What SEND needs to know about a queue, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    /// The queue's `MaximumMessageSize` in bytes.
    pub max_message_size: usize,
    /// Whether a FIFO queue deduplicates by content (so no deduplication id is needed).
    pub content_based_deduplication: bool,
}

/// Per-connection caches of queue URLs and queue limits.
#[derive(Debug, Default)]
pub struct QueueCache {
    urls: Mutex<HashMap<String, String>>,
    infos: Mutex<HashMap<String, QueueInfo>>,
}

/// Whether the text names a queue by URL rather than by name.
pub fn is_url(queue: &str) -> bool {
    queue.starts_with("https://") || queue.starts_with("http://")
}

/// Whether a queue (name or URL) is a FIFO queue.
pub fn is_fifo(queue: &str) -> bool {
    queue.trim_end_matches('/').ends_with(".fifo")
}

/// The queue's name: the last path segment of its URL, or the name itself.
pub fn queue_name(queue: &str) -> &str {
    queue
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue)
}

/// The region in an AWS queue URL's host (`sqs.eu-west-1.amazonaws.com` or
/// `eu-west-1.queue.amazonaws.com`), when it is one.
pub fn region_of_url(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    let first = parts.next()?;
    let second = parts.next()?;
    if !host.contains(".amazonaws.com") {
        return None;
    }
    match (first, second) {
        ("sqs" | "sqs-fips", region) => Some(region),
        (region, "queue") => Some(region),
        _ => None,
    }
}

impl SqsConnection {
    /// The URL of a queue given by name or URL. Names are resolved with GetQueueUrl in the
    /// connection's region, once per connection.
    pub async fn queue_url(&self, queue: &str) -> Result<String, ConnectorError> {
        let queue = queue.trim();
        if is_url(queue) {
            if let Some(region) = region_of_url(queue)
                && region != self.target().region
            {
                tracing::warn!(
                    queue = %queue,
                    queue_region = %region,
                    connection_region = %self.target().region,
                    "the queue URL is in another region than the connection; requests are signed for the connection's region and may be refused"
                );
            }
            return Ok(queue.to_owned());
        }
        if let Some(url) = self.queues().urls.lock().get(queue) {
            return Ok(url.clone());
        }
        let answer = self
            .client()
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| self.error(SqsFailure::classify(&e)))?;
        let url = answer
            .queue_url()
            .ok_or_else(|| {
                ConnectorError::internal(format!("SQS returned no URL for queue {queue}"))
            })?
            .to_owned();
        self.queues()
            .urls
            .lock()
            .insert(queue.to_owned(), url.clone());
        Ok(url)
    }

    /// The queue's size limit and deduplication mode, read once per queue.
    pub async fn queue_info(&self, url: &str) -> Result<QueueInfo, ConnectorError> {
        if let Some(info) = self.queues().infos.lock().get(url) {
            return Ok(*info);
        }
        let answer = self
            .client()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .attribute_names(QueueAttributeName::ContentBasedDeduplication)
            .send()
            .await
            .map_err(|e| self.error(SqsFailure::classify(&e)))?;
        let attributes = answer.attributes();
        let get =
            |name: QueueAttributeName| attributes.and_then(|a| a.get(&name)).map(String::as_str);
        let info = QueueInfo {
            max_message_size: get(QueueAttributeName::MaximumMessageSize)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(MAX_MESSAGE_SIZE),
            content_based_deduplication: get(QueueAttributeName::ContentBasedDeduplication)
                == Some("true"),
        };
        self.queues().infos.lock().insert(url.to_owned(), info);
        Ok(info)
    }

    /// The queues whose names start with `prefix`, every page of ListQueues.
    pub async fn list_queues(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<ObjectType>, ConnectorError> {
        let mut queues = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .client()
                .list_queues()
                .set_queue_name_prefix(prefix.filter(|p| !p.is_empty()).map(str::to_owned))
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.error(SqsFailure::classify(&e)))?;
            queues.extend(answer.queue_urls().iter().map(|url| ObjectType {
                id: url.clone(),
                label: queue_name(url).to_owned(),
            }));
            match answer.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        queues.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(queues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_urls_fifo_queues_and_regions() {
        assert!(is_url(
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
        ));
        assert!(!is_url("orders"));
        assert!(is_fifo("orders.fifo") && is_fifo("http://127.0.0.1:5000/123/orders.fifo"));
        assert_eq!(
            queue_name("https://sqs.us-east-1.amazonaws.com/123456789012/orders"),
            "orders"
        );
        assert_eq!(
            region_of_url("https://sqs.eu-west-1.amazonaws.com/1/q"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_url("https://eu-west-2.queue.amazonaws.com/1/q"),
            Some("eu-west-2")
        );
        assert_eq!(region_of_url("http://127.0.0.1:5000/1/q"), None);
    }
}
