//! The plugin side: reads requests from stdin, serves them concurrently, answers on stdout.

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::input::{IncomingExecuteParams, repair_utf8};
use super::json_out::execute_result_size_hint;
use super::lines::{LineRead, discard_line, head_request_id_text, read_line};
use super::listeners::{Listeners, PluginRequests, ProtocolHost, SHUTDOWN_GRACE};
use super::types::*;
use crate::context::ExecutionContext;
use crate::runtime::{Connector, Deferred, SUPPORTED_PROTOCOL_VERSIONS};

/// The read buffer of the plugin's stdin.
const IO_BUFFER: usize = 1 << 20;

/// The longest request line a plugin reads by default: 256 MiB, room for the largest execute a
/// host sends (the test harness sends 500 documents a call; an SQS message is at most 1 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 << 20;

/// How many requests a plugin runs at once by default.
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: usize = 64;

/// The least `maxLineBytes` a plugin agrees to when a host asks for less (unless its own maximum
/// is lower): 1 MiB.
pub const MIN_NEGOTIATED_LINE_BYTES: usize = 1 << 20;

/// The least [`ServeOptions::max_line_bytes`]; a lower value is raised to it.
const MIN_LINE_BYTES: usize = 1 << 10;

/// The limits a plugin serves with (protocol 1.1 sends them to the host as `limits` at
/// `initialize`). They protect the plugin whatever version the host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The longest request line read, in bytes without its `\n` (default
    /// [`DEFAULT_MAX_LINE_BYTES`]; at least 1 KiB). A longer line is answered with -32600 and
    /// discarded as it streams in, without being held in memory. A 1.1 host may ask for less at
    /// `initialize` (`limits.maxLineBytes`): the plugin then accepts what it asked for, but never
    /// less than [`MIN_NEGOTIATED_LINE_BYTES`] nor more than this.
    pub max_line_bytes: usize,
    /// How many requests run at once (default [`DEFAULT_MAX_REQUESTS_IN_FLIGHT`]; at least 1).
    /// With that many running, the plugin reads no further line until one finishes, and that
    /// holds back the host; its responses wait in a queue of twice as many lines.
    pub max_requests_in_flight: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_requests_in_flight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        }
    }
}

impl ServeOptions {
    /// The same options with [`max_line_bytes`](Self::max_line_bytes) set.
    pub fn with_max_line_bytes(self, bytes: usize) -> Self {
        Self {
            max_line_bytes: bytes,
            ..self
        }
    }

    /// The same options with [`max_requests_in_flight`](Self::max_requests_in_flight) set.
    pub fn with_max_requests_in_flight(self, requests: usize) -> Self {
        Self {
            max_requests_in_flight: requests,
            ..self
        }
    }

    /// The same options, raised to their least values where they are below.
    fn normalized(self) -> Self {
        Self {
            max_line_bytes: self.max_line_bytes.max(MIN_LINE_BYTES),
            max_requests_in_flight: self.max_requests_in_flight.max(1),
        }
    }
}

/// Serves `connector` on this process's stdin and stdout until `shutdown` or until stdin closes,
/// then waits for in-flight requests (and the work they registered to run after delivery), with
/// the default [`ServeOptions`]. Logs go to stderr (see [`crate::plugin::init_json_stderr`]).
///
/// `$/cancelRequest` cancels the running request with that id (its context's `cancellation`).
/// When stdout is closed or broken, it reads no further request, cancels the requests that run
/// (their work after delivery runs with `delivered` false), waits for them and returns `Ok`;
/// the blocking read of stdin may then still hold the runtime until stdin closes, so a plugin's
/// `main` should end the process once this returns. An error only when stdin cannot be read
/// (after the requests in flight finished).
pub async fn serve(connector: Arc<Connector>) -> std::io::Result<()> {
    serve_with(connector, ServeOptions::default()).await
}

/// [`serve`] with the limits in `options`.
pub async fn serve_with(connector: Arc<Connector>, options: ServeOptions) -> std::io::Result<()> {
    // Large buffers: tokio's stdin and stdout go through a blocking thread per read or write, so
    // a request of a few megabytes should take a few reads, not hundreds.
    serve_io_watched(
        connector,
        BufReader::with_capacity(IO_BUFFER, tokio::io::stdin()),
        tokio::io::stdout(),
        options,
        Box::pin(stdout_closed()),
    )
    .await
}

/// Ends when the host closed its end of the plugin's stdout (the pipe reports an error or a
/// hang-up), so that the plugin stops starting work at once rather than at its next response;
/// never ends when stdout is a file or a terminal that stays open. A thread of its own waits in
/// `poll(2)`, which reports that without anything being written.
#[cfg(unix)]
async fn stdout_closed() {
    use rustix::event::{PollFd, PollFlags, poll};
    let (closed, noticed) = oneshot::channel::<()>();
    let watcher = std::thread::Builder::new()
        .name("stdout-watch".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            loop {
                let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
                match poll(&mut fds, None) {
                    Ok(_)
                        if fds[0]
                            .revents()
                            .intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL) =>
                    {
                        let _ = closed.send(());
                        return;
                    }
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return,
                }
            }
        });
    if watcher.is_ok() && noticed.await.is_ok() {
        tracing::warn!("the host closed the plugin's stdout");
        return;
    }
    std::future::pending().await
}

#[cfg(not(unix))]
async fn stdout_closed() {
    std::future::pending().await
}

/// A response line for the writer task, and, when someone waits for it, whom to tell whether
/// it was written and flushed.
pub(crate) struct Outgoing {
    line: Vec<u8>,
    delivered: Option<oneshot::Sender<bool>>,
}

impl Outgoing {
    /// A line nobody waits for.
    pub(crate) fn line(line: Vec<u8>) -> Self {
        Self {
            line,
            delivered: None,
        }
    }
}

