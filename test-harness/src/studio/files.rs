//! The studio's component folder: the files `test-harness run --process` reads (`<id>.json`,
//! one component each), and the secrets saved beside them in `secrets/`, readable by their
//! owner only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::fields::{SECRETS_DIR, SecretFile};

/// One component file of the folder, as listed for the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    /// The file name (`conn-local-keys.json`).
    pub file: String,
    /// The component id, when the file could be read.
    pub id: Option<String>,
    /// `connection` or `operation`.
    pub kind: Option<String>,
    /// The operation type, for operations.
    pub operation_type: Option<String>,
    /// The connector it is for.
    pub connector: Option<String>,
}

/// The component files of `dir`, sorted by name (none when the folder does not exist yet).
pub fn list(dir: &Path) -> Vec<Listed> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<Listed> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|x| x == "json"))
        .filter_map(|path| {
            let file = path.file_name()?.to_str()?.to_owned();
            let value: Option<Value> = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok());
            let text = |key: &str| {
                value
                    .as_ref()
                    .and_then(|v| v[key].as_str())
                    .map(str::to_owned)
            };
            Some(Listed {
                file,
                id: text("id"),
                kind: text("kind"),
                operation_type: text("operationType"),
                connector: text("connector"),
            })
        })
        .collect();
    files.sort_by(|a, b| a.file.cmp(&b.file));
    files
}

/// Whether `name` is a plain file name of the folder (no folder part, ends in `.json`).
fn plain_json_name(name: &str) -> bool {
    !name.is_empty()
        && name.ends_with(".json")
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
}

/// Reads a component file of the folder by name; an error says why (never its content).
pub fn read(dir: &Path, name: &str) -> Result<Value, String> {
    if !plain_json_name(name) {
        return Err(format!(
            "{name:?} is not the name of a component file of the folder"
        ));
    }
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    for key in ["id", "connector", "kind"] {
        if !value[key].is_string() {
            return Err(format!(
                "{} is not a component file: it has no \"{key}\"",
                path.display()
            ));
        }
    }
    Ok(value)
}

/// Whether `id` can name a component file (`<id>.json`): letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit, at most 128 characters.
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The file a component id is saved in.
pub fn path_for(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// Writes a component file (pretty JSON, two-space indents, as the examples) and its secret
/// files; the folder and `secrets/` (with a `.gitignore` that keeps them out of git) are made
/// when missing. Returns the component file's path.
pub fn write(
    dir: &Path,
    id: &str,
    component: &Value,
    secrets: &[SecretFile],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    if !secrets.is_empty() {
        let secrets_dir = dir.join(SECRETS_DIR);
        std::fs::create_dir_all(&secrets_dir)?;
        let ignore = secrets_dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(
                &ignore,
                "# Secrets saved by test-harness studio: never committed.\n*\n",
            )?;
        }
        for secret in secrets {
            write_private(&dir.join(&secret.relative), secret.value.as_bytes())?;
        }
    }
    let path = path_for(dir, id);
    let mut text = serde_json::to_string_pretty(component).map_err(std::io::Error::other)?;
    text.push('\n');
    // Written beside and renamed over, so that a reader never sees half a file.
    let partial = dir.join(format!(".{id}.json.partial"));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Writes a file only its owner may read or write (on Unix; elsewhere an ordinary file).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_stay_inside_the_folder() {
        assert!(valid_id("conn-local-keys"));
        assert!(valid_id("op.send_1"));
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        assert!(plain_json_name("conn.json"));
        for bad in ["../conn.json", "a/conn.json", "conn.txt", ".conn.json"] {
            assert!(!plain_json_name(bad), "{bad:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_private_and_ignored_by_git() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let secret = SecretFile {
            relative: "secrets/c.secretKey".into(),
            value: zeroize::Zeroizing::new("s3cret-value".into()),
        };
        let component = serde_json::json!({"id": "c", "fields": {"secretKey": {"file": "secrets/c.secretKey"}}});
        let path = write(dir.path(), "c", &component, &[secret]).unwrap();
        assert_eq!(path, dir.path().join("c.json"));
        let mode = std::fs::metadata(dir.path().join("secrets/c.secretKey"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let ignore = std::fs::read_to_string(dir.path().join("secrets/.gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"));
        assert_eq!(list(dir.path()).len(), 1, "secret files are not components");
    }
}
