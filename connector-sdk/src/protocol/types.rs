//! Protocol messages. No I/O here: these types are what travels, as the protocol spec writes it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::component::Component;
use crate::connector::{ObjectType, TestStep};
use crate::descriptor::Descriptor;
use crate::document::{Document, DocumentResult, ResultStatus};
use crate::error::{ConnectorError, ErrorKind, FieldError};

/// JSON-RPC: the line is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: the object is not a valid request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: the params do not fit the method.
pub const INVALID_PARAMS: i64 = -32602;
/// Invalid component fields; `data.fieldErrors` lists them.
pub const INVALID_FIELDS: i64 = -32001;
/// A protocol version the plugin does not speak; `data.supported` lists those it does.
pub const UNSUPPORTED_VERSION: i64 = -32002;
/// Credentials could not be obtained or were refused.
pub const AUTH_FAILED: i64 = -32003;
/// Network, throttling or an unavailable service, after retries.
pub const TRANSIENT: i64 = -32004;
/// An internal error.
pub const INTERNAL: i64 = -32005;

/// The method names.
pub(crate) mod method {
    /// First request: version negotiation and the descriptor.
    pub(crate) const INITIALIZE: &str = "initialize";
    /// Test Connection.
    pub(crate) const TEST_CONNECTION: &str = "testConnection";
    /// List objects for an operation's picker.
    pub(crate) const BROWSE: &str = "browse";
    /// Run an operation over documents.
    pub(crate) const EXECUTE: &str = "execute";
    /// Finish in-flight requests and exit.
    pub(crate) const SHUTDOWN: &str = "shutdown";
    /// Notification (protocol 1.1): cancel the running request with `params.id`.
    pub(crate) const CANCEL_REQUEST: &str = "$/cancelRequest";
}

/// Either the result or the error of a response.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RpcOutcome {
    /// The method's result (may be `null`).
    Result(Value),
    /// Why the request could not be served.
    Error(RpcError),
}

/// A response line, read whole (the host reads results straight into their types; this is for
/// tests that look at any response).
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The request's id, or `null` when the request could not be read.
    pub id: Value,
    /// The result or the error.
    #[serde(flatten)]
    pub outcome: RpcOutcome,
}

#[cfg(any(test, feature = "test-util"))]
impl Response {
    /// A successful response.
    pub fn result(id: Value, result: Value) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id,
            outcome: RpcOutcome::Result(result),
        }
    }

    /// An error response.
    pub fn error(id: Value, error: RpcError) -> Self {
        Self {
            jsonrpc: "2.0".into(),
            id,
            outcome: RpcOutcome::Error(error),
        }
    }
}

/// A request as a host writes it: typed params serialized straight into the line.
#[derive(Debug, Serialize)]
pub(crate) struct OutgoingRequest<'a, P: Serialize> {
    /// Always `"2.0"`.
    pub jsonrpc: &'static str,
    /// The id the response will carry.
    pub id: u64,
    /// The method name.
    pub method: &'a str,
    /// The parameters.
    pub params: &'a P,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// The code (see the constants in this module).
    pub code: i64,
    /// A sentence for people.
    pub message: String,
    /// Structured details (`fieldErrors`, `supported`, `kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `data: {"message": …}`, the shape of JSON-RPC's own errors.
    pub fn plain(code: i64, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code,
            data: Some(json!({ "message": message })),
            message,
        }
    }

    /// The field errors carried by an `INVALID_FIELDS` error.
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.data
            .as_ref()
            .and_then(|d| d.get("fieldErrors"))
            .and_then(|f| serde_json::from_value(f.clone()).ok())
            .unwrap_or_default()
    }

    /// The connector error this code stands for, for hosts that want a kind.
    pub fn kind(&self) -> ErrorKind {
        match self.code {
            INVALID_FIELDS | UNSUPPORTED_VERSION | INVALID_PARAMS => ErrorKind::Config,
            AUTH_FAILED => ErrorKind::Auth,
            TRANSIENT => ErrorKind::Transient,
            _ => ErrorKind::Internal,
        }
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl From<&ConnectorError> for RpcError {
    fn from(err: &ConnectorError) -> Self {
        let message = err.display_chain();
        match err.kind() {
            ErrorKind::Config => RpcError {
                code: INVALID_FIELDS,
                data: Some(json!({ "fieldErrors": err.field_errors(), "message": message })),
                message,
            },
            kind => RpcError {
                code: match kind {
                    ErrorKind::Auth => AUTH_FAILED,
                    ErrorKind::Transient => TRANSIENT,
                    _ => INTERNAL,
                },
                data: Some(json!({ "message": message, "kind": kind.as_str() })),
                message,
            },
        }
    }
}

/// Who the host is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HostInfo {
    /// The host's name.
    pub name: String,
    /// The host's version.
    pub version: String,
}

