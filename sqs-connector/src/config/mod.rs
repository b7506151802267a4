//! The connector's configuration types: the connection's fields and each operation's options.

mod connection;
pub mod regions;

pub use connection::*;
