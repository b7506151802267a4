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
        // A line that is not UTF-8 is not JSON: a malformed line, answered like any other.
        let line = match std::str::from_utf8(&buffer) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!("answered a line that is not UTF-8");
                let _ = tx.send(error_line(
                    &Value::Null,
                    &RpcError::plain(PARSE_ERROR, format!("the line is not UTF-8 text: {e}")),
                ));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        // The common case in one pass: an execute request as hosts using this SDK write it.
        if initialized && let Some((id, params)) = parse_execute(line) {
            in_flight.spawn(serve_call(
                connector.clone(),
                tx.clone(),
                id,
                method::EXECUTE.to_owned(),
                Call::Execute(params),
            ));
            continue;
        }
        let request = match parse_request(line) {
            Ok(request) => request,
            Err(line) => {
                tracing::warn!("answered a line that is not a valid request");
                let _ = tx.send(line);
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

/// The id and params of an execute request written as hosts using this SDK write it, read by
/// hand in one pass (see `json_in`); `None` for anything else, which then takes the general path
/// (and gets its exact error there).
fn parse_execute(line: &str) -> Option<(Option<Value>, ExecuteParams)> {
    super::json_in::execute_request(line).map(|(id, params)| (Some(Value::from(id)), params))
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

/// Reads a request line; a line that is not one gets its error response line instead.
fn parse_request(line: &str) -> Result<Envelope<'_>, Vec<u8>> {
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
        let (id, params) = parse_execute(&line).expect("parsed");
        assert_eq!(id, Some(json!(7)));
        assert_eq!(params.execution_id, "e1");
        assert_eq!(params.documents[0].data, br#"{"a":1}"#);
        assert_eq!(params.documents[0].property("k"), Some("v"));
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        // Method after params, another method, a wrong version, bad params: not this path's to
        // answer (the general path gives each its exact error).
        for line in [
            format!(r#"{{"jsonrpc":"2.0","id":1,"params":{PARAMS},"method":"execute"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"browse","params":{PARAMS}}}"#),
            format!(r#"{{"jsonrpc":"1.0","id":1,"method":"execute","params":{PARAMS}}}"#),
            r#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{"documents":7}}"#.to_owned(),
            r#"{"jsonrpc":"2.0","id":1,"method":"execute","params":{PARAMS"#.to_owned(),
        ] {
            assert!(parse_execute(&line).is_none(), "{line}");
        }
    }
}
