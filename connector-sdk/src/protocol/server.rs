//! The plugin side: reads requests from stdin, serves them concurrently, answers on stdout.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt as _;
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::json_out::execute_result_size_hint;
use super::types::*;
use crate::context::ExecutionContext;
use crate::runtime::{Connector, PROTOCOL_VERSION};

/// The read buffer of the plugin's stdin.
const IO_BUFFER: usize = 1 << 20;

/// Serves `connector` on this process's stdin and stdout until `shutdown` or until stdin closes,
/// then waits for in-flight requests. Logs go to stderr (see [`crate::logging`]).
pub async fn serve(connector: Arc<Connector>) -> std::io::Result<()> {
    // Large buffers: tokio's stdin and stdout go through a blocking thread per read or write, so
    // a request of a few megabytes should take a few reads, not hundreds.
    serve_io(
        connector,
        BufReader::with_capacity(IO_BUFFER, tokio::io::stdin()),
        tokio::io::stdout(),
    )
    .await
}

/// [`serve`] over any reader and writer, for tests and for hosts that embed a connector.
pub async fn serve_io<R, W>(connector: Arc<Connector>, reader: R, writer: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer_task = tokio::spawn(write_responses(rx, writer));
    let mut initialized = false;
    let mut in_flight = JoinSet::new();
    let mut reader = reader;
    let mut buffer = Vec::new();
    let mut shutdown_id: Option<Value> = None;

    tracing::info!(
        connector = connector.info().id,
        version = connector.info().version,
        "plugin serving"
    );
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer).await? == 0 {
            break;
        }
        // Reap finished tasks so the set does not grow without bound on long runs.
        while in_flight.try_join_next().is_some() {}
        // An execute request (megabytes of documents) is read in its own task, off the runtime's
        // thread, so that a plugin on one core keeps answering its HTTP responses and sending
        // its next requests while it reads one.
        if initialized && let Some(id) = execute_request_id(&buffer) {
            let line = std::mem::replace(&mut buffer, super::buffers::take(usize::MAX));
            in_flight.spawn(serve_execute_line(connector.clone(), tx.clone(), id, line));
            continue;
        }
        let line = match text_of(&buffer) {
            Ok(line) => line,
            Err(answer) => {
                let _ = tx.send(answer);
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let request = match parse_request(line) {
            Ok(request) => request,
            Err(answer) => {
                let _ = tx.send(answer);
                continue;
            }
        };
        let id = request.id.clone();
        if request.method == method::SHUTDOWN {
            shutdown_id = Some(id.unwrap_or(Value::Null));
            break;
        }
        if request.method == method::INITIALIZE {
            // Served here rather than in a task, so that a request the host writes right behind
            // `initialize` finds the plugin initialized. It does no I/O.
            let outcome = initialize(&connector, &request).inspect(|_| {
                initialized = true;
            });
            if let Some(id) = &id {
                let _ = tx.send(response_line(id, outcome.as_ref()));
            }
            continue;
        }
        // The params are parsed here, straight from the line into their types, so the line's
        // buffer is reused for the next one; the work itself runs in its own task.
        let call = match parse_call(&request, initialized) {
            Ok(call) => call,
            Err(error) => {
                if let Some(id) = &id {
                    let _ = tx.send(error_line(id, &error));
                }
                continue;
            }
        };
        in_flight.spawn(serve_call(
            connector.clone(),
            tx.clone(),
            id,
            request.method.into_owned(),
            call,
        ));
    }

    while in_flight.join_next().await.is_some() {}
    if let Some(id) = shutdown_id {
        if !id.is_null() {
            let _ = tx.send(response_line(&id, Ok(&Value::Null)));
        }
        tracing::info!("plugin shutting down on request");
    } else {
        tracing::info!("stdin closed; plugin exiting");
    }
    drop(tx);
    writer_task.await.map_err(std::io::Error::other)??;
    Ok(())
}

/// The id of a line that starts as hosts write execute requests
/// (`{"jsonrpc":"2.0","id":N,"method":"execute",`), before anything else is read of it.
fn execute_request_id(line: &[u8]) -> Option<u64> {
    let (id, rest) = super::json_in::head_id(line)?;
    rest.starts_with(b",\"method\":\"execute\",").then_some(id)
}

