//! The connector's configuration types: the connection's fields and each operation's options.

mod connection;
mod operations;
pub mod regions;

pub use connection::*;
pub use operations::*;