/// The writer task's queue. It is bounded: when the output is slow, whoever has a line to queue
/// waits for room, so the work is held back instead of the lines piling up in memory.
type Responses = mpsc::Sender<Outgoing>;

/// Queues a response line that nobody waits for (once there is room in the queue).
async fn send(tx: &Responses, line: Vec<u8>) {
    let _ = tx
        .send(Outgoing {
            line,
            delivered: None,
        })
        .await;
}

/// Queues a response line and waits until it was written and flushed: true then, false when it
/// could not be.
async fn deliver(tx: &Responses, line: Vec<u8>) -> bool {
    let (delivered, acknowledged) = oneshot::channel();
    if tx
        .send(Outgoing {
            line,
            delivered: Some(delivered),
        })
        .await
        .is_err()
    {
        return false;
    }
    acknowledged.await.unwrap_or(false)
}

/// A request's id as the host wrote it: the JSON text of a string, a number or `null`, echoed
/// in the response byte for byte (an integer beyond 64 bits comes back exactly, not as a
/// float), and the key a `$/cancelRequest` finds the request by.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestId(Box<str>);

impl RequestId {
    /// `null`: the id of a response to a line whose id could not be read.
    fn null() -> Self {
        Self("null".into())
    }

    /// An id read as JSON text; `None` for a boolean, an object or an array, which JSON-RPC
    /// does not allow.
    fn from_json(text: &str) -> Option<Self> {
        match text.as_bytes().first() {
            Some(b'"' | b'-' | b'0'..=b'9') => Some(Self(text.into())),
            _ if text == "null" => Some(Self::null()),
            _ => None,
        }
    }

    /// The id of a parsed value (a string, a number or null).
    fn of(value: &Value) -> Self {
        Self(value.to_string().into())
    }

    /// The id's JSON text.
    fn json(&self) -> &str {
        &self.0
    }
}

