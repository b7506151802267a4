//! The plugin's side of the protocol: what a connector's executable calls.
//!
//! A plugin executable builds its [`Connector`], sends its logs to stderr with
//! [`init_json_stderr`] (stdout carries the protocol) and hands the connector to [`serve`], which
//! answers the host on stdin and stdout until the host shuts it down or closes stdin.
//! [`serve_with`] takes [`ServeOptions`] (line and in-flight limits); [`serve_io`] and
//! [`serve_io_with`] serve any pair of byte streams, for tests and for hosts that embed a
//! connector in their own process.
//!
//! [`run`] does all of it for a `main` that serves and nothing else:
//!
//! ```no_run
//! # fn connector() -> connector_sdk::Connector { unimplemented!() }
//! fn main() -> std::process::ExitCode {
//!     connector_sdk::plugin::run(connector())
//! }
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use crate::runtime::Connector;

pub use crate::logging::{LOG_ENV, init_json_stderr};
pub use crate::protocol::{
    DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_REQUESTS_IN_FLIGHT, MIN_NEGOTIATED_LINE_BYTES,
    ServeOptions, serve, serve_io, serve_io_with, serve_with,
};

/// Serves `connector` as a plugin executable's `serve` does, and returns the exit code: logs to
/// stderr ([`init_json_stderr`]), a Tokio runtime (one thread when the machine has one core,
/// where more would only hand work between threads; one per core otherwise), [`serve`] until
/// the host shuts the plugin down or closes stdin. Failure, said on stderr, when the runtime
/// cannot start or serving stopped on an I/O error.
pub fn run(connector: Connector) -> ExitCode {
    init_json_stderr();
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = match one_core {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(serve(Arc::new(connector)));
    // A read of stdin cannot be cancelled: when the plugin stops because its stdout broke, the
    // blocking thread reading an open stdin must not keep the process alive.
    runtime.shutdown_background();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the plugin stopped on an I/O error");
            ExitCode::FAILURE
        }
    }
}