/// Reads an execute request line (off the runtime's thread) and serves it; the line's buffer
/// goes back to the pool once read.
async fn serve_execute_line(
    connector: Arc<Connector>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    id: u64,
    line: Vec<u8>,
) {
    let read = tokio::task::spawn_blocking(move || {
        let read = read_execute_line(&line);
        super::buffers::give_back(line);
        read
    })
    .await;
    match read {
        Ok(Ok((id, call))) => serve_call(connector, tx, id, method::EXECUTE.to_owned(), call).await,
        Ok(Err(answer)) => {
            let _ = tx.send(answer);
        }
        Err(_) => {
            let _ = tx.send(error_line(
                &Value::from(id),
                &RpcError::plain(
                    INTERNAL,
                    "internal error while reading an execute request; see the plugin's log",
                ),
            ));
        }
    }
}

/// An execute request line's id and call: read by hand in one pass when it has the shape hosts
/// using this SDK write (see `json_in`), else by the general path, which gives any error its
/// exact response line.
fn read_execute_line(line: &[u8]) -> Result<(Option<Value>, Call), Vec<u8>> {
    let line = text_of(line)?;
    if let Some((id, params)) = super::json_in::execute_request(line) {
        return Ok((Some(Value::from(id)), Call::Execute(params)));
    }
    let request = parse_request(line)?;
    let id = request.id.clone();
    match parse_call(&request, true) {
        Ok(call) => Ok((id, call)),
        Err(error) => Err(error_line(&id.unwrap_or(Value::Null), &error)),
    }
}

/// Runs one call and queues its response line (none for a notification, which has no id).
async fn serve_call(
    connector: Arc<Connector>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    id: Option<Value>,
    method: String,
    call: Call,
) {
    let handled = AssertUnwindSafe(handle(&connector, call))
        .catch_unwind()
        .await;
    let line = match handled {
        Ok(outcome) => id.as_ref().map(|id| outcome.line(id)),
        Err(_) => id.as_ref().map(|id| {
            error_line(
                id,
                &RpcError::plain(
                    INTERNAL,
                    format!("internal error while serving {method}; see the plugin's log"),
                ),
            )
        }),
    };
    if let Some(line) = line {
        let _ = tx.send(line);
    }
}

async fn write_responses<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    mut writer: W,
) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        writer.write_all(&line).await?;
        super::buffers::give_back(line);
        // Flush when nothing else is queued, so a burst of responses costs one flush.
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

impl Envelope<'_> {
    fn params<T: DeserializeOwned>(&self) -> Result<T, RpcError> {
        serde_json::from_str(self.params.map_or("null", RawValue::get)).map_err(|e| {
            RpcError::plain(
                INVALID_PARAMS,
                format!("invalid params for {}: {e}", self.method),
            )
        })
    }
}

/// A request ready to run, with its params parsed into their types.
enum Call {
    TestConnection(TestConnectionParams),
    Browse(BrowseParams),
    Execute(ExecuteParams),
}

/// The answer of a call, serialized when its line is written.
enum Answer {
    TestConnection(Result<TestConnectionResult, RpcError>),
    Browse(Result<BrowseResult, RpcError>),
    Execute(Result<ExecuteResult, RpcError>),
}

impl Answer {
    fn line(&self, id: &Value) -> Vec<u8> {
        match self {
            Answer::TestConnection(outcome) => response_line(id, outcome.as_ref()),
            Answer::Browse(outcome) => response_line(id, outcome.as_ref()),
            // The bulk of the traffic: written by hand (see `json_out`), same bytes.
            Answer::Execute(Ok(result)) => {
                result_line(id, execute_result_size_hint(result), |line| {
                    super::json_out::push_execute_result(line, result);
                    Ok(())
                })
            }
            Answer::Execute(Err(error)) => error_line(id, error),
        }
    }
}

