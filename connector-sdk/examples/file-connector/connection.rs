//! The connection: a directory on the machine the plugin runs on.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use connector_sdk::schemars::{self, JsonSchema};
use connector_sdk::{
    ComponentId, Connection, ConnectorError, ExecutionContext, FieldError, TestStep,
};
use serde::Deserialize;

/// The key of the directory field, as components and messages name it.
pub(crate) const DIRECTORY_FIELD: &str = "directory";

/// The connection's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryConfig {
    /// The directory files are written to and read from: an absolute path on the machine the
    /// plugin runs on (`/var/spool/orders`).
    #[schemars(title = "Directory", length(min = 1, max = 4096))]
    pub directory: String,
    /// Create the directory, and its parents, when it does not exist (at Test Connection and
    /// before writing).
    #[schemars(title = "Create if missing", extend("x-widget" = "checkbox"))]
    #[serde(default)]
    pub create_missing: bool,
}

/// A directory, checked to be an absolute path; nothing on disk is touched until it is used.
#[derive(Debug)]
pub(crate) struct Directory {
    /// The directory's path.
    pub path: PathBuf,
    /// Whether to create it when it is missing.
    pub create_missing: bool,
}

impl Directory {
    /// Creates the directory when it is missing and the connection says so.
    pub(crate) async fn ensure_exists(&self) -> std::io::Result<()> {
        match self.create_missing {
            true => tokio::fs::create_dir_all(&self.path).await,
            false => Ok(()),
        }
    }

    /// What messages call the directory: `Directory (directory) /var/spool/orders`.
    pub(crate) fn named(&self) -> String {
        format!("Directory ({DIRECTORY_FIELD}) {}", self.path.display())
    }
}

impl Connection for Directory {
    type Config = DirectoryConfig;

    fn connect(_id: &ComponentId, config: DirectoryConfig) -> Result<Self, ConnectorError> {
        let path = PathBuf::from(&config.directory);
        if !path.is_absolute() {
            return Err(ConnectorError::invalid_fields(vec![FieldError {
                field: DIRECTORY_FIELD.to_owned(),
                label: "Directory".to_owned(),
                message: format!(
                    "{:?} is a relative path; enter an absolute path (a relative one would \
                     depend on where the plugin was started)",
                    config.directory
                ),
            }]));
        }
        Ok(Self {
            path,
            create_missing: config.create_missing,
        })
    }

    async fn test(&self, _ctx: &ExecutionContext) -> Vec<TestStep> {
        let found = self.check_directory().await;
        let writable = match &found {
            Err(_) => TestStep::skipped("Directory writable", "the directory was not found"),
            Ok(_) => match probe_write(&self.path).await {
                Ok(()) => TestStep::passed(
                    "Directory writable",
                    format!("created and removed a file in {}", self.path.display()),
                ),
                Err(err) => TestStep::failed(
                    "Directory writable",
                    format!(
                        "cannot create a file in {}: {err}; give the user the plugin runs as \
                         write permission on it",
                        self.named()
                    ),
                ),
            },
        };
        let found = match found {
            Ok(message) => TestStep::passed("Directory found", message),
            Err(message) => TestStep::failed("Directory found", message),
        };
        vec![found, writable]
    }
}

impl Directory {
    /// Whether the directory is there (creating it when allowed): what was found, or what to fix.
    async fn check_directory(&self) -> Result<String, String> {
        match tokio::fs::metadata(&self.path).await {
            Ok(metadata) if metadata.is_dir() => Ok(format!("{} exists", self.path.display())),
            Ok(_) => Err(format!(
                "{} is a file, not a directory; enter the path of a directory",
                self.named()
            )),
            Err(err) if err.kind() == ErrorKind::NotFound && self.create_missing => {
                match tokio::fs::create_dir_all(&self.path).await {
                    Ok(()) => Ok(format!("created {}", self.path.display())),
                    Err(err) => Err(format!("cannot create {}: {err}", self.named())),
                }
            }
            Err(err) if err.kind() == ErrorKind::NotFound => Err(format!(
                "{} does not exist; create it, correct the path, or turn on Create if missing \
                 (createMissing)",
                self.named()
            )),
            Err(err) => Err(format!("cannot read {}: {err}", self.named())),
        }
    }
}

/// Creates a hidden probe file in `directory` and removes it again.
async fn probe_write(directory: &Path) -> std::io::Result<()> {
    let probe = directory.join(format!(".file-connector-probe-{}", std::process::id()));
    tokio::fs::write(&probe, b"probe").await?;
    tokio::fs::remove_file(&probe).await
}
