//! `sdk-test-plugin`: the echo connector of `echo.rs` served over the plugin protocol, as a real
//! plugin executable, for the integration tests in `tests/protocol.rs`.
//!
//! Its limits are the SDK's defaults unless the environment variables `SDK_TEST_PLUGIN_MAX_LINE_BYTES`
//! or `SDK_TEST_PLUGIN_MAX_REQUESTS_IN_FLIGHT` set them (for tests that need them small).

use std::sync::Arc;

use connector_sdk::plugin::ServeOptions;

mod echo;

/// The number in the environment variable `name`, when it is set.
fn from_env(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    match value.parse() {
        Ok(number) => Some(number),
        Err(_) => panic!("{name} must be a number of bytes or requests; it is {value:?}"),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    connector_sdk::plugin::init_json_stderr();
    let mut options = ServeOptions::default();
    if let Some(bytes) = from_env("SDK_TEST_PLUGIN_MAX_LINE_BYTES") {
        options = options.with_max_line_bytes(bytes);
    }
    if let Some(requests) = from_env("SDK_TEST_PLUGIN_MAX_REQUESTS_IN_FLIGHT") {
        options = options.with_max_requests_in_flight(requests);
    }
    connector_sdk::plugin::serve_with(Arc::new(echo::connector()), options).await
}
