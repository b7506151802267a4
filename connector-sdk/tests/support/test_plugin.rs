//! `sdk-test-plugin`: the echo connector of `echo.rs` served over the plugin protocol, as a real
//! plugin executable, for the integration tests in `tests/protocol.rs`.

use std::sync::Arc;

mod echo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    connector_sdk::logging::init_json_stderr();
    connector_sdk::protocol::serve(Arc::new(echo::connector())).await
}
