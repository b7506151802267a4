//! The traits a connector author implements: [`Connection`] and [`Operation`].

use std::future::Future;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::component::ComponentId;
use crate::context::ExecutionContext;
use crate::document::Batch;
use crate::error::ConnectorError;

/// What a connector is: its id (the `connector` of its components), name, version and summary.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorInfo {
    /// The id components name (`amazon-sqs`).
    pub id: &'static str,
    /// The name users see (`Amazon SQS`).
    pub name: &'static str,
    /// The connector's version.
    pub version: &'static str,
    /// One sentence about what it connects to.
    pub description: &'static str,
}

/// A document property an operation reads or writes, for the descriptor.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PropertyInfo {
    /// The property name (`sqs.messageGroupId`).
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
}

/// What an operation is, for the descriptor.
#[derive(Debug, Clone, Copy)]
pub struct OperationInfo {
    /// The operation type components name (`SEND`).
    pub operation_type: &'static str,
    /// The name users see (`Send`).
    pub label: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Whether it takes input documents (RECEIVE is called with one empty trigger document).
    pub takes_input: bool,
    /// Properties it reads from input documents.
    pub input_properties: &'static [PropertyInfo],
    /// Properties it writes on output documents.
    pub output_properties: &'static [PropertyInfo],
}

/// The status of one step of Test Connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StepStatus {
    /// The step worked.
    Passed,
    /// The step failed; the message says why and what to check.
    Failed,
    /// The step worked with a caveat the user should know.
    Warning,
    /// The step did not run because an earlier one failed.
    Skipped,
}

impl StepStatus {
    /// The status's name on the wire: `passed`, `failed`, `warning` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::Warning => "warning",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One named step of Test Connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestStep {
    /// What was checked (`Credentials accepted`).
    pub name: String,
    /// How it went.
    pub status: StepStatus,
    /// What was found, or what to fix.
    pub message: String,
}

impl TestStep {
    /// A step with the given status.
    pub fn new(name: impl Into<String>, status: StepStatus, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            message: message.into(),
        }
    }

    /// A passed step.
    pub fn passed(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, StepStatus::Passed, message)
    }

    /// A failed step.
    pub fn failed(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, StepStatus::Failed, message)
    }

    /// A step that passed with a caveat.
    pub fn warning(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, StepStatus::Warning, message)
    }

    /// A step that did not run.
    pub fn skipped(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(name, StepStatus::Skipped, message)
    }
}

/// Something a connection can list for an operation's picker (a queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectType {
    /// The value stored in the operation (a queue URL).
    pub id: String,
    /// What the user sees (a queue name).
    pub label: String,
}

/// A connection: one account of the service, built from a connection component.
///
/// The SDK validates the component's fields against the descriptor, deserializes them into
/// [`Connection::Config`], and calls [`Connection::connect`] once per component id and settings;
/// the connection is then shared by every operation and execution that uses the component.
pub trait Connection: Send + Sync + Sized + 'static {
    /// The connection's fields. Doc comments and `#[schemars(title = ...)]` become the descriptor.
    type Config: DeserializeOwned + JsonSchema;

    /// Builds the connection from its config. Must not do I/O: it runs on the request path and
    /// Test Connection reports reachability separately.
    fn connect(id: &ComponentId, config: Self::Config) -> Result<Self, ConnectorError>;

    /// Test Connection: the checks after "settings valid", each a named step.
    fn test(&self, ctx: &ExecutionContext) -> impl Future<Output = Vec<TestStep>> + Send;

    /// The objects an operation of `operation_type` can pick from, optionally filtered by a prefix.
    fn browse(
        &self,
        ctx: &ExecutionContext,
        operation_type: &str,
        filter: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ObjectType>, ConnectorError>> + Send {
        let _ = (ctx, operation_type, filter);
        async { Ok(Vec::new()) }
    }
}

/// An operation: one action over a batch of documents, built from an operation component.
pub trait Operation: Send + Sync + Sized + 'static {
    /// The connection this operation runs on.
    type Connection: Connection;
    /// The operation's options.
    type Config: DeserializeOwned + JsonSchema;

    /// What the operation is, for the descriptor.
    fn info() -> OperationInfo;

    /// Builds the operation from its options. Must not do I/O.
    fn build(config: Self::Config) -> Result<Self, ConnectorError>;

    /// Processes the batch, recording one outcome per document with [`Batch::record`].
    ///
    /// Documents left without an outcome become `FAILURE`s: with the returned error's message
    /// when it returns an error, or with a message naming the document when it returns `Ok`.
    /// A panic fails the documents it left without a result, and never the host. When the
    /// operation takes input ([`OperationInfo::takes_input`]), a result other than `SUCCESS`
    /// that has no outputs gets the input document, unchanged, as its one output.
    ///
    /// The batch holds only the documents of the request that could be read; a message that
    /// names a document should use [`Batch::input_index`], the index the host knows it by.
    /// Work that must wait until the results reached the host (deleting what was received)
    /// goes to [`ExecutionContext::after_delivery`].
    fn execute(
        &self,
        ctx: &ExecutionContext,
        connection: &Self::Connection,
        batch: &Batch,
    ) -> impl Future<Output = Result<(), ConnectorError>> + Send;
}
