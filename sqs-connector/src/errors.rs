//! One place where SQS errors are understood: each failed call is classified once, into what
//! went wrong and what the user should check.

use std::error::Error as StdError;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use connector_sdk::{ConnectorError, ErrorKind};

/// What went wrong with one SQS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqsFailure {
    /// No HTTP answer: connection refused, DNS failure, TLS failure.
    Unreachable(String),
    /// No answer in time.
    Timeout(String),
    /// Something answered, but not as SQS.
    NotSqs {
        /// The HTTP status.
        status: u16,
    },
    /// AWS refused the credentials.
    CredentialsRefused {
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The credentials work but lack a permission.
    AccessDenied {
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The queue does not exist (in this region, for these credentials).
    NoSuchQueue(String),
    /// Throttling or a server-side error: worth retrying later.
    Unavailable {
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// Any other error the service reported.
    Service {
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The request could not be built (a bug or an impossible setting).
    Construction(String),
    /// The credentials could not be obtained (Roles Anywhere refused, or the certificate is unusable).
    NoCredentials(String),
}

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "InvalidSecurity",
    "AuthFailure",
    "RequestExpired",
    "InvalidToken",
];
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "KMS.AccessDeniedException",
];
const NO_QUEUE_CODES: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];
const UNAVAILABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KmsThrottled",
];

fn strip_prefix(code: &str) -> &str {
    code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code)
}

/// The messages of an error and its sources, joined, without repeats.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// The innermost error's message: the one that says what happened (`Connection refused`).
pub fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// A connector error somewhere in the chain: our credentials provider's, carried by the SDK.
fn connector_error_in<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a ConnectorError> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<ConnectorError>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

impl SqsFailure {
    /// Classifies an SDK error.
    pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        if let Some(cause) = connector_error_in(err) {
            return SqsFailure::NoCredentials(cause.display_chain());
        }
        match err {
            SdkError::ConstructionFailure(_) => SqsFailure::Construction(chain(err)),
            SdkError::TimeoutError(_) => SqsFailure::Timeout(chain(err)),
            SdkError::DispatchFailure(d) if d.is_timeout() => SqsFailure::Timeout(chain(err)),
            SdkError::DispatchFailure(_) => SqsFailure::Unreachable(root_cause(err)),
            SdkError::ResponseError(r) => SqsFailure::NotSqs {
                status: r.raw().status().as_u16(),
            },
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = s.err().code().map(str::to_owned);
                let message = s.err().message().unwrap_or_default().to_owned();
                let Some(code) = code else {
                    return if status >= 500 {
                        SqsFailure::Unavailable {
                            code: format!("HTTP {status}"),
                            message,
                        }
                    } else {
                        SqsFailure::NotSqs { status }
                    };
                };
                let short = strip_prefix(&code);
                if CREDENTIAL_CODES.contains(&short) {
                    SqsFailure::CredentialsRefused { code, message }
                } else if DENIED_CODES.contains(&short) {
                    SqsFailure::AccessDenied { code, message }
                } else if NO_QUEUE_CODES.contains(&code.as_str()) || short == "NonExistentQueue" {
                    SqsFailure::NoSuchQueue(message)
                } else if UNAVAILABLE_CODES.contains(&short) || status >= 500 {
                    SqsFailure::Unavailable { code, message }
                } else {
                    SqsFailure::Service { code, message }
                }
            }
            _ => SqsFailure::Unreachable(chain(err)),
        }
    }

    /// The error kind this failure maps onto.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SqsFailure::Unreachable(_)
            | SqsFailure::Timeout(_)
            | SqsFailure::Unavailable { .. } => ErrorKind::Transient,
            SqsFailure::NotSqs { .. } | SqsFailure::Construction(_) => ErrorKind::Config,
            SqsFailure::CredentialsRefused { .. } | SqsFailure::NoCredentials(_) => ErrorKind::Auth,
            SqsFailure::AccessDenied { .. }
            | SqsFailure::NoSuchQueue(_)
            | SqsFailure::Service { .. } => ErrorKind::Application,
        }
    }

    /// The service's error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SqsFailure::CredentialsRefused { code, .. }
            | SqsFailure::AccessDenied { code, .. }
            | SqsFailure::Unavailable { code, .. }
            | SqsFailure::Service { code, .. } => Some(code),
            SqsFailure::NoSuchQueue(_) => Some("QueueDoesNotExist"),
            _ => None,
        }
    }

    /// What happened and what to check, for a call made to `endpoint` in `region`.
    pub fn describe(&self, endpoint: &str, region: &str) -> String {
        match self {
            SqsFailure::Unreachable(detail) => format!(
                "could not reach SQS at {endpoint} ({detail}); check the SQS endpoint URL, the \
                 region, and that this runtime can reach the host (proxy, firewall, VPC endpoint)"
            ),
            SqsFailure::Timeout(detail) => format!(
                "SQS at {endpoint} did not answer in time ({detail}); check that the host is \
                 reachable from this runtime and not blocked by a firewall"
            ),
            SqsFailure::NotSqs { status } => format!(
                "{endpoint} answered HTTP {status}, but not as Amazon SQS; check the SQS endpoint \
                 URL (leave it empty to use the region's endpoint)"
            ),
            SqsFailure::CredentialsRefused { code, message } => format!(
                "AWS refused the credentials in region {region} ({code}: {message}); check the \
                 access key and secret key (and the session token for temporary keys), and that \
                 the account is in this partition"
            ),
            SqsFailure::AccessDenied { code, message } => format!(
                "the credentials were accepted, but they are not allowed to do this ({code}: \
                 {message}); ask your AWS administrator for the SQS permission"
            ),
            SqsFailure::NoSuchQueue(message) => format!(
                "the queue does not exist in region {region} for this account ({message}); check \
                 the queue name and the connection's region"
            ),
            SqsFailure::Unavailable { code, message } => format!(
                "SQS is busy or unavailable ({code}: {message}); the connector retried; try again later"
            ),
            SqsFailure::Service { code, message } => {
                format!("SQS refused the request ({code}: {message})")
            }
            SqsFailure::NoCredentials(detail) => {
                format!("could not obtain credentials for SQS: {detail}")
            }
            SqsFailure::Construction(detail) => {
                format!(
                    "the SQS request could not be built ({detail}); check the connection's settings"
                )
            }
        }
    }

    /// The connector error for this failure.
    pub fn into_error(self, endpoint: &str, region: &str) -> ConnectorError {
        let message = self.describe(endpoint, region);
        let err = ConnectorError::new(self.kind(), message);
        match self.code() {
            Some(code) => err.with_status_code(code),
            None => err,
        }
    }
}
