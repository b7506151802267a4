//! The SQS connection: credentials, the reused client, and Test Connection.

use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use connector_sdk::{
    ComponentId, Connection, ConnectorError, ExecutionContext, ObjectType, TestStep,
};

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;

use crate::auth::roles_anywhere::{RolesAnywhereAuth, RolesAnywhereProvider};
use crate::client::{CONNECT_TIMEOUT, Route, SqsTarget, TEST_CONNECTION_TIMEOUT, build_client};
use crate::config::{AccessKeysConfig, Authentication, SqsConnectionConfig};
use crate::errors::SqsFailure;
use crate::queue::QueueCache;

/// A connection to Amazon SQS (or an SQS-compatible server), built once per connection component
/// and settings and shared by every operation and execution.
#[derive(Debug)]
pub struct SqsConnection {
    id: ComponentId,
    /// The calls in the connection's own region.
    home: Arc<Route>,
    queues: QueueCache,
    roles_anywhere: Option<Arc<RolesAnywhereAuth>>,
}

impl SqsConnection {
    /// The component id this connection was built for.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// The SQS client of the connection's region, shared by every call on this connection (the
    /// calls about a queue in another region go through [`crate::queue::Queue`]'s route).
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.home.client
    }

    /// The client for the calls the connector retries itself (SDK retries off): SendMessageBatch,
    /// SendMessage and DeleteMessageBatch.
    pub fn batch_client(&self) -> &aws_sdk_sqs::Client {
        &self.home.batch_client
    }

    /// Where calls go: the connection's region and endpoint.
    pub fn target(&self) -> &SqsTarget {
        &self.home.target
    }

    /// The route of the connection's own region.
    pub fn home(&self) -> &Arc<Route> {
        &self.home
    }

    /// The queue URL and limit caches of this connection.
    pub fn queues(&self) -> &QueueCache {
        &self.queues
    }

    /// The connector error for a failed SDK call on this connection.
    pub fn error(&self, failure: SqsFailure) -> ConnectorError {
        self.home.target.error(failure)
    }
}

fn access_keys_provider(keys: &AccessKeysConfig) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        keys.access_key.trim(),
        keys.secret_key.expose().trim(),
        keys.session_token
            .as_ref()
            .map(|t| t.expose().trim().to_owned()),
        None,
        "connection-fields",
    ))
}

const REACHABLE: &str = "SQS reachable";
const ACCEPTED: &str = "Credentials accepted";
const CERTIFICATE: &str = "Certificate and key loaded";
const TEMPORARY: &str = "Temporary credentials obtained";

impl SqsConnection {
    /// The Roles Anywhere steps of Test Connection, and whether the SQS check should follow.
    async fn test_roles_anywhere(
        &self,
        ra: &RolesAnywhereAuth,
        ctx: &ExecutionContext,
    ) -> (Vec<TestStep>, bool) {
        let mut steps = Vec::new();
        let skip_rest = |steps: &mut Vec<TestStep>, from: &[&str]| {
            for name in from {
                steps.push(TestStep::skipped(
                    *name,
                    "not checked, because an earlier step failed",
                ));
            }
        };
        match ra.identity() {
            Err(message) => {
                steps.push(TestStep::failed(CERTIFICATE, message));
                skip_rest(&mut steps, &[TEMPORARY, REACHABLE, ACCEPTED]);
                return (steps, false);
            }
            Ok(identity) => {
                let certificate = identity.certificate();
                if let Err(err) = identity.check_validity(ctx.now()) {
                    steps.push(TestStep::failed(CERTIFICATE, err.to_string()));
                    skip_rest(&mut steps, &[TEMPORARY, REACHABLE, ACCEPTED]);
                    return (steps, false);
                }
                let chain = match identity.chain().len() {
                    0 => String::new(),
                    n => format!(
                        ", with {n} chain certificate{}",
                        if n == 1 { "" } else { "s" }
                    ),
                };
                steps.push(TestStep::passed(
                    CERTIFICATE,
                    format!(
                        "certificate {} (serial {}) is valid until {}{chain}; the {} private key belongs to it",
                        certificate.subject(),
                        certificate.serial_decimal(),
                        certificate.not_after_rfc3339(),
                        identity.key_kind()
                    ),
                ));
            }
        }
        if let Some(anchor_region) = ra.trust_anchor_region()
            && anchor_region != ra.target().region
        {
            steps.push(TestStep::warning(
                "Roles Anywhere region",
                format!(
                    "AWS Roles Anywhere Region is {}, but the trust anchor is in {anchor_region}; CreateSession \
                     usually fails unless both are the same",
                    ra.target().region
                ),
            ));
        }
        match ra.credentials().await {
            Ok(credentials) => {
                let until = credentials
                    .expiry()
                    .map(crate::time::system_rfc3339)
                    .unwrap_or_else(|| "an unknown time".into());
                steps.push(TestStep::passed(
                    TEMPORARY,
                    format!(
                        "IAM Roles Anywhere at {} issued credentials for {} valid until {until}",
                        ra.target().base_url,
                        ra.role_arn()
                    ),
                ));
                (steps, true)
            }
            Err(err) => {
                steps.push(TestStep::failed(TEMPORARY, err.display_chain()));
                skip_rest(&mut steps, &[REACHABLE, ACCEPTED]);
                (steps, false)
            }
        }
    }

    async fn test_sqs(&self) -> Vec<TestStep> {
        let endpoint = self.target().endpoint();
        let region = &self.target().region;
        let answer = self
            .client()
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
                    | SqsFailure::ConnectionLost(_)
                    | SqsFailure::NotSqs { .. }
                    | SqsFailure::ServerError { .. }
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
}

impl Connection for SqsConnection {
    type Config = SqsConnectionConfig;

    fn connect(id: &ComponentId, config: SqsConnectionConfig) -> Result<Self, ConnectorError> {
        let target = SqsTarget {
            region: config.effective_region().to_owned(),
            endpoint_url: config.endpoint_url.clone(),
        };
        let (credentials, roles_anywhere) = match &config.authentication {
            Authentication::AccessKeys(keys) => (access_keys_provider(keys), None),
            Authentication::RolesAnywhere(settings) => {
                let auth = Arc::new(RolesAnywhereAuth::new(id, settings));
                (
                    SharedCredentialsProvider::new(RolesAnywhereProvider(auth.clone())),
                    Some(auth),
                )
            }
        };
        let client = build_client(id, &target, credentials);
        Ok(Self {
            id: id.clone(),
            home: Arc::new(Route::new(target, client)),
            queues: QueueCache::default(),
            roles_anywhere,
        })
    }

    async fn test(&self, ctx: &ExecutionContext) -> Vec<TestStep> {
        let mut steps = Vec::new();
        if let Some(ra) = &self.roles_anywhere {
            let (ra_steps, go_on) = self.test_roles_anywhere(ra, ctx).await;
            steps.extend(ra_steps);
            if !go_on {
                return steps;
            }
        }
        steps.extend(self.test_sqs().await);
        steps
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
