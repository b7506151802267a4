//! `sqs-connector`: the Amazon SQS connector as a plugin executable.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

// The plugin allocates per document (parsing, results, SDK requests); mimalloc serves that
// pattern faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Amazon SQS connector. A host runtime starts `sqs-connector serve` and speaks the plugin
/// protocol (JSON-RPC, one object per line) on its stdin and stdout; the other commands are for people.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the plugin protocol on stdin/stdout (logs go to stderr as JSON lines).
    Serve,
    /// Print the connector descriptor (the JSON a host renders forms from).
    Describe,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Describe => {
            print!("{}", sqs_connector::connector().descriptor_file_text());
            ExitCode::SUCCESS
        }
        Command::Serve => {
            connector_sdk::logging::init_json_stderr();
            // On one core a multi-thread runtime only adds hand-offs between threads.
            let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
            let mut builder = if one_core {
                tokio::runtime::Builder::new_current_thread()
            } else {
                tokio::runtime::Builder::new_multi_thread()
            };
            let runtime = match builder.enable_all().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("could not start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let connector = Arc::new(sqs_connector::connector());
            let served = runtime.block_on(connector_sdk::protocol::serve(connector));
            // A read of stdin cannot be cancelled: when the plugin stops because its stdout broke,
            // the blocking thread reading an open stdin must not keep the process alive.
            runtime.shutdown_background();
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(error = %err, "the plugin stopped on an I/O error");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
