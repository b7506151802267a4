//! The plugin protocol: JSON-RPC 2.0, one object per line, over a plugin's stdin and stdout.
//!
//! [`types`] holds the messages and does no I/O; [`serve`] runs a [`Connector`](crate::Connector)
//! as a plugin; [`PluginProcess`] is the host's side.

mod buffers;
mod client;
mod input;
mod json_in;
mod json_out;
mod server;
pub mod types;

pub use client::{ClientError, PluginCommand, PluginProcess};
pub use server::{serve, serve_io};
pub use types::*;
