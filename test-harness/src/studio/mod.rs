//! `test-harness studio`: a local web app to configure, test, try and save a connector's
//! components in a browser.
//!
//! The studio starts the plugin as every host does and serves a page that renders every form
//! from the descriptor the plugin returned at `initialize` (nothing about SQS is written into
//! the page): the connection tab (fields in `x-order`, dropdowns, `x-visible-when`, secrets,
//! PEM text areas, Test Connection), the operation tab (each operation type's options, a queue
//! picked with `browse`, a "try it" run over pasted documents) and the component files of a
//! folder, in the format `test-harness run --process` reads.
//!
//! Secrets travel from the page to the studio only, in request bodies: the studio keeps them in
//! memory for the page's draft ([`fields`]) and never sends them back, never logs them, and saves
//! them as references (`{"file": "secrets/<id>.<field>"}`, a file only its owner may read, or the
//! reference the user chose) unless the user explicitly asks to store the values in the file.
//!
//! It listens on loopback only unless `--allow-remote` is given, answers only requests whose
//! `Host` is its own loopback address (so another site cannot reach it by DNS rebinding), and
//! takes changes only as `application/json` from its own origin.

mod api;
mod assets;
pub mod fields;
pub mod files;
mod guard;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use connector_sdk::host::PluginProcess;

use crate::plugin;

/// The address the studio listens on when `--listen` is not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7480";

/// The component folder when `--components` is not given: the examples' folder, which the
/// example process files name, so that a saved component runs with `test-harness run`.
pub const DEFAULT_COMPONENTS: &str = "examples/components";

/// How the studio runs.
#[derive(Debug, Clone)]
pub struct StudioOptions {
    /// The folder of component files it lists, loads and saves.
    pub components: PathBuf,
    /// Where it listens.
    pub listen: SocketAddr,
    /// Listen on an address other than loopback (anyone who reaches it can use the connector's
    /// credentials the studio holds).
    pub allow_remote: bool,
    /// The plugin executable (default: next to the harness).
    pub plugin: Option<PathBuf>,
}

/// Why the studio could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address is not a loopback address and `--allow-remote` was not given.
    #[error(
        "{0} is not a loopback address: the studio holds credentials and runs operations for \
         whoever reaches it, so it listens on 127.0.0.1 or [::1] only; give --allow-remote to \
         listen on {0} anyway"
    )]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Checks the listen address: loopback, or anything with `allow_remote`.
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<(), StartError> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(StartError::NotLoopback(addr))
    }
}

/// Serves the studio with an already started plugin until `shutdown` resolves. Calls `ready`
/// with the bound address once it accepts connections.
pub async fn serve(
    options: &StudioOptions,
    plugin: Arc<PluginProcess>,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    check_listen(options.listen, options.allow_remote)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: options.listen,
        source,
    })?;
    let studio = Arc::new(api::Studio::new(
        plugin,
        options.components.clone(),
        guard::Guard::new(addr, options.allow_remote),
    ));
    let app = api::router(studio);
    ready(addr);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| StartError::Bind {
            addr: options.listen,
            source,
        })
}

/// The `studio` command: starts the plugin, prints `listening on http://HOST:PORT` first on
/// stdout, serves until Ctrl-C, then shuts the plugin down. Returns the exit code.
pub fn run_cli(options: StudioOptions) -> u8 {
    if let Err(err) = check_listen(options.listen, options.allow_remote) {
        eprintln!("error: {err}");
        return crate::EXIT_INVALID;
    }
    crate::block_on(async move {
        let process = match plugin::start_for_command(
            options.plugin.as_deref(),
            Default::default(),
            &plugin::PluginLog::Kept,
        )
        .await
        {
            Ok(process) => process,
            Err(why) => {
                eprintln!("error: {why}");
                return crate::EXIT_FAILED;
            }
        };
        let process = Arc::new(process);
        let served = serve(
            &options,
            process.clone(),
            |addr| {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "listening on http://{addr}");
                let _ = writeln!(
                    stdout,
                    "components: {} (Ctrl-C stops the studio)",
                    options.components.display()
                );
                let _ = stdout.flush();
            },
            crate::wait_for_signal(),
        )
        .await;
        plugin::shut_down(&process).await;
        match served {
            Ok(()) => crate::EXIT_OK,
            Err(err) => {
                eprintln!("error: {err}");
                crate::EXIT_FAILED
            }
        }
    })
}
