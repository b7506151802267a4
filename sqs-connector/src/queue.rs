//! Queues: names resolved to URLs when an operation runs (cached per connection), each queue
//! URL's own region used for the calls about it, and each queue's own size limit (read once,
//! cached).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;
use connector_sdk::{ConnectorError, ObjectType};
use parking_lot::Mutex;

use crate::client::{Route, SqsTarget};
use crate::connection::SqsConnection;
use crate::errors::SqsFailure;
use crate::operations::batching::CallError;

/// SQS's default and largest message size (1 MiB).
pub const MAX_MESSAGE_SIZE: usize = 1_048_576;

/// What SEND needs to know about a queue, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    /// The queue's `MaximumMessageSize` in bytes.
    pub max_message_size: usize,
    /// Whether a FIFO queue deduplicates by content (so no deduplication id is needed); `None`
    /// when the queue's attributes could not be read (then SQS itself decides).
    pub content_based_deduplication: Option<bool>,
}

/// What SEND assumes about a queue whose attributes it may not read (no
/// `sqs:GetQueueAttributes` permission): SQS's own largest size, and nothing about deduplication.
pub const UNREADABLE_QUEUE: QueueInfo = QueueInfo {
    max_message_size: MAX_MESSAGE_SIZE,
    content_based_deduplication: None,
};

/// Per-connection caches of queue URLs, queue limits, and the routes of other regions.
#[derive(Debug, Default)]
pub struct QueueCache {
    urls: Mutex<HashMap<String, String>>,
    infos: Mutex<HashMap<String, QueueInfo>>,
    routes: Mutex<HashMap<String, Arc<Route>>>,
}

/// A queue, resolved: its URL, and the route of the region its calls are signed for (the
/// URL's own region when it names one, else the connection's).
#[derive(Debug, Clone)]
pub struct Queue {
    /// The queue's URL.
    pub url: String,
    /// Where the calls about it go.
    pub route: Arc<Route>,
}

impl Queue {
    /// The client for calls the SDK retries.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.route.client
    }

    /// The client for calls the connector retries itself.
    pub fn batch_client(&self) -> &aws_sdk_sqs::Client {
        &self.route.batch_client
    }

    /// The region and endpoint of the calls about this queue.
    pub fn target(&self) -> &SqsTarget {
        &self.route.target
    }

    /// The connector error for a failed call about this queue (a missing queue is named).
    pub fn error(&self, failure: SqsFailure) -> ConnectorError {
        self.route.target.error_about(failure, &self.url)
    }

    /// A failed batch call about this queue, with whether it may be made again.
    pub fn call_error<E>(&self, err: &SdkError<E, HttpResponse>) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.route.target.call_error(err, &self.url)
    }

    /// What a failure of a call about this queue was, for a log line.
    pub fn describe(&self, failure: &SqsFailure) -> String {
        let target = self.target();
        failure.describe_about(&target.endpoint(), &target.region, Some(&self.url))
    }
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
    /// A queue given by name or URL, resolved. Names are resolved with GetQueueUrl in the
    /// connection's region, once per connection; a URL is used as it is, and when its host names
    /// an AWS region other than the connection's, the calls about it are signed for that region
    /// (and sent to its endpoint, unless the connection overrides the endpoint).
    pub async fn queue(&self, queue: &str) -> Result<Queue, ConnectorError> {
        let queue = queue.trim();
        if is_url(queue) {
            let route = match region_of_url(queue) {
                Some(region) if region != self.target().region => self.route_to(region),
                _ => self.home().clone(),
            };
            return Ok(Queue {
                url: queue.to_owned(),
                route,
            });
        }
        let url = self.resolve_name(queue).await?;
        Ok(Queue {
            url,
            route: self.home().clone(),
        })
    }

    /// The route of another region than the connection's, built once per connection.
    fn route_to(&self, region: &str) -> Arc<Route> {
        let mut routes = self.queues().routes.lock();
        if let Some(route) = routes.get(region) {
            return route.clone();
        }
        tracing::info!(
            queue_region = %region,
            connection_region = %self.target().region,
            "a queue URL names another region than the connection's; the calls about it are signed for the queue's region"
        );
        let route = Arc::new(self.home().in_region(region));
        routes.insert(region.to_owned(), route.clone());
        route
    }

    /// The URL of the queue named `name` in the connection's region, resolved once.
    async fn resolve_name(&self, queue: &str) -> Result<String, ConnectorError> {
        if let Some(url) = self.queues().urls.lock().get(queue) {
            return Ok(url.clone());
        }
        let answer = self
            .client()
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .map_err(|e| self.target().error_about(SqsFailure::classify(&e), queue))?;
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

    /// The queue's size limit and deduplication mode, read once per queue. Credentials that may
    /// send but not read the queue's attributes (no `sqs:GetQueueAttributes`) get
    /// [`UNREADABLE_QUEUE`], said once per queue in the log.
    pub async fn queue_info(&self, queue: &Queue) -> Result<QueueInfo, ConnectorError> {
        let url = queue.url.as_str();
        if let Some(info) = self.queues().infos.lock().get(url) {
            return Ok(*info);
        }
        let answer = queue
            .client()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .attribute_names(QueueAttributeName::ContentBasedDeduplication)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                let failure = SqsFailure::classify(&err);
                if !matches!(failure, SqsFailure::AccessDenied { .. }) {
                    return Err(queue.error(failure));
                }
                tracing::warn!(
                    queue = %url,
                    error = %queue.describe(&failure),
                    max_message_size = MAX_MESSAGE_SIZE,
                    "the credentials may not read this queue's attributes (sqs:GetQueueAttributes); SEND checks messages against SQS's largest size, 1 MiB, and leaves FIFO deduplication to SQS"
                );
                self.queues()
                    .infos
                    .lock()
                    .insert(url.to_owned(), UNREADABLE_QUEUE);
                return Ok(UNREADABLE_QUEUE);
            }
        };
        let attributes = answer.attributes();
        let get =
            |name: QueueAttributeName| attributes.and_then(|a| a.get(&name)).map(String::as_str);
        let info = QueueInfo {
            max_message_size: get(QueueAttributeName::MaximumMessageSize)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(MAX_MESSAGE_SIZE),
            content_based_deduplication: Some(
                get(QueueAttributeName::ContentBasedDeduplication) == Some("true"),
            ),
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
