//! The plugin's side of protocol 1.1 listeners: the listeners a host started, the requests the
//! plugin sends the host for them (`listen/batch`, with ids `p-N`), and the host's answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::types::{
    ListenBatchParams, ListenBatchResult, ListenStatusParams, PLUGIN_REQUEST_ID_PREFIX, RpcError,
    listen_method,
};
use crate::listen::{DeliveryError, ListenHost};
use crate::runtime::RunningListener;

/// How long a shutdown (or a closed stdin) lets listeners drain before what they still hold is
/// released: below the 10 s a host using this SDK waits for a plugin to exit.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

type Answer = Result<ListenBatchResult, DeliveryError>;

/// The requests the plugin sent the host and waits for, by id; and how to write a line.
pub(crate) struct PluginRequests {
    lines: mpsc::Sender<super::server::Outgoing>,
    pending: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    serial: AtomicU64,
    /// Cancelled once the host cannot be reached any more (output broken, input ended).
    gone: CancellationToken,
}

impl PluginRequests {
    pub(crate) fn new(lines: mpsc::Sender<super::server::Outgoing>) -> Arc<Self> {
        Arc::new(Self {
            lines,
            pending: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(0),
            gone: CancellationToken::new(),
        })
    }

    /// The host can no longer answer: every request waiting gets `Abandoned`.
    pub(crate) fn host_gone(&self) {
        self.gone.cancel();
        for (_, waiting) in self.pending.lock().drain() {
            let _ = waiting.send(Err(DeliveryError::Abandoned(
                "the host can no longer answer".into(),
            )));
        }
    }

    /// Routes a line that answers one of the plugin's requests; `false` when the line is no
    /// such answer (its head does not carry a `p-` id).
    pub(crate) fn route_answer(&self, line: &str) -> bool {
        #[derive(Deserialize)]
        struct HostAnswer<'a> {
            id: String,
            #[serde(borrow, default)]
            result: Option<&'a RawValue>,
            #[serde(default)]
            error: Option<RpcError>,
        }
        let Some(id) = super::lines::head_request_id_text(line.as_bytes()) else {
            return false;
        };
        if !id
            .strip_prefix('"')
            .is_some_and(|id| id.starts_with(PLUGIN_REQUEST_ID_PREFIX))
        {
            return false;
        }
        let answer: HostAnswer<'_> = match serde_json::from_str(line) {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(id, error = %error, "the host answered a plugin request unreadably");
                return true;
            }
        };
        let Some(waiting) = self.pending.lock().remove(&answer.id) else {
            tracing::warn!(id = %answer.id, "an answer to no request of the plugin's");
            return true;
        };
        let outcome = match (answer.result, answer.error) {
            (_, Some(error)) => Err(DeliveryError::Refused(error.message)),
            (Some(result), None) => serde_json::from_str::<ListenBatchResult>(result.get())
                .map_err(|e| {
                    DeliveryError::Refused(format!("the host's answer is unreadable: {e}"))
                }),
            (None, None) => Err(DeliveryError::Refused(
                "the host's answer has neither a result nor an error".into(),
            )),
        };
        let _ = waiting.send(outcome);
        true
    }

    /// Sends `listen/batch` and waits for the host's answer.
    async fn batch(&self, params: &ListenBatchParams) -> Answer {
        self.request(listen_method::BATCH, |line| {
            line.reserve(super::json_out::listen_batch_params_size_hint(params));
            super::json_out::push_listen_batch_params(line, params);
        })
        .await
    }

    /// Sends a request whose params `params` writes into its line, and waits for the answer.
    async fn request(&self, method: &str, params: impl FnOnce(&mut Vec<u8>)) -> Answer {
        let id = format!(
            "{PLUGIN_REQUEST_ID_PREFIX}{}",
            self.serial.fetch_add(1, Ordering::Relaxed) + 1
        );
        let (tx, rx) = oneshot::channel();
        if self.gone.is_cancelled() {
            return Err(DeliveryError::Abandoned(
                "the host can no longer answer".into(),
            ));
        }
        self.pending.lock().insert(id.clone(), tx);
        let mut line = Vec::new();
        request_head(&mut line, Some(&id), method);
        params(&mut line);
        line.extend_from_slice(b"}\n");
        if self
            .lines
            .send(super::server::Outgoing::line(line))
            .await
            .is_err()
        {
            self.pending.lock().remove(&id);
            return Err(DeliveryError::Abandoned(
                "the plugin's output is closed".into(),
            ));
        }
        rx.await.unwrap_or_else(|_| {
            Err(DeliveryError::Abandoned(
                "the host can no longer answer".into(),
            ))
        })
    }

    fn notify(&self, method: &'static str, params: &impl serde::Serialize) {
        let line = request_line(None, method, params);
        let lines = self.lines.clone();
        // Notifications are not waited for; the queue keeps their order with the rest.
        if let Err(mpsc::error::TrySendError::Full(outgoing)) =
            lines.try_send(super::server::Outgoing::line(line))
        {
            tokio::spawn(async move {
                let _ = lines.send(outgoing).await;
            });
        }
    }
}

