//! One place where SQS errors are understood: each failed call is classified once, into what
//! went wrong and what the user should check.

use std::borrow::Cow;
use std::error::Error as StdError;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use connector_sdk::secret::scrub;
use connector_sdk::{ConnectorError, ErrorKind};

/// What went wrong with one SQS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqsFailure {
    /// No HTTP answer: connection refused, DNS failure, TLS failure.
    Unreachable(String),
    /// No answer in time; the request may have reached SQS and taken effect.
    Timeout(String),
    /// The connection broke after the request was sent, before the whole answer arrived (a reset,
    /// a truncated body): the request may have taken effect.
    ConnectionLost(String),
    /// Something answered, but not as SQS.
    NotSqs {
        /// The HTTP status.
        status: u16,
        /// The start of what it answered, printable characters only.
        excerpt: String,
    },
    /// A server error (5xx) without an SQS error code: a load balancer, a proxy or a gateway
    /// answered, or something that is not SQS. Worth retrying, but said with what it answered.
    ServerError {
        /// The HTTP status.
        status: u16,
        /// The start of what it answered, printable characters only.
        excerpt: String,
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
/// Codes that mean the request itself is at fault, whatever a server says in `SenderFault`
/// (LocalStack, for one, answers a bogus receipt handle with `SenderFault: false`): retrying
/// the same request cannot help.
pub const SENDER_CODES: &[&str] = &[
    "ReceiptHandleIsInvalid",
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "MessageTooLong",
    "InvalidMessageContents",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidBatchEntryId",
    "BatchEntryIdsNotDistinct",
    "TooManyEntriesInBatchRequest",
    "BatchRequestTooLong",
    "EmptyBatchRequest",
    "InvalidIdFormat",
    "UnsupportedOperation",
    "MessageNotInflight",
    "OverLimit",
    "QueueDoesNotExist",
    "NonExistentQueue",
    "AccessDenied",
    "AccessDeniedException",
    "KmsDisabled",
    "KmsInvalidKeyUsage",
    "KmsInvalidState",
    "KmsNotFound",
    "KmsOptInRequired",
    "KmsAccessDenied",
    "InvalidAddress",
    "InvalidSecurity",
];

/// Whether a batch entry's failure is the sender's: the service's flag, or a code that is the
/// sender's fault whatever the flag says.
pub fn is_sender_fault(code: &str, sender_fault_flag: bool) -> bool {
    sender_fault_flag || SENDER_CODES.contains(&strip_prefix(code))
}

/// At most `max` printable characters of a server's answer, for messages: control characters
/// become spaces, and a cut is marked.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out.trim().to_owned()
}

/// Whether the chain of an error says a connection could not be made (nothing was sent).
fn is_connect_failure(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            )
        {
            return true;
        }
        // hyper-util's connect errors say so in their text: "client error (Connect)".
        if e.to_string().contains("(Connect)") || e.to_string().contains("dns error") {
            return true;
        }
        next = e.source();
    }
    false
}

