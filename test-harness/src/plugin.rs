//! Finding and starting the connector's plugin executable.

use std::path::{Path, PathBuf};

use connector_sdk::protocol::{ClientError, PluginCommand, PluginProcess};

/// The plugin executable's name.
pub const PLUGIN_NAME: &str = "sqs-connector";

/// The plugin to run: the given path, or `sqs-connector` next to this executable (both are built
/// into the same `target/` folder).
pub fn locate(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(PLUGIN_NAME)))
        .unwrap_or_else(|| PathBuf::from(PLUGIN_NAME))
}

/// Starts the plugin (`<plugin> serve`) and initializes it.
pub async fn start(plugin: &Path) -> Result<PluginProcess, ClientError> {
    PluginProcess::spawn(PluginCommand::new(plugin, &["serve"])).await
}
