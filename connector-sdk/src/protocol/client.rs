//! The host side: spawns a plugin executable, initializes it, and calls it with timeouts; serves
//! the requests a plugin's listeners send it (protocol 1.1, see [`ListenHandler`]).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

use super::buffers;
use super::types::*;
use crate::component::Component;
use crate::descriptor::Descriptor;
use crate::document::Document;
use crate::runtime::{PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};

/// How many of the plugin's last stderr lines are kept.
const STDERR_KEPT: usize = 2_000;

/// How long a call that timed out waits for its `$/cancelRequest` to be written before it
/// returns; the line is written all the same, later, when the plugin's input is held.
const CANCEL_WRITE_WAIT: Duration = Duration::from_secs(1);

/// What can go wrong calling a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The plugin answered with a JSON-RPC error.
    #[error("{0}")]
    Rpc(RpcError),
    /// No answer within the timeout (and, for a call that was cancelled, within the grace period
    /// after it).
    #[error("the plugin did not answer {method} within {after:?}{}", stopped_note(.stopped))]
    Timeout {
        /// The method called.
        method: String,
        /// The timeout.
        after: Duration,
        /// What the host did about it, when it stopped the plugin process (killed it, since it
        /// was stuck); `None` when the plugin runs on.
        stopped: Option<String>,
    },
    /// The plugin process is gone.
    #[error("the plugin process exited ({status}); its last log lines:\n{last_logs}")]
    Exited {
        /// How it exited, as far as known.
        status: String,
        /// Its last stderr lines.
        last_logs: String,
    },
    /// The plugin could not be started or written to.
    #[error("could not run the plugin {program}: {source}")]
    Io {
        /// The plugin program.
        program: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The plugin answered something that is not the expected result.
    #[error("the plugin broke the protocol: {0}")]
    Protocol(String),
    /// The call was not made (nothing was sent): the plugin's protocol version lacks it (a
    /// listener needs 1.1), or an argument cannot be used (a listener id already registered).
    #[error("{0}")]
    Invalid(String),
}

/// What a host does with what one of a plugin's listeners sends it (protocol 1.1): batches of
/// documents to process, and the listener's changes of state. Registered for one listener by
/// [`PluginProcess::listen`].
///
/// Both methods are called from the task that reads the plugin's output, so they must return at
/// once: [`ListenHandler::batch`] does its work in the future it returns, which the host runs
/// as a task of its own.
pub trait ListenHandler: Send + Sync + 'static {
    /// Processes a `listen/batch`: the future resolves to one result per document (`SUCCESS`
    /// commits that document's message, anything else releases it), which is the host's answer
    /// to the plugin. It may take as long as it needs: no call timeout applies to the plugin's
    /// requests. Several batches may be running at once, and their answers go back in the order
    /// they finish. An error (or a panic) answers the batch with a JSON-RPC error: the plugin
    /// then releases every message of the batch.
    fn batch(
        &self,
        batch: ListenBatchParams,
    ) -> BoxFuture<'static, Result<ListenBatchResult, RpcError>>;

    /// Told of each `listen/status` notification of the listener, in the order the plugin sent
    /// them; also told `stopped` (kind `internal`) once when the plugin process ends while the
    /// listener is registered. Nothing by default.
    fn status(&self, status: ListenStatusParams) {
        let _ = status;
    }
}

/// Which output of the plugin a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Its stdout: protocol lines.
    Stdout,
    /// Its stderr: log lines.
    Stderr,
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

/// Sees every line the plugin writes, on either stream, without its line end, before the host
/// routes it (see [`PluginCommand::observer`]).
pub type LineObserver = Arc<dyn Fn(Stream, &[u8]) + Send + Sync>;

/// A call that has run longer than [`PluginCommand::slow_after`], as told to
/// [`PluginCommand::on_slow_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlowCall {
    /// The method called.
    pub method: String,
    /// The request id.
    pub id: u64,
    /// How long the call has been running.
    pub elapsed: Duration,
    /// The call's timeout, after which it is cancelled.
    pub timeout: Duration,
}

/// Told once of each call that has run longer than [`PluginCommand::slow_after`].
pub type SlowCallHandler = Arc<dyn Fn(&SlowCall) + Send + Sync>;

/// How to start a plugin: the program and its arguments (`sqs-connector serve`), and how the
/// host treats calls that take long.
#[derive(Clone)]
pub struct PluginCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (never secrets).
    pub env: Vec<(String, String)>,
    /// The default timeout of a call.
    pub timeout: Duration,
    /// How long the host waits, once a call's timeout passed and the call was cancelled, for the
    /// plugin's answer before it stops (kills) the plugin; also the most [`PluginProcess::shutdown`]
    /// waits for the answer and the exit.
    pub grace: Duration,
    /// After how long a call is slow: [`PluginCommand::on_slow_call`] is told of it once (not
    /// when this is not shorter than the call's timeout).
    pub slow_after: Duration,
    /// Told of each slow call; nothing is told when `None`.
    pub on_slow_call: Option<SlowCallHandler>,
    /// Sees every line the plugin writes on stdout and stderr, as it is read (from the tasks
    /// that read the plugin's pipes: keep it quick); costs nothing when `None`.
    pub observer: Option<LineObserver>,
}

impl std::fmt::Debug for PluginCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginCommand")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("timeout", &self.timeout)
            .field("grace", &self.grace)
            .field("slow_after", &self.slow_after)
            .field("on_slow_call", &self.on_slow_call.is_some())
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl PluginCommand {
    /// `program args...` with a 120 s default timeout, a 10 s grace period, calls slow after
    /// 30 s, and no slow-call handler or line observer.
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            timeout: Duration::from_secs(120),
            grace: Duration::from_secs(10),
            slow_after: Duration::from_secs(30),
            on_slow_call: None,
            observer: None,
        }
    }
}

/// The note of a [`ClientError::Timeout`] for what the host did.
fn stopped_note(stopped: &Option<String>) -> String {
    match stopped {
        Some(what) => format!("; {what}"),
        None => String::new(),
    }
}