/// How a failed call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not at all: the request is refused for what it holds, or a setting is wrong.
    Never,
    /// Safely: the service did not act on the request (throttled, unavailable, not reached).
    Safe,
    /// The request may have taken effect (the connection broke after it was sent, or no answer
    /// came in time): a retry may repeat it.
    Ambiguous,
}

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
            SdkError::DispatchFailure(_) if is_connect_failure(err) => {
                SqsFailure::Unreachable(root_cause(err))
            }
            SdkError::DispatchFailure(_) => SqsFailure::ConnectionLost(root_cause(err)),
            // The body could not be read to its end (the SDK leaves it unread then): the
            // connection broke while the answer arrived; not a wrong endpoint.
            SdkError::ResponseError(r) => match r.raw().body().bytes() {
                None => SqsFailure::ConnectionLost(chain(err)),
                Some(body) => SqsFailure::NotSqs {
                    status: r.raw().status().as_u16(),
                    excerpt: excerpt(body, 160),
                },
            },
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = s.err().code().map(|code| scrub(code).into_owned());
                let message = scrub(s.err().message().unwrap_or_default()).into_owned();
                let Some(code) = code else {
                    let excerpt = s
                        .raw()
                        .body()
                        .bytes()
                        .map(|b| scrub(&excerpt(b, 160)).into_owned())
                        .unwrap_or_default();
                    return if status >= 500 {
                        SqsFailure::ServerError { status, excerpt }
                    } else {
                        SqsFailure::NotSqs { status, excerpt }
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
            | SqsFailure::ConnectionLost(_)
            | SqsFailure::Unavailable { .. }
            | SqsFailure::ServerError { .. } => ErrorKind::Transient,
            SqsFailure::NotSqs { .. } | SqsFailure::Construction(_) => ErrorKind::Config,
            SqsFailure::CredentialsRefused { .. } | SqsFailure::NoCredentials(_) => ErrorKind::Auth,
            SqsFailure::AccessDenied { .. }
            | SqsFailure::NoSuchQueue(_)
            | SqsFailure::Service { .. } => ErrorKind::Application,
        }
    }

    /// How the failed call may be retried.
    pub fn retry(&self) -> Retry {
        match self {
            SqsFailure::Unreachable(_)
            | SqsFailure::Unavailable { .. }
            | SqsFailure::ServerError { .. } => Retry::Safe,
            SqsFailure::Timeout(_) | SqsFailure::ConnectionLost(_) => Retry::Ambiguous,
            _ => Retry::Never,
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

    /// What happened and what to check, for a call made to `endpoint` in `region`. What the
    /// service or the network said is scrubbed of anything that looks like a credential, a
    /// signature or a token ([`connector_sdk::secret::scrub`]): it goes into results, errors and
    /// logs.
    pub fn describe(&self, endpoint: &str, region: &str) -> String {
        self.describe_about(endpoint, region, None)
    }

    /// [`describe`](Self::describe) for a call about one queue (its name or URL), which a
    /// missing queue's message names.
    pub fn describe_about(&self, endpoint: &str, region: &str, queue: Option<&str>) -> String {
        let text = self.describe_verbatim(endpoint, region, queue);
        match scrub(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(scrubbed) => scrubbed,
        }
    }

    fn describe_verbatim(&self, endpoint: &str, region: &str, queue: Option<&str>) -> String {
        match self {
            SqsFailure::Unreachable(detail) => format!(
                "could not reach SQS at {endpoint} ({detail}); check the SQS endpoint URL, the \
                 region, and that this runtime can reach the host (proxy, firewall, VPC endpoint)"
            ),
            SqsFailure::Timeout(detail) => format!(
                "SQS at {endpoint} did not answer in time ({detail}); check that the host is \
                 reachable from this runtime and not blocked by a firewall"
            ),
            SqsFailure::ConnectionLost(detail) => format!(
                "the connection to SQS at {endpoint} broke before its whole answer arrived \
                 ({detail}); the request may or may not have taken effect"
            ),
            SqsFailure::NotSqs { status, excerpt } => {
                let said = if excerpt.is_empty() {
                    String::new()
                } else {
                    format!(" (it said: {excerpt})")
                };
                format!(
                    "{endpoint} answered HTTP {status}, but not as Amazon SQS{said}; check the SQS \
                     endpoint URL (leave it empty to use the region's endpoint)"
                )
            }
            SqsFailure::ServerError { status, excerpt } => {
                let said = if excerpt.is_empty() {
                    "with an empty body".to_owned()
                } else {
                    format!("(it said: {excerpt})")
                };
                format!(
                    "{endpoint} answered HTTP {status} without an SQS error {said}; the connector \
                     retried; if it persists, check the SQS endpoint URL and any proxy or gateway \
                     between this runtime and SQS"
                )
            }
            SqsFailure::CredentialsRefused { code, message } => format!(
                "AWS refused the credentials in region {region} ({code}: {message}); check the \
                 access key and secret key (and the session token for temporary keys), and that \
                 the account is in this partition"
            ),
            SqsFailure::AccessDenied { code, message } => format!(
                "the credentials were accepted, but they are not allowed to do this ({code}: \
                 {message}); ask your AWS administrator for the SQS permission"
            ),
            SqsFailure::NoSuchQueue(message) => match queue {
                Some(queue) => format!(
                    "queue {} does not exist in region {region} for this account ({message}); \
                     check the queue name, and the connection's region (a queue URL's own region \
                     is used for it)",
                    crate::queue::queue_name(queue)
                ),
                None => format!(
                    "the queue does not exist in region {region} for this account ({message}); \
                     check the queue name and the connection's region"
                ),
            },
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
        self.into_error_about(endpoint, region, None)
    }

    /// [`into_error`](Self::into_error) for a call about one queue (its name or URL).
    pub fn into_error_about(
        self,
        endpoint: &str,
        region: &str,
        queue: Option<&str>,
    ) -> ConnectorError {
        let message = self.describe_about(endpoint, region, queue);
        let err = ConnectorError::new(self.kind(), message);
        match self.code() {
            Some(code) => err.with_status_code(code),
            None => err,
        }
    }
}
