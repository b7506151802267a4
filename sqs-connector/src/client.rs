//! Builds the `aws-sdk-sqs` client of a connection: region, endpoint, credentials, timeouts.
//! One client per connection component and settings; the SDK's connector caches connections,
//! so every execution reuses the client and its HTTP connection pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{BehaviorVersion, IdentityCache, Region};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use connector_sdk::{ComponentId, ConnectorError};

use crate::errors::SqsFailure;
use crate::operations::batching::CallError;

use crate::config::regions::is_china;

/// How long to wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one attempt of a call may take; above the 20 s long-polling maximum.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(35);

/// The environment variable that shortens (or lengthens) [`ATTEMPT_TIMEOUT`], in milliseconds:
/// for tests that make a server answer too late, and for runtimes that must fail faster.
pub const ATTEMPT_TIMEOUT_ENV: &str = "SQS_CONNECTOR_ATTEMPT_TIMEOUT_MS";

/// The attempt timeout in force: [`ATTEMPT_TIMEOUT`], or the value of [`ATTEMPT_TIMEOUT_ENV`]
/// (read once per process; at least 100 ms).
pub fn attempt_timeout() -> Duration {
    static TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TIMEOUT.get_or_init(|| {
        std::env::var(ATTEMPT_TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|ms| Duration::from_millis(ms.max(100)))
            .unwrap_or(ATTEMPT_TIMEOUT)
    })
}

/// The same client with the SDK's retries off, for the calls the connector retries itself
/// (SendMessageBatch, SendMessage, DeleteMessageBatch): only the connector knows which
/// documents an attempt that broke off may have sent, and says so in their results. Built once
/// per connection, next to the client it copies.
pub fn without_sdk_retries(client: &aws_sdk_sqs::Client) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        client
            .config()
            .to_builder()
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build(),
    )
}

/// How long Test Connection waits for its check call: a user is waiting for the answer.
pub const TEST_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How many attempts a call gets (the first, and retries with backoff for retryable errors).
pub const MAX_ATTEMPTS: u32 = 4;

static CLIENTS_BUILT: AtomicU64 = AtomicU64::new(0);

/// How many SQS clients this process has built (one per connection component and settings).
pub fn clients_built() -> u64 {
    CLIENTS_BUILT.load(Ordering::Relaxed)
}

/// Where a connection sends its SQS calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsTarget {
    /// The region requests are signed for.
    pub region: String,
    /// The endpoint override, when set.
    pub endpoint_url: Option<String>,
}

impl SqsTarget {
    /// The endpoint the calls go to, for messages: the override, or the region's.
    pub fn endpoint(&self) -> String {
        match &self.endpoint_url {
            Some(url) => url.clone(),
            None if is_china(&self.region) => {
                format!("https://sqs.{}.amazonaws.com.cn", self.region)
            }
            None => format!("https://sqs.{}.amazonaws.com", self.region),
        }
    }
}

impl SqsTarget {
    /// The connector error for a failed SDK call to this target.
    pub fn error(&self, failure: SqsFailure) -> ConnectorError {
        failure.into_error(&self.endpoint(), &self.region)
    }

    /// The connector error for a failed SDK call about one queue (its name or URL).
    pub fn error_about(&self, failure: SqsFailure, queue: &str) -> ConnectorError {
        failure.into_error_about(&self.endpoint(), &self.region, Some(queue))
    }

    /// A failed batch call about a queue to this target, with whether it may be made again.
    pub fn call_error<E>(&self, err: &SdkError<E, HttpResponse>, queue: &str) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = SqsFailure::classify(err);
        let retry = failure.retry();
        CallError {
            error: self.error_about(failure, queue),
            retry,
        }
    }
}

/// Where the calls about the queues of one region go: the region they are signed for (and the
/// endpoint), with the client and its copy without SDK retries ([`without_sdk_retries`]).
#[derive(Debug)]
pub struct Route {
    /// The region and endpoint.
    pub target: SqsTarget,
    /// The client for calls the SDK retries.
    pub client: aws_sdk_sqs::Client,
    /// The client for calls the connector retries itself.
    pub batch_client: aws_sdk_sqs::Client,
}

impl Route {
    /// The route of `client`, which was built for `target`.
    pub fn new(target: SqsTarget, client: aws_sdk_sqs::Client) -> Self {
        let batch_client = without_sdk_retries(&client);
        Self {
            target,
            client,
            batch_client,
        }
    }

    /// The same connection's route for another region: the same credentials, timeouts and
    /// endpoint override (without one, the region's own endpoint), signed for `region`.
    pub fn in_region(&self, region: &str) -> Self {
        let target = SqsTarget {
            region: region.to_owned(),
            endpoint_url: self.target.endpoint_url.clone(),
        };
        let client = aws_sdk_sqs::Client::from_conf(
            self.client
                .config()
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build(),
        );
        let built = CLIENTS_BUILT.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            region = %target.region,
            endpoint = %target.endpoint(),
            clients_built = built,
            "SQS client built for a queue in another region than the connection's"
        );
        Self::new(target, client)
    }
}

/// Builds the SQS client for a connection. No I/O happens here.
pub fn build_client(
    component: &ComponentId,
    target: &SqsTarget,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_sqs::Client {
    let mut builder = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .credentials_provider(credentials)
        // The connector's own cache (auth::cache) decides when credentials are renewed.
        .identity_cache(IdentityCache::no_cache())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt_timeout())
                .build(),
        );
    if let Some(url) = &target.endpoint_url {
        builder = builder.endpoint_url(url.trim_end_matches('/'));
    }
    let client = aws_sdk_sqs::Client::from_conf(builder.build());
    let built = CLIENTS_BUILT.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::info!(
        component = %component,
        region = %target.region,
        endpoint = %target.endpoint(),
        clients_built = built,
        "SQS client built"
    );
    client
}
