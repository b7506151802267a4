//! The plugin side: reads requests from stdin, serves them concurrently, answers on stdout.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::types::*;
use crate::context::ExecutionContext;
use crate::runtime::{Connector, PROTOCOL_VERSION};

/// Serves `connector` on this process's stdin and stdout until `shutdown` or until stdin closes,
/// then waits for in-flight requests. Logs go to stderr (see [`crate::logging`]).
pub async fn serve(connector: Arc<Connector>) -> std::io::Result<()> {
    serve_io(
        connector,
        BufReader::new(tokio::io::stdin()),
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
    let (tx, rx) = mpsc::unbounded_channel::<Response>();
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
                let _ = tx.send(Response::error(
                    Value::Null,
                    RpcError::plain(PARSE_ERROR, format!("the line is not UTF-8 text: {e}")),
                ));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let request = match parse_request(line) {
            Ok(request) => request,
            Err(response) => {
                tracing::warn!("answered a line that is not a valid request");
                let _ = tx.send(*response);
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
            let outcome = to_outcome(initialize(&connector, &request).inspect(|_| {
                initialized.store(true, Ordering::SeqCst);
            }));
            if let Some(id) = request.id {
                let _ = tx.send(Response {
                    jsonrpc: "2.0".into(),
                    id,
                    outcome,
                });
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
                Outcome::Error(RpcError::plain(
                    INTERNAL,
                    format!("internal error while serving {method}; see the plugin's log"),
                ))
            });
            if let Some(id) = id {
                let _ = tx.send(Response {
                    jsonrpc: "2.0".into(),
                    id,
                    outcome,
                });
            }
        });
    }

    while in_flight.join_next().await.is_some() {}
    if let Some(id) = shutdown_id {
        if !id.is_null() {
            let _ = tx.send(Response::result(id, Value::Null));
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
    mut rx: mpsc::UnboundedReceiver<Response>,
    mut writer: W,
) -> std::io::Result<()> {
    while let Some(response) = rx.recv().await {
        let mut line = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
        line.push(b'\n');
        writer.write_all(&line).await?;
        // Flush when nothing else is queued, so a burst of responses costs one flush.
        if rx.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await
}

fn parse_request(line: &str) -> Result<Request, Box<Response>> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        Box::new(Response::error(
            Value::Null,
            RpcError::plain(PARSE_ERROR, format!("the line is not JSON: {e}")),
        ))
    })?;
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    let request: Request = serde_json::from_value(value).map_err(|e| {
        Box::new(Response::error(
            id.clone(),
            RpcError::plain(INVALID_REQUEST, format!("not a JSON-RPC request: {e}")),
        ))
    })?;
    if request.jsonrpc != "2.0" {
        return Err(Box::new(Response::error(
            id,
            RpcError::plain(INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\""),
        )));
    }
    Ok(request)
}

fn params<T: DeserializeOwned>(request: &Request) -> Result<T, RpcError> {
    serde_json::from_value(request.params.clone()).map_err(|e| {
        RpcError::plain(
            INVALID_PARAMS,
            format!("invalid params for {}: {e}", request.method),
        )
    })
}

fn to_outcome<T: serde::Serialize>(result: Result<T, RpcError>) -> Outcome {
    match result.and_then(|value| {
        serde_json::to_value(value).map_err(|e| RpcError::plain(INTERNAL, e.to_string()))
    }) {
        Ok(value) => Outcome::Result(value),
        Err(err) => Outcome::Error(err),
    }
}

async fn handle(connector: &Connector, initialized: &AtomicBool, request: Request) -> Outcome {
    if !initialized.load(Ordering::SeqCst) {
        return Outcome::Error(RpcError::plain(
            INVALID_REQUEST,
            format!(
                "\"{}\" before \"initialize\": initialize must be the first request",
                request.method
            ),
        ));
    }
    match request.method.as_str() {
        method::TEST_CONNECTION => to_outcome(test_connection(connector, &request).await),
        method::BROWSE => to_outcome(browse(connector, &request).await),
        method::EXECUTE => to_outcome(execute(connector, &request).await),
        other => Outcome::Error(RpcError::plain(
            METHOD_NOT_FOUND,
            format!(
                "unknown method \"{other}\"; the methods are initialize, testConnection, browse, execute and shutdown"
            ),
        )),
    }
}

fn initialize(connector: &Connector, request: &Request) -> Result<InitializeResult, RpcError> {
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
    request: &Request,
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

async fn browse(connector: &Connector, request: &Request) -> Result<BrowseResult, RpcError> {
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

async fn execute(connector: &Connector, request: &Request) -> Result<ExecuteResult, RpcError> {
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