/// `initialize` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InitializeParams {
    /// The protocol version the host asks for (`"1.1"`; `"1.0"` for a host of version 1.0).
    pub protocol_version: String,
    /// Who the host is.
    pub host: HostInfo,
    /// Protocol 1.1: what the host means to send at most. Absent for a 1.0 host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<HostLimits>,
}

/// What a host means to send at most (`initialize` params, protocol 1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HostLimits {
    /// The longest request line the host will send, in bytes (without its `\n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line_bytes: Option<u64>,
}

/// What a plugin accepts (`initialize` result, protocol 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Limits {
    /// The longest request line the plugin reads, in bytes (without its `\n`); a longer line is
    /// answered with -32600 and discarded.
    pub max_line_bytes: u64,
    /// How many requests the plugin runs at once; with that many running it reads no further
    /// line until one finishes.
    pub max_requests_in_flight: u64,
}

/// `initialize` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InitializeResult {
    /// The protocol version the plugin will speak: the highest both sides know.
    pub protocol_version: String,
    /// Protocol 1.1: what the plugin accepts. Absent when it speaks 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// The connector descriptor, identical to the file in `descriptors/`.
    pub connector: Descriptor,
}

/// `testConnection` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TestConnectionParams {
    /// The connection component to test.
    pub connection: Component,
}

/// `testConnection` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestConnectionResult {
    /// Whether no step failed.
    pub ok: bool,
    /// Each step, in order.
    pub steps: Vec<TestStep>,
}

/// `browse` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BrowseParams {
    /// The connection component to browse with.
    pub connection: Component,
    /// The operation type the objects are for (`SEND`).
    pub operation_type: String,
    /// An optional prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// `browse` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BrowseResult {
    /// The objects found.
    pub object_types: Vec<ObjectType>,
}

/// What SEND's and DELETE's outputs carry (protocol 1.1 `execute` param `outputs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outputs {
    /// The input document with the properties the operation added (as in protocol 1.0).
    #[default]
    Full,
    /// Only the properties the operation added, without the body: the host merges them onto
    /// the document it sent.
    Added,
}

/// `execute` params, as a host writes them. (The plugin reads each document on its own, so
/// that one it cannot read fails alone.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteParams {
    /// The host's id for the process execution.
    pub execution_id: String,
    /// The process name.
    pub process_name: String,
    /// The connection component.
    pub connection: Component,
    /// The operation component.
    pub operation: Component,
    /// The input documents (one empty trigger document for operations without input).
    pub documents: Vec<Document>,
}

/// `execute` params, borrowed: what a host serializes without copying its documents first.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteParamsRef<'a> {
    /// The host's id for the process execution.
    pub execution_id: &'a str,
    /// The process name.
    pub process_name: &'a str,
    /// The connection component.
    pub connection: &'a Component,
    /// The operation component.
    pub operation: &'a Component,
    /// The input documents.
    pub documents: &'a [Document],
}

/// `execute` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExecuteResult {
    /// Exactly one result per input document, in input order.
    pub results: Vec<DocumentResult>,
    /// Per result, whether its first output is only what the operation added (`outputs:
    /// "added"`): written without a body. Empty when none is.
    #[serde(skip)]
    pub(crate) delta: Vec<bool>,
}

impl ExecuteResult {
    /// The results of an execute call, each output whole.
    pub(crate) fn new(results: Vec<DocumentResult>) -> Self {
        Self {
            results,
            delta: Vec::new(),
        }
    }
}

/// Protocol 1.1 listener methods (see the README's protocol section).
pub(crate) mod listen_method {
    /// host → plugin request: start a listener.
    pub(crate) const LISTEN: &str = "listen";
    /// plugin → host request: a batch of documents the host's process answers per document.
    pub(crate) const BATCH: &str = "listen/batch";
    /// plugin → host notification: the listener's state changed.
    pub(crate) const STATUS: &str = "listen/status";
    /// host → plugin request: stop a listener (draining its batches in flight or not).
    pub(crate) const STOP: &str = "listen/stop";
}

/// The operation type of listeners.
pub const LISTEN_OPERATION: &str = "LISTEN";

/// The prefix of the ids of requests a plugin sends to its host (`"p-1"`), so that they never
/// collide with the host's.
pub(crate) const PLUGIN_REQUEST_ID_PREFIX: &str = "p-";

/// `listen` params: start a listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenParams {
    /// The host's id for this listener, unique among its running listeners.
    pub listener_id: String,
    /// The connection component.
    pub connection: Component,
    /// The operation component, of type `LISTEN`.
    pub operation: Component,
}

