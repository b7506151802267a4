//! The operations: SEND, RECEIVE and DELETE, sharing batching and per-entry result mapping.

pub mod batching;
pub mod delete;
pub mod listen;
pub mod receive;
pub mod send;

pub use delete::DeleteOperation;
pub use listen::ListenOperation;
pub use receive::ReceiveOperation;
pub use send::SendOperation;
