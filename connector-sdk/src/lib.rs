//! A connector SDK for integration runtimes.
//!
//! A connector author implements [`Connection`] (an account, built from a connection component)
//! and one [`Operation`] per action, with typed configs whose JSON Schema becomes the descriptor
//! a host renders forms from. [`Connector`] ties them together: it validates components,
//! caches what it builds per component id, and guarantees exactly one result per input document.
//! [`protocol`] carries it across a process boundary: [`protocol::serve`] in the plugin
//! executable, [`protocol::PluginProcess`] in the host.
//!
//! This crate knows nothing about any particular service.

pub mod bytes;
pub mod cache;
pub mod component;
pub mod connector;
pub mod context;
pub mod descriptor;
pub mod document;
pub mod error;
pub mod listen;
pub mod logging;
pub mod protocol;
pub mod runtime;
pub mod schema;
pub mod secret;
pub mod validate;

pub use cache::BoundedCache;
pub use component::{Component, ComponentId, ComponentKind};
pub use connector::{
    Connection, ConnectorInfo, ObjectType, Operation, OperationInfo, PropertyInfo, StepStatus,
    TestStep,
};
pub use context::{COARSE_CLOCK_LAG, Clock, ExecutionContext, ManualClock, SystemClock};
pub use descriptor::Descriptor;
pub use document::{
    Batch, Document, DocumentResult, INVALID_DOCUMENT, InputDocument, Outcome, ResultStatus,
};
pub use error::{ConnectorError, ErrorKind, FieldError};
pub use runtime::{
    Connector, ConnectorBuilder, Deferred, PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};
pub use secret::Secret;

/// Re-exported so config types can derive `JsonSchema` with the same version the SDK uses.
pub use schemars;
