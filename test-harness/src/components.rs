//! Component files: the protocol's Component object as JSON, where any string field may instead
//! reference a secret kept elsewhere: `{"env": "NAME"}` or `{"file": "path"}` (relative to the
//! component file).

use std::path::{Path, PathBuf};

use connector_sdk::Component;
use serde_json::Value;

/// Why a component file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read component file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a component.
    #[error("component file {path} is not a valid component: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A secret reference could not be resolved.
    #[error("component file {path}: field \"{field}\" refers to {reference}, which {problem}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// The field holding the reference.
        field: String,
        /// The reference, described (never the secret).
        reference: String,
        /// What went wrong.
        problem: String,
    },
}

/// Loads a component file and resolves its secret references.
pub fn load(path: &Path) -> Result<Component, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut value: Value = serde_json::from_str(&text).map_err(|e| LoadError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    if let Some(Value::Object(fields)) = value.get_mut("fields") {
        for (field, field_value) in fields.iter_mut() {
            if let Some(resolved) =
                resolve(field_value, base).map_err(|(reference, problem)| LoadError::Secret {
                    path: path.to_owned(),
                    field: field.clone(),
                    reference,
                    problem,
                })?
            {
                *field_value = Value::String(resolved);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| LoadError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Resolves one field value when it is a secret reference; `Ok(None)` when it is a plain value.
fn resolve(value: &Value, base: &Path) -> Result<Option<String>, (String, String)> {
    let Value::Object(reference) = value else {
        return Ok(None);
    };
    if reference.len() != 1 {
        return Ok(None);
    }
    if let Some(Value::String(name)) = reference.get("env") {
        return std::env::var(name).map(Some).map_err(|_| {
            (
                format!("environment variable {name}"),
                "is not set".to_owned(),
            )
        });
    }
    if let Some(Value::String(file)) = reference.get("file") {
        let path = base.join(file);
        return std::fs::read_to_string(&path).map(Some).map_err(|e| {
            (
                format!("file {}", path.display()),
                format!("cannot be read: {e}"),
            )
        });
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_env_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        // PATH is set in every environment this runs in; edition 2024 makes setting one unsafe.
        let path_value = std::env::var("PATH").unwrap();
        let file = dir.path().join("conn.json");
        std::fs::write(
            &file,
            r#"{"id":"c1","connector":"amazon-sqs","kind":"connection",
                "fields":{"secretKey":{"env":"PATH"},"privateKey":{"file":"key.pem"},"region":"us-east-1"}}"#,
        )
        .unwrap();
        let component = load(&file).unwrap();
        assert_eq!(component.fields["secretKey"], path_value.as_str());
        assert_eq!(
            component.fields["privateKey"],
            "-----BEGIN PRIVATE KEY-----\n"
        );
        assert_eq!(component.fields["region"], "us-east-1");
    }

    #[test]
    fn a_missing_secret_names_the_field_and_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conn.json");
        std::fs::write(
            &file,
            r#"{"id":"c1","connector":"amazon-sqs","kind":"connection","fields":{"secretKey":{"env":"HARNESS_TEST_UNSET_VARIABLE"}}}"#,
        )
        .unwrap();
        let err = load(&file).unwrap_err().to_string();
        assert!(err.contains("\"secretKey\""), "{err}");
        assert!(
            err.contains("environment variable HARNESS_TEST_UNSET_VARIABLE, which is not set"),
            "{err}"
        );
    }
}