/// What a call does when its timeout passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnTimeout {
    /// Cancel it (protocol 1.1), wait the grace period for the answer, then stop the plugin; a
    /// 1.0 plugin is stopped at once.
    CancelThenStop,
    /// Stop the plugin at once (`initialize`: a plugin that cannot start is stuck).
    Stop,
    /// Give up on the answer and leave the plugin be (`shutdown`, which stops it itself, and raw
    /// lines).
    GiveUp,
}

/// Marks one started process's exit (its reason); also names that process.
type ExitMark = Arc<Mutex<Option<String>>>;

/// Callers waiting for a response, by id; each gets the response line as read.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>;

/// The handlers of one process's listeners, by listener id.
type Listeners = Arc<Mutex<HashMap<String, Arc<dyn ListenHandler>>>>;

/// One process's stdin, shared by every writer of lines to it.
type Stdin = Arc<tokio::sync::Mutex<ChildStdin>>;

/// Only what routes a line that does not start the way responses do: its id (as written) and,
/// for the plugin's requests and notifications, the method and params; the rest of a response is
/// skipped, not copied.
#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// Merges the outputs of an `"outputs": "added"` call onto the documents sent: a first output
/// without a body becomes the document sent with its properties added.
fn merge_added(result: &mut ExecuteResult, sent: &[Document]) {
    for one in &mut result.results {
        let (Some(first), Some(input)) = (one.outputs.first_mut(), sent.get(one.index)) else {
            continue;
        };
        if !first.data.is_empty() {
            continue;
        }
        let added = std::mem::take(&mut first.properties);
        let mut merged = input.clone();
        merged.properties.extend(added);
        *first = merged;
    }
}

impl Incoming<'_> {
    /// The pending call a response line goes to: its numeric id, or `u64::MAX` (the slot of
    /// [`PluginProcess::send_raw_line`]) for `null` and any other id.
    fn response_key(&self) -> u64 {
        self.id
            .and_then(|id| id.get().parse().ok())
            .unwrap_or(u64::MAX)
    }
}

/// The id of a response line that starts the way plugins write it, `{"jsonrpc":"2.0","id":7,`,
/// read from its first bytes, so a response of megabytes is not scanned twice; `None` for any
/// other shape (then the line is parsed to find it).
fn leading_id(line: &[u8]) -> Option<u64> {
    super::json_in::head_id(line)
        .filter(|(_, rest)| matches!(rest.first(), Some(b',' | b'}')))
        .map(|(id, _)| id)
}

/// A response line decoded straight into the caller's result type.
#[derive(serde::Deserialize)]
struct TypedResponse<R> {
    #[serde(default = "Option::default")]
    result: Option<R>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// What `initialize` settled.
struct Session {
    /// The version the plugin speaks, one of [`SUPPORTED_PROTOCOL_VERSIONS`].
    protocol_version: &'static str,
    /// Its limits (protocol 1.1).
    limits: Option<Limits>,
    /// The host's own bound on the requests it keeps in flight (protocol 1.1): one less than the
    /// plugin runs at once, so the plugin always reads the next line, a `$/cancelRequest` too.
    slots: Option<Arc<Semaphore>>,
}

impl Session {
    fn new(protocol_version: &'static str, limits: Option<Limits>) -> Self {
        let slots = limits.map(|limits| {
            let slots = usize::try_from(limits.max_requests_in_flight)
                .unwrap_or(usize::MAX)
                .saturating_sub(1)
                .clamp(1, Semaphore::MAX_PERMITS);
            Arc::new(Semaphore::new(slots))
        });
        Self {
            protocol_version,
            limits,
            slots,
        }
    }

    /// Whether the plugin reads `$/cancelRequest` (protocol 1.1 and later).
    fn cancels(&self) -> bool {
        self.protocol_version != "1.0"
    }

    /// Whether the plugin serves listeners (protocol 1.1 and later).
    fn listens(&self) -> bool {
        self.protocol_version != "1.0"
    }
}

/// A call waiting for its answer.
struct Call<'a> {
    id: u64,
    method: &'a str,
    started: Instant,
    timeout: Duration,
    on_timeout: OnTimeout,
    /// The process it was sent to.
    instance: ExitMark,
}

struct Running {
    child: Child,
    stdin: Stdin,
    pending: Pending,
    listeners: Listeners,
    exited: ExitMark,
}

/// A running plugin process, initialized and ready for calls. Calls may run concurrently.
pub struct PluginProcess {
    command: PluginCommand,
    running: tokio::sync::Mutex<Running>,
    stdin: Mutex<Stdin>,
    pending: Mutex<Pending>,
    listeners: Mutex<Listeners>,
    exited: Mutex<ExitMark>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Held while the process is restarted and initialized, so that callers of
    /// [`PluginProcess::ensure_running`] start it once between them.
    restarting: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    descriptor: Mutex<Arc<Descriptor>>,
    session: Mutex<Session>,
    starts: AtomicU64,
}

impl std::fmt::Debug for PluginProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginProcess")
            .field("program", &self.command.program)
            .finish_non_exhaustive()
    }
}

impl PluginProcess {
    /// Starts the plugin and sends `initialize`.
    pub async fn spawn(command: PluginCommand) -> Result<Self, ClientError> {
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let running = start(&command, stderr.clone())?;
        let process = Self {
            stdin: Mutex::new(running.stdin.clone()),
            pending: Mutex::new(running.pending.clone()),
            listeners: Mutex::new(running.listeners.clone()),
            exited: Mutex::new(running.exited.clone()),
            running: tokio::sync::Mutex::new(running),
            command,
            stderr,
            next_id: AtomicU64::new(1),
            descriptor: Mutex::new(Arc::default()),
            session: Mutex::new(Session::new("1.0", None)),
            starts: AtomicU64::new(1),
            restarting: tokio::sync::Mutex::new(()),
        };
        process.initialize().await?;
        Ok(process)
    }

