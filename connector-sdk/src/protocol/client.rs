//! The host side: spawns a plugin executable, initializes it, and calls it with timeouts.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;

use super::buffers;
use super::types::*;
use crate::component::Component;
use crate::runtime::{PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS};

/// How many of the plugin's last stderr lines are kept.
const STDERR_KEPT: usize = 2_000;

/// How long a call that timed out waits for its `$/cancelRequest` to be written before it
/// returns; the line is written all the same, later, when the plugin's input is held.
const CANCEL_WRITE_WAIT: Duration = Duration::from_secs(1);

/// What can go wrong calling a plugin.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The plugin answered with a JSON-RPC error.
    #[error("{0}")]
    Rpc(RpcError),
    /// No answer within the timeout.
    #[error("the plugin did not answer {method} within {after:?}")]
    Timeout {
        /// The method called.
        method: String,
        /// The timeout.
        after: Duration,
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
}

/// How to start a plugin: the program and its arguments (`sqs-connector serve`).
#[derive(Debug, Clone)]
pub struct PluginCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (never secrets).
    pub env: Vec<(String, String)>,
    /// The default timeout of a call.
    pub timeout: Duration,
}

impl PluginCommand {
    /// `program args...` with a 120 s default timeout.
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }
}

/// Callers waiting for a response, by id; each gets the response line as read.
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>;

/// Only what routes a response line to its caller; the rest is skipped, not copied.
#[derive(serde::Deserialize)]
struct ResponseId {
    #[serde(default)]
    id: Value,
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
}

struct Running {
    child: Child,
    stdin: Arc<tokio::sync::Mutex<ChildStdin>>,
    pending: Pending,
    exited: Arc<Mutex<Option<String>>>,
}

/// A running plugin process, initialized and ready for calls. Calls may run concurrently.
pub struct PluginProcess {
    command: PluginCommand,
    running: tokio::sync::Mutex<Running>,
    stdin: Mutex<Arc<tokio::sync::Mutex<ChildStdin>>>,
    pending: Mutex<Pending>,
    exited: Mutex<Arc<Mutex<Option<String>>>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    next_id: AtomicU64,
    descriptor: Mutex<Value>,
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
            exited: Mutex::new(running.exited.clone()),
            running: tokio::sync::Mutex::new(running),
            command,
            stderr,
            next_id: AtomicU64::new(1),
            descriptor: Mutex::new(Value::Null),
            session: Mutex::new(Session::new("1.0", None)),
            starts: AtomicU64::new(1),
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
        *self.descriptor.lock() = result.connector;
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

