//! The Amazon SQS connector: a connection (access keys or AWS IAM Roles Anywhere, region,
//! endpoint) and its operations, built on `connector-sdk`.
//!
//! [`connector`] returns the connector a host drives through the plugin protocol; the executable
//! `sqs-connector serve` does exactly that.

// STYLE: library code takes the time from the injected clock and does not panic on a value
// it did not check (tests may unwrap: clippy.toml allows it there).
#![warn(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

pub mod auth;
pub mod client;
pub mod config;
pub mod connection;
pub mod errors;
pub mod message;
pub mod operations;
pub mod queue;
mod time;

use connector_sdk::{Connector, ConnectorInfo};

pub use connection::SqsConnection;
pub use operations::{DeleteOperation, ListenOperation, ReceiveOperation, SendOperation};

/// The connector's id, as components name it.
pub const CONNECTOR_ID: &str = "amazon-sqs";

/// What this connector is.
pub const INFO: ConnectorInfo = ConnectorInfo {
    id: CONNECTOR_ID,
    name: "Amazon SQS",
    version: env!("CARGO_PKG_VERSION"),
    description: "Send, receive and delete Amazon SQS messages, with access keys or AWS IAM Roles Anywhere.",
};

/// The Amazon SQS connector, ready to serve.
pub fn connector() -> Connector {
    Connector::builder::<SqsConnection>(INFO)
        .operation::<SendOperation>()
        .operation::<ReceiveOperation>()
        .operation::<DeleteOperation>()
        .listener::<ListenOperation>()
        .build()
}