    /// Asks for the highest protocol version this SDK speaks; a plugin that refuses it but names
    /// an older version this SDK speaks is asked again with that one.
    async fn initialize(&self) -> Result<(), ClientError> {
        let result = match self.initialize_with(PROTOCOL_VERSION).await {
            Err(ClientError::Rpc(error)) if error.code == UNSUPPORTED_VERSION => {
                let offered = error
                    .data
                    .as_ref()
                    .and_then(|data| data.get("supported"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let fallback = SUPPORTED_PROTOCOL_VERSIONS
                    .iter()
                    .rev()
                    .find(|known| offered.iter().any(|offered| offered == **known));
                match fallback {
                    Some(version) if *version != PROTOCOL_VERSION => {
                        self.initialize_with(version).await?
                    }
                    _ => return Err(ClientError::Rpc(error)),
                }
            }
            other => other?,
        };
        let version = SUPPORTED_PROTOCOL_VERSIONS
            .iter()
            .copied()
            .find(|known| *known == result.protocol_version)
            .ok_or_else(|| {
                ClientError::Protocol(format!(
                    "the plugin answered initialize with protocol version {:?}; this host speaks {}",
                    result.protocol_version,
                    SUPPORTED_PROTOCOL_VERSIONS.join(", ")
                ))
            })?;
        // A 1.0 plugin has no limits, whatever it sent.
        let limits = result.limits.filter(|_| version != "1.0");
        *self.session.lock() = Session::new(version, limits);
        *self.descriptor.lock() = Arc::new(result.connector);
        Ok(())
    }

    async fn initialize_with(&self, version: &str) -> Result<InitializeResult, ClientError> {
        self.call(
            method::INITIALIZE,
            &InitializeParams {
                protocol_version: version.into(),
                host: HostInfo {
                    name: "connector-sdk".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                },
                limits: None,
            },
        )
        .await
    }

    /// The connector descriptor the plugin sent at `initialize` (its validators are compiled
    /// once, on first use, and kept until the plugin is started again).
    pub fn descriptor(&self) -> Arc<Descriptor> {
        self.descriptor.lock().clone()
    }

    /// The protocol version the plugin answered `initialize` with: `"1.1"`, or `"1.0"` for a
    /// plugin that speaks only that.
    pub fn protocol_version(&self) -> &str {
        self.session.lock().protocol_version
    }

    /// The limits the plugin answered `initialize` with (protocol 1.1); `None` for a 1.0 plugin.
    /// This host keeps at most `maxRequestsInFlight - 1` requests in flight (the others wait for
    /// a slot, within their timeout), so that the plugin always reads its cancels.
    pub fn limits(&self) -> Option<Limits> {
        self.session.lock().limits
    }

    /// How many times the process was started (1, plus one per [`PluginProcess::restart`]).
    pub fn starts(&self) -> u64 {
        self.starts.load(Ordering::Relaxed)
    }

    /// The plugin's stderr lines seen so far (the last 2,000).
    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().iter().cloned().collect()
    }

    /// Calls a method with the default timeout and decodes its result.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<R, ClientError> {
        self.call_with_timeout(method, params, self.command.timeout)
            .await
    }

    /// Calls a method with a timeout and decodes its result. The params are serialized straight
    /// into the request line and the result parsed straight from the response line.
    ///
    /// The timeout runs from the call: it covers the wait for a slot (see
    /// [`PluginProcess::limits`]), the write and the answer. When it passes after the request
    /// was written, a plugin of protocol 1.1 is sent `$/cancelRequest` for it and the call waits
    /// up to [`PluginCommand::grace`] more for the plugin's answer, which it returns as any
    /// other: for `execute`, the plugin's real result per document (documents it did not finish
    /// fail with `CANCELLED`). A plugin that does not answer within the grace period, or speaks
    /// protocol 1.0 (which cannot cancel), is stuck: the host kills the process (every other
    /// call in flight on it fails with [`ClientError::Exited`]) and returns a
    /// [`ClientError::Timeout`] that says so; [`PluginProcess::ensure_running`] starts it
    /// again. `initialize` is not cancelled (the plugin is killed at once), `shutdown` see
    /// [`PluginProcess::shutdown`]. Once the call has run [`PluginCommand::slow_after`],
    /// [`PluginCommand::on_slow_call`] is told.
    pub async fn call_with_timeout<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, ClientError> {
        self.call_line(
            method,
            0,
            |line, id| {
                serde_json::to_writer(
                    line,
                    &OutgoingRequest {
                        jsonrpc: "2.0",
                        id,
                        method,
                        params,
                    },
                )
            },
            |_| None,
            timeout,
        )
        .await
    }