/// The text of a line; a line that is not UTF-8 is not JSON, and gets the error response line of
/// a malformed line instead.
fn text_of(line: &[u8]) -> Result<&str, Vec<u8>> {
    std::str::from_utf8(line).map_err(|e| {
        tracing::warn!("answered a line that is not UTF-8");
        error_line(
            &Value::Null,
            &RpcError::plain(PARSE_ERROR, format!("the line is not UTF-8 text: {e}")),
        )
    })
}

/// Reads a request line; a line that is not one gets its error response line instead.
fn parse_request(line: &str) -> Result<Envelope<'_>, Vec<u8>> {
    let request = parse_envelope(line);
    if request.is_err() {
        tracing::warn!("answered a line that is not a valid request");
    }
    request
}

fn parse_envelope(line: &str) -> Result<Envelope<'_>, Vec<u8>> {
    match serde_json::from_str::<Envelope<'_>>(line) {
        Ok(envelope) if envelope.jsonrpc == "2.0" => Ok(envelope),
        Ok(envelope) => Err(error_line(
            &envelope.id.unwrap_or(Value::Null),
            &RpcError::plain(INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\""),
        )),
        Err(not_a_request) => match serde_json::from_str::<Value>(line) {
            Err(e) => Err(error_line(
                &Value::Null,
                &RpcError::plain(PARSE_ERROR, format!("the line is not JSON: {e}")),
            )),
            Ok(value) => Err(error_line(
                value.get("id").unwrap_or(&Value::Null),
                &RpcError::plain(
                    INVALID_REQUEST,
                    format!("not a JSON-RPC request: {not_a_request}"),
                ),
            )),
        },
    }
}

