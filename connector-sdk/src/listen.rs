//! Listeners (protocol 1.1): long-running operations that hand batches of documents to the
//! host as they arrive and commit or release each document by the host's answer.
//!
//! A connector implements [`Listener`] for its listening operation type (`LISTEN`); the runtime
//! starts it with [`crate::Connector::start_listener`], which gives it a [`ListenContext`]: the
//! way to the host ([`ListenContext::deliver`], [`ListenContext::status`]) and the signals to
//! stop ([`ListenContext::stopping`]: poll no more; [`ListenContext::abandoned`]: release what
//! waits for an answer at once).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::connector::{Connection, OperationInfo};
use crate::document::{Document, ResultStatus};
use crate::error::ConnectorError;
pub use crate::protocol::{BatchResult, ListenerState};
use crate::protocol::{ListenBatchParams, ListenBatchResult, ListenStatusParams};
pub use crate::runtime::RunningListener;

/// A listening operation: runs until stopped, receiving from its source and handing each batch
/// to the host with [`ListenContext::deliver`].
pub trait Listener: Send + Sync + Sized + 'static {
    /// The connection this listener runs on.
    type Connection: Connection;
    /// The listener's options.
    type Config: DeserializeOwned + JsonSchema;

    /// What the listener is, for the descriptor (its `takes_input` is ignored: a listener takes
    /// none).
    fn info() -> OperationInfo;

    /// Builds the listener from its options. Must not do I/O.
    fn build(config: Self::Config) -> Result<Self, ConnectorError>;

    /// Runs the listener until [`ListenContext::stopping`] is cancelled and everything it
    /// delivered is answered and committed (or, once [`ListenContext::abandoned`] is cancelled
    /// too, released). Calls [`ListenContext::ready`] once it polls; an error before that is
    /// the answer to the host's `listen`, an error after it ends the listener (report it with
    /// [`ListenContext::status`] first).
    fn listen(
        &self,
        ctx: &ListenContext,
        connection: &Self::Connection,
    ) -> impl Future<Output = Result<(), ConnectorError>> + Send;
}

/// Why a batch got no per-document answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The host answered the batch with an error: release every document.
    #[error("the host refused the batch: {0}")]
    Refused(String),
    /// The listener was stopped without draining, or the host went away: release every
    /// document at once.
    #[error("the batch was abandoned: {0}")]
    Abandoned(String),
}

/// The host's side of a listener, as the listener's context reaches it: the plugin protocol's
/// `listen/batch` and `listen/status`, or an embedding host's own code.
pub trait ListenHost: Send + Sync + 'static {
    /// Hands a batch to the host; completes when the host's process for it has finished.
    fn batch(
        &self,
        params: ListenBatchParams,
    ) -> BoxFuture<'static, Result<ListenBatchResult, DeliveryError>>;

    /// Tells the host the listener's state changed.
    fn status(&self, status: ListenStatusParams);
}

/// What a listener is given: its id, the way to the host and the signals to stop.
pub struct ListenContext {
    listener_id: String,
    host: Arc<dyn ListenHost>,
    stopping: CancellationToken,
    abandoned: CancellationToken,
    ready: Mutex<Option<oneshot::Sender<()>>>,
    batches: AtomicU64,
}

impl ListenContext {
    /// A context for listener `listener_id` reaching the host through `host`, and the receiver
    /// that completes when the listener calls [`ListenContext::ready`].
    pub fn new(listener_id: impl Into<String>, host: Arc<dyn ListenHost>) -> (Self, Ready) {
        let (tx, rx) = oneshot::channel();
        let ctx = Self {
            listener_id: listener_id.into(),
            host,
            stopping: CancellationToken::new(),
            abandoned: CancellationToken::new(),
            ready: Mutex::new(Some(tx)),
            batches: AtomicU64::new(0),
        };
        (ctx, Ready(rx))
    }

    /// The host's id for this listener.
    pub fn listener_id(&self) -> &str {
        &self.listener_id
    }

    /// Cancelled when the listener is to stop polling (its batches in flight still get their
    /// answers, unless [`ListenContext::abandoned`] is cancelled too).
    pub fn stopping(&self) -> &CancellationToken {
        &self.stopping
    }

    /// Cancelled when what waits for an answer is to be released at once (a stop without
    /// draining, the host gone, the grace period of a shutdown over). Implies stopping.
    pub fn abandoned(&self) -> &CancellationToken {
        &self.abandoned
    }

    /// Says the listener polls: the host's `listen` is answered now.
    pub fn ready(&self) {
        if let Some(tx) = self.ready.lock().take() {
            let _ = tx.send(());
        }
    }

    /// Hands `documents` to the host as one batch and waits for its answer: one result per
    /// document, in order (a document the host left without a result is a `FAILURE`).
    pub async fn deliver(
        &self,
        documents: Vec<Document>,
    ) -> Result<Vec<BatchResult>, DeliveryError> {
        let count = documents.len();
        let serial = self.batches.fetch_add(1, Ordering::Relaxed) + 1;
        let params = ListenBatchParams {
            listener_id: self.listener_id.clone(),
            batch_id: format!("{}-b{serial}", self.listener_id),
            documents,
        };
        let answer = tokio::select! {
            biased;
            () = self.abandoned.cancelled() => {
                return Err(DeliveryError::Abandoned("the listener was stopped".into()))
            }
            answer = self.host.batch(params) => answer?,
        };
        let mut results: Vec<Option<BatchResult>> = vec![None; count];
        for result in answer.results {
            if let Some(slot) = results.get_mut(result.index)
                && slot.is_none()
            {
                *slot = Some(result);
            }
        }
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(index, result)| {
                result.unwrap_or_else(|| BatchResult {
                    index,
                    status: ResultStatus::Failure,
                    message: Some(format!("the host gave document {index} no result")),
                })
            })
            .collect())
    }

    /// Tells the host the listener's state changed (`kind` for a failure: `auth`, `transient`,
    /// `config`, `internal`).
    pub fn status(&self, state: ListenerState, message: impl Into<String>, kind: Option<&str>) {
        self.host.status(ListenStatusParams {
            listener_id: self.listener_id.clone(),
            state,
            message: message.into(),
            kind: kind.map(str::to_owned),
        });
    }
}

/// Completes when the listener calls [`ListenContext::ready`]; fails when it ended before.
pub struct Ready(oneshot::Receiver<()>);

impl Ready {
    /// Waits for the listener to poll; `false` when it ended without doing so.
    pub async fn wait(self) -> bool {
        self.0.await.is_ok()
    }
}
