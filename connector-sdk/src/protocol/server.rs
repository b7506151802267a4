//! The plugin side: reads requests from stdin, serves them concurrently, answers on stdout.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt as _;
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

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
    let initialized = Arc::new(AtomicBool::new(false));
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
        let request = match parse_request(line) {
            Ok(request) => request,
            Err(line) => {
                tracing::warn!("answered a line that is not a valid request");
                let _ = tx.send(line);
                continue;
            }
        };
        if request.method == method::SHUTDOWN {
            shutdown_id = Some(request.id.unwrap_or(Value::Null));
            break;
        }
        if request.method == method::INITIALIZE {
            // Served here rather than in a task, so that a request the host writes right behind
            // `initialize` finds the plugin initialized. It does no I/O.
            let outcome = to_json(initialize(&connector, &request).inspect(|_| {
                initialized.store(true, Ordering::SeqCst);
            }));
            if let Some(id) = &request.id {
                let _ = tx.send(response_line(id, outcome));
            }
            continue;
        }
        let connector = connector.clone();
        let tx = tx.clone();
        let initialized = initialized.clone();
        in_flight.spawn(async move {
            let id = request.id.clone();
            let method = request.method.clone();
            let handled = AssertUnwindSafe(handle(&connector, &initialized, request))
                .catch_unwind()
                .await;
            let outcome = handled.unwrap_or_else(|_| {
                Err(RpcError::plain(
                    INTERNAL,
                    format!("internal error while serving {method}; see the plugin's log"),
                ))
            });
            if let Some(id) = &id {
                let _ = tx.send(response_line(id, outcome));
            }
        });
    }

    while in_flight.join_next().await.is_some() {}
    if let Some(id) = shutdown_id {
        if !id.is_null() {
            let _ = tx.send(response_line(&id, Ok(b"null".to_vec())));
        }
        tracing::info!("plugin shutting down on request");
    } else {
        tracing::info!("stdin closed; plugin exiting");
    }
    drop(tx);
    writer_task.await.map_err(std::io::Error::other)??;
    Ok(())
}

async fn write_responses<W: AsyncWrite + Unpin>(
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    mut writer: W,
) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        writer.write_all(&line).await?;
        // Flush when nothing else is queued, so a burst of responses costs one flush.
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await
}

/// A request as the server keeps it: the envelope read, the params still JSON text, so that a
/// large `execute` is parsed once, straight into its typed params.
struct Incoming {
    id: Option<Value>,
    method: String,
    params: Box<RawValue>,
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

/// Reads a request line; a line that is not one gets its error response line instead.
fn parse_request(line: &str) -> Result<Incoming, Vec<u8>> {
    match serde_json::from_str::<Envelope<'_>>(line) {
        Ok(envelope) if envelope.jsonrpc == "2.0" => Ok(Incoming {
            id: envelope.id,
            method: envelope.method.into_owned(),
            params: envelope
                .params
                .map(RawValue::to_owned)
                .unwrap_or_else(raw_null),
        }),
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

fn raw_null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` or the error response, as one line.
fn response_line(id: &Value, outcome: Result<Vec<u8>, RpcError>) -> Vec<u8> {
    match outcome {
        Ok(result) => {
            let mut line = Vec::with_capacity(result.len() + 48);
            line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
            if serde_json::to_writer(&mut line, id).is_err() {
                line.extend_from_slice(b"null");
            }
            line.extend_from_slice(b",\"result\":");
            line.extend_from_slice(&result);
            line.extend_from_slice(b"}\n");
            line
        }
        Err(error) => error_line(id, &error),
    }
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

fn params<T: DeserializeOwned>(request: &Incoming) -> Result<T, RpcError> {
    serde_json::from_str(request.params.get()).map_err(|e| {
        RpcError::plain(
            INVALID_PARAMS,
            format!("invalid params for {}: {e}", request.method),
        )
    })
}

fn to_json<T: serde::Serialize>(result: Result<T, RpcError>) -> Result<Vec<u8>, RpcError> {
    result.and_then(|value| {
        serde_json::to_vec(&value).map_err(|e| RpcError::plain(INTERNAL, e.to_string()))
    })
}

async fn handle(
    connector: &Connector,
    initialized: &AtomicBool,
    request: Incoming,
) -> Result<Vec<u8>, RpcError> {
    if !initialized.load(Ordering::SeqCst) {
        return Err(RpcError::plain(
            INVALID_REQUEST,
            format!(
                "\"{}\" before \"initialize\": initialize must be the first request",
                request.method
            ),
        ));
    }
    match request.method.as_str() {
        method::TEST_CONNECTION => to_json(test_connection(connector, &request).await),
        method::BROWSE => to_json(browse(connector, &request).await),
        method::EXECUTE => to_json(execute(connector, &request).await),
        other => Err(RpcError::plain(
            METHOD_NOT_FOUND,
            format!(
                "unknown method \"{other}\"; the methods are initialize, testConnection, browse, execute and shutdown"
            ),
        )),
    }
}

fn initialize(connector: &Connector, request: &Incoming) -> Result<InitializeResult, RpcError> {
    let params: InitializeParams = params(request)?;
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
    request: &Incoming,
) -> Result<TestConnectionResult, RpcError> {
    let params: TestConnectionParams = params(request)?;
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

async fn browse(connector: &Connector, request: &Incoming) -> Result<BrowseResult, RpcError> {
    let params: BrowseParams = params(request)?;
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

async fn execute(connector: &Connector, request: &Incoming) -> Result<ExecuteResult, RpcError> {
    let params: ExecuteParams = params(request)?;
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
