//! Finding and starting the connector's plugin executable.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use connector_sdk::protocol::{ClientError, PluginCommand, PluginProcess, SlowCall, Stream};

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

/// The command that starts `<plugin> serve` with these limits: a call is slow after a quarter
/// of its timeout (at most 30 s) and a note is printed on stderr for it; with
/// [`TRANSCRIPT_ENV`] set, every line the plugin writes is appended to that file.
pub fn command(plugin: &Path, limits: CallLimits) -> std::io::Result<PluginCommand> {
    let mut command = PluginCommand::new(plugin, &["serve"]);
    command.timeout = limits.timeout;
    command.grace = limits.grace;
    command.slow_after = (limits.timeout / 4).min(command.slow_after);
    command.on_slow_call = Some(Arc::new(|call: &SlowCall| {
        eprintln!("{}", slow_call_note(call))
    }));
    if let Some(path) = std::env::var_os(TRANSCRIPT_ENV) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let file = parking_lot::Mutex::new(file);
        command.observer = Some(Arc::new(move |stream: Stream, line: &[u8]| {
            let mut entry = Vec::with_capacity(line.len() + 9);
            entry.extend_from_slice(stream.to_string().as_bytes());
            entry.extend_from_slice(b": ");
            entry.extend_from_slice(line);
            entry.push(b'\n');
            // One write per line, so lines of both streams never interleave.
            let _ = file.lock().write_all(&entry);
        }));
    }
    Ok(command)
}

/// Starts the plugin (`<plugin> serve`) with the default limits and initializes it.
pub async fn start(plugin: &Path) -> Result<PluginProcess, ClientError> {
    start_with(plugin, CallLimits::default()).await
}

/// Starts the plugin for a command of the harness (`explicit`, else the one next to this
/// executable); when it cannot start, says why (`could not start the connector plugin ...`).
pub async fn start_for_command(
    explicit: Option<&Path>,
    limits: CallLimits,
) -> Result<PluginProcess, String> {
    let plugin_path = locate(explicit);
    start_with(&plugin_path, limits).await.map_err(|err| {
        format!(
            "could not start the connector plugin {}: {err}",
            plugin_path.display()
        )
    })
}

/// Starts the plugin (`<plugin> serve`) with these limits and initializes it.
pub async fn start_with(plugin: &Path, limits: CallLimits) -> Result<PluginProcess, ClientError> {
    let command = command(plugin, limits).map_err(|source| ClientError::Io {
        program: format!("{} (its transcript, {TRANSCRIPT_ENV})", plugin.display()),
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