    /// Calls a method whose request line `write` appends (given the request id; about
    /// `size_hint` bytes), with a timeout, and decodes its result: `fast` may decode the response
    /// line first; when it returns `None`, `serde_json` decodes it, errors included.
    async fn call_line<R: DeserializeOwned>(
        &self,
        method: &str,
        size_hint: usize,
        write: impl FnOnce(&mut Vec<u8>, u64) -> Result<(), serde_json::Error>,
        fast: impl FnOnce(&str) -> Option<R>,
        timeout: Duration,
    ) -> Result<R, ClientError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let on_timeout = match method {
            method::INITIALIZE => OnTimeout::Stop,
            method::SHUTDOWN | listen_method::STOP => OnTimeout::GiveUp,
            _ => OnTimeout::CancelThenStop,
        };
        // Held until the answer came (or the call gave up on it).
        let _slot = match method {
            method::INITIALIZE | method::SHUTDOWN => None,
            _ => self.slot(method, deadline, timeout).await?,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = buffers::take(size_hint);
        write(&mut line, id).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        let instance = self.register(id, tx)?;
        // A plugin that reads nothing fills the pipe: the write too ends at the deadline.
        let written = tokio::time::timeout_at(deadline, self.write_line(&line)).await;
        buffers::give_back(line);
        let call = Call {
            id,
            method,
            started,
            timeout,
            on_timeout,
            instance,
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                self.pending.lock().lock().remove(&id);
                return Err(err);
            }
            Err(_) => {
                self.pending.lock().lock().remove(&id);
                let what = format!("its input was not read for {timeout:?}");
                return Err(self.timed_out(&call, what).await);
            }
        }
        let line = self.wait(&call, rx).await?;
        if let Some(result) = std::str::from_utf8(&line).ok().and_then(fast) {
            buffers::give_back(line);
            return Ok(result);
        }
        let unexpected = |e: serde_json::Error| {
            ClientError::Protocol(format!("unexpected result for {method}: {e}"))
        };
        let response = serde_json::from_slice::<TypedResponse<R>>(&line);
        buffers::give_back(line);
        let response = response.map_err(unexpected)?;
        if let Some(error) = response.error {
            return Err(ClientError::Rpc(error));
        }
        match response.result {
            Some(result) => Ok(result),
            // `"result": null` (shutdown): decode the null itself.
            None => serde_json::from_str("null").map_err(unexpected),
        }
    }

    /// Sends a raw line (which need not be valid JSON) and returns the next response that carries
    /// `id: null`. For tests of the plugin's robustness (cargo feature `test-util`).
    #[cfg(feature = "test-util")]
    pub async fn send_raw_line(
        &self,
        line: &str,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let (tx, rx) = oneshot::channel();
        let instance = self.register(u64::MAX, tx)?;
        self.write_line(line.as_bytes()).await?;
        let call = Call {
            id: u64::MAX,
            method: "raw line",
            started: Instant::now(),
            timeout,
            on_timeout: OnTimeout::GiveUp,
            instance,
        };
        let line = self.wait(&call, rx).await?;
        serde_json::from_slice::<Response>(&line)
            .map_err(|e| ClientError::Protocol(format!("not a response: {e}")))
    }

    /// Registers a caller waiting for the response `id`; fails at once when the plugin's output
    /// has already closed, since no response can come. (A write to the plugin's stdin may still
    /// succeed for a moment after its stdout closed, so a successful write proves nothing.)
    /// Returns the exit mark of the process the call goes to.
    fn register(&self, id: u64, tx: oneshot::Sender<Vec<u8>>) -> Result<ExitMark, ClientError> {
        let pending = self.pending.lock().clone();
        let exited = self.exited.lock().clone();
        pending.lock().insert(id, tx);
        // The stdout reader marks the exit before it drops every waiting sender: checking after
        // inserting, either it drops ours or we see the mark.
        if exited.lock().is_some() {
            pending.lock().remove(&id);
            return Err(self.exited_error_of(&exited));
        }
        Ok(exited)
    }

    async fn write_line(&self, line: &[u8]) -> Result<(), ClientError> {
        let stdin = self.stdin.lock().clone();
        let mut stdin = stdin.lock().await;
        let written = async {
            stdin.write_all(line).await?;
            if !line.ends_with(b"\n") {
                stdin.write_all(b"\n").await?;
            }
            stdin.flush().await
        }
        .await;
        written.map_err(|_| self.exited_error())
    }

    /// A slot for a request, when the plugin's limits call for one (protocol 1.1), waited for
    /// until `deadline`.
    async fn slot(
        &self,
        method: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Option<OwnedSemaphorePermit>, ClientError> {
        let Some(slots) = self.session.lock().slots.clone() else {
            return Ok(None);
        };
        match tokio::time::timeout_at(deadline, slots.acquire_owned()).await {
            Ok(slot) => Ok(slot.ok()),
            Err(_) => Err(ClientError::Timeout {
                method: method.to_owned(),
                after: timeout,
                stopped: None,
            }),
        }
    }

    /// Waits for the answer to `call` until its deadline, telling
    /// [`PluginCommand::on_slow_call`] once it is slow; when the deadline passes, does what
    /// `call.on_timeout` says (see [`PluginProcess::call_with_timeout`]).
    async fn wait(
        &self,
        call: &Call<'_>,
        mut rx: oneshot::Receiver<Vec<u8>>,
    ) -> Result<Vec<u8>, ClientError> {
        let deadline = call.started + call.timeout;
        if let Some(handler) = &self.command.on_slow_call
            && call.on_timeout != OnTimeout::GiveUp
            && self.command.slow_after < call.timeout
        {
            match tokio::time::timeout_at(call.started + self.command.slow_after, &mut rx).await {
                Ok(answer) => return answer.map_err(|_| self.exited_error_of(&call.instance)),
                Err(_) => handler(&SlowCall {
                    method: call.method.to_owned(),
                    id: call.id,
                    elapsed: call.started.elapsed(),
                    timeout: call.timeout,
                }),
            }
        }
        if let Ok(answer) = tokio::time::timeout_at(deadline, &mut rx).await {
            return answer.map_err(|_| self.exited_error_of(&call.instance));
        }
        let grace = self.command.grace;
        let what = match call.on_timeout {
            OnTimeout::GiveUp => {
                self.pending.lock().lock().remove(&call.id);
                return Err(ClientError::Timeout {
                    method: call.method.to_owned(),
                    after: call.timeout,
                    stopped: None,
                });
            }
            OnTimeout::CancelThenStop if self.session.lock().cancels() => {
                self.cancel(call.id).await;
                // The plugin answers a cancelled call with every document's result.
                match tokio::time::timeout_at(deadline + grace, &mut rx).await {
                    Ok(answer) => return answer.map_err(|_| self.exited_error_of(&call.instance)),
                    Err(_) => format!(
                        "it was sent $/cancelRequest and did not answer within the grace period \
                         of {grace:?} either"
                    ),
                }
            }
            OnTimeout::CancelThenStop => {
                "it speaks protocol 1.0, which cannot cancel a call".to_owned()
            }
            OnTimeout::Stop => "it cannot be cancelled".to_owned(),
        };
        self.pending.lock().lock().remove(&call.id);
        Err(self.timed_out(call, what).await)
    }

    /// Stops the process `call` went to, stuck as `what` says, and returns the call's
    /// [`ClientError::Timeout`] saying so.
    async fn timed_out(&self, call: &Call<'_>, what: String) -> ClientError {
        let stopped = format!(
            "{what}, so the host stopped the plugin process (killed it); every call in flight \
             on it failed"
        );
        self.stop(
            &call.instance,
            format!(
                "the host stopped it: {} call {} got no answer within {:?} ({what})",
                call.method, call.id, call.timeout
            ),
        )
        .await;
        ClientError::Timeout {
            method: call.method.to_owned(),
            after: call.timeout,
            stopped: Some(stopped),
        }
    }

    /// Kills the process `instance` marks, when it is still the one running, giving `reason` as
    /// its exit (every call still waiting on it fails with [`ClientError::Exited`] and that
    /// reason); [`PluginProcess::ensure_running`] starts a new one.
    async fn stop(&self, instance: &ExitMark, reason: String) {
        let mut running = self.running.lock().await;
        if !Arc::ptr_eq(&running.exited, instance) {
            return;
        }
        instance.lock().get_or_insert(reason);
        let _ = running.child.start_kill();
        let _ = running.child.wait().await;
    }

    /// Sends `$/cancelRequest` for request `id` to a plugin that speaks 1.1 (nothing to a 1.0
    /// plugin). The line is written by a task of its own, and waited for at most
    /// [`CANCEL_WRITE_WAIT`]: the plugin's input may be held by another long line or by the
    /// plugin's backpressure, and the caller's timeout has passed already.
    async fn cancel(&self, id: u64) {
        if !self.session.lock().cancels() {
            return;
        }
        let stdin = self.stdin.lock().clone();
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"{}\",\"params\":{{\"id\":{id}}}}}\n",
            method::CANCEL_REQUEST
        );
        let mut written = tokio::spawn(async move {
            let mut stdin = stdin.lock().await;
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        });
        match tokio::time::timeout(CANCEL_WRITE_WAIT, &mut written).await {
            Ok(Ok(Ok(()))) => tracing::debug!(id, "sent $/cancelRequest"),
            Ok(Ok(Err(error))) => {
                tracing::debug!(id, error = %error, "could not send $/cancelRequest")
            }
            Ok(Err(_)) => {}
            Err(_) => tracing::debug!(id, "$/cancelRequest is still being written"),
        }
    }

    fn exited_error(&self) -> ClientError {
        let exited = self.exited.lock().clone();
        self.exited_error_of(&exited)
    }

    /// The [`ClientError::Exited`] of the process `instance` marks.
    fn exited_error_of(&self, instance: &ExitMark) -> ClientError {
        let mut status = instance
            .lock()
            .clone()
            .unwrap_or_else(|| "it closed its output".to_owned());
        // The exit status, when the process is already gone (it usually is by now).
        if let Ok(mut running) = self.running.try_lock()
            && Arc::ptr_eq(&running.exited, instance)
            && let Ok(Some(exit)) = running.child.try_wait()
        {
            status = format!("{status}, {exit}");
        }
        let logs = self.logs();
        let last_logs = logs[logs.len().saturating_sub(10)..].join("\n");
        ClientError::Exited { status, last_logs }
    }

    /// Test Connection for a connection component.
    pub async fn test_connection(
        &self,
        connection: &Component,
    ) -> Result<TestConnectionResult, ClientError> {
        self.call(
            method::TEST_CONNECTION,
            &TestConnectionParams {
                connection: connection.clone(),
            },
        )
        .await
    }

    /// Lists objects for an operation's picker.
    pub async fn browse(
        &self,
        connection: &Component,
        operation_type: &str,
        filter: Option<&str>,
    ) -> Result<BrowseResult, ClientError> {
        self.call(
            method::BROWSE,
            &BrowseParams {
                connection: connection.clone(),
                operation_type: operation_type.to_owned(),
                filter: filter.map(str::to_owned),
            },
        )
        .await
    }

    /// Runs an operation over documents, with the default timeout. When it passes, the call is
    /// cancelled and the plugin's answer (every document's result, those it did not finish
    /// `CANCELLED`) still returned when it comes within the grace period; see
    /// [`PluginProcess::call_with_timeout`].
    pub async fn execute(&self, params: &ExecuteParams) -> Result<ExecuteResult, ClientError> {
        self.execute_ref(&ExecuteParamsRef {
            execution_id: &params.execution_id,
            process_name: &params.process_name,
            connection: &params.connection,
            operation: &params.operation,
            documents: &params.documents,
        })
        .await
    }

    /// Runs an operation over borrowed documents (nothing is copied before it is serialized);
    /// timeouts as for [`PluginProcess::execute`].
    pub async fn execute_ref(
        &self,
        params: &ExecuteParamsRef<'_>,
    ) -> Result<ExecuteResult, ClientError> {
        self.execute_ref_with(params, Outputs::Full).await
    }

    /// [`PluginProcess::execute_ref`] with the outputs asked for as `outputs` says. With
    /// [`Outputs::Added`] and a 1.1 plugin, the plugin writes an output that is the input
    /// document (SEND's and DELETE's) as the properties the operation added, without the body,
    /// and this merges them onto the document sent: the results are the ones
    /// [`Outputs::Full`] gives, for fewer bytes written, read and escaped. (An output without a
    /// body of an operation that takes input is taken for such a delta.) With a 1.0 plugin, or
    /// for an operation that takes no input, it is [`Outputs::Full`].
    pub async fn execute_ref_with(
        &self,
        params: &ExecuteParamsRef<'_>,
        outputs: Outputs,
    ) -> Result<ExecuteResult, ClientError> {
        let added = outputs == Outputs::Added
            && self.protocol_version() != "1.0"
            && self.descriptor().takes_input(
                params
                    .operation
                    .operation_type
                    .as_deref()
                    .unwrap_or_default(),
            );
        let outputs = if added { Outputs::Added } else { Outputs::Full };
        // The documents are most of both lines: the request is written by hand (see `json_out`,
        // the same bytes as serde_json's) and a response as plugins write it read by hand (see
        // `json_in`; anything else goes to serde_json).
        self.call_line(
            method::EXECUTE,
            super::json_out::execute_params_size_hint(params),
            |line, id| {
                line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
                line.extend_from_slice(id.to_string().as_bytes());
                line.extend_from_slice(b",\"method\":\"execute\",\"params\":");
                super::json_out::push_execute_params(line, params, outputs)?;
                line.push(b'}');
                Ok(())
            },
            super::json_in::execute_response,
            self.command.timeout,
        )
        .await
        .map(|mut result| {
            if added {
                merge_added(&mut result, params.documents);
            }
            result
        })
    }

    /// Starts a listener (protocol 1.1): `handler` is registered for `params.listener_id`
    /// before `listen` is sent, so that it gets every batch and status of the listener; the
    /// result comes once the listener polls (within the default timeout, as any call). The
    /// plugin's `listen/batch` requests are answered with what [`ListenHandler::batch`] returns,
    /// whenever it returns; see [`ListenHandler`].
    ///
    /// Fails with [`ClientError::Invalid`], sending nothing, when the plugin speaks protocol 1.0
    /// or a listener with that id is registered; when the call fails, the handler is
    /// unregistered. The listener runs until [`PluginProcess::listen_stop`], `shutdown`, or the
    /// end of the process (which the handler is told as a `stopped` status). A restarted
    /// process runs none of the listeners of the one before.
    pub async fn listen(
        &self,
        params: &ListenParams,
        handler: Arc<dyn ListenHandler>,
    ) -> Result<ListenResult, ClientError> {
        if !self.session.lock().listens() {
            return Err(ClientError::Invalid(format!(
                "the plugin speaks protocol {}, which has no listeners (they need 1.1)",
                self.protocol_version()
            )));
        }
        let listeners = self.listeners.lock().clone();
        {
            let mut registered = listeners.lock();
            if registered.contains_key(&params.listener_id) {
                return Err(ClientError::Invalid(format!(
                    "a listener with id {:?} is running already",
                    params.listener_id
                )));
            }
            registered.insert(params.listener_id.clone(), handler);
        }
        let started = self
            .call::<_, ListenResult>(listen_method::LISTEN, params)
            .await
            .and_then(|result| match result.listener_id == params.listener_id {
                true => Ok(result),
                false => Err(ClientError::Protocol(format!(
                    "it answered listen for listener {:?} with listener {:?}",
                    params.listener_id, result.listener_id
                ))),
            });
        if started.is_err() {
            listeners.lock().remove(&params.listener_id);
        }
        started
    }

    /// Stops a listener (protocol 1.1) with `listen/stop`, waiting at most `timeout` for the
    /// plugin's answer, which comes once nothing of the listener is left: with `drain`, once
    /// every batch in flight was answered (by its handler) and committed; without, at once, its
    /// batches in flight released. Its handler is unregistered after the answer, or after the
    /// call failed: a batch that comes later is answered with an error (the plugin releases it).
    /// A stop that takes longer than `timeout` is a [`ClientError::Timeout`] that leaves the
    /// plugin running (`shutdown` stops it within its grace period).
    pub async fn listen_stop(
        &self,
        listener_id: &str,
        drain: bool,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        if !self.session.lock().listens() {
            return Err(ClientError::Invalid(format!(
                "the plugin speaks protocol {}, which has no listeners (they need 1.1)",
                self.protocol_version()
            )));
        }
        let listeners = self.listeners.lock().clone();
        let stopped = self
            .call_with_timeout::<_, Value>(
                listen_method::STOP,
                &ListenStopParams {
                    listener_id: listener_id.to_owned(),
                    drain,
                },
                timeout,
            )
            .await;
        listeners.lock().remove(listener_id);
        stopped.map(|_| ())
    }

    /// The ids of the listeners registered on the running process (started by
    /// [`PluginProcess::listen`] and not stopped), in no order.
    pub fn listeners(&self) -> Vec<String> {
        let listeners = self.listeners.lock().clone();
        listeners.lock().keys().cloned().collect::<Vec<_>>()
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.exited.lock().lock().is_some()
    }

    /// Kills the process if it still runs, starts it again and initializes it.
    pub async fn restart(&self) -> Result<(), ClientError> {
        let _restarting = self.restarting.lock().await;
        self.restart_now().await
    }

    /// Starts the process again when it has exited (or was stopped because a call got no
    /// answer), and initializes it; returns whether it did. Callers at the same time start it
    /// once between them: the others wait for that start and return `false`. When the new
    /// process fails to initialize, it is stopped, so that the next call tries again.
    pub async fn ensure_running(&self) -> Result<bool, ClientError> {
        let _restarting = self.restarting.lock().await;
        if !self.has_exited() {
            return Ok(false);
        }
        self.restart_now().await?;
        Ok(true)
    }

    async fn restart_now(&self) -> Result<(), ClientError> {
        {
            let mut running = self.running.lock().await;
            let _ = running.child.start_kill();
            let _ = running.child.wait().await;
            let fresh = start(&self.command, self.stderr.clone())?;
            *self.stdin.lock() = fresh.stdin.clone();
            *self.pending.lock() = fresh.pending.clone();
            *self.listeners.lock() = fresh.listeners.clone();
            *self.exited.lock() = fresh.exited.clone();
            *running = fresh;
        }
        self.starts.fetch_add(1, Ordering::Relaxed);
        let initialized = self.initialize().await;
        if let Err(err) = &initialized {
            let instance = self.exited.lock().clone();
            self.stop(
                &instance,
                format!("the host stopped it: initialize failed: {err}"),
            )
            .await;
        }
        initialized
    }

    /// The process id of the running plugin, while it runs.
    pub async fn pid(&self) -> Option<u32> {
        self.running.lock().await.child.id()
    }

    /// Asks the plugin to shut down and waits for it to exit, for at most
    /// [`PluginCommand::grace`] in all (calls still running are answered before it exits). A
    /// plugin that does not answer or exit within it is killed, and a [`ClientError::Timeout`]
    /// says so.
    pub async fn shutdown(&self) -> Result<ExitStatus, ClientError> {
        let grace = self.command.grace;
        let deadline = Instant::now() + grace;
        let answered = match self
            .call_with_timeout::<_, Value>(method::SHUTDOWN, &json!({}), grace)
            .await
        {
            Ok(_) | Err(ClientError::Exited { .. }) => true,
            Err(ClientError::Timeout { .. }) => false,
            Err(other) => return Err(other),
        };
        let mut running = self.running.lock().await;
        let io_error = |source| ClientError::Io {
            program: self.command.program.display().to_string(),
            source,
        };
        if answered
            && let Ok(status) = tokio::time::timeout_at(deadline, running.child.wait()).await
        {
            return status.map_err(io_error);
        }
        let what = match answered {
            true => format!("it answered shutdown but did not exit within {grace:?}"),
            false => format!("it did not answer shutdown within {grace:?}"),
        };
        running
            .exited
            .lock()
            .get_or_insert_with(|| format!("the host stopped it: {what}"));
        let _ = running.child.start_kill();
        running.child.wait().await.map_err(io_error)?;
        Err(ClientError::Timeout {
            method: method::SHUTDOWN.to_owned(),
            after: grace,
            stopped: Some(format!(
                "{what}, so the host stopped the plugin process (killed it)"
            )),
        })
    }

    /// Kills the process at once, for tests of a host's reaction (cargo feature `test-util`).
    #[cfg(feature = "test-util")]
    pub async fn kill(&self) {
        let mut running = self.running.lock().await;
        let _ = running.child.start_kill();
        let _ = running.child.wait().await;
    }
}

