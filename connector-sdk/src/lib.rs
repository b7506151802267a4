//! A connector SDK for integration runtimes.
//!
//! # Tutorial: a connector in five steps
//!
//! This builds a small connector for a directory of files: a connection (the directory) with a
//! Test Connection, and a WRITE operation that writes each document to a file. Each step compiles,
//! and step 4 runs it. The complete connector, with a READ operation, generated names and more
//! checks, is the example in `connector-sdk/examples/file-connector`; the harness drives it as a
//! plugin (`test-harness/tests/example_connector.rs`).
//!
//! ## 1. The connector and its connection's fields
//!
//! A connection's config is plain data that derives `Deserialize` and `JsonSchema`: its doc
//! comments become the fields' help text, `title` their label, and the rules (`length`, `range`,
//! `pattern`) are checked before the connector sees the fields. Derive `JsonSchema` through the
//! SDK's re-export ([`schemars`]), so the versions match.
//!
//! ```
//! use connector_sdk::ConnectorInfo;
//! use connector_sdk::schemars::{self, JsonSchema};
//! use serde::Deserialize;
//!
//! /// What the connector is; components name it by its id.
//! const INFO: ConnectorInfo = ConnectorInfo {
//!     id: "files",
//!     name: "Files",
//!     version: "0.1.0",
//!     description: "Writes documents to files in a directory.",
//! };
//!
//! /// The connection's fields.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! struct DirectoryConfig {
//!     /// The directory files are written to: an absolute path.
//!     #[schemars(title = "Directory", length(min = 1, max = 4096))]
//!     directory: String,
//! }
//! ```
//!
//! ## 2. The connection
//!
//! [`Connection::connect`] builds the connection from its config without any I/O (it runs on the
//! request path, once per component); [`Connection::test`] is Test Connection: named steps, each
//! passed or failed with a message that says what to fix. The SDK adds a first step, "Settings
//! valid", after checking the fields against the descriptor.
//!
//! ```
//! # use connector_sdk::ConnectorInfo;
//! # use connector_sdk::schemars::{self, JsonSchema};
//! # use serde::Deserialize;
//! #
//! # /// What the connector is; components name it by its id.
//! # const INFO: ConnectorInfo = ConnectorInfo {
//! #     id: "files",
//! #     name: "Files",
//! #     version: "0.1.0",
//! #     description: "Writes documents to files in a directory.",
//! # };
//! #
//! # /// The connection's fields.
//! # #[derive(Deserialize, JsonSchema)]
//! # #[serde(rename_all = "camelCase")]
//! # struct DirectoryConfig {
//! #     /// The directory files are written to: an absolute path.
//! #     #[schemars(title = "Directory", length(min = 1, max = 4096))]
//! #     directory: String,
//! # }
//! use std::path::PathBuf;
//!
//! use connector_sdk::{ComponentId, Connection, ConnectorError, ExecutionContext, TestStep};
//!
//! /// A directory, checked to be an absolute path.
//! struct Directory {
//!     path: PathBuf,
//! }
//!
//! impl Connection for Directory {
//!     type Config = DirectoryConfig;
//!
//!     fn connect(_id: &ComponentId, config: DirectoryConfig) -> Result<Self, ConnectorError> {
//!         let path = PathBuf::from(&config.directory);
//!         if !path.is_absolute() {
//!             return Err(ConnectorError::config(format!(
//!                 "Directory (directory): {:?} is a relative path; enter an absolute path",
//!                 config.directory
//!             )));
//!         }
//!         Ok(Self { path })
//!     }
//!
//!     async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
//!         let step = "Directory found";
//!         match tokio::fs::metadata(&self.path).await {
//!             Ok(found) if found.is_dir() => {
//!                 vec![TestStep::passed(
//!                     step,
//!                     format!("{} exists", self.path.display()),
//!                 )]
//!             }
//!             Ok(_) => vec![TestStep::failed(
//!                 step,
//!                 format!(
//!                     "Directory (directory) {} is a file, not a directory",
//!                     self.path.display()
//!                 ),
//!             )],
//!             Err(err) => vec![TestStep::failed(
//!                 step,
//!                 format!(
//!                     "Directory (directory) {}: {err}; create it or correct the path",
//!                     self.path.display()
//!                 ),
//!             )],
//!         }
//!     }
//! }
//! ```
//!
//! ## 3. An operation
//!
//! An [`Operation`] has its own options and records exactly one outcome per document of the
//! [`Batch`]: one bad document fails alone. A document the operation left without an outcome fails
//! anyway, with a message naming it, so the host always gets one result per document.
//!
//! ```
//! # use connector_sdk::ConnectorInfo;
//! # use connector_sdk::schemars::{self, JsonSchema};
//! # use serde::Deserialize;
//! #
//! # /// What the connector is; components name it by its id.
//! # const INFO: ConnectorInfo = ConnectorInfo {
//! #     id: "files",
//! #     name: "Files",
//! #     version: "0.1.0",
//! #     description: "Writes documents to files in a directory.",
//! # };
//! #
//! # /// The connection's fields.
//! # #[derive(Deserialize, JsonSchema)]
//! # #[serde(rename_all = "camelCase")]
//! # struct DirectoryConfig {
//! #     /// The directory files are written to: an absolute path.
//! #     #[schemars(title = "Directory", length(min = 1, max = 4096))]
//! #     directory: String,
//! # }
//! #
//! # use std::path::PathBuf;
//! #
//! # use connector_sdk::{ComponentId, Connection, ConnectorError, ExecutionContext, TestStep};
//! #
//! # /// A directory, checked to be an absolute path.
//! # struct Directory {
//! #     path: PathBuf,
//! # }
//! #
//! # impl Connection for Directory {
//! #     type Config = DirectoryConfig;
//! #
//! #     fn connect(_id: &ComponentId, config: DirectoryConfig) -> Result<Self, ConnectorError> {
//! #         let path = PathBuf::from(&config.directory);
//! #         if !path.is_absolute() {
//! #             return Err(ConnectorError::config(format!(
//! #                 "Directory (directory): {:?} is a relative path; enter an absolute path",
//! #                 config.directory
//! #             )));
//! #         }
//! #         Ok(Self { path })
//! #     }
//! #
//! #     async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
//! #         let step = "Directory found";
//! #         match tokio::fs::metadata(&self.path).await {
//! #             Ok(found) if found.is_dir() => {
//! #                 vec![TestStep::passed(
//! #                     step,
//! #                     format!("{} exists", self.path.display()),
//! #                 )]
//! #             }
//! #             Ok(_) => vec![TestStep::failed(
//! #                 step,
//! #                 format!(
//! #                     "Directory (directory) {} is a file, not a directory",
//! #                     self.path.display()
//! #                 ),
//! #             )],
//! #             Err(err) => vec![TestStep::failed(
//! #                 step,
//! #                 format!(
//! #                     "Directory (directory) {}: {err}; create it or correct the path",
//! #                     self.path.display()
//! #                 ),
//! #             )],
//! #         }
//! #     }
//! # }
//! use connector_sdk::{Batch, Operation, OperationInfo, Outcome, PropertyInfo};
//! use tokio::io::AsyncWriteExt as _;
//!
//! /// WRITE's options.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! struct WriteConfig {
//!     /// Replace a file of the same name; without it such a document is refused.
//!     #[schemars(title = "Overwrite")]
//!     #[serde(default)]
//!     overwrite: bool,
//! }
//!
//! /// WRITE: each document's body becomes the file its `file.name` property names.
//! struct Write {
//!     config: WriteConfig,
//! }
//!
//! impl Operation for Write {
//!     type Connection = Directory;
//!     type Config = WriteConfig;
//!
//!     fn info() -> OperationInfo {
//!         OperationInfo {
//!             operation_type: "WRITE",
//!             label: "Write",
//!             description: "Writes each document to the file its file.name property names.",
//!             takes_input: true,
//!             input_properties: &[PropertyInfo {
//!                 name: "file.name",
//!                 description: "The file's name, without a path.",
//!             }],
//!             output_properties: &[PropertyInfo {
//!                 name: "file.path",
//!                 description: "The full path of the file written.",
//!             }],
//!         }
//!     }
//!
//!     fn build(config: WriteConfig) -> Result<Self, ConnectorError> {
//!         Ok(Self { config })
//!     }
//!
//!     async fn execute(
//!         &self,
//!         _ctx: &ExecutionContext,
//!         directory: &Directory,
//!         batch: &Batch,
//!     ) -> Result<(), ConnectorError> {
//!         for (index, document) in batch.documents().iter().enumerate() {
//!             // The host's number for the document, for messages.
//!             let number = batch.input_index(index);
//!             let plain = |name: &&str| {
//!                 !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.')
//!             };
//!             let Some(name) = document.property("file.name").filter(plain) else {
//!                 batch.application_error(
//!                     index,
//!                     "InvalidFileName",
//!                     format!("document {number}: file.name must be a name without a path"),
//!                 );
//!                 continue;
//!             };
//!             let path = directory.path.join(name);
//!             let written = async {
//!                 let mut file = tokio::fs::OpenOptions::new()
//!                     .write(true)
//!                     .create(true)
//!                     .truncate(true)
//!                     .create_new(!self.config.overwrite)
//!                     .open(&path)
//!                     .await?;
//!                 file.write_all(&document.data).await?;
//!                 // A tokio file writes in the background: the data is on disk once flushed.
//!                 file.flush().await
//!             };
//!             match written.await {
//!                 Ok(()) => batch.record(
//!                     index,
//!                     Outcome::success_with_input(vec![(
//!                         "file.path".to_owned(),
//!                         path.display().to_string(),
//!                     )]),
//!                 ),
//!                 Err(err) => batch.fail(
//!                     index,
//!                     format!("document {number}: cannot write {}: {err}", path.display()),
//!                 ),
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//! ```
//!
//! ## 4. Tie them together, and try it in process
//!
//! A [`Connector`] holds the connection type and the operations. It makes the descriptor, validates
//! components and runs Test Connection and executions: a test can drive it without a plugin.
//!
//! ```
//! # use connector_sdk::ConnectorInfo;
//! # use connector_sdk::schemars::{self, JsonSchema};
//! # use serde::Deserialize;
//! #
//! # /// What the connector is; components name it by its id.
//! # const INFO: ConnectorInfo = ConnectorInfo {
//! #     id: "files",
//! #     name: "Files",
//! #     version: "0.1.0",
//! #     description: "Writes documents to files in a directory.",
//! # };
//! #
//! # /// The connection's fields.
//! # #[derive(Deserialize, JsonSchema)]
//! # #[serde(rename_all = "camelCase")]
//! # struct DirectoryConfig {
//! #     /// The directory files are written to: an absolute path.
//! #     #[schemars(title = "Directory", length(min = 1, max = 4096))]
//! #     directory: String,
//! # }
//! #
//! # use std::path::PathBuf;
//! #
//! # use connector_sdk::{ComponentId, Connection, ConnectorError, ExecutionContext, TestStep};
//! #
//! # /// A directory, checked to be an absolute path.
//! # struct Directory {
//! #     path: PathBuf,
//! # }
//! #
//! # impl Connection for Directory {
//! #     type Config = DirectoryConfig;
//! #
//! #     fn connect(_id: &ComponentId, config: DirectoryConfig) -> Result<Self, ConnectorError> {
//! #         let path = PathBuf::from(&config.directory);
//! #         if !path.is_absolute() {
//! #             return Err(ConnectorError::config(format!(
//! #                 "Directory (directory): {:?} is a relative path; enter an absolute path",
//! #                 config.directory
//! #             )));
//! #         }
//! #         Ok(Self { path })
//! #     }
//! #
//! #     async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
//! #         let step = "Directory found";
//! #         match tokio::fs::metadata(&self.path).await {
//! #             Ok(found) if found.is_dir() => {
//! #                 vec![TestStep::passed(
//! #                     step,
//! #                     format!("{} exists", self.path.display()),
//! #                 )]
//! #             }
//! #             Ok(_) => vec![TestStep::failed(
//! #                 step,
//! #                 format!(
//! #                     "Directory (directory) {} is a file, not a directory",
//! #                     self.path.display()
//! #                 ),
//! #             )],
//! #             Err(err) => vec![TestStep::failed(
//! #                 step,
//! #                 format!(
//! #                     "Directory (directory) {}: {err}; create it or correct the path",
//! #                     self.path.display()
//! #                 ),
//! #             )],
//! #         }
//! #     }
//! # }
//! #
//! # use connector_sdk::{Batch, Operation, OperationInfo, Outcome, PropertyInfo};
//! # use tokio::io::AsyncWriteExt as _;
//! #
//! # /// WRITE's options.
//! # #[derive(Deserialize, JsonSchema)]
//! # #[serde(rename_all = "camelCase")]
//! # struct WriteConfig {
//! #     /// Replace a file of the same name; without it such a document is refused.
//! #     #[schemars(title = "Overwrite")]
//! #     #[serde(default)]
//! #     overwrite: bool,
//! # }
//! #
//! # /// WRITE: each document's body becomes the file its `file.name` property names.
//! # struct Write {
//! #     config: WriteConfig,
//! # }
//! #
//! # impl Operation for Write {
//! #     type Connection = Directory;
//! #     type Config = WriteConfig;
//! #
//! #     fn info() -> OperationInfo {
//! #         OperationInfo {
//! #             operation_type: "WRITE",
//! #             label: "Write",
//! #             description: "Writes each document to the file its file.name property names.",
//! #             takes_input: true,
//! #             input_properties: &[PropertyInfo {
//! #                 name: "file.name",
//! #                 description: "The file's name, without a path.",
//! #             }],
//! #             output_properties: &[PropertyInfo {
//! #                 name: "file.path",
//! #                 description: "The full path of the file written.",
//! #             }],
//! #         }
//! #     }
//! #
//! #     fn build(config: WriteConfig) -> Result<Self, ConnectorError> {
//! #         Ok(Self { config })
//! #     }
//! #
//! #     async fn execute(
//! #         &self,
//! #         _ctx: &ExecutionContext,
//! #         directory: &Directory,
//! #         batch: &Batch,
//! #     ) -> Result<(), ConnectorError> {
//! #         for (index, document) in batch.documents().iter().enumerate() {
//! #             // The host's number for the document, for messages.
//! #             let number = batch.input_index(index);
//! #             let plain = |name: &&str| {
//! #                 !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.')
//! #             };
//! #             let Some(name) = document.property("file.name").filter(plain) else {
//! #                 batch.application_error(
//! #                     index,
//! #                     "InvalidFileName",
//! #                     format!("document {number}: file.name must be a name without a path"),
//! #                 );
//! #                 continue;
//! #             };
//! #             let path = directory.path.join(name);
//! #             let written = async {
//! #                 let mut file = tokio::fs::OpenOptions::new()
//! #                     .write(true)
//! #                     .create(true)
//! #                     .truncate(true)
//! #                     .create_new(!self.config.overwrite)
//! #                     .open(&path)
//! #                     .await?;
//! #                 file.write_all(&document.data).await?;
//! #                 // A tokio file writes in the background: the data is on disk once flushed.
//! #                 file.flush().await
//! #             };
//! #             match written.await {
//! #                 Ok(()) => batch.record(
//! #                     index,
//! #                     Outcome::success_with_input(vec![(
//! #                         "file.path".to_owned(),
//! #                         path.display().to_string(),
//! #                     )]),
//! #                 ),
//! #                 Err(err) => batch.fail(
//! #                     index,
//! #                     format!("document {number}: cannot write {}: {err}", path.display()),
//! #                 ),
//! #             }
//! #         }
//! #         Ok(())
//! #     }
//! # }
//! use connector_sdk::{Component, Connector, Document, ResultStatus};
//!
//! /// The connector: its connection type and its operations.
//! fn connector() -> Connector {
//!     Connector::builder::<Directory>(INFO)
//!         .operation::<Write>()
//!         .build()
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let connector = connector();
//!     // The descriptor a host renders its forms from.
//!     let fields = connector.descriptor().connection.fields.schema();
//!     assert_eq!(fields["properties"]["directory"]["title"], "Directory");
//!
//!     let dir = tempfile::tempdir()?;
//!     let fields = serde_json::json!({"directory": dir.path()});
//!     let connection =
//!         Component::connection("conn-files", "files", serde_json::from_value(fields)?);
//!     let ctx = ExecutionContext::new("execution-1", "tutorial");
//!     let steps = connector.test_connection(&ctx, &connection).await?;
//!     assert!(Connector::passed(&steps), "{steps:?}");
//!
//!     let write = Component::operation("op-write", "files", "WRITE", Default::default());
//!     let documents = vec![
//!         Document::new("hello").with_property("file.name", "hello.txt"),
//!         Document::new("sneaky").with_property("file.name", "../escape.txt"),
//!     ];
//!     let results = connector
//!         .execute(&ctx, &connection, &write, documents)
//!         .await?;
//!     // Exactly one result per document: the bad name fails alone.
//!     assert_eq!(results[0].status, ResultStatus::Success);
//!     assert_eq!(results[1].status, ResultStatus::ApplicationError);
//!     assert_eq!(
//!         std::fs::read_to_string(dir.path().join("hello.txt"))?,
//!         "hello"
//!     );
//!     Ok(())
//! }
//! ```
//!
//! ## 5. Serve it as a plugin
//!
//! A plugin executable serves the protocol on stdin/stdout with [`plugin::run`] (or, in a `main`
//! of its own, [`plugin::serve`]); a host (`host::PluginProcess` with the cargo feature `host`,
//! or the harness: `test-harness test-connection --connection FILE --plugin PATH` and
//! `test-harness run --process FILE --plugin PATH`) starts it and drives it.
//!
//! ```no_run
//! # use connector_sdk::ConnectorInfo;
//! # use connector_sdk::schemars::{self, JsonSchema};
//! # use serde::Deserialize;
//! #
//! # /// What the connector is; components name it by its id.
//! # const INFO: ConnectorInfo = ConnectorInfo {
//! #     id: "files",
//! #     name: "Files",
//! #     version: "0.1.0",
//! #     description: "Writes documents to files in a directory.",
//! # };
//! #
//! # /// The connection's fields.
//! # #[derive(Deserialize, JsonSchema)]
//! # #[serde(rename_all = "camelCase")]
//! # struct DirectoryConfig {
//! #     /// The directory files are written to: an absolute path.
//! #     #[schemars(title = "Directory", length(min = 1, max = 4096))]
//! #     directory: String,
//! # }
//! #
//! # use std::path::PathBuf;
//! #
//! # use connector_sdk::{ComponentId, Connection, ConnectorError, ExecutionContext, TestStep};
//! #
//! # /// A directory, checked to be an absolute path.
//! # struct Directory {
//! #     path: PathBuf,
//! # }
//! #
//! # impl Connection for Directory {
//! #     type Config = DirectoryConfig;
//! #
//! #     fn connect(_id: &ComponentId, config: DirectoryConfig) -> Result<Self, ConnectorError> {
//! #         let path = PathBuf::from(&config.directory);
//! #         if !path.is_absolute() {
//! #             return Err(ConnectorError::config(format!(
//! #                 "Directory (directory): {:?} is a relative path; enter an absolute path",
//! #                 config.directory
//! #             )));
//! #         }
//! #         Ok(Self { path })
//! #     }
//! #
//! #     async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
//! #         let step = "Directory found";
//! #         match tokio::fs::metadata(&self.path).await {
//! #             Ok(found) if found.is_dir() => {
//! #                 vec![TestStep::passed(
//! #                     step,
//! #                     format!("{} exists", self.path.display()),
//! #                 )]
//! #             }
//! #             Ok(_) => vec![TestStep::failed(
//! #                 step,
//! #                 format!(
//! #                     "Directory (directory) {} is a file, not a directory",
//! #                     self.path.display()
//! #                 ),
//! #             )],
//! #             Err(err) => vec![TestStep::failed(
//! #                 step,
//! #                 format!(
//! #                     "Directory (directory) {}: {err}; create it or correct the path",
//! #                     self.path.display()
//! #                 ),
//! #             )],
//! #         }
//! #     }
//! # }
//! #
//! # use connector_sdk::{Batch, Operation, OperationInfo, Outcome, PropertyInfo};
//! # use tokio::io::AsyncWriteExt as _;
//! #
//! # /// WRITE's options.
//! # #[derive(Deserialize, JsonSchema)]
//! # #[serde(rename_all = "camelCase")]
//! # struct WriteConfig {
//! #     /// Replace a file of the same name; without it such a document is refused.
//! #     #[schemars(title = "Overwrite")]
//! #     #[serde(default)]
//! #     overwrite: bool,
//! # }
//! #
//! # /// WRITE: each document's body becomes the file its `file.name` property names.
//! # struct Write {
//! #     config: WriteConfig,
//! # }
//! #
//! # impl Operation for Write {
//! #     type Connection = Directory;
//! #     type Config = WriteConfig;
//! #
//! #     fn info() -> OperationInfo {
//! #         OperationInfo {
//! #             operation_type: "WRITE",
//! #             label: "Write",
//! #             description: "Writes each document to the file its file.name property names.",
//! #             takes_input: true,
//! #             input_properties: &[PropertyInfo {
//! #                 name: "file.name",
//! #                 description: "The file's name, without a path.",
//! #             }],
//! #             output_properties: &[PropertyInfo {
//! #                 name: "file.path",
//! #                 description: "The full path of the file written.",
//! #             }],
//! #         }
//! #     }
//! #
//! #     fn build(config: WriteConfig) -> Result<Self, ConnectorError> {
//! #         Ok(Self { config })
//! #     }
//! #
//! #     async fn execute(
//! #         &self,
//! #         _ctx: &ExecutionContext,
//! #         directory: &Directory,
//! #         batch: &Batch,
//! #     ) -> Result<(), ConnectorError> {
//! #         for (index, document) in batch.documents().iter().enumerate() {
//! #             // The host's number for the document, for messages.
//! #             let number = batch.input_index(index);
//! #             let plain = |name: &&str| {
//! #                 !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.')
//! #             };
//! #             let Some(name) = document.property("file.name").filter(plain) else {
//! #                 batch.application_error(
//! #                     index,
//! #                     "InvalidFileName",
//! #                     format!("document {number}: file.name must be a name without a path"),
//! #                 );
//! #                 continue;
//! #             };
//! #             let path = directory.path.join(name);
//! #             let written = async {
//! #                 let mut file = tokio::fs::OpenOptions::new()
//! #                     .write(true)
//! #                     .create(true)
//! #                     .truncate(true)
//! #                     .create_new(!self.config.overwrite)
//! #                     .open(&path)
//! #                     .await?;
//! #                 file.write_all(&document.data).await?;
//! #                 // A tokio file writes in the background: the data is on disk once flushed.
//! #                 file.flush().await
//! #             };
//! #             match written.await {
//! #                 Ok(()) => batch.record(
//! #                     index,
//! #                     Outcome::success_with_input(vec![(
//! #                         "file.path".to_owned(),
//! #                         path.display().to_string(),
//! #                     )]),
//! #                 ),
//! #                 Err(err) => batch.fail(
//! #                     index,
//! #                     format!("document {number}: cannot write {}: {err}", path.display()),
//! #                 ),
//! #             }
//! #         }
//! #         Ok(())
//! #     }
//! # }
//! #
//! # use connector_sdk::{Component, Connector, Document, ResultStatus};
//! #
//! # /// The connector: its connection type and its operations.
//! # fn connector() -> Connector {
//! #     Connector::builder::<Directory>(INFO)
//! #         .operation::<Write>()
//! #         .build()
//! # }
//! fn main() -> std::process::ExitCode {
//!     // Logs go to stderr as JSON lines; stdout carries the protocol.
//!     connector_sdk::plugin::run(connector())
//! }
//! ```
//!
//! # How the pieces fit
//!
//! A connector author implements [`Connection`] (an account, built from a connection component)
//! and one [`Operation`] per action, with typed configs whose JSON Schema becomes the descriptor
//! a host renders forms from. [`Connector`] ties them together: it validates components,
//! caches what it builds per component id, and guarantees exactly one result per input document.
//! The plugin protocol carries it across a process boundary: [`plugin`] is the plugin
//! executable's side ([`plugin::serve`]), `host` the host's (`host::PluginProcess`, behind the
//! cargo feature `host`, which connectors do not enable).
//!
//! The crate root holds what an author implements and uses: the traits ([`Connection`],
//! [`Operation`], [`listen::Listener`]), [`Connector`] and its builder, components, documents,
//! outcomes, errors, [`Secret`] and the clock. Beside it: [`schema`] (form helpers: dropdowns,
//! the authentication-type switch), [`descriptor`] (the typed descriptor's parts), [`listen`]
//! (long-running consumers), [`secret`] (scrubbing text), [`bytes`] (a fast byte scan) and
//! [`plugin`]. The wire format's own types are private.
//!
//! This crate knows nothing about any particular service.

// STYLE: library code takes the time from the injected clock and does not panic on a value
// it did not check (tests may unwrap: clippy.toml allows it there).
#![warn(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

pub mod bytes;
mod cache;
mod component;
mod connector;
mod context;
pub mod descriptor;
mod document;
mod error;
#[cfg(feature = "host")]
pub mod host;
pub mod listen;
mod logging;
pub mod plugin;
mod protocol;
mod runtime;
pub mod schema;
pub mod secret;
mod validate;

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
    Connector, ConnectorBuilder, ConnectorStats, DEFAULT_CACHE_CAPACITY, Deferred,
    PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};
pub use secret::Secret;

/// Re-exported so config types can derive `JsonSchema` with the same version the SDK uses.
pub use schemars;
