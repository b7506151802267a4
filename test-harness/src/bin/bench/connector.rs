//! The connector's contenders: SEND and RECEIVE through the plugin process, or in-process through
//! `Connector::execute`, with the same components and the same chunking of documents; and LISTEN
//! through the plugin with a host process that answers every batch at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use connector_sdk::host::{
    BatchResult, ClientError, ExecuteParamsRef, ExecuteResult, ListenBatchParams,
    ListenBatchResult, ListenHandler, ListenParams, ListenStatusParams, ListenerState, Outputs,
    PluginProcess, RpcError,
};
use connector_sdk::{
    Component, Connector, Document, DocumentResult, ExecutionContext, ResultStatus,
};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::raw::{ACCESS_KEY, REGION, SECRET_KEY};

/// Where the connector runs.
#[derive(Clone, Copy)]
pub(crate) enum Host<'a> {
    /// `sqs-connector serve`, driven over JSON-RPC as the harness's process runner drives it:
    /// its execute calls ask for `"outputs": "added"` (protocol 1.1), so SEND's outputs come
    /// back as the properties added and the host merges them onto the documents it sent.
    Plugin(&'a PluginProcess),
    /// The same, its execute calls asking for full outputs (the input echoed, protocol 1.0's
    /// shape).
    PluginFull(&'a PluginProcess),
    /// The same connector built in this process.
    InProcess(&'a Connector),
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The access-keys connection every connector contender uses.
pub(crate) fn connection(endpoint: &str) -> Component {
    connection_named("bench-conn-keys", endpoint)
}

/// The same connection under another id (a host keeps one built client per connection id).
pub(crate) fn connection_named(id: &str, endpoint: &str) -> Component {
    Component::connection(
        id,
        sqs_connector::CONNECTOR_ID,
        fields(json!({
            "authenticationType": "ACCESS_KEYS",
            "accessKey": ACCESS_KEY,
            "secretKey": SECRET_KEY,
            "region": REGION,
            "endpointUrl": endpoint,
        })),
    )
}

/// A SEND operation to `queue_url` with 16 requests in flight.
pub(crate) fn send_operation(id: &str, queue_url: &str, concurrency: usize) -> Component {
    Component::operation(
        id,
        sqs_connector::CONNECTOR_ID,
        "SEND",
        fields(json!({"queue": queue_url, "maxConcurrentRequests": concurrency})),
    )
}

/// A RECEIVE of every message available, deleting what it read, with `concurrency` reads in
/// flight (the raw drain's worker count).
pub(crate) fn receive_operation(id: &str, queue_url: &str, concurrency: usize) -> Component {
    receive_operation_of(id, queue_url, concurrency, -1)
}

/// A RECEIVE of at most `max_messages` per execution (-1: every message available), deleting
/// what it read, with `concurrency` reads in flight.
pub(crate) fn receive_operation_of(
    id: &str,
    queue_url: &str,
    concurrency: usize,
    max_messages: i64,
) -> Component {
    Component::operation(
        id,
        sqs_connector::CONNECTOR_ID,
        "RECEIVE",
        fields(json!({
            "queue": queue_url,
            "maxMessages": max_messages,
            "deleteAfterRead": true,
            "maxConcurrentRequests": concurrency
        })),
    )
}

/// How the LISTEN contender listens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListenShape {
    /// Receive loops (the raw drain's workers).
    pub pollers: usize,
    /// Batches that may wait for their answer at once.
    pub max_concurrent_batches: usize,
    /// Each receive's long poll.
    pub wait_seconds: u32,
}

/// A LISTEN on `queue_url`: batches of 10, a 60 s visibility timeout kept up by the heartbeat,
/// AT_LEAST_ONCE (a message is deleted once its batch was answered SUCCESS).
pub(crate) fn listen_operation(id: &str, queue_url: &str, shape: ListenShape) -> Component {
    Component::operation(
        id,
        sqs_connector::CONNECTOR_ID,
        "LISTEN",
        fields(json!({
            "queue": queue_url,
            "maxMessages": 10,
            "waitTimeSeconds": shape.wait_seconds,
            "visibilityTimeoutSeconds": 60,
            "pollers": shape.pollers,
            "maxConcurrentBatches": shape.max_concurrent_batches,
            "commitStrategy": "AT_LEAST_ONCE",
            "heartbeat": true
        })),
    )
}

/// The host's process of the LISTEN contender: every document SUCCESS at once, counted; the
/// benchmark is woken once `wanted` were answered, or when the listener stops or retries (it
/// then fails with what the listener said).
struct InstantProcess {
    wanted: usize,
    answered: AtomicUsize,
    done: tokio::sync::Notify,
    trouble: Mutex<Option<String>>,
}

impl ListenHandler for InstantProcess {
    fn batch(
        &self,
        batch: ListenBatchParams,
    ) -> BoxFuture<'static, Result<ListenBatchResult, RpcError>> {
        let count = batch.documents.len();
        let results = (0..count)
            .map(|index| BatchResult {
                index,
                status: ResultStatus::Success,
                message: None,
            })
            .collect();
        let answered = self.answered.fetch_add(count, Ordering::Relaxed) + count;
        if answered >= self.wanted {
            self.done.notify_one();
        }
        Box::pin(std::future::ready(Ok(ListenBatchResult::new(results))))
    }

    fn status(&self, status: ListenStatusParams) {
        if matches!(status.state, ListenerState::Polling) {
            return;
        }
        self.trouble.lock().get_or_insert_with(|| {
            format!(
                "the listener reported {:?}: {}",
                status.state, status.message
            )
        });
        self.done.notify_one();
    }
}

/// LISTEN through the plugin until `wanted` documents were answered, then a drained
/// `listen/stop`, whose answer comes once every answered message was deleted. Returns how many
/// documents were answered in all (more than `wanted` if any came twice).
pub(crate) async fn listen_drain(
    plugin: &PluginProcess,
    listener_id: &str,
    connection: &Component,
    operation: &Component,
    wanted: usize,
) -> Result<usize, String> {
    let process = Arc::new(InstantProcess {
        wanted,
        answered: AtomicUsize::new(0),
        done: tokio::sync::Notify::new(),
        trouble: Mutex::new(None),
    });
    let params = ListenParams {
        listener_id: listener_id.to_owned(),
        connection: connection.clone(),
        operation: operation.clone(),
    };
    plugin
        .listen(&params, process.clone())
        .await
        .map_err(|e| format!("listen through the plugin: {e}"))?;
    let waited = tokio::time::timeout(Duration::from_secs(300), process.done.notified()).await;
    let trouble = process.trouble.lock().take();
    plugin
        .listen_stop(listener_id, true, Duration::from_secs(60))
        .await
        .map_err(|e| format!("listen/stop through the plugin: {e}"))?;
    let answered = process.answered.load(Ordering::Relaxed);
    if let Some(trouble) = trouble {
        return Err(format!("{trouble} ({answered} of {wanted} answered)"));
    }
    if waited.is_err() {
        return Err(format!(
            "LISTEN answered {answered} of {wanted} documents in 300 s"
        ));
    }
    Ok(answered)
}

/// One execute call through `plugin` on documents the host holds (serialized where they are),
/// asking for `outputs`.
pub(crate) async fn plugin_execute(
    plugin: &PluginProcess,
    execution_id: &str,
    connection: &Component,
    operation: &Component,
    documents: &[Document],
    outputs: Outputs,
) -> Result<ExecuteResult, ClientError> {
    let params = ExecuteParamsRef {
        execution_id,
        process_name: "bench",
        connection,
        operation,
        documents,
    };
    plugin.execute_ref_with(&params, outputs).await
}

impl Host<'_> {
    /// One execute call on documents the host owns, as a runtime owns the documents a step
    /// passes on: through the plugin they are serialized where they are (and dropped after the call);
    /// in process `Connector::execute` takes them (SEND's outputs are the same documents).
    pub(crate) async fn execute(
        &self,
        execution_id: &str,
        connection: &Component,
        operation: &Component,
        documents: Vec<Document>,
    ) -> Result<Vec<DocumentResult>, String> {
        match self {
            Host::Plugin(plugin) | Host::PluginFull(plugin) => {
                let outputs = match self {
                    Host::PluginFull(_) => Outputs::Full,
                    _ => Outputs::Added,
                };
                plugin_execute(
                    plugin,
                    execution_id,
                    connection,
                    operation,
                    &documents,
                    outputs,
                )
                .await
                .map(|r| r.results)
                .map_err(|e| format!("execute through the plugin: {e}"))
            }
            Host::InProcess(connector) => {
                let ctx = ExecutionContext::new(execution_id, "bench");
                connector
                    .execute(&ctx, connection, operation, documents)
                    .await
                    .map_err(|e| format!("execute in-process: {}", e.display_chain()))
            }
        }
    }
}

