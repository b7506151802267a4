//! Errors with a kind, mapped onto the plugin protocol's error codes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, in the terms a host needs to decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The component's settings are wrong: the user must edit them.
    Config,
    /// Credentials could not be obtained or were refused.
    Auth,
    /// Network, throttling or an unavailable service, after retries: trying later may work.
    Transient,
    /// The service or a check refused this piece of work (a document, a queue).
    Application,
    /// A bug or an unexpected state in the connector.
    Internal,
}

impl ErrorKind {
    /// The lowercase name used on the wire (`"auth"`, `"transient"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Auth => "auth",
            ErrorKind::Transient => "transient",
            ErrorKind::Application => "application",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field of a component, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// The field key, as in the component's `fields` (`customRegion`).
    pub field: String,
    /// The label the user sees for that field (`Custom AWS SQS Region`).
    pub label: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.label.is_empty() || self.label == self.field {
            write!(f, "{}: {}", self.field, self.message)
        } else {
            write!(f, "{} ({}): {}", self.label, self.field, self.message)
        }
    }
}

/// The one error type a connector returns: a kind, a message for users, an optional source chain
/// and, for configuration errors, the fields at fault.
///
/// The message must never contain a secret value.
#[derive(Debug)]
pub struct ConnectorError {
    kind: ErrorKind,
    message: String,
    status_code: Option<String>,
    field_errors: Vec<FieldError>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ConnectorError {
    /// An error of the given kind with a message for users.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status_code: None,
            field_errors: Vec::new(),
            source: None,
        }
    }

    /// A configuration error (the user must change a setting).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Invalid component fields, every one of them at once.
    pub fn invalid_fields(field_errors: Vec<FieldError>) -> Self {
        let message = match field_errors.as_slice() {
            [] => "the component's fields are invalid".to_owned(),
            [one] => one.to_string(),
            many => format!(
                "{} fields are invalid: {}",
                many.len(),
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        Self {
            field_errors,
            ..Self::config(message)
        }
    }

    /// An authentication error (credentials missing, refused or not obtainable).
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    /// A transient error (network, throttling, unavailable service) after retries.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// The service or a check refused this piece of work.
    pub fn application(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Application, message)
    }

    /// A bug or an unexpected state.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Attaches the underlying error; its chain is shown by [`ConnectorError::display_chain`].
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attaches a short machine-readable status code (for example a service error code).
    pub fn with_status_code(mut self, code: impl Into<String>) -> Self {
        self.status_code = Some(code.into());
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for users, without the source chain.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status code, when one was attached.
    pub fn status_code(&self) -> Option<&str> {
        self.status_code.as_deref()
    }

    /// The fields at fault, for configuration errors.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.field_errors
    }

    /// The message followed by every source in the chain: `message: cause: cause`.
    pub fn display_chain(&self) -> String {
        let mut out = self.message.clone();
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(err) = next {
            let text = err.to_string();
            if !text.is_empty() && !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = err.source();
        }
        out
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_chain_lists_every_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = ConnectorError::transient("could not reach http://127.0.0.1:1").with_source(io);
        assert_eq!(
            err.display_chain(),
            "could not reach http://127.0.0.1:1: connection refused"
        );
        assert_eq!(err.kind(), ErrorKind::Transient);
    }

    #[test]
    fn invalid_fields_message_names_every_field() {
        let err = ConnectorError::invalid_fields(vec![
            FieldError {
                field: "a".into(),
                label: "Field A".into(),
                message: "is required".into(),
            },
            FieldError {
                field: "b".into(),
                label: "Field B".into(),
                message: "must be a number".into(),
            },
        ]);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.message().contains("Field A (a): is required"),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("Field B (b): must be a number"),
            "{}",
            err.message()
        );
        assert_eq!(err.field_errors().len(), 2);
    }
}
