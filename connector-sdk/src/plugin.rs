//! The plugin's side of the protocol: what a connector's executable calls.
//!
//! A plugin executable builds its [`Connector`](crate::Connector), sends its logs to stderr with
//! [`init_json_stderr`] (stdout carries the protocol) and hands the connector to [`serve`], which
//! answers the host on stdin and stdout until the host shuts it down or closes stdin.
//! [`serve_with`] takes [`ServeOptions`] (line and in-flight limits); [`serve_io`] and
//! [`serve_io_with`] serve any pair of byte streams, for tests and for hosts that embed a
//! connector in their own process.
//!
//! ```no_run
//! # fn connector() -> connector_sdk::Connector { unimplemented!() }
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     connector_sdk::plugin::init_json_stderr();
//!     connector_sdk::plugin::serve(std::sync::Arc::new(connector())).await
//! }
//! ```

pub use crate::logging::{LOG_ENV, init_json_stderr};
pub use crate::protocol::{
    DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_REQUESTS_IN_FLIGHT, MIN_NEGOTIATED_LINE_BYTES,
    ServeOptions, serve, serve_io, serve_io_with, serve_with,
};
