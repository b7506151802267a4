//! The SQS connection: credentials, the reused client, and Test Connection.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use connector_sdk::{
    ComponentId, Connection, ConnectorError, ExecutionContext, ObjectType, TestStep,
};

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;

use crate::client::{CONNECT_TIMEOUT, SqsTarget, TEST_CONNECTION_TIMEOUT, build_client};
use crate::config::{Authentication, SqsConnectionConfig};
use crate::errors::SqsFailure;
use crate::queue::QueueCache;

/// A connection to Amazon SQS (or an SQS-compatible server), built once per connection component
/// and settings and shared by every operation and execution.
#[derive(Debug)]
pub struct SqsConnection {
    id: ComponentId,
    target: SqsTarget,
    client: aws_sdk_sqs::Client,
    queues: QueueCache,
}

impl SqsConnection {
    /// The component id this connection was built for.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// The SQS client, shared by every call on this connection.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// Where calls go.
    pub fn target(&self) -> &SqsTarget {
        &self.target
    }

    /// The queue URL and limit caches of this connection.
    pub fn queues(&self) -> &QueueCache {
        &self.queues
    }

    /// The connector error for a failed SDK call on this connection.
    pub fn error(&self, failure: SqsFailure) -> ConnectorError {
        failure.into_error(&self.target.endpoint(), &self.target.region)
    }
}

fn credentials_provider(
    config: &SqsConnectionConfig,
) -> Result<SharedCredentialsProvider, ConnectorError> {
    match &config.authentication {
        Authentication::AccessKeys(keys) => Ok(SharedCredentialsProvider::new(Credentials::new(
            keys.access_key.trim(),
            keys.secret_key.expose().trim(),
            keys.session_token
                .as_ref()
                .map(|t| t.expose().trim().to_owned()),
            None,
            "connection-fields",
        ))),
        Authentication::RolesAnywhere(_) => Err(ConnectorError::config(
            "AWS IAM Roles Anywhere authentication is not available in this version of the \
             connector; choose Access keys as the Authentication Type",
        )),
    }
}

impl Connection for SqsConnection {
    type Config = SqsConnectionConfig;

    fn connect(id: &ComponentId, config: SqsConnectionConfig) -> Result<Self, ConnectorError> {
        let target = SqsTarget {
            region: config.effective_region().to_owned(),
            endpoint_url: config.endpoint_url.clone(),
        };
        let credentials = credentials_provider(&config)?;
        let client = build_client(id, &target, credentials);
        Ok(Self {
            id: id.clone(),
            target,
            client,
            queues: QueueCache::default(),
        })
    }

    async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
        const REACHABLE: &str = "SQS reachable";
        const ACCEPTED: &str = "Credentials accepted";
        let endpoint = self.target.endpoint();
        let region = &self.target.region;
        let answer = self
            .client
            .list_queues()
            .max_results(1)
            .customize()
            .config_override(
                aws_sdk_sqs::config::Config::builder()
                    .retry_config(RetryConfig::standard().with_max_attempts(1))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(CONNECT_TIMEOUT)
                            .operation_timeout(TEST_CONNECTION_TIMEOUT)
                            .build(),
                    ),
            )
            .send()
            .await;
        match answer {
            Ok(_) => vec![
                TestStep::passed(REACHABLE, format!("{endpoint} answered as Amazon SQS")),
                TestStep::passed(
                    ACCEPTED,
                    format!(
                        "AWS accepted the credentials in region {region} (ListQueues succeeded)"
                    ),
                ),
            ],
            Err(err) => {
                let failure = SqsFailure::classify(&err);
                let message = failure.describe(&endpoint, region);
                match failure {
                    SqsFailure::Unreachable(_)
                    | SqsFailure::Timeout(_)
                    | SqsFailure::NotSqs { .. }
                    | SqsFailure::Construction(_) => vec![
                        TestStep::failed(REACHABLE, message),
                        TestStep::skipped(
                            ACCEPTED,
                            "not checked, because SQS could not be reached",
                        ),
                    ],
                    SqsFailure::AccessDenied {
                        code,
                        message: detail,
                    } => vec![
                        TestStep::passed(REACHABLE, format!("{endpoint} answered as Amazon SQS")),
                        TestStep::warning(
                            ACCEPTED,
                            format!(
                                "the credentials work in region {region}, but they may not list queues \
                                 ({code}: {detail}); operations on the queues they are allowed to use will work"
                            ),
                        ),
                    ],
                    _ => vec![
                        TestStep::passed(REACHABLE, format!("{endpoint} answered")),
                        TestStep::failed(ACCEPTED, message),
                    ],
                }
            }
        }
    }

    async fn browse(
        &self,
        _ctx: &ExecutionContext,
        _operation_type: &str,
        filter: Option<&str>,
    ) -> Result<Vec<ObjectType>, ConnectorError> {
        self.list_queues(filter).await
    }
}