fn start(
    command: &PluginCommand,
    stderr_lines: Arc<Mutex<VecDeque<String>>>,
) -> Result<Running, ClientError> {
    let io_error = |source| ClientError::Io {
        program: command.program.display().to_string(),
        source,
    };
    let mut child = Command::new(&command.program)
        .args(&command.args)
        .envs(command.env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io_error)?;
    let missing = || io_error(std::io::Error::other("the child's pipes are missing"));
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take().ok_or_else(missing)?;
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let listeners: Listeners = Arc::new(Mutex::new(HashMap::new()));
    let stdin: Stdin = Arc::new(tokio::sync::Mutex::new(stdin));
    let exited = Arc::new(Mutex::new(None));

    let observer = command.observer.clone();
    tokio::spawn(async move {
        // Bytes, not text: a line that is not UTF-8 must not stop the reading (the pipe would
        // fill and block the plugin).
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
            let end = line.len()
                - line
                    .iter()
                    .rev()
                    .take_while(|b| matches!(b, b'\n' | b'\r'))
                    .count();
            if let Some(observer) = &observer {
                observer(Stream::Stderr, &line[..end]);
            }
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            line.clear();
            let mut kept = stderr_lines.lock();
            if kept.len() == STDERR_KEPT {
                kept.pop_front();
            }
            kept.push_back(text);
        }
    });

    let reader_pending = pending.clone();
    let reader_listeners = listeners.clone();
    let reader_stdin = stdin.clone();
    let reader_exited = exited.clone();
    let observer = command.observer.clone();
    let pid = child.id();
    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(1 << 18, stdout);
        loop {
            // Each line goes to its caller in a recycled buffer, which the caller gives back.
            // A response's length is unknown until it is read: the largest kept buffer.
            let mut line = buffers::take(usize::MAX);
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                line.pop();
            }
            if let Some(observer) = &observer {
                observer(Stream::Stdout, &line);
            }
            if line.is_empty() {
                buffers::give_back(line);
                continue;
            }
            // Responses as plugins write them are routed from their head; only other lines are
            // parsed, and those that carry a method are the plugin's requests and notifications.
            let key = match leading_id(&line) {
                Some(id) => Some(id),
                None => match serde_json::from_slice::<Incoming>(&line) {
                    Ok(Incoming {
                        method: Some(method),
                        id,
                        params,
                    }) => {
                        from_plugin(&method, id, params, &reader_listeners, &reader_stdin);
                        None
                    }
                    Ok(response) => Some(response.response_key()),
                    Err(err) => {
                        tracing::warn!(error = %err, "the plugin wrote a line that is not JSON-RPC");
                        None
                    }
                },
            };
            match key.and_then(|key| reader_pending.lock().remove(&key)) {
                Some(tx) => {
                    let _ = tx.send(line);
                }
                None => buffers::give_back(line),
            }
        }
        // A reason the host gave when it stopped the process stays.
        reader_exited.lock().get_or_insert_with(|| match pid {
            Some(pid) => format!("process {pid} closed its output"),
            None => "the process closed its output".to_owned(),
        });
        // Dropping the senders wakes every caller still waiting, with an `Exited` error.
        reader_pending.lock().clear();
        // The listeners ended with the process; their batches in flight are answered to no one.
        let ended: Vec<_> = reader_listeners.lock().drain().collect();
        for (listener_id, handler) in ended {
            handler.status(ListenStatusParams {
                listener_id,
                state: ListenerState::Stopped,
                message: "the plugin process ended".to_owned(),
                kind: Some("internal".to_owned()),
            });
        }
    });

    Ok(Running {
        child,
        stdin,
        pending,
        listeners,
        exited,
    })
}

