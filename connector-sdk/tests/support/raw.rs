//! A host on raw pipes, for what `PluginProcess` never does: requests before `initialize`, bytes
//! that are not UTF-8, closing stdin. It also keeps every stdout line, so a test can check that
//! stdout carried nothing but responses.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use connector_sdk::host::{Response, RpcError, RpcOutcome};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How long a raw read or an exit may take before the test calls it a hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// The error of a raw response that must be an error with `code`.
pub(crate) fn response_error(response: &Response, code: i64) -> RpcError {
    match &response.outcome {
        RpcOutcome::Error(err) => {
            assert_eq!(
                err.code, code,
                "expected an error response with code {code}; got {response:?}"
            );
            err.clone()
        }
        RpcOutcome::Result(result) => {
            panic!("expected an error response with code {code}; got the result {result}")
        }
    }
}

/// The result of a raw response that must be a success.
pub(crate) fn response_result(response: &Response) -> Value {
    match &response.outcome {
        RpcOutcome::Result(result) => result.clone(),
        RpcOutcome::Error(err) => panic!("expected a result; got the error {err:?}"),
    }
}

/// An `initialize` request for protocol `version`.
pub(crate) fn initialize_request(id: u64, version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {"protocolVersion": version, "host": {"name": "raw-test-host", "version": "0"}},
    })
}

/// A request line's object.
pub(crate) fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Checks that there are logs and that every stderr line is a JSON log object with a level and
/// a message.
pub(crate) fn assert_json_log_lines(lines: &[String]) {
    assert!(
        !lines.is_empty(),
        "expected the plugin to log at least one line"
    );
    for line in lines {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("expected a JSON log line; got {line:?} ({e})"));
        assert!(
            parsed.get("level").is_some()
                && (parsed.get("message").is_some() || parsed.get("fields").is_some()),
            "expected a log object with `level` and `message` (or `fields`); got {line}"
        );
    }
}

/// What a raw plugin left behind once it exited.
pub(crate) struct Finished {
    /// How it exited.
    pub(crate) status: ExitStatus,
    /// The responses read by `finish` (those not read by `next_response` before).
    pub(crate) responses: Vec<Response>,
    /// Every stdout line of the whole run, as written.
    pub(crate) stdout: Vec<String>,
    /// Every stderr line of the whole run.
    pub(crate) stderr: Vec<String>,
}

/// The test plugin on raw pipes.
pub(crate) struct RawPlugin {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stdout_lines: Vec<String>,
    stderr: JoinHandle<String>,
}

impl RawPlugin {
    /// Starts the test plugin; nothing is sent yet.
    pub(crate) fn spawn() -> Self {
        Self::spawn_with_env(&[])
    }

    /// Starts the test plugin with extra environment variables (its limits); nothing is sent
    /// yet.
    pub(crate) fn spawn_with_env(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sdk-test-plugin"))
            .env(connector_sdk::plugin::LOG_ENV, "info")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the test plugin starts");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        // Read stderr all along, so the plugin never blocks on a full pipe.
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout).lines(),
            stdout_lines: Vec::new(),
            stderr,
        }
    }

    /// The plugin's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the plugin runs")
    }

    /// Writes one request line.
    pub(crate) async fn send(&mut self, request: &Value) {
        let mut line = serde_json::to_vec(request).expect("a request serializes");
        line.push(b'\n');
        self.send_bytes(&line).await;
    }

    /// Writes `bytes` as they are, in one write.
    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        stdin
            .write_all(bytes)
            .await
            .expect("the plugin reads stdin");
        stdin.flush().await.expect("the plugin reads stdin");
    }

    /// The next stdout line as written (`None` once stdout closed).
    pub(crate) async fn next_line(&mut self) -> Option<String> {
        let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("expected a stdout line or its end within 10 s")
            .expect("stdout is readable UTF-8");
        if let Some(line) = &line {
            if let Some(label) = crate::fixtures::leaked(line.as_bytes()) {
                panic!("the test plugin wrote {label} on its stdout");
            }
            self.stdout_lines.push(line.clone());
        }
        line
    }

    /// The next stdout line, which must be a JSON-RPC response.
    pub(crate) async fn next_response(&mut self) -> Response {
        let line = self
            .next_line()
            .await
            .expect("expected a response line; stdout closed");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("expected only responses on stdout; got {line:?} ({e})"))
    }

    /// Closes the plugin's stdin.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Reads stdout to its end and waits for the process to exit.
    pub(crate) async fn finish(mut self) -> Finished {
        let mut responses = Vec::new();
        while let Some(line) = self.next_line().await {
            responses.push(serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("expected only responses on stdout; got {line:?} ({e})")
            }));
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("expected the plugin to exit within 10 s")
            .expect("the plugin's status is readable");
        let stderr = tokio::time::timeout(PATIENCE, self.stderr)
            .await
            .expect("expected stderr to close within 10 s")
            .expect("the stderr reader does not panic");
        if let Some(label) = crate::fixtures::leaked(stderr.as_bytes()) {
            panic!("the test plugin wrote {label} on its stderr");
        }
        Finished {
            status,
            responses,
            stdout: self.stdout_lines,
            stderr: stderr.lines().map(str::to_owned).collect(),
        }
    }
}
