//! The host's side of listeners (protocol 1.1) against a stand-in plugin: `PluginProcess::listen`
//! registers a handler, the plugin's `listen/batch` requests are answered with what the handler
//! returns, by the plugin's ids and in the order the handler finishes them, `listen/status`
//! reaches the handler, and what the host does not serve is answered with an error.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connector_sdk::host::{
    BatchResult, ClientError, INVALID_PARAMS, INVALID_REQUEST, ListenBatchParams,
    ListenBatchResult, ListenHandler, ListenParams, ListenStatusParams, ListenerState,
    METHOD_NOT_FOUND, PluginCommand, PluginProcess, RpcError,
};
use connector_sdk::{Component, ResultStatus};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long a test waits for what it expects.
const PATIENCE: Duration = Duration::from_secs(10);

/// The code the handler fails batch `b-3` with.
const HANDLER_FAILED: i64 = -32050;

/// A stand-in plugin in Python: answers `initialize` with protocol `VERSION` (default 1.1);
/// answers `listen`, then sends the host a `polling` status, batches `b-1` (two documents, id
/// `p-1`), `b-2` (one document, `p-2`) and `b-3` (`p-3`), a request of an unknown method (`p-4`),
/// a batch for a listener that does not run (`p-5`) and one with an id that is not the plugin's
/// (`x-6`); answers `listen/stop` (after a `stopped` status) and `shutdown`. Every line it reads
/// is appended to the file `RECORD`.
const STAND_IN: &str = r#"
import json, os, sys
record = open(os.environ["RECORD"], "a", buffering=1)
def send(message):
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()
def batch(rid, listener, bid, bodies):
    send({"jsonrpc": "2.0", "id": rid, "method": "listen/batch", "params": {
        "listenerId": listener, "batchId": bid, "documents": [{"data": b} for b in bodies]}})
for line in sys.stdin:
    record.write(line)
    message = json.loads(line)
    method = message.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {
            "protocolVersion": os.environ.get("VERSION", "1.1"),
            "limits": {"maxLineBytes": 1048576, "maxRequestsInFlight": 8}, "connector": {}}})
    elif method == "listen":
        listener = message["params"]["listenerId"]
        send({"jsonrpc": "2.0", "id": message["id"], "result": {"listenerId": listener}})
        send({"jsonrpc": "2.0", "method": "listen/status",
              "params": {"listenerId": listener, "state": "polling"}})
        batch("p-1", listener, "b-1", ["one", "bad"])
        batch("p-2", listener, "b-2", ["two"])
        batch("p-3", listener, "b-3", ["three"])
        send({"jsonrpc": "2.0", "id": "p-4", "method": "host/unknown", "params": {}})
        batch("p-5", "nobody", "b-5", ["five"])
        batch("x-6", listener, "b-6", ["six"])
    elif method == "listen/stop":
        send({"jsonrpc": "2.0", "method": "listen/status", "params": {
            "listenerId": message["params"]["listenerId"], "state": "stopped",
            "message": "stopped by the host"}})
        send({"jsonrpc": "2.0", "id": message["id"], "result": None})
    elif method == "shutdown":
        send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        break
"#;

fn stand_in(record: &Path, version: &str) -> PluginCommand {
    let mut command = PluginCommand::new("python3", &["-u", "-c", STAND_IN]);
    command.timeout = Duration::from_secs(5);
    command.grace = Duration::from_secs(2);
    command
        .env
        .push(("RECORD".to_owned(), record.display().to_string()));
    command.env.push(("VERSION".to_owned(), version.to_owned()));
    command
}

/// The handler of the tests: `b-1` waits for the test's signal; `b-3` fails; a document whose
/// body is `bad` fails, any other succeeds.
struct Handler {
    release_first: Mutex<Option<oneshot::Receiver<()>>>,
    batches: Mutex<Vec<String>>,
    statuses: Mutex<Vec<ListenStatusParams>>,
}

