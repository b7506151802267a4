//! Finding and starting the connector's plugin executable.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connector_sdk::host::{ClientError, PluginCommand, PluginProcess, SlowCall, Stream};

/// The plugin executable's name.
pub const PLUGIN_NAME: &str = "sqs-connector";

/// The environment variable naming a file the harness appends every line the plugin writes to,
/// stdout and stderr, each as `stdout: <line>` or `stderr: <line>` (for tests that check what a
/// plugin wrote, such as the test suite's scan for secrets). Unset: nothing is written.
pub const TRANSCRIPT_ENV: &str = "TEST_HARNESS_PLUGIN_TRANSCRIPT";

/// The plugin to run: the given path, or `sqs-connector` next to this executable (both are built
/// into the same `target/` folder).
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(PLUGIN_NAME)))
        .unwrap_or_else(|| PathBuf::from(PLUGIN_NAME))
}

/// How the harness calls the plugin.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// A call's timeout, after which it is cancelled.
    pub timeout: Duration,
    /// How long a cancelled call (and shutdown) may take before the plugin is killed.
    pub grace: Duration,
}

impl Default for CallLimits {
    /// 120 s and 10 s, the SDK's defaults.
    fn default() -> Self {
        let defaults = PluginCommand::new(PLUGIN_NAME, &[]);
        Self {
            timeout: defaults.timeout,
            grace: defaults.grace,
        }
    }
}

/// A duration in seconds as people read it, to a tenth: `30 s`, `1.5 s`.
pub fn seconds(duration: Duration) -> String {
    let text = format!("{:.1}", duration.as_secs_f64());
    format!("{} s", text.strip_suffix(".0").unwrap_or(&text))
}

/// The note the harness prints on stderr for a slow call.
pub fn slow_call_note(call: &SlowCall) -> String {
    format!(
        "note: {} call {} has been running for {} (it is cancelled at {})",
        call.method,
        call.id,
        seconds(call.elapsed),
        seconds(call.timeout)
    )
}

/// Where the plugin's log (the JSON lines it writes on stderr) goes. The host always keeps its
/// last lines in memory ([`PluginProcess::logs`]); the level is the plugin's
/// `CONNECTOR_LOG`, which it inherits from the harness's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PluginLog {
    /// Nowhere else (the default).
    #[default]
    Kept,
    /// The harness's stderr, line by line (`--plugin-log -`).
    Stderr,
    /// Appended to this file, line by line (`--plugin-log FILE`).
    File(PathBuf),
}

impl std::str::FromStr for PluginLog {
    type Err = std::convert::Infallible;

    /// `-` is the harness's stderr; anything else a file.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "-" => PluginLog::Stderr,
            path => PluginLog::File(PathBuf::from(path)),
        })
    }
}

/// Opens a file for appending lines to, creating it when needed.
fn append_to(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// `prefix` and `line` and a line end, in one buffer, so that it is written in one write and
/// lines written from several tasks never interleave.
fn entry(prefix: &[u8], line: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(prefix.len() + line.len() + 1);
    entry.extend_from_slice(prefix);
    entry.extend_from_slice(line);
    entry.push(b'\n');
    entry
}

/// The command that starts `<plugin> serve` with these limits: a call is slow after a quarter
/// of its timeout (at most 30 s) and a note is printed on stderr for it; its stderr goes where
/// `log` says; with [`TRANSCRIPT_ENV`] set, every line the plugin writes is appended to that file.
/// An error names the file that could not be opened.
pub fn command(
    plugin: &Path,
    limits: CallLimits,
    log: &PluginLog,
) -> Result<PluginCommand, (String, std::io::Error)> {
    let mut command = PluginCommand::new(plugin, &["serve"]);
    command.timeout = limits.timeout;
    command.grace = limits.grace;
    command.slow_after = (limits.timeout / 4).min(command.slow_after);
    command.on_slow_call = Some(Arc::new(|call: &SlowCall| {
        eprintln!("{}", slow_call_note(call))
    }));
    let transcript = match std::env::var_os(TRANSCRIPT_ENV) {
        Some(path) => Some(parking_lot::Mutex::new(
            append_to(Path::new(&path)).map_err(|e| {
                (
                    format!("its transcript {} ({TRANSCRIPT_ENV})", path.display()),
                    e,
                )
            })?,
        )),
        None => None,
    };
    let log_file = match log {
        PluginLog::File(path) => {
            Some(parking_lot::Mutex::new(append_to(path).map_err(|e| {
                (format!("its log file {}", path.display()), e)
            })?))
        }
        PluginLog::Kept | PluginLog::Stderr => None,
    };
    let to_stderr = *log == PluginLog::Stderr;
    if transcript.is_none() && log_file.is_none() && !to_stderr {
        return Ok(command);
    }
    command.observer = Some(Arc::new(move |stream: Stream, line: &[u8]| {
        // Write errors are ignored: a log that cannot be written must not stop the plugin.
        if let Some(file) = &transcript {
            let prefix = format!("{stream}: ");
            let _ = file.lock().write_all(&entry(prefix.as_bytes(), line));
        }
        if stream != Stream::Stderr {
            return;
        }
        if let Some(file) = &log_file {
            let _ = file.lock().write_all(&entry(b"", line));
        }
        if to_stderr {
            let _ = std::io::stderr().lock().write_all(&entry(b"", line));
        }
    }));
    Ok(command)
}

/// Starts the plugin (`<plugin> serve`) with the default limits and initializes it.
pub async fn start(plugin: &Path) -> Result<PluginProcess, ClientError> {
    start_with(plugin, CallLimits::default(), &PluginLog::Kept).await
}

/// The connector plugin could not be started (or did not initialize).
#[derive(Debug, thiserror::Error)]
#[error("could not start the connector plugin {}: {source}", path.display())]
pub struct StartError {
    /// The plugin executable.
    pub path: PathBuf,
    /// What went wrong.
    pub source: ClientError,
}

/// Starts the plugin for a command of the harness (`explicit`, else the one next to this
/// executable); when it cannot start, says why (`could not start the connector plugin ...`).
pub async fn start_for_command(
    explicit: Option<&Path>,
    limits: CallLimits,
    log: &PluginLog,
) -> Result<PluginProcess, StartError> {
    let path = locate(explicit);
    match start_with(&path, limits, log).await {
        Ok(plugin) => Ok(plugin),
        Err(source) => Err(StartError { path, source }),
    }
}

/// Starts the plugin (`<plugin> serve`) with these limits and its log going where `log` says,
/// and initializes it.
pub async fn start_with(
    plugin: &Path,
    limits: CallLimits,
    log: &PluginLog,
) -> Result<PluginProcess, ClientError> {
    let command = command(plugin, limits, log).map_err(|(what, source)| ClientError::Io {
        program: format!("{} ({what})", plugin.display()),
        source,
    })?;
    PluginProcess::spawn(command).await
}

/// Shuts the plugin down; says on stderr when it had to be killed.
pub async fn shut_down(plugin: &PluginProcess) {
    if let Err(err @ ClientError::Timeout { .. }) = plugin.shutdown().await {
        eprintln!("note: the plugin was stopped at shutdown: {err}");
    }
}