/// `listen` result, sent once the listener polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenResult {
    /// The listener's id.
    pub listener_id: String,
}

/// `listen/batch` params: documents for the host's process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenBatchParams {
    /// The listener.
    pub listener_id: String,
    /// The batch's id, unique within the listener.
    pub batch_id: String,
    /// The documents (one per message).
    pub documents: Vec<Document>,
}

/// How the host's process did with one document of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// The document's index in the batch.
    pub index: usize,
    /// `SUCCESS` commits the message; anything else releases it.
    pub status: ResultStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `listen/batch` result: one result per document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListenBatchResult {
    /// One result per document of the batch.
    pub results: Vec<BatchResult>,
}

impl ListenBatchResult {
    /// A host's answer to a batch: one result per document.
    pub fn new(results: Vec<BatchResult>) -> Self {
        Self { results }
    }
}

/// A listener's state, as `listen/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ListenerState {
    /// Receiving messages.
    Polling,
    /// A failure that may pass (throttling, a network fault, refused credentials): retrying with
    /// backoff.
    Retrying,
    /// Stopped for good (stopped by the host, or a failure that cannot pass).
    Stopped,
}

impl ListenerState {
    /// The state's name on the wire: `polling`, `retrying` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerState::Polling => "polling",
            ListenerState::Retrying => "retrying",
            ListenerState::Stopped => "stopped",
        }
    }
}

/// `listen/status` params (a notification from the plugin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenStatusParams {
    /// The listener.
    pub listener_id: String,
    /// Its new state.
    pub state: ListenerState,
    /// What happened, for a person.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The kind of failure (`auth`, `transient`, `config`, `internal`), when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `listen/stop` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListenStopParams {
    /// The listener.
    pub listener_id: String,
    /// `true`: wait for the batches in flight to be answered and committed; `false`: release
    /// them at once.
    #[serde(default)]
    pub drain: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_messages_have_the_spec_shape() {
        let batch: ListenBatchParams = serde_json::from_value(json!({
            "listenerId": "l-1", "batchId": "b-1", "documents": [{"data": "a"}]
        }))
        .unwrap();
        assert_eq!(batch.documents.len(), 1);
        let answer: ListenBatchResult = serde_json::from_value(json!({
            "results": [{"index": 0, "status": "SUCCESS"}, {"index": 1, "status": "FAILURE", "message": "no"}]
        }))
        .unwrap();
        assert_eq!(answer.results[1].status, ResultStatus::Failure);
        let status = ListenStatusParams {
            listener_id: "l-1".into(),
            state: ListenerState::Retrying,
            message: "throttled".into(),
            kind: Some("transient".into()),
        };
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"listenerId": "l-1", "state": "retrying", "message": "throttled", "kind": "transient"})
        );
        let stop: ListenStopParams = serde_json::from_value(json!({"listenerId": "l-1"})).unwrap();
        assert!(!stop.drain);
    }

    #[test]
    fn responses_have_the_json_rpc_shape() {
        let ok = Response::result(json!(7), Value::Null);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"result":null}"#
        );
        let err = Response::error(Value::Null, RpcError::plain(PARSE_ERROR, "not JSON"));
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"not JSON","data":{"message":"not JSON"}}}"#
        );
        let back: Response = serde_json::from_str(&serde_json::to_string(&err).unwrap()).unwrap();
        assert_eq!(back, err);
    }

    #[test]
    fn connector_errors_map_onto_protocol_codes() {
        let cases = [
            (ConnectorError::config("bad"), INVALID_FIELDS),
            (ConnectorError::auth("refused"), AUTH_FAILED),
            (ConnectorError::transient("timeout"), TRANSIENT),
            (ConnectorError::internal("bug"), INTERNAL),
            (ConnectorError::application("no such queue"), INTERNAL),
        ];
        for (err, code) in cases {
            let rpc = RpcError::from(&err);
            assert_eq!(rpc.code, code, "{err:?}");
        }
        let rpc = RpcError::from(&ConnectorError::auth("refused"));
        assert_eq!(rpc.data.unwrap()["kind"], "auth");
    }

    #[test]
    fn field_errors_travel_in_data() {
        let err = ConnectorError::invalid_fields(vec![FieldError {
            field: "customRegion".into(),
            label: "Custom AWS SQS Region".into(),
            message: "use lowercase".into(),
        }]);
        let rpc = RpcError::from(&err);
        assert_eq!(rpc.code, INVALID_FIELDS);
        assert_eq!(rpc.field_errors(), err.field_errors());
    }
}