impl ListenHandler for Handler {
    fn batch(
        &self,
        batch: ListenBatchParams,
    ) -> BoxFuture<'static, Result<ListenBatchResult, RpcError>> {
        self.batches.lock().push(batch.batch_id.clone());
        let gate = match batch.batch_id.as_str() {
            "b-1" => self.release_first.lock().take(),
            _ => None,
        };
        async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            if batch.batch_id == "b-3" {
                return Err(RpcError::plain(HANDLER_FAILED, "the process failed"));
            }
            let results = batch
                .documents
                .iter()
                .enumerate()
                .map(|(index, document)| match document.data.as_slice() {
                    b"bad" => BatchResult {
                        index,
                        status: ResultStatus::Failure,
                        message: Some("refused".to_owned()),
                    },
                    _ => BatchResult {
                        index,
                        status: ResultStatus::Success,
                        message: None,
                    },
                })
                .collect();
            Ok(ListenBatchResult::new(results))
        }
        .boxed()
    }

    fn status(&self, status: ListenStatusParams) {
        self.statuses.lock().push(status);
    }
}

fn component(kind: &str) -> Component {
    serde_json::from_value(match kind {
        "connection" => json!({"id": "c", "connector": "stand-in", "kind": "connection", "fields": {}}),
        _ => json!({"id": "o", "connector": "stand-in", "kind": "operation", "operationType": "LISTEN", "fields": {"queue": "q"}}),
    })
    .expect("a component")
}

fn listen_params(listener_id: &str) -> ListenParams {
    ListenParams {
        listener_id: listener_id.to_owned(),
        connection: component("connection"),
        operation: component("operation"),
    }
}

/// The lines of the record that answer the plugin's requests, in the order the plugin read
/// them, once `count` of them are there (at most [`PATIENCE`]).
async fn answers(record: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(record).unwrap_or_default();
        let found: Vec<Value> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line.get("method").is_none() && line["id"].is_string())
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} answers to reach the stand-in plugin; it read:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn answer<'a>(answers: &'a [Value], id: &str) -> &'a Value {
    answers
        .iter()
        .find(|answer| answer["id"] == id)
        .unwrap_or_else(|| panic!("no answer to {id} among {answers:#?}"))
}

#[tokio::test]
async fn batches_are_answered_by_the_plugins_ids_as_their_handler_finishes_them() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let record = dir.path().join("record.jsonl");
    let process = PluginProcess::spawn(stand_in(&record, "1.1"))
        .await
        .expect("the stand-in initializes");
    let (release, release_first) = oneshot::channel();
    let handler = Arc::new(Handler {
        release_first: Mutex::new(Some(release_first)),
        batches: Mutex::new(Vec::new()),
        statuses: Mutex::new(Vec::new()),
    });
    let started = process
        .listen(&listen_params("l-1"), handler.clone())
        .await
        .expect("the listener starts");
    assert_eq!(started.listener_id, "l-1");
    assert_eq!(process.listeners(), vec!["l-1".to_owned()]);

    // Everything but b-1 is answered while b-1's handler waits.
    let early = answers(&record, 5).await;
    let ids: Vec<&str> = early.iter().filter_map(|a| a["id"].as_str()).collect();
    assert!(!ids.contains(&"p-1"), "b-1 was answered early: {early:#?}");
    assert_eq!(
        answer(&early, "p-2")["result"],
        json!({"results": [{"index": 0, "status": "SUCCESS"}]})
    );
    assert_eq!(answer(&early, "p-3")["error"]["code"], HANDLER_FAILED);
    assert_eq!(answer(&early, "p-4")["error"]["code"], METHOD_NOT_FOUND);
    let unknown = answer(&early, "p-5");
    assert_eq!(unknown["error"]["code"], INVALID_PARAMS);
    assert!(
        unknown["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nobody")),
        "{unknown}"
    );
    assert_eq!(answer(&early, "x-6")["error"]["code"], INVALID_REQUEST);

    release.send(()).expect("b-1 waits");
    let all = answers(&record, 6).await;
    assert_eq!(
        all.last().map(|a| &a["id"]),
        Some(&json!("p-1")),
        "{all:#?}"
    );
    assert_eq!(
        answer(&all, "p-1"),
        &json!({"jsonrpc": "2.0", "id": "p-1", "result": {"results": [
            {"index": 0, "status": "SUCCESS"},
            {"index": 1, "status": "FAILURE", "message": "refused"}
        ]}})
    );
    // The batch of the listener that does not run and the one with a foreign id never reached
    // the handler.
    let mut batches = handler.batches.lock().clone();
    batches.sort();
    assert_eq!(batches, ["b-1", "b-2", "b-3"]);
    assert_eq!(
        handler
            .statuses
            .lock()
            .iter()
            .map(|s| s.state)
            .collect::<Vec<_>>(),
        [ListenerState::Polling]
    );

    process
        .listen_stop("l-1", true, Duration::from_secs(5))
        .await
        .expect("the listener stops");
    assert!(process.listeners().is_empty());
    let statuses = handler.statuses.lock().clone();
    assert_eq!(
        statuses.iter().map(|s| s.state).collect::<Vec<_>>(),
        [ListenerState::Polling, ListenerState::Stopped]
    );
    assert_eq!(statuses[1].message, "stopped by the host");
    let text = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(
        text.contains(r#""method":"listen/stop","params":{"listenerId":"l-1","drain":true}"#),
        "{text}"
    );
    process.shutdown().await.expect("the stand-in exits");
}