impl From<u64> for RequestId {
    fn from(id: u64) -> Self {
        Self(id.to_string().into())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The requests being served, by id, each with its cancellation token (`$/cancelRequest`).
#[derive(Default)]
struct Running {
    state: Mutex<RunningState>,
    serial: AtomicU64,
}

#[derive(Default)]
struct RunningState {
    /// By the id's JSON text: the registration's serial and the request's token.
    requests: HashMap<String, (u64, CancellationToken)>,
    /// Set once the output broke: every request is cancelled, also one starting late.
    all_cancelled: bool,
}

impl Running {
    /// Registers a request about to be served (under its id, when it has one).
    fn start(self: &Arc<Self>, id: Option<&RequestId>) -> Registration {
        let token = CancellationToken::new();
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let key = id.map(|id| id.json().to_owned());
        let mut state = self.state.lock();
        if state.all_cancelled {
            token.cancel();
        }
        if let Some(key) = &key {
            // A host that reuses an id in flight cancels the later request with it.
            state.requests.insert(key.clone(), (serial, token.clone()));
        }
        Registration {
            running: self.clone(),
            key,
            serial,
            token,
        }
    }

    /// Cancels the request with this id; an unknown or finished id does nothing.
    fn cancel(&self, id: &RequestId) -> bool {
        match self.state.lock().requests.get(id.json()) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every request, and every request registered from now on.
    fn cancel_all(&self) {
        let mut state = self.state.lock();
        state.all_cancelled = true;
        for (_, token) in state.requests.values() {
            token.cancel();
        }
    }
}

/// A request's place in [`Running`]; removed when it is finished (or dropped).
struct Registration {
    running: Arc<Running>,
    key: Option<String>,
    serial: u64,
    token: CancellationToken,
}

impl Registration {
    /// Marks the request finished (a cancel for its id does nothing from now on) and says
    /// whether it was cancelled.
    fn finish(self) -> bool {
        self.token.is_cancelled()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            let mut state = self.running.state.lock();
            if state
                .requests
                .get(key)
                .is_some_and(|(serial, _)| *serial == self.serial)
            {
                state.requests.remove(key);
            }
        }
    }
}

/// [`serve`] over any reader and writer, for tests and for hosts that embed a connector.
pub async fn serve_io<R, W>(connector: Arc<Connector>, reader: R, writer: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    serve_io_with(connector, reader, writer, ServeOptions::default()).await
}

/// [`serve_io`] with the limits in `options`.
///
/// Backpressure: each line is read only once one of `max_requests_in_flight` slots is free; a
/// request takes its slot with it until it is finished (its work after delivery included), any
/// other line gives it back once handled. A `$/cancelRequest` is a line like any other: while
/// every slot is taken, it waits in the input until a request finishes. A host that keeps at
/// most `maxRequestsInFlight - 1` requests in flight (as [`super::PluginProcess`] does) always
/// finds a slot for its cancels, so a request that runs until it is cancelled cannot hold the
/// plugin; a host that fills every slot with such requests must wait for one to end by itself.
pub async fn serve_io_with<R, W>(
    connector: Arc<Connector>,
    reader: R,
    writer: W,
    options: ServeOptions,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    serve_io_watched(
        connector,
        reader,
        writer,
        options,
        Box::pin(std::future::pending()),
    )
    .await
}

/// [`serve_io_with`], and the output counts as broken as soon as `output_closed` ends.
async fn serve_io_watched<R, W>(
    connector: Arc<Connector>,
    reader: R,
    writer: W,
    options: ServeOptions,
    output_closed: BoxFuture<'static, ()>,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let options = options.normalized();
    let (tx, rx) = mpsc::channel::<Outgoing>(options.max_requests_in_flight.saturating_mul(2));
    let output_broken = CancellationToken::new();
    let watcher = tokio::spawn({
        let output_broken = output_broken.clone();
        async move {
            output_closed.await;
            output_broken.cancel();
        }
    });
    let writer_task = tokio::spawn(write_responses(rx, writer, output_broken.clone()));
    let running = Arc::new(Running::default());
    // Protocol 1.1 listeners, and the requests the plugin sends the host for them.
    let requests = PluginRequests::new(tx.clone());
    let listeners = Arc::new(Listeners::default());
    // Cancelled when a shutdown has let the listeners drain: the reading ends.
    let finish_reading = CancellationToken::new();
    let mut speaks_1_1 = false;
    // Once the output broke, whatever runs is cancelled, whatever the reading loop is doing.
    let canceller = tokio::spawn({
        let running = running.clone();
        let output_broken = output_broken.clone();
        // Weak: the writer ends once every holder of the line queue let go of it.
        let requests = Arc::downgrade(&requests);
        async move {
            output_broken.cancelled().await;
            running.cancel_all();
            if let Some(requests) = requests.upgrade() {
                requests.host_gone();
            }
        }
    });
    let slots = Arc::new(Semaphore::new(options.max_requests_in_flight));
    // The plugin's maximum until a 1.1 host negotiates another.
    let mut max_line_bytes = options.max_line_bytes;
    let mut initialized = false;
    let mut in_flight = JoinSet::new();
    let mut reader = reader;
    let mut buffer = Vec::new();
    // `Some(None)`: shut down on a notification, which gets no answer.
    let mut shutdown_id: Option<Option<RequestId>> = None;
    let mut read_error = None;

    tracing::info!(
        connector = connector.info().id,
        version = connector.info().version,
        max_line_bytes = options.max_line_bytes,
        max_requests_in_flight = options.max_requests_in_flight,
        "plugin serving"
    );
    loop {
        let slot = tokio::select! {
            biased;
            () = output_broken.cancelled() => None,
            slot = slots.clone().acquire_owned() => slot.ok(),
        };
        let Some(slot) = slot else {
            warn_output_broken();
            break;
        };
        super::buffers::wipe(&mut buffer);
        let read = tokio::select! {
            biased;
            () = output_broken.cancelled() => {
                warn_output_broken();
                break;
            }
            () = finish_reading.cancelled() => break,
            read = read_line(&mut reader, &mut buffer, max_line_bytes) => match read {
                Ok(read) => read,
                Err(error) => {
                    read_error = Some(error);
                    break;
                }
            },
        };
        match read {
            LineRead::End => break,
            LineRead::Line => {}
            LineRead::TooLong => {
                // Answered at once; the rest of the line is then read and forgotten piece by
                // piece. The buffer that held the line's start is freed.
                send(&tx, too_long(&buffer, max_line_bytes)).await;
                super::buffers::wipe(&mut buffer);
                buffer = Vec::new();
                let discarded = tokio::select! {
                    biased;
                    () = output_broken.cancelled() => {
                        warn_output_broken();
                        break;
                    }
                    discarded = discard_line(&mut reader) => discarded,
                };
                match discarded {
                    Ok(bytes) => tracing::info!(bytes, "discarded the rest of the line"),
                    Err(error) => {
                        read_error = Some(error);
                        break;
                    }
                }
                continue;
            }
        }
        // Reap finished tasks so the set does not grow without bound on long runs.
        while in_flight.try_join_next().is_some() {}
        // An execute request (megabytes of documents) is read in its own task, off the runtime's
        // thread, so that a plugin on one core keeps answering its HTTP responses and sending
        // its next requests while it reads one. It is registered here, so that a cancel written
        // right behind it finds it.
        if initialized && let Some(id) = execute_request_id(&buffer) {
            let line = std::mem::replace(&mut buffer, super::buffers::take(usize::MAX));
            let registration = running.start(Some(&RequestId::from(id)));
            in_flight.spawn(holding(
                slot,
                serve_execute_line(connector.clone(), tx.clone(), registration, id, line),
            ));
            continue;
        }
        let (line, repaired) = match line_text(&buffer) {
            Ok(line) => line,
            Err(answer) => {
                send(&tx, answer).await;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        // The host's answer to a request of the plugin's (`listen/batch`).
        if requests.route_answer(&line) {
            continue;
        }
        let request = match parse_request(&line) {
            Ok(request) => request,
            Err(answer) => {
                let answer = if repaired {
                    not_utf8(&buffer, None)
                } else {
                    answer
                };
                send(&tx, answer).await;
                continue;
            }
        };
        let id = request.id();
        // Bytes that are not UTF-8 are served only inside an execute request's documents.
        if repaired && request.method != method::EXECUTE {
            send(&tx, not_utf8(&buffer, id.as_ref())).await;
            continue;
        }
        if request.method == method::CANCEL_REQUEST {
            cancel(&running, &request);
            // A notification gets no answer; sent as a request, it gets `null`.
            if let Some(id) = &id {
                send(&tx, response_line(id, Ok(&Value::Null))).await;
            }
            continue;
        }
        if request.method == method::SHUTDOWN {
            shutdown_id = Some(id);
            if listeners.is_empty() {
                break;
            }
            // The listeners drain first (the host still answers their batches), then the
            // reading ends and the shutdown is answered.
            tokio::spawn({
                let listeners = listeners.clone();
                let finish_reading = finish_reading.clone();
                async move {
                    listeners.stop_all(true, SHUTDOWN_GRACE).await;
                    finish_reading.cancel();
                }
            });
            continue;
        }
        if shutdown_id.is_some() {
            if let Some(id) = &id {
                let refused = RpcError::plain(INVALID_REQUEST, "the plugin is shutting down");
                send(&tx, error_line(id, &refused)).await;
            }
            continue;
        }
        if request.method == listen_method::LISTEN || request.method == listen_method::STOP {
            let Some(id) = id else {
                continue;
            };
            if !speaks_1_1 {
                let refused = RpcError::plain(
                    METHOD_NOT_FOUND,
                    format!(
                        "\"{}\" needs protocol 1.1; initialize with \"protocolVersion\": \"1.1\"",
                        request.method
                    ),
                );
                send(&tx, error_line(&id, &refused)).await;
                continue;
            }
            let work = if request.method == listen_method::LISTEN {
                request.params::<ListenParams>().map(|params| {
                    start_listener(
                        connector.clone(),
                        tx.clone(),
                        requests.clone(),
                        listeners.clone(),
                        id.clone(),
                        params,
                    )
                    .boxed()
                })
            } else {
                request.params::<ListenStopParams>().map(|params| {
                    stop_listener(tx.clone(), listeners.clone(), id.clone(), params).boxed()
                })
            };
            match work {
                Ok(work) => {
                    in_flight.spawn(holding(slot, work));
                }
                Err(error) => send(&tx, error_line(&id, &error)).await,
            }
            continue;
        }
        if request.method == method::INITIALIZE {
            // Served here rather than in a task, so that a request the host writes right behind
            // `initialize` finds the plugin initialized (and the negotiated line limit in
            // force). It does no I/O.
            let outcome = initialize(&connector, &request, options).map(|(result, limit)| {
                initialized = true;
                max_line_bytes = limit;
                speaks_1_1 = result.protocol_version != "1.0";
                result
            });
            if let Some(id) = &id {
                send(&tx, response_line(id, outcome.as_ref())).await;
            }
            continue;
        }
        // The params are parsed here, straight from the line into their types, so the line's
        // buffer is reused for the next one; the work itself runs in its own task.
        let call = match parse_call(&request, initialized) {
            Ok(call) => call,
            Err(error) => {
                if repaired {
                    send(&tx, not_utf8(&buffer, id.as_ref())).await;
                } else if let Some(id) = &id {
                    send(&tx, error_line(id, &error)).await;
                }
                continue;
            }
        };
        let registration = running.start(id.as_ref());
        in_flight.spawn(holding(
            slot,
            serve_call(
                connector.clone(),
                tx.clone(),
                registration,
                id,
                request.method.into_owned(),
                call,
            ),
        ));
    }

    // Listeners left (the input ended, the output broke): the host cannot answer their batches
    // any more, so what they hold is released.
    requests.host_gone();
    listeners
        .stop_all(!output_broken.is_cancelled(), SHUTDOWN_GRACE)
        .await;
    while in_flight.join_next().await.is_some() {}
    canceller.abort();
    watcher.abort();
    if let Some(id) = shutdown_id {
        if let Some(id) = id {
            send(&tx, response_line(&id, Ok(&Value::Null))).await;
        }
        tracing::info!("plugin shutting down on request");
    } else if output_broken.is_cancelled() {
        tracing::info!("output closed; plugin exiting");
    } else if let Some(error) = &read_error {
        tracing::error!(error = %error, "stdin could not be read; plugin exiting");
    } else {
        tracing::info!("stdin closed; plugin exiting");
    }
    // The listeners' way to the host holds the line queue too.
    drop(listeners);
    drop(requests);
    drop(tx);
    if let Some(error) = writer_task.await.map_err(std::io::Error::other)? {
        tracing::warn!(error = %error, "the plugin's output was closed or broken");
    }
    read_error.map_or(Ok(()), Err)
}

/// Serves `listen`: starts the listener and answers once it polls (or with why it could not).
async fn start_listener(
    connector: Arc<Connector>,
    tx: Responses,
    requests: Arc<PluginRequests>,
    listeners: Arc<Listeners>,
    id: RequestId,
    params: ListenParams,
) {
    let listener_id = params.listener_id.clone();
    if listeners.contains(&listener_id) {
        let refused = RpcError::plain(
            INVALID_PARAMS,
            format!("listener {listener_id} runs already; stop it first or use another id"),
        );
        send(&tx, error_line(&id, &refused)).await;
        return;
    }
    let host = Arc::new(ProtocolHost(requests));
    let started = connector
        .start_listener(&listener_id, &params.connection, &params.operation, host)
        .await;
    let outcome = match started {
        Ok(mut listener) => match listener.ready().await {
            Ok(()) => {
                tracing::info!(listener = %listener_id, "listener polling");
                listeners.insert(listener_id.clone(), listener);
                Ok(ListenResult { listener_id })
            }
            Err(error) => Err(RpcError::from(&error)),
        },
        Err(error) => Err(RpcError::from(&error)),
    };
    send(&tx, response_line(&id, outcome.as_ref())).await;
}

/// Serves `listen/stop`: answers `null` once nothing of the listener is left.
async fn stop_listener(
    tx: Responses,
    listeners: Arc<Listeners>,
    id: RequestId,
    params: ListenStopParams,
) {
    if let Some(listener) = listeners.remove(&params.listener_id) {
        listener.stop(params.drain);
        if let Err(error) = listener.finished().await {
            tracing::warn!(listener = %params.listener_id, error = %error.display_chain(), "the listener ended with an error");
        }
        tracing::info!(listener = %params.listener_id, drain = params.drain, "listener stopped");
    }
    send(&tx, response_line(&id, Ok(&Value::Null))).await;
}

fn warn_output_broken() {
    tracing::warn!(
        "the plugin's output is closed or broken; it reads no further request and cancels the \
         requests that run"
    );
}

/// Runs a request's `work`, holding its `slot` until the work is finished.
async fn holding(slot: OwnedSemaphorePermit, work: impl Future<Output = ()>) {
    work.await;
    drop(slot);
}

/// The -32600 response line of a line longer than `max_line_bytes`, whose first bytes are
/// `head`: with the request's id when the head shows it, else `null`.
fn too_long(head: &[u8], max_line_bytes: usize) -> Vec<u8> {
    let id = head_request_id_text(head)
        .and_then(RequestId::from_json)
        .unwrap_or_else(RequestId::null);
    tracing::warn!(id = %id, max_line_bytes, "answered a line longer than the limit");
    error_line(
        &id,
        &RpcError::plain(
            INVALID_REQUEST,
            format!(
                "the line is {} bytes or more; this plugin accepts lines of at most \
                 {max_line_bytes} bytes (limits.maxLineBytes)",
                max_line_bytes.saturating_add(1)
            ),
        ),
    )
}

/// Serves `$/cancelRequest`: cancels the running request with `params.id`, if there is one.
fn cancel(running: &Running, request: &Envelope<'_>) {
    /// `CancelParams` with the id's text as written, to find a request by an id of any size.
    #[derive(Deserialize)]
    struct RawCancel<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
    }
    match request.params_borrowed::<RawCancel<'_>>() {
        Ok(RawCancel { id }) => match RequestId::from_json(id.get()) {
            Some(id) => {
                let found = running.cancel(&id);
                tracing::info!(id = %id, found, "cancel requested");
            }
            None => tracing::warn!("ignored a cancel whose id is not a string, number or null"),
        },
        Err(error) => tracing::warn!(error = %error, "ignored a cancel without a request id"),
    }
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
    tx: Responses,
    registration: Registration,
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
        Ok(Ok((id, call))) => {
            serve_call(
                connector,
                tx,
                registration,
                id,
                method::EXECUTE.to_owned(),
                call,
            )
            .await
        }
        Ok(Err(answer)) => send(&tx, answer).await,
        Err(_) => {
            send(
                &tx,
                error_line(
                    &RequestId::from(id),
                    &RpcError::plain(
                        INTERNAL,
                        "internal error while reading an execute request; see the plugin's log",
                    ),
                ),
            )
            .await
        }
    }
}

/// An execute request line's id and call: read by hand in one pass when it has the shape hosts
/// using this SDK write (see `json_in`), else by the general path, which gives any error its
/// exact response line. A line that is not UTF-8 is served when its only such bytes are inside
/// documents' strings (those documents alone are refused); otherwise it gets a parse error.
fn read_execute_line(line: &[u8]) -> Result<(Option<RequestId>, Call), Vec<u8>> {
    let (text, repaired) = line_text(line)?;
    if let Some((id, params)) = super::json_in::execute_request(&text) {
        return Ok((Some(RequestId::from(id)), Call::Execute(params)));
    }
    let request = parse_request(&text).map_err(|answer| match repaired {
        true => not_utf8(line, None),
        false => answer,
    })?;
    let id = request.id();
    if repaired && request.method != method::EXECUTE {
        return Err(not_utf8(line, id.as_ref()));
    }
    match parse_call(&request, true) {
        Ok(call) => Ok((id, call)),
        Err(_) if repaired => Err(not_utf8(line, id.as_ref())),
        Err(error) => Err(error_line(&id.unwrap_or_else(RequestId::null), &error)),
    }
}

/// Runs one call and queues its response line (none for a notification, which has no id).
/// The work an execute registered to run after delivery runs here, once the writer said whether
/// the line was written (false also when the call was cancelled or has no response).
async fn serve_call(
    connector: Arc<Connector>,
    tx: Responses,
    registration: Registration,
    id: Option<RequestId>,
    method: String,
    call: Call,
) {
    let cancellation = registration.token.clone();
    let handled = AssertUnwindSafe(handle(&connector, call, cancellation))
        .catch_unwind()
        .await;
    let cancelled = registration.finish();
    let (line, deferred) = match handled {
        Ok((outcome, deferred)) => (id.as_ref().map(|id| outcome.line(id)), deferred),
        Err(_) => (
            id.as_ref().map(|id| {
                error_line(
                    id,
                    &RpcError::plain(
                        INTERNAL,
                        format!("internal error while serving {method}; see the plugin's log"),
                    ),
                )
            }),
            None,
        ),
    };
    let Some(deferred) = deferred.filter(|deferred| !deferred.is_empty()) else {
        if let Some(line) = line {
            send(&tx, line).await;
        }
        return;
    };
    let delivered = match line {
        Some(line) => deliver(&tx, line).await,
        None => false,
    };
    if cancelled {
        let id = id.as_ref().map(ToString::to_string).unwrap_or_default();
        tracing::info!(
            id = %id,
            "the request was cancelled; its work after delivery is told the results were not delivered"
        );
    }
    deferred.run(delivered && !cancelled).await;
}

/// Writes the response lines in the order queued. A line someone waits for is flushed at once
/// and acknowledged (true once written and flushed); others are flushed when nothing else is
/// queued, so a burst of responses costs one flush. After a failed write it writes nothing
/// more, acknowledges every later line with false, cancels `broken`, and returns the error
/// once the queue closes.
async fn write_responses<W: AsyncWrite + Unpin>(
    mut rx: mpsc::Receiver<Outgoing>,
    mut writer: W,
    broken: CancellationToken,
) -> Option<std::io::Error> {
    let mut failure = None;
    while let Some(Outgoing { line, delivered }) = rx.recv().await {
        if failure.is_none() {
            let flush = delivered.is_some() || rx.is_empty();
            let written = async {
                writer.write_all(&line).await?;
                if flush {
                    writer.flush().await?;
                }
                Ok::<(), std::io::Error>(())
            }
            .await;
            if let Err(error) = written {
                tracing::warn!(error = %error, "could not write a response to the plugin's output");
                broken.cancel();
                failure = Some(error);
            }
        }
        super::buffers::give_back(line);
        if let Some(delivered) = delivered {
            let _ = delivered.send(failure.is_none());
        }
    }
    if failure.is_none()
        && let Err(error) = writer.flush().await
    {
        broken.cancel();
        failure = Some(error);
    }
    failure
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    /// `None` when the line has no `id` (a notification); `Some("null")` for `"id": null`,
    /// which is a request and is answered. The id's text as written.
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// The request's id; `None` for a notification. (A request whose id is not a string, a
    /// number or null was refused when read.)
    fn id(&self) -> Option<RequestId> {
        self.id
            .map(|id| RequestId::from_json(id.get()).unwrap_or_else(RequestId::null))
    }

    /// The params, borrowing from the line.
    fn params_borrowed<T: Deserialize<'a>>(&self) -> Result<T, RpcError> {
        serde_json::from_str(self.params.map_or("null", RawValue::get)).map_err(|e| {
            RpcError::plain(
                INVALID_PARAMS,
                format!("invalid params for {}: {e}", self.method),
            )
        })
    }

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
    Execute(IncomingExecuteParams),
}