/// Serves a line of the plugin that carries a method: a request (with an id, which the plugin
/// writes as a string starting with [`PLUGIN_REQUEST_ID_PREFIX`]) is answered by that id, by a
/// task of its own (the reader never waits for the plugin's input); a notification is handed to
/// its listener's handler at once, so that a listener's statuses keep their order.
fn from_plugin(
    method: &str,
    id: Option<&RawValue>,
    params: Option<&RawValue>,
    listeners: &Listeners,
    stdin: &Stdin,
) {
    let Some(id) = id else {
        if method != listen_method::STATUS {
            tracing::debug!(method, "ignored a notification of the plugin");
            return;
        }
        let status = params.map(|params| serde_json::from_str::<ListenStatusParams>(params.get()));
        match status {
            Some(Ok(status)) => {
                let handler = listeners.lock().get(&status.listener_id).cloned();
                match handler {
                    Some(handler) => handler.status(status),
                    None => tracing::debug!(
                        listener = %status.listener_id,
                        "a listen/status for no registered listener"
                    ),
                }
            }
            _ => tracing::warn!("the plugin sent a listen/status the host cannot read"),
        }
        return;
    };
    let id = id.get().to_owned();
    let refuse = |code, message: String| {
        tracing::warn!(id = %id, method, "{message}");
        let line = answer_line(&id, Err(&RpcError::plain(code, message)));
        tokio::spawn(write_answer(stdin.clone(), line));
    };
    if !id.starts_with(&format!("\"{PLUGIN_REQUEST_ID_PREFIX}")) {
        return refuse(
            INVALID_REQUEST,
            format!(
                "a plugin's request ids are strings starting with {PLUGIN_REQUEST_ID_PREFIX:?}; \
                 this one is {id}"
            ),
        );
    }
    if method != listen_method::BATCH {
        return refuse(
            METHOD_NOT_FOUND,
            format!("the host has no method {method:?}"),
        );
    }
    let batch = match params.map(|params| serde_json::from_str::<ListenBatchParams>(params.get())) {
        Some(Ok(batch)) => batch,
        Some(Err(err)) => {
            return refuse(
                INVALID_PARAMS,
                format!("invalid listen/batch params: {err}"),
            );
        }
        None => return refuse(INVALID_PARAMS, "listen/batch without params".to_owned()),
    };
    let Some(handler) = listeners.lock().get(&batch.listener_id).cloned() else {
        return refuse(
            INVALID_PARAMS,
            format!(
                "no listener {:?} runs on this host (batch {:?})",
                batch.listener_id, batch.batch_id
            ),
        );
    };
    let stdin = stdin.clone();
    tokio::spawn(async move {
        let outcome = AssertUnwindSafe(async move { handler.batch(batch).await })
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::plain(
                    INTERNAL,
                    "the host's handler of the batch panicked",
                ))
            });
        let line = answer_line(&id, outcome.as_ref());
        write_answer(stdin, line).await;
    });
}