#[tokio::test]
async fn a_listener_id_runs_once_and_the_handler_is_told_when_the_process_ends() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let record = dir.path().join("record.jsonl");
    let process = PluginProcess::spawn(stand_in(&record, "1.1"))
        .await
        .expect("the stand-in initializes");
    let handler = Arc::new(Handler {
        release_first: Mutex::new(None),
        batches: Mutex::new(Vec::new()),
        statuses: Mutex::new(Vec::new()),
    });
    process
        .listen(&listen_params("l-1"), handler.clone())
        .await
        .expect("the listener starts");
    match process.listen(&listen_params("l-1"), handler.clone()).await {
        Err(ClientError::Invalid(message)) => assert!(message.contains("l-1"), "{message}"),
        other => panic!("a second listener l-1 must be refused; got {other:?}"),
    }
    answers(&record, 6).await;
    process.kill().await;
    let deadline = Instant::now() + PATIENCE;
    while !handler
        .statuses
        .lock()
        .iter()
        .any(|s| s.state == ListenerState::Stopped)
    {
        assert!(Instant::now() < deadline, "the handler was not told");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let statuses = handler.statuses.lock().clone();
    let last = statuses.last().expect("a status");
    assert_eq!(
        (last.state, last.kind.as_deref()),
        (ListenerState::Stopped, Some("internal"))
    );
    assert!(process.listeners().is_empty());
}

#[tokio::test]
async fn a_1_0_plugin_has_no_listeners() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let record = dir.path().join("record.jsonl");
    let process = PluginProcess::spawn(stand_in(&record, "1.0"))
        .await
        .expect("the stand-in initializes");
    assert_eq!(process.protocol_version(), "1.0");
    let handler = Arc::new(Handler {
        release_first: Mutex::new(None),
        batches: Mutex::new(Vec::new()),
        statuses: Mutex::new(Vec::new()),
    });
    match process.listen(&listen_params("l-1"), handler).await {
        Err(ClientError::Invalid(message)) => assert!(message.contains("1.1"), "{message}"),
        other => panic!("listen must be refused for a 1.0 plugin; got {other:?}"),
    }
    match process
        .listen_stop("l-1", true, Duration::from_secs(1))
        .await
    {
        Err(ClientError::Invalid(_)) => {}
        other => panic!("listen/stop must be refused for a 1.0 plugin; got {other:?}"),
    }
    process.shutdown().await.expect("the stand-in exits");
    let text = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(!text.contains("listen"), "{text}");
}