/// A request or notification line up to its params: `{"jsonrpc":"2.0",["id":"…",]"method":"…","params":`.
fn request_head(line: &mut Vec<u8>, id: Option<&str>, method: &str) {
    line.reserve(256);
    line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",");
    if let Some(id) = id {
        line.extend_from_slice(b"\"id\":\"");
        line.extend_from_slice(id.as_bytes());
        line.extend_from_slice(b"\",");
    }
    line.extend_from_slice(b"\"method\":\"");
    line.extend_from_slice(method.as_bytes());
    line.extend_from_slice(b"\",\"params\":");
}

fn request_line(id: Option<&str>, method: &str, params: &impl serde::Serialize) -> Vec<u8> {
    let mut line = Vec::new();
    request_head(&mut line, id, method);
    if serde_json::to_writer(&mut line, params).is_err() {
        line.extend_from_slice(b"null");
    }
    line.extend_from_slice(b"}\n");
    line
}

/// The host as one listener reaches it through the plugin protocol.
pub(crate) struct ProtocolHost(pub(crate) Arc<PluginRequests>);

impl ListenHost for ProtocolHost {
    fn batch(&self, params: ListenBatchParams) -> BoxFuture<'static, Answer> {
        let requests = self.0.clone();
        Box::pin(async move { requests.batch(&params).await })
    }

    fn status(&self, status: ListenStatusParams) {
        self.0.notify(listen_method::STATUS, &status);
    }
}

/// The listeners running, by the host's id.
#[derive(Default)]
pub(crate) struct Listeners {
    running: Mutex<HashMap<String, RunningListener>>,
}

impl Listeners {
    /// Whether a listener with this id runs (or is starting).
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.running.lock().contains_key(id)
    }

    pub(crate) fn insert(&self, id: String, listener: RunningListener) {
        self.running.lock().insert(id, listener);
    }

    pub(crate) fn remove(&self, id: &str) -> Option<RunningListener> {
        self.running.lock().remove(id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.running.lock().is_empty()
    }

    /// Stops every listener: draining for at most `grace` (when `drain`), then releasing what
    /// is left; returns once all have ended.
    pub(crate) async fn stop_all(&self, drain: bool, grace: Duration) {
        let all: Vec<RunningListener> = self.running.lock().drain().map(|(_, l)| l).collect();
        if all.is_empty() {
            return;
        }
        tracing::info!(listeners = all.len(), drain, "stopping the listeners");
        for listener in &all {
            listener.stop(drain);
        }
        let abandon = all
            .iter()
            .map(RunningListener::abandon_handle)
            .collect::<Vec<_>>();
        let finished = futures::future::join_all(all.into_iter().map(RunningListener::finished));
        tokio::pin!(finished);
        tokio::select! {
            _ = &mut finished => return,
            () = tokio::time::sleep(grace) => {}
        }
        tracing::warn!("listeners still draining after the grace period; releasing what they hold");
        for token in abandon {
            token.cancel();
        }
        finished.await;
    }
}