fn first_problem(results: &[DocumentResult]) -> Option<String> {
    results
        .iter()
        .find(|r| r.status != ResultStatus::Success)
        .map(|r| {
            format!(
                "document {}: {} {}: {}",
                r.index,
                r.status,
                r.status_code.as_deref().unwrap_or(""),
                r.message.as_deref().unwrap_or("")
            )
        })
}

/// One execute call of a SEND; fails unless each of its documents got a SUCCESS.
async fn send_part(
    host: Host<'_>,
    execution_id: String,
    connection: &Component,
    operation: &Component,
    documents: Vec<Document>,
) -> Result<(), String> {
    let expected = documents.len();
    let results = host
        .execute(&execution_id, connection, operation, documents)
        .await?;
    if results.len() != expected {
        return Err(format!(
            "{} results for {expected} documents",
            results.len()
        ));
    }
    match first_problem(&results) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// The documents of a SEND cut into execute calls of `chunk` documents, owned by the host (made
/// before a measurement starts, as a runtime has its documents before a step runs).
pub(crate) fn execute_calls(documents: &[Document], chunk: usize) -> Vec<Vec<Document>> {
    documents
        .chunks(chunk.max(1))
        .map(<[Document]>::to_vec)
        .collect()
}

/// SEND of the documents of `calls` (see [`execute_calls`]), `in_flight` execute calls at once.
/// Fails unless every document got a SUCCESS.
pub(crate) async fn send(
    host: Host<'_>,
    connection: &Component,
    operation: &Component,
    calls: Vec<Vec<Document>>,
    in_flight: usize,
) -> Result<(), String> {
    let tag = operation.id.as_str();
    let calls = calls
        .into_iter()
        .enumerate()
        .map(|(n, part)| send_part(host, format!("{tag}-{n}"), connection, operation, part));
    crate::limited(calls, in_flight).await
}

/// RECEIVE with delete: one execute with one trigger document. Returns how many messages came
/// back; fails unless the result is a SUCCESS.
pub(crate) async fn receive(
    host: Host<'_>,
    connection: &Component,
    operation: &Component,
) -> Result<usize, String> {
    let results = host
        .execute(
            &format!("{}-receive", operation.id),
            connection,
            operation,
            vec![Document::default()],
        )
        .await?;
    if let Some(problem) = first_problem(&results) {
        return Err(problem);
    }
    Ok(results.iter().map(|r| r.outputs.len()).sum())
}

/// RECEIVE with delete in executions of the operation's `per_call` messages, `in_flight`
/// executions at once, until `wanted` messages came back or an execution found none. Returns how
/// many messages came back.
pub(crate) async fn receive_all(
    host: Host<'_>,
    connection: &Component,
    operation: &Component,
    per_call: usize,
    wanted: usize,
    in_flight: usize,
) -> Result<usize, String> {
    use futures::StreamExt as _;
    let mut running = futures::stream::FuturesUnordered::new();
    let mut got = 0;
    let mut calls = 0;
    let mut exhausted = false;
    loop {
        // Start calls while the ones running cannot bring in everything still wanted.
        while !exhausted
            && running.len() < in_flight
            && (running.is_empty() || got + running.len() * per_call < wanted)
            && got < wanted
        {
            let execution = format!("{}-receive-{calls}", operation.id);
            calls += 1;
            running.push(async move {
                let results = host
                    .execute(&execution, connection, operation, vec![Document::default()])
                    .await?;
                if let Some(problem) = first_problem(&results) {
                    return Err(problem);
                }
                Ok::<usize, String>(results.iter().map(|r| r.outputs.len()).sum())
            });
        }
        match running.next().await {
            None => return Ok(got),
            Some(count) => {
                let count = count?;
                got += count;
                exhausted |= count == 0;
            }
        }
    }
}
