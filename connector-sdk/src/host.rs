//! The host's side of the protocol (cargo feature `host`): start a plugin, call it, answer its
//! listeners.
//!
//! [`PluginProcess`] starts a plugin executable from a [`PluginCommand`], speaks the protocol
//! with it (initialize, Test Connection, browse, execute, listen, shutdown) and restarts it when
//! it dies. The types here are the messages a host sends and reads; the connector's typed
//! [`Descriptor`](crate::Descriptor) that [`PluginProcess::descriptor`] returns validates
//! components on the host as the plugin does. Connectors do not enable this feature.

pub use crate::component::wipe;
pub use crate::protocol::{
    AUTH_FAILED, BatchResult, BrowseResult, ClientError, ExecuteParams, ExecuteParamsRef,
    ExecuteResult, INTERNAL, INVALID_FIELDS, INVALID_PARAMS, INVALID_REQUEST, LISTEN_OPERATION,
    Limits, LineObserver, ListenBatchParams, ListenBatchResult, ListenHandler, ListenParams,
    ListenResult, ListenStatusParams, ListenerState, METHOD_NOT_FOUND, Outputs, PARSE_ERROR,
    PluginCommand, PluginProcess, RpcError, SlowCall, SlowCallHandler, Stream, TRANSIENT,
    TestConnectionResult, UNSUPPORTED_VERSION,
};

/// A response as it came (cargo feature `test-util`): what
/// `PluginProcess::send_raw_line` returns, for tests of a plugin's robustness.
#[cfg(feature = "test-util")]
pub use crate::protocol::{Response, RpcOutcome};
