//! Logs for plugin executables: one JSON object per line on stderr, never on stdout.

use tracing_subscriber::EnvFilter;

/// The environment variable that sets the log filter (`info` by default, `debug` for more).
pub const LOG_ENV: &str = "CONNECTOR_LOG";

/// Sends `tracing` events to stderr as JSON lines (`{"level":…,"message":…,"target":…}`) and
/// logs panics the same way. Call once at the start of a plugin executable.
pub fn init_json_stderr() {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        tracing::error!(location = %location, "panic: {payload}");
    }));
}
