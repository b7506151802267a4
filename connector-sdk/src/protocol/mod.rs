//! The plugin protocol: JSON-RPC 2.0, one object per line, over a plugin's stdin and stdout.
//!
//! Private: `types` holds the messages and does no I/O, `server` runs a
//! [`Connector`](crate::Connector) as a plugin and `client` (feature `host`) is the host's side;
//! `crate::plugin` and `crate::host` re-export what users call.

mod buffers;
#[cfg(feature = "host")]
mod client;
#[cfg(test)]
mod fuzz;
mod input;
#[cfg(test)]
mod json_ab;
mod json_in;
mod json_out;
mod lines;
mod listeners;
mod server;
// The host-only messages are unused, and unreachable, in a plugin built without `host`.
#[cfg_attr(not(feature = "host"), allow(unreachable_pub, dead_code))]
mod types;

#[cfg(feature = "host")]
pub use client::{
    ClientError, LineObserver, ListenHandler, PluginCommand, PluginProcess, SlowCall,
    SlowCallHandler, Stream,
};
pub use server::{
    DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_REQUESTS_IN_FLIGHT, MIN_NEGOTIATED_LINE_BYTES,
    ServeOptions, serve, serve_io, serve_io_with, serve_with,
};
#[cfg_attr(not(feature = "host"), allow(unreachable_pub))]
pub use types::*;