fn parse_call(request: &Envelope<'_>, initialized: bool) -> Result<Call, RpcError> {
    if !initialized {
        return Err(RpcError::plain(
            INVALID_REQUEST,
            format!(
                "\"{}\" before \"initialize\": initialize must be the first request",
                request.method
            ),
        ));
    }
    match request.method.as_ref() {
        method::TEST_CONNECTION => request.params().map(Call::TestConnection),
        method::BROWSE => request.params().map(Call::Browse),
        method::EXECUTE => request.params().map(Call::Execute),
        other => Err(RpcError::plain(
            METHOD_NOT_FOUND,
            format!(
                "unknown method \"{other}\"; the methods are initialize, testConnection, browse, execute and shutdown"
            ),
        )),
    }
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` or the error response, as one line; the result is
/// serialized straight into the line.
fn response_line<T: serde::Serialize>(id: &Value, outcome: Result<&T, &RpcError>) -> Vec<u8> {
    match outcome {
        Ok(result) => result_line(id, 0, |line| serde_json::to_writer(line, result)),
        Err(error) => error_line(id, error),
    }
}

/// A response line whose result `write` appends (into a recycled buffer with room for about
/// `size_hint` bytes).
fn result_line(
    id: &Value,
    size_hint: usize,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
) -> Vec<u8> {
    let mut line = super::buffers::take(size_hint);
    line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    let written = serde_json::to_writer(&mut line, id).and_then(|()| {
        line.extend_from_slice(b",\"result\":");
        write(&mut line)
    });
    if let Err(e) = written {
        return error_line(id, &RpcError::plain(INTERNAL, e.to_string()));
    }
    line.extend_from_slice(b"}\n");
    line
}

fn error_line(id: &Value, error: &RpcError) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&Response::error(id.clone(), error.clone())).unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"internal error"}}"#
                .to_vec()
        });
    line.push(b'\n');
    line
}

async fn handle(connector: &Connector, call: Call) -> Answer {
    match call {
        Call::TestConnection(params) => {
            Answer::TestConnection(test_connection(connector, params).await)
        }
        Call::Browse(params) => Answer::Browse(browse(connector, params).await),
        Call::Execute(params) => Answer::Execute(execute(connector, params).await),
    }
}

fn initialize(connector: &Connector, request: &Envelope<'_>) -> Result<InitializeResult, RpcError> {
    let params: InitializeParams = request.params()?;
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_owned();
    if major(&params.protocol_version) != major(PROTOCOL_VERSION) {
        return Err(RpcError {
            code: UNSUPPORTED_VERSION,
            message: format!(
                "protocol version {} is not supported; this plugin speaks {PROTOCOL_VERSION}",
                params.protocol_version
            ),
            data: Some(json!({ "supported": [PROTOCOL_VERSION] })),
        });
    }
    tracing::info!(host = %params.host.name, host_version = %params.host.version, "initialized");
    Ok(InitializeResult {
        protocol_version: PROTOCOL_VERSION.into(),
        connector: connector.descriptor().clone(),
    })
}

fn context(execution_id: &str, process_name: &str) -> ExecutionContext {
    ExecutionContext::new(execution_id, process_name)
}

async fn test_connection(
    connector: &Connector,
    params: TestConnectionParams,
) -> Result<TestConnectionResult, RpcError> {
    let ctx = context(
        &format!("test-connection-{}", params.connection.id),
        "Test Connection",
    );
    let steps = connector
        .test_connection(&ctx, &params.connection)
        .await
        .map_err(|e| RpcError::from(&e))?;
    Ok(TestConnectionResult {
        ok: Connector::passed(&steps),
        steps,
    })
}

async fn browse(connector: &Connector, params: BrowseParams) -> Result<BrowseResult, RpcError> {
    let ctx = context(&format!("browse-{}", params.connection.id), "Browse");
    let object_types = connector
        .browse(
            &ctx,
            &params.connection,
            &params.operation_type,
            params.filter.as_deref(),
        )
        .await
        .map_err(|e| RpcError::from(&e))?;
    Ok(BrowseResult { object_types })
}

async fn execute(connector: &Connector, params: ExecuteParams) -> Result<ExecuteResult, RpcError> {
    let ctx = context(&params.execution_id, &params.process_name);
    let results = connector
        .execute(
            &ctx,
            &params.connection,
            &params.operation,
            params.documents,
        )
        .await
        .map_err(|e| RpcError::from(&e))?;
    Ok(ExecuteResult { results })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &str = r#"{"executionId":"e1","processName":"p","connection":{"id":"c","connector":"x","kind":"connection","fields":{}},"operation":{"id":"o","connector":"x","kind":"operation","operationType":"SEND","fields":{}},"documents":[{"data":"{\"a\":1}","properties":{"k":"v"}}]}"#;

    #[test]
    fn an_execute_line_as_hosts_write_it_is_parsed_in_one_pass() {
        let line = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"execute","params":{PARAMS}}}"#);
        assert_eq!(execute_request_id(line.as_bytes()), Some(7));
        let Ok((id, Call::Execute(params))) = read_execute_line(line.as_bytes()) else {
            panic!("not read as an execute call: {line}");
        };
        assert_eq!(id, Some(json!(7)));
        assert_eq!(params.execution_id, "e1");
        assert_eq!(params.documents[0].data, br#"{"a":1}"#);
        assert_eq!(params.documents[0].property("k"), Some("v"));
    }

    #[test]
    fn other_requests_are_not_taken_for_execute_lines() {
        // Method after params, another method, a wrong version: read by the general path, in
        // order with the other requests.
        for line in [
            format!(r#"{{"jsonrpc":"2.0","id":1,"params":{PARAMS},"method":"execute"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"browse","params":{PARAMS}}}"#),
            format!(r#"{{"jsonrpc":"1.0","id":1,"method":"execute","params":{PARAMS}}}"#),
            r#"{"jsonrpc":"2.0","id":"1","method":"execute","params":{}}"#.to_owned(),
        ] {
            assert_eq!(execute_request_id(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn a_bad_execute_line_gets_its_exact_error() {
        let answer = |line: &[u8]| -> Value {
            let Err(answer) = read_execute_line(line) else {
                panic!("read: {}", String::from_utf8_lossy(line));
            };
            serde_json::from_slice(&answer).expect("an error response line")
        };
        let bad_params =
            answer(br#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{"documents":7}}"#);
        assert_eq!(bad_params["id"], 1);
        assert_eq!(bad_params["error"]["code"], INVALID_PARAMS);
        let truncated = answer(br#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{"#);
        assert_eq!(truncated["id"], Value::Null);
        assert_eq!(truncated["error"]["code"], PARSE_ERROR);
        let not_text = answer(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"execute\",\xff}");
        assert_eq!(not_text["error"]["code"], PARSE_ERROR);
    }
}
