//! `file-connector`: a connector for a directory of files, served as a plugin.
//!
//! A second, complete connector built on the SDK's public API alone (the crate docs build a
//! smaller one step by step):
//!
//! - the connection ([`connection`]) is a directory, with a Test Connection that checks it
//!   exists and can be written to;
//! - WRITE ([`write`]) writes each document to a file named by its `file.name` property (or a
//!   generated unique name), one result per document;
//! - READ ([`read`]) reads the files matching a pattern, each as an output document, and can
//!   delete them once its results reached the host.
//!
//! `file-connector serve` speaks the plugin protocol on stdin/stdout; `file-connector describe`
//! prints the descriptor. Build it with `cargo build --workspace --all-targets` (it lands in
//! `target/debug/examples/file-connector`) and drive it with the harness:
//! `test-harness test-connection --connection FILE --plugin target/debug/examples/file-connector`.
//! `test-harness/tests/example_connector.rs` does that and runs WRITE and READ; the unit tests
//! of the name rules run with `cargo test -p connector-sdk --example file-connector`.

// STYLE: code that is not a test does not panic on a value it did not check.
#![warn(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use connector_sdk::{Connector, ConnectorInfo};

mod connection;
mod names;
mod read;
mod write;

/// The property naming a document's file.
pub const FILE_NAME: &str = "file.name";
/// The property holding the full path of a document's file.
pub const FILE_PATH: &str = "file.path";
/// The property holding a file's size in bytes.
pub const FILE_SIZE: &str = "file.size";

const INFO: ConnectorInfo = ConnectorInfo {
    id: "files",
    name: "Files",
    version: "0.1.0",
    description: "Writes documents to files in a directory and reads files back as documents.",
};

/// The connector: a directory connection, WRITE and READ.
fn connector() -> Connector {
    Connector::builder::<connection::Directory>(INFO)
        .operation::<write::Write>()
        .operation::<read::Read>()
        .build()
}

const USAGE: &str = "usage: file-connector serve | describe
  serve     speak the plugin protocol on stdin/stdout (logs go to stderr as JSON lines)
  describe  print the connector descriptor";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => connector_sdk::plugin::run(connector()),
        ["describe"] => {
            print!("{}", connector().descriptor_file_text());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