/// The answer of a call, serialized when its line is written.
enum Answer {
    TestConnection(Result<TestConnectionResult, RpcError>),
    Browse(Result<BrowseResult, RpcError>),
    Execute(Result<ExecuteResult, RpcError>),
}

impl Answer {
    fn line(&self, id: &RequestId) -> Vec<u8> {
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

/// The text of a line, and whether it had to be repaired: a line that is not UTF-8 is not JSON,
/// but when its only such bytes are inside strings it is read with them marked (see
/// `input::repair_utf8`), so that an execute request refuses the documents holding them alone.
/// A line that cannot be repaired gets the response line of a malformed line instead.
fn line_text(line: &[u8]) -> Result<(Cow<'_, str>, bool), Vec<u8>> {
    match std::str::from_utf8(line) {
        Ok(text) => Ok((Cow::Borrowed(text), false)),
        Err(_) => match repair_utf8(line) {
            Some(text) => Ok((Cow::Owned(text), true)),
            None => Err(not_utf8(line, None)),
        },
    }
}

/// The parse error response line of a line that is not UTF-8, for the request `id`, else the id
/// at the line's head when it can be read there, else `null`.
fn not_utf8(line: &[u8], id: Option<&RequestId>) -> Vec<u8> {
    tracing::warn!("answered a line that is not UTF-8");
    let error = std::str::from_utf8(line)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let id = id
        .cloned()
        .or_else(|| super::json_in::head_id(line).map(|(id, _)| RequestId::from(id)))
        .unwrap_or_else(RequestId::null);
    error_line(
        &id,
        &RpcError::plain(
            PARSE_ERROR,
            format!(
                "the line is not UTF-8 text ({error}); only an execute request's document data \
                 and properties may hold such bytes (that document alone is then refused): send \
                 bytes as dataBase64"
            ),
        ),
    )
}

/// Reads a request line; a line that is not one gets its error response line instead.
fn parse_request(line: &str) -> Result<Envelope<'_>, Vec<u8>> {
    let request = parse_envelope(line);
    if request.is_err() {
        tracing::warn!("answered a line that is not a valid request");
    }
    request
}

/// A member that is present, whatever its value (`null` included), as its text.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

fn parse_envelope(line: &str) -> Result<Envelope<'_>, Vec<u8>> {
    match serde_json::from_str::<Envelope<'_>>(line) {
        // JSON-RPC ids are strings, numbers or null: anything else cannot be echoed usefully.
        Ok(envelope)
            if envelope
                .id
                .is_some_and(|id| RequestId::from_json(id.get()).is_none()) =>
        {
            Err(error_line(
                &RequestId::null(),
                &RpcError::plain(
                    INVALID_REQUEST,
                    "the request's \"id\" must be a string, a number or null",
                ),
            ))
        }
        Ok(envelope) if envelope.jsonrpc == "2.0" => Ok(envelope),
        Ok(envelope) => Err(error_line(
            &envelope.id().unwrap_or_else(RequestId::null),
            &RpcError::plain(INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\""),
        )),
        Err(not_a_request) => match serde_json::from_str::<Value>(line) {
            Err(e) => Err(error_line(
                &RequestId::null(),
                &RpcError::plain(PARSE_ERROR, format!("the line is not JSON: {e}")),
            )),
            Ok(value) => Err(error_line(
                &value
                    .get("id")
                    .filter(|id| matches!(id, Value::Number(_) | Value::String(_)))
                    .map_or_else(RequestId::null, RequestId::of),
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
fn response_line<T: serde::Serialize>(id: &RequestId, outcome: Result<&T, &RpcError>) -> Vec<u8> {
    match outcome {
        Ok(result) => result_line(id, 0, |line| serde_json::to_writer(line, result)),
        Err(error) => error_line(id, error),
    }
}

/// A response line whose result `write` appends (into a recycled buffer with room for about
/// `size_hint` bytes).
fn result_line(
    id: &RequestId,
    size_hint: usize,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
) -> Vec<u8> {
    let mut line = super::buffers::take(size_hint);
    line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    line.extend_from_slice(id.json().as_bytes());
    line.extend_from_slice(b",\"result\":");
    let written = write(&mut line);
    if let Err(e) = written {
        return error_line(id, &RpcError::plain(INTERNAL, e.to_string()));
    }
    line.extend_from_slice(b"}\n");
    line
}

fn error_line(id: &RequestId, error: &RpcError) -> Vec<u8> {
    let mut line = Vec::with_capacity(64 + error.message.len());
    line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    line.extend_from_slice(id.json().as_bytes());
    line.extend_from_slice(b",\"error\":");
    if serde_json::to_writer(&mut line, error).is_err() {
        line.truncate(line.len() - b",\"error\":".len());
        line.extend_from_slice(br#","error":{"code":-32005,"message":"internal error"}"#);
    }
    line.extend_from_slice(b"}\n");
    line
}

async fn handle(
    connector: &Connector,
    call: Call,
    cancellation: CancellationToken,
) -> (Answer, Option<Deferred>) {
    match call {
        Call::TestConnection(params) => (
            Answer::TestConnection(test_connection(connector, params, cancellation).await),
            None,
        ),
        Call::Browse(params) => (
            Answer::Browse(browse(connector, params, cancellation).await),
            None,
        ),
        Call::Execute(params) => {
            let (outcome, deferred) = execute(connector, params, cancellation).await;
            (Answer::Execute(outcome), deferred)
        }
    }
}

/// Serves `initialize`: the result, and the longest line to read from now on.
fn initialize(
    connector: &Connector,
    request: &Envelope<'_>,
    options: ServeOptions,
) -> Result<(InitializeResult, usize), RpcError> {
    let params: InitializeParams = request.params()?;
    let Some(version) = negotiate_version(&params.protocol_version) else {
        let supported = SUPPORTED_PROTOCOL_VERSIONS.join(", ");
        return Err(RpcError {
            code: UNSUPPORTED_VERSION,
            message: format!(
                "protocol version {} is not supported; this plugin speaks {supported}",
                params.protocol_version
            ),
            data: Some(json!({ "supported": SUPPORTED_PROTOCOL_VERSIONS })),
        });
    };
    // A 1.0 host sees nothing of 1.1: neither limits in the answer nor any it sent honoured.
    let (limits, max_line_bytes) = if version == "1.0" {
        (None, options.max_line_bytes)
    } else {
        let asked = params.limits.and_then(|limits| limits.max_line_bytes);
        let max_line_bytes = negotiate_line_limit(asked, options.max_line_bytes);
        let limits = Limits {
            max_line_bytes: max_line_bytes as u64,
            max_requests_in_flight: options.max_requests_in_flight as u64,
        };
        (Some(limits), max_line_bytes)
    };
    tracing::info!(
        host = %params.host.name,
        host_version = %params.host.version,
        asked = %params.protocol_version,
        protocol_version = version,
        max_line_bytes,
        "initialized"
    );
    let result = InitializeResult {
        protocol_version: version.to_owned(),
        limits,
        connector: connector.descriptor().clone(),
    };
    Ok((result, max_line_bytes))
}

/// The version to speak with a host that asks for `asked` (`"major.minor"`): the highest one
/// this SDK speaks of the same major version and a minor version no higher than the host's.
/// `None` when there is none (another major version, or no version at all).
fn negotiate_version(asked: &str) -> Option<&'static str> {
    let parse = |version: &str| -> Option<(u64, u64)> {
        let mut parts = version.trim().splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |minor| minor.parse().ok())?;
        Some((major, minor))
    };
    let (major, minor) = parse(asked)?;
    SUPPORTED_PROTOCOL_VERSIONS
        .iter()
        .copied()
        .filter(|known| parse(known).is_some_and(|(m, n)| m == major && n <= minor))
        .max_by_key(|known| parse(known))
}

/// The longest line a plugin whose maximum is `plugin_max` accepts from a host that means to send
/// at most `asked`: what the host asked for, but at least [`MIN_NEGOTIATED_LINE_BYTES`] and at
/// most the plugin's maximum; the plugin's maximum when the host did not say.
fn negotiate_line_limit(asked: Option<u64>, plugin_max: usize) -> usize {
    match asked {
        None => plugin_max,
        Some(asked) => usize::try_from(asked)
            .unwrap_or(usize::MAX)
            .max(MIN_NEGOTIATED_LINE_BYTES)
            .min(plugin_max),
    }
}

fn context(
    execution_id: &str,
    process_name: &str,
    cancellation: CancellationToken,
) -> ExecutionContext {
    ExecutionContext::new(execution_id, process_name).with_cancellation(cancellation)
}

async fn test_connection(
    connector: &Connector,
    params: TestConnectionParams,
    cancellation: CancellationToken,
) -> Result<TestConnectionResult, RpcError> {
    let ctx = context(
        &format!("test-connection-{}", params.connection.id),
        "Test Connection",
        cancellation,
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

async fn browse(
    connector: &Connector,
    params: BrowseParams,
    cancellation: CancellationToken,
) -> Result<BrowseResult, RpcError> {
    let ctx = context(
        &format!("browse-{}", params.connection.id),
        "Browse",
        cancellation,
    );
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

async fn execute(
    connector: &Connector,
    params: IncomingExecuteParams,
    cancellation: CancellationToken,
) -> (Result<ExecuteResult, RpcError>, Option<Deferred>) {
    let ctx = context(&params.execution_id, &params.process_name, cancellation);
    match connector
        .execute_outputs(
            &ctx,
            &params.connection,
            &params.operation,
            params.documents,
            params.outputs == Outputs::Added,
        )
        .await
    {
        Ok((results, delta, deferred)) => (Ok(ExecuteResult { results, delta }), Some(deferred)),
        Err(error) => (Err(RpcError::from(&error)), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Document, InputDocument};

    const PARAMS: &str = r#"{"executionId":"e1","processName":"p","connection":{"id":"c","connector":"x","kind":"connection","fields":{}},"operation":{"id":"o","connector":"x","kind":"operation","operationType":"SEND","fields":{}},"documents":[{"data":"{\"a\":1}","properties":{"k":"v"}}]}"#;

    #[test]
    fn an_execute_line_as_hosts_write_it_is_parsed_in_one_pass() {
        let line = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"execute","params":{PARAMS}}}"#);
        assert_eq!(execute_request_id(line.as_bytes()), Some(7));
        let Ok((id, Call::Execute(params))) = read_execute_line(line.as_bytes()) else {
            panic!("not read as an execute call: {line}");
        };
        assert_eq!(id, Some(RequestId::from(7)));
        assert_eq!(params.execution_id, "e1");
        assert_eq!(
            params.documents,
            vec![InputDocument::Document(
                Document::new(r#"{"a":1}"#).with_property("k", "v")
            )]
        );
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

    #[test]
    fn a_host_gets_the_highest_version_both_know_and_another_major_version_none() {
        for (asked, spoken) in [
            ("1.0", Some("1.0")),
            ("1.1", Some("1.1")),
            ("1.2", Some("1.1")),
            ("1.10", Some("1.1")),
            ("1", Some("1.0")),
            (" 1.1 ", Some("1.1")),
            ("2.0", None),
            ("0.9", None),
            ("1.x", None),
            ("", None),
        ] {
            assert_eq!(negotiate_version(asked), spoken, "{asked:?}");
        }
        assert_eq!(
            SUPPORTED_PROTOCOL_VERSIONS.last(),
            Some(&crate::PROTOCOL_VERSION),
            "PROTOCOL_VERSION is the highest version spoken"
        );
    }

    #[test]
    fn the_line_limit_is_the_hosts_within_the_floor_and_the_plugins_maximum() {
        const MAX: usize = 256 << 20;
        assert_eq!(negotiate_line_limit(None, MAX), MAX);
        assert_eq!(negotiate_line_limit(Some(8 << 20), MAX), 8 << 20);
        assert_eq!(negotiate_line_limit(Some(1 << 40), MAX), MAX);
        assert_eq!(negotiate_line_limit(Some(u64::MAX), MAX), MAX);
        assert_eq!(
            negotiate_line_limit(Some(0), MAX),
            MIN_NEGOTIATED_LINE_BYTES
        );
        // A plugin whose own maximum is below the floor keeps its maximum.
        assert_eq!(negotiate_line_limit(Some(0), 64 << 10), 64 << 10);
        let tiny = ServeOptions {
            max_line_bytes: 0,
            max_requests_in_flight: 0,
        }
        .normalized();
        assert_eq!(
            (tiny.max_line_bytes, tiny.max_requests_in_flight),
            (1024, 1)
        );
    }

    /// A writer whose every write fails.
    struct Broken;

    impl AsyncWrite for Broken {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            _buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Queues three lines waiting for their acknowledgement, and one that does not wait.
    async fn queue_lines(tx: &Responses) -> Vec<oneshot::Receiver<bool>> {
        let mut acknowledgements = Vec::new();
        for n in 0..3 {
            let (delivered, acknowledged) = oneshot::channel();
            tx.send(Outgoing {
                line: format!("line {n}\n").into_bytes(),
                delivered: Some(delivered),
            })
            .await
            .unwrap();
            acknowledgements.push(acknowledged);
        }
        send(tx, b"not waited for\n".to_vec()).await;
        acknowledgements
    }

    #[tokio::test]
    async fn lines_are_acknowledged_once_written_and_every_line_after_a_failure_as_not() {
        let (tx, rx) = mpsc::channel(8);
        let broken = CancellationToken::new();
        let writer = tokio::spawn(write_responses(rx, Vec::new(), broken.clone()));
        let acknowledgements = queue_lines(&tx).await;
        drop(tx);
        for acknowledged in acknowledgements {
            assert_eq!(acknowledged.await, Ok(true));
        }
        assert!(writer.await.unwrap().is_none());
        assert!(!broken.is_cancelled());

        let (tx, rx) = mpsc::channel(8);
        let writer = tokio::spawn(write_responses(rx, Broken, broken.clone()));
        let acknowledgements = queue_lines(&tx).await;
        for acknowledged in acknowledgements {
            let acknowledged =
                tokio::time::timeout(std::time::Duration::from_secs(10), acknowledged)
                    .await
                    .expect("every line is acknowledged, none waits forever");
            assert_eq!(acknowledged, Ok(false));
        }
        assert!(
            broken.is_cancelled(),
            "a failed write marks the output broken"
        );
        drop(tx);
        assert!(writer.await.unwrap().is_some());
    }

    #[test]
    fn an_execute_line_not_utf8_only_inside_documents_is_still_read() {
        // A document whose data holds the byte 0xff, written as U+0001 and swapped.
        let params = PARAMS.replace(r#""documents":["#, "\"documents\":[{\"data\":\"a\u{1}b\"},");
        let line: Vec<u8> =
            format!(r#"{{"jsonrpc":"2.0","id":3,"method":"execute","params":{params}}}"#)
                .bytes()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect();
        let Ok((id, Call::Execute(params))) = read_execute_line(&line) else {
            panic!("not read: {}", String::from_utf8_lossy(&line));
        };
        assert_eq!(id, Some(RequestId::from(3)));
        assert!(
            matches!(&params.documents[0], InputDocument::Malformed(why) if why.contains("not valid UTF-8")),
            "{:?}",
            params.documents
        );
        assert_eq!(
            params.documents[1],
            InputDocument::Document(Document::new(r#"{"a":1}"#).with_property("k", "v"))
        );
        // Bytes that are not UTF-8 elsewhere: a parse error with the id from the line's head.
        let line = [
            &br#"{"jsonrpc":"2.0","id":4,"method":"execute","params":{"executionId":""#[..],
            b"\xff",
            &PARAMS.as_bytes()[r#"{"executionId":"e1"#.len()..],
            b"}",
        ]
        .concat();
        let Err(answer) = read_execute_line(&line) else {
            panic!("read: {}", String::from_utf8_lossy(&line));
        };
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(
            (&answer["id"], &answer["error"]["code"]),
            (&json!(4), &json!(PARSE_ERROR))
        );
    }
}
