//! A host runtime for connectors, used by tests, by the quickstart and by people: it loads
//! component files, validates them against the connector's descriptor, and drives the connector
//! through its plugin process.

// STYLE: code that is not a test does not panic on a value it did not check.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod components;
pub mod descriptors;
pub mod emulator;
pub mod errors;
pub mod fault_proxy;
pub mod listen;
pub mod output;
pub mod plugin;
pub mod process;
pub mod reference;
pub mod run;
pub mod studio;
pub mod summary;
pub mod test_connection;

/// Exit code: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed (a step failed, a document did not succeed).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: a file or a component's fields are invalid; nothing was run.
pub const EXIT_INVALID: u8 = 2;

/// Runs a command's `work` on a multi-thread Tokio runtime and returns its exit code;
/// [`EXIT_FAILED`], said on stderr, when the runtime cannot start.
pub fn block_on(work: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            EXIT_FAILED
        }
    }
}

/// Prints `listening on URL` on stdout, flushed: the first line a server command writes, which
/// whoever started it reads to find it.
pub(crate) fn print_listening(url: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {url}");
    let _ = stdout.flush();
}

/// Waits for Ctrl-C (or SIGTERM on Unix): how the harness's servers run until they are stopped.
pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