/// The response line (with its line end) to the plugin's request `id` (as written).
fn answer_line(id: &str, outcome: Result<&ListenBatchResult, &RpcError>) -> Vec<u8> {
    let mut line = Vec::with_capacity(64 + id.len());
    line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    line.extend_from_slice(id.as_bytes());
    let written = match outcome {
        Ok(result) => {
            line.extend_from_slice(b",\"result\":");
            serde_json::to_writer(&mut line, result)
        }
        Err(error) => {
            line.extend_from_slice(b",\"error\":");
            serde_json::to_writer(&mut line, error)
        }
    };
    // Neither a result nor an error object can fail to serialize (plain structs of strings and
    // numbers); should one, the line still says so.
    if let Err(err) = written {
        line.truncate(0);
        line.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        line.extend_from_slice(id.as_bytes());
        line.extend_from_slice(b",\"error\":");
        let error = RpcError::plain(
            INTERNAL,
            format!("the host's answer could not be written: {err}"),
        );
        let _ = serde_json::to_writer(&mut line, &error);
    }
    line.extend_from_slice(b"}\n");
    line
}

/// Writes an answer line to the plugin; a plugin that is gone gets nothing.
async fn write_answer(stdin: Stdin, line: Vec<u8>) {
    let mut stdin = stdin.lock().await;
    let written = async {
        stdin.write_all(&line).await?;
        stdin.flush().await
    }
    .await;
    if let Err(err) = written {
        tracing::debug!(error = %err, "could not answer the plugin's request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_read_from_the_head_of_lines_plugins_write_and_left_to_the_parser_otherwise() {
        assert_eq!(
            leading_id(br#"{"jsonrpc":"2.0","id":42,"result":{"results":[]}}"#),
            Some(42)
        );
        assert_eq!(leading_id(br#"{"jsonrpc":"2.0","id":0}"#), Some(0));
        for other in [
            r#"{"jsonrpc":"2.0","id":"42","result":null}"#,
            r#"{"jsonrpc":"2.0","id":4.5,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":,"result":null}"#,
            r#"{"id":42,"jsonrpc":"2.0","result":null}"#,
            r#"{"jsonrpc": "2.0", "id": 42, "result": null}"#,
            r#"{"jsonrpc":"2.0","id":99999999999999999999999,"result":null}"#,
        ] {
            assert_eq!(leading_id(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn the_plugins_requests_are_answered_by_their_id_as_written() {
        let result = ListenBatchResult {
            results: vec![BatchResult {
                index: 0,
                status: crate::ResultStatus::Success,
                message: None,
            }],
        };
        assert_eq!(
            answer_line("\"p-7\"", Ok(&result)),
            b"{\"jsonrpc\":\"2.0\",\"id\":\"p-7\",\"result\":{\"results\":[{\"index\":0,\"status\":\"SUCCESS\"}]}}\n"
        );
        let error = RpcError::plain(METHOD_NOT_FOUND, "no");
        let line = answer_line("\"p-8\"", Err(&error));
        let response: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(response, Response::error(json!("p-8"), error));
        // A line that carries a method is the plugin's; a response's key is its numeric id.
        let request: Incoming =
            serde_json::from_str(r#"{"id":"p-1","jsonrpc":"2.0","method":"listen/batch"}"#)
                .unwrap();
        assert_eq!(request.method.as_deref(), Some("listen/batch"));
        for (line, key) in [
            (r#"{"id":12,"jsonrpc":"2.0","result":null}"#, 12),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":""}}"#,
                u64::MAX,
            ),
            (r#"{"jsonrpc":"2.0","id":"p-1","result":null}"#, u64::MAX),
        ] {
            let response: Incoming = serde_json::from_str(line).unwrap();
            assert!(response.method.is_none());
            assert_eq!(response.response_key(), key, "{line}");
        }
    }
}
