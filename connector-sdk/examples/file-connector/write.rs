//! WRITE: each document becomes a file in the directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use connector_sdk::schemars::{self, JsonSchema};
use connector_sdk::{
    Batch, ConnectorError, Document, ExecutionContext, Operation, OperationInfo, Outcome,
    PropertyInfo,
};
use serde::{Deserialize, Serialize};

use crate::connection::Directory;
use crate::names::{check_name, unique_suffix};
use crate::{FILE_NAME, FILE_PATH};

/// What WRITE does when the directory already holds a file of the document's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum IfExists {
    /// Refuse the document (an application error `FileExists`); the file is left as it was.
    #[default]
    Fail,
    /// Replace the file.
    Overwrite,
}

/// WRITE's options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WriteConfig {
    /// When a file of the document's name exists: FAIL refuses the document, OVERWRITE replaces
    /// the file.
    #[schemars(title = "If the file exists", extend("x-widget" = "select"))]
    #[serde(default)]
    pub if_exists: IfExists,
    /// The end of generated file names (for documents without a file.name property), such as
    /// `.json`.
    #[schemars(
        title = "Extension of generated names",
        length(max = 32),
        pattern(r"^[^/\\]*$")
    )]
    #[serde(default)]
    pub extension: String,
}

/// WRITE, built from its options.
pub(crate) struct Write {
    config: WriteConfig,
}

impl Operation for Write {
    type Connection = Directory;
    type Config = WriteConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "WRITE",
            label: "Write",
            description: "Writes each document's body to a file in the directory; one result \
                          per document.",
            takes_input: true,
            input_properties: &[PropertyInfo {
                name: FILE_NAME,
                description: "The file's name (a plain name, no path); without it a unique \
                              name is generated.",
            }],
            output_properties: &[
                PropertyInfo {
                    name: FILE_NAME,
                    description: "The name of the file written.",
                },
                PropertyInfo {
                    name: FILE_PATH,
                    description: "The full path of the file written.",
                },
            ],
        }
    }

    fn build(config: WriteConfig) -> Result<Self, ConnectorError> {
        Ok(Self { config })
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        directory: &Directory,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        if let Err(err) = directory.ensure_exists().await {
            return Err(ConnectorError::config(format!(
                "cannot create {}: {err}",
                directory.named()
            )));
        }
        for (index, document) in batch.documents().iter().enumerate() {
            let number = batch.input_index(index);
            if ctx.cancellation.is_cancelled() {
                batch.fail(
                    index,
                    format!("document {number} was not written: cancelled"),
                );
                continue;
            }
            batch.record(
                index,
                self.write_one(ctx, directory, number, document).await,
            );
        }
        Ok(())
    }
}

impl Write {
    /// Writes one document; the outcome names it by `number`.
    async fn write_one(
        &self,
        ctx: &ExecutionContext,
        directory: &Directory,
        number: usize,
        document: &Document,
    ) -> Outcome {
        let (name, generated) = match document.property(FILE_NAME) {
            Some(name) => (name.to_owned(), false),
            None => (
                format!(
                    "document-{}{}",
                    unique_suffix(ctx.now()),
                    self.config.extension
                ),
                true,
            ),
        };
        if let Err(problem) = check_name(&name) {
            return Outcome::application_error(
                "InvalidFileName",
                format!(
                    "document {number}: its {FILE_NAME} {name:?} is not a plain file name: \
                     {problem}; give a name without a path"
                ),
            );
        }
        let path = directory.path.join(&name);
        let overwrite = self.config.if_exists == IfExists::Overwrite && !generated;
        match write_file(&path, &document.data, overwrite, ctx).await {
            Ok(()) => Outcome::success_with_input(vec![
                (FILE_NAME.to_owned(), name),
                (FILE_PATH.to_owned(), path.display().to_string()),
            ]),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Outcome::application_error(
                "FileExists",
                format!(
                    "document {number}: {} already exists; give another {FILE_NAME}, or set \
                     If the file exists (ifExists) to OVERWRITE",
                    path.display()
                ),
            ),
            Err(err) => Outcome::failure(format!(
                "document {number}: cannot write {}: {err}",
                path.display()
            )),
        }
    }
}

/// Writes `data` to `path` so that no reader ever sees part of it: into a hidden file first,
/// then moved (replacing a file there with `overwrite`) or linked (failing with `AlreadyExists`
/// without it) into place.
async fn write_file(
    path: &Path,
    data: &[u8],
    overwrite: bool,
    ctx: &ExecutionContext,
) -> std::io::Result<()> {
    let partial = partial_path(path, ctx);
    tokio::fs::write(&partial, data).await?;
    let placed = match overwrite {
        true => tokio::fs::rename(&partial, path).await,
        false => tokio::fs::hard_link(&partial, path).await,
    };
    if !overwrite || placed.is_err() {
        // Nothing is left behind: the hidden file is gone whatever happened.
        let _ = tokio::fs::remove_file(&partial).await;
    }
    placed
}

/// The hidden file `path` is written to before it is moved into place (READ skips it).
fn partial_path(path: &Path, ctx: &ExecutionContext) -> PathBuf {
    path.with_file_name(format!(".partial-{}", unique_suffix(ctx.now())))
}