    /// The connector descriptor the plugin sent at `initialize`.
    pub fn descriptor(&self) -> Value {
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
    /// [`PluginProcess::limits`]) and for the answer. When it passes after the request was
    /// written, a plugin of protocol 1.1 is sent `$/cancelRequest` for it before the
    /// [`ClientError::Timeout`] is returned (`initialize` and `shutdown` are not cancelled).
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
        let deadline = Instant::now() + timeout;
        let controls = matches!(method, method::INITIALIZE | method::SHUTDOWN);
        // Held until the answer came (or the call gave up on it).
        let _slot = match controls {
            true => None,
            false => self.slot(method, deadline, timeout).await?,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = buffers::take(size_hint);
        write(&mut line, id).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        self.register(id, tx)?;
        let written = self.write_line(&line).await;
        buffers::give_back(line);
        if let Err(err) = written {
            self.pending.lock().lock().remove(&id);
            return Err(err);
        }
        let line = self
            .wait(id, method, rx, deadline, timeout, !controls)
            .await?;
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
    /// `id: null`. For tests of the plugin's robustness.
    pub async fn send_raw_line(
        &self,
        line: &str,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.register(u64::MAX, tx)?;
        self.write_line(line.as_bytes()).await?;
        let deadline = Instant::now() + timeout;
        let line = self
            .wait(u64::MAX, "raw line", rx, deadline, timeout, false)
            .await?;
        serde_json::from_slice::<RawResponse>(&line)
            .map(RawResponse::into_response)
            .map_err(|e| ClientError::Protocol(format!("not a response: {e}")))
    }

    /// Calls a method and returns its raw result.
    pub async fn call_raw(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        self.call_with_timeout(method, &params, timeout).await
    }

    /// Registers a caller waiting for the response `id`; fails at once when the plugin's output
    /// has already closed, since no response can come. (A write to the plugin's stdin may still
    /// succeed for a moment after its stdout closed, so a successful write proves nothing.)
    fn register(&self, id: u64, tx: oneshot::Sender<Vec<u8>>) -> Result<(), ClientError> {
        let pending = self.pending.lock().clone();
        let exited = self.exited.lock().clone();
        pending.lock().insert(id, tx);
        // The stdout reader marks the exit before it drops every waiting sender: checking after
        // inserting, either it drops ours or we see the mark.
        if exited.lock().is_some() {
            pending.lock().remove(&id);
            return Err(self.exited_error());
        }
        Ok(())
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
            }),
        }
    }

    /// Waits for the response `id` until `deadline`; when it does not come in time, tells the
    /// plugin to cancel the request (with `cancel`, and when it speaks 1.1) and returns the
    /// timeout (`timeout` being the call's whole timeout, for the message).
    async fn wait(
        &self,
        id: u64,
        method: &str,
        rx: oneshot::Receiver<Vec<u8>>,
        deadline: Instant,
        timeout: Duration,
        cancel: bool,
    ) -> Result<Vec<u8>, ClientError> {
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(self.exited_error()),
            Err(_) => {
                self.pending.lock().lock().remove(&id);
                if cancel {
                    self.cancel(id).await;
                }
                Err(ClientError::Timeout {
                    method: method.to_owned(),
                    after: timeout,
                })
            }
        }
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
        let mut status = self
            .exited
            .lock()
            .lock()
            .clone()
            .unwrap_or_else(|| "it closed its output".to_owned());
        // The exit status, when the process is already gone (it usually is by now).
        if let Ok(mut running) = self.running.try_lock()
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

    /// Runs an operation over documents.
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

    /// Runs an operation over borrowed documents (nothing is copied before it is serialized).
    pub async fn execute_ref(
        &self,
        params: &ExecuteParamsRef<'_>,
    ) -> Result<ExecuteResult, ClientError> {
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
                super::json_out::push_execute_params(line, params)?;
                line.push(b'}');
                Ok(())
            },
            super::json_in::execute_response,
            self.command.timeout,
        )
        .await
    }

    /// Whether the process has exited.
    pub fn has_exited(&self) -> bool {
        self.exited.lock().lock().is_some()
    }

    /// Kills the process if it still runs, starts it again and initializes it.
    pub async fn restart(&self) -> Result<(), ClientError> {
        {
            let mut running = self.running.lock().await;
            let _ = running.child.start_kill();
            let _ = running.child.wait().await;
            let fresh = start(&self.command, self.stderr.clone())?;
            *self.stdin.lock() = fresh.stdin.clone();
            *self.pending.lock() = fresh.pending.clone();
            *self.exited.lock() = fresh.exited.clone();
            *running = fresh;
        }
        self.starts.fetch_add(1, Ordering::Relaxed);
        self.initialize().await
    }

    /// Asks the plugin to shut down and waits for it to exit.
    pub async fn shutdown(&self) -> Result<ExitStatus, ClientError> {
        let _: Value = self
            .call_raw(method::SHUTDOWN, json!({}), self.command.timeout)
            .await
            .or_else(|err| match err {
                ClientError::Exited { .. } => Ok(Value::Null),
                other => Err(other),
            })?;
        let mut running = self.running.lock().await;
        let status = tokio::time::timeout(self.command.timeout, running.child.wait())
            .await
            .map_err(|_| ClientError::Timeout {
                method: "exit after shutdown".into(),
                after: self.command.timeout,
            })?
            .map_err(|source| ClientError::Io {
                program: self.command.program.display().to_string(),
                source,
            })?;
        Ok(status)
    }

    /// Kills the process at once (for tests of a host's reaction).
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
    let exited = Arc::new(Mutex::new(None));

    tokio::spawn(async move {
        // Bytes, not text: a line that is not UTF-8 must not stop the reading (the pipe would
        // fill and block the plugin).
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\n', '\r'])
                .to_owned();
            line.clear();
            let mut kept = stderr_lines.lock();
            if kept.len() == STDERR_KEPT {
                kept.pop_front();
            }
            kept.push_back(text);
        }
    });

    let reader_pending = pending.clone();
    let reader_exited = exited.clone();
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
            if line.is_empty() {
                buffers::give_back(line);
                continue;
            }
            let id = match leading_id(&line) {
                Some(id) => Ok(id),
                None => serde_json::from_slice::<ResponseId>(&line)
                    .map(|response| response.id.as_u64().unwrap_or(u64::MAX)),
            };
            match id {
                Ok(key) => match reader_pending.lock().remove(&key) {
                    Some(tx) => {
                        let _ = tx.send(line);
                    }
                    None => buffers::give_back(line),
                },
                Err(err) => {
                    tracing::warn!(error = %err, "the plugin wrote a line that is not a response")
                }
            }
        }
        *reader_exited.lock() = Some(match pid {
            Some(pid) => format!("process {pid} closed its output"),
            None => "the process closed its output".to_owned(),
        });
        // Dropping the senders wakes every caller still waiting, with an `Exited` error.
        reader_pending.lock().clear();
    });

    Ok(Running {
        child,
        stdin: Arc::new(tokio::sync::Mutex::new(stdin)),
        pending,
        exited,
    })
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
}
