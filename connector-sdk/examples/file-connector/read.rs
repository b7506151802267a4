//! READ: the files in the directory become output documents.

use std::io::ErrorKind;
use std::path::PathBuf;

use connector_sdk::schemars::{self, JsonSchema};
use connector_sdk::{
    Batch, ConnectorError, Document, ExecutionContext, Operation, OperationInfo, Outcome,
    PropertyInfo,
};
use serde::Deserialize;

use crate::connection::Directory;
use crate::names::matches;
use crate::{FILE_NAME, FILE_PATH, FILE_SIZE};

fn default_pattern() -> String {
    "*".to_owned()
}

fn default_max_files() -> usize {
    100
}

/// READ's options.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadConfig {
    /// Which files to read, by name: `*` matches any run of characters and `?` one character
    /// (`*.json`). Hidden files (starting with `.`) and subdirectories are never read.
    #[schemars(title = "File name pattern", length(min = 1, max = 255))]
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// The most files one execution reads, 1 to 10000, in order of their names.
    #[schemars(title = "Maximum files", range(min = 1, max = 10000))]
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// Delete each file once the results carrying it have reached the host.
    #[schemars(title = "Delete after read", extend("x-widget" = "checkbox"))]
    #[serde(default)]
    pub delete_after_read: bool,
}

/// READ, built from its options.
pub(crate) struct Read {
    config: ReadConfig,
}

impl Operation for Read {
    type Connection = Directory;
    type Config = ReadConfig;

    fn info() -> OperationInfo {
        OperationInfo {
            operation_type: "READ",
            label: "Read",
            description: "Reads the files whose names match the pattern; each becomes an output \
                          document of the trigger document's result.",
            takes_input: false,
            input_properties: &[],
            output_properties: &[
                PropertyInfo {
                    name: FILE_NAME,
                    description: "The file's name.",
                },
                PropertyInfo {
                    name: FILE_PATH,
                    description: "The file's full path.",
                },
                PropertyInfo {
                    name: FILE_SIZE,
                    description: "The file's size in bytes.",
                },
            ],
        }
    }

    fn build(config: ReadConfig) -> Result<Self, ConnectorError> {
        Ok(Self { config })
    }

    async fn execute(
        &self,
        ctx: &ExecutionContext,
        directory: &Directory,
        batch: &Batch,
    ) -> Result<(), ConnectorError> {
        let mut names = self.list(directory).await?.into_iter();
        let mut read = Vec::new();
        // A host sends one trigger document; should it send more, each reads the next files.
        for index in 0..batch.len() {
            let mut outputs = Vec::new();
            let mut failure = None;
            for name in names.by_ref().take(self.config.max_files) {
                let path = directory.path.join(&name);
                match tokio::fs::read(&path).await {
                    Ok(data) => {
                        outputs.push(file_document(&name, &path, data));
                        read.push(path);
                    }
                    // Taken by another reader since the listing: not ours to report.
                    Err(err) if err.kind() == ErrorKind::NotFound => {}
                    Err(err) => {
                        failure = Some(format!("cannot read {}: {err}", path.display()));
                        break;
                    }
                }
            }
            let outcome = match failure {
                None => Outcome::success(outputs),
                // What was read before the failure is still handed over.
                Some(message) => Outcome::failure(message).with_outputs(outputs),
            };
            batch.record(index, outcome);
        }
        if self.config.delete_after_read {
            delete_after_delivery(ctx, read);
        }
        Ok(())
    }
}

impl Read {
    /// The names of the files to read, in order.
    async fn list(&self, directory: &Directory) -> Result<Vec<String>, ConnectorError> {
        let cannot = |err: std::io::Error| {
            ConnectorError::config(format!("cannot list {}: {err}", directory.named()))
        };
        let mut entries = tokio::fs::read_dir(&directory.path).await.map_err(cannot)?;
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(cannot)? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_file = entry.file_type().await.is_ok_and(|kind| kind.is_file());
            if is_file && !name.starts_with('.') && matches(&self.config.pattern, &name) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The output document of one file.
fn file_document(name: &str, path: &std::path::Path, data: Vec<u8>) -> Document {
    let size = data.len();
    Document::new(data)
        .with_property(FILE_NAME, name)
        .with_property(FILE_PATH, path.display().to_string())
        .with_property(FILE_SIZE, size.to_string())
}

/// Deletes the files read once the results carrying them reached the host; when they did not,
/// the files stay for the next READ.
fn delete_after_delivery(ctx: &ExecutionContext, paths: Vec<PathBuf>) {
    ctx.after_delivery(move |delivered| {
        Box::pin(async move {
            if !delivered {
                tracing::info!(files = paths.len(), "results not delivered; files kept");
                return;
            }
            for path in paths {
                if let Err(err) = tokio::fs::remove_file(&path).await {
                    tracing::warn!(path = %path.display(), "cannot delete a file read: {err}");
                }
            }
        })
    });
}
