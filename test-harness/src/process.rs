//! Process files: steps of operations over documents, as `test-harness run` executes them.
//!
//! ```json
//! {
//!   "name": "orders-roundtrip",
//!   "components": "components",
//!   "steps": [
//!     {"name": "send", "connection": "conn-local-keys", "operation": "op-send-orders", "input": "documents/orders.jsonl"},
//!     {"name": "receive", "connection": "conn-local-keys", "operation": "op-receive-orders"},
//!     {"name": "delete", "connection": "conn-local-keys", "operation": "op-delete-orders", "input": {"step": "receive"}}
//!   ]
//! }
//! ```
//! `components` is a folder of component files (see [`crate::components`]), relative to the
//! process file. A step's `input` is a JSONL file of protocol Document objects, or `{"step": NAME}`
//! for the outputs of an earlier step. Without `input`, an operation that takes no input (RECEIVE)
//! gets one empty trigger document, and any other gets the previous step's outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use connector_sdk::{Component, Document};
use serde::Deserialize;

use crate::components;

/// A process file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    /// The process name (used in execution ids and output folders).
    pub name: String,
    /// The component folder, relative to the process file.
    pub components: PathBuf,
    /// The steps, run in order.
    pub steps: Vec<Step>,
}

/// One step: an operation component on a connection component over input documents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The step name.
    pub name: String,
    /// The connection component's id.
    pub connection: String,
    /// The operation component's id.
    pub operation: String,
    /// Where the input documents come from.
    #[serde(default)]
    pub input: Option<Input>,
}

/// Where a step's documents come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// A JSONL file of Document objects, relative to the process file.
    File(PathBuf),
    /// The outputs of an earlier step.
    Step {
        /// That step's name.
        step: String,
    },
}

/// A loaded process: the file, its folder, and its components by id.
#[derive(Debug)]
pub struct Process {
    /// The parsed file.
    pub file: ProcessFile,
    /// The folder of the process file (inputs are relative to it).
    pub dir: PathBuf,
    /// Every component of the component folder, by id.
    pub components: BTreeMap<String, Component>,
}

/// Why a process file or a documents file could not be used. Each message names the file (and
/// the step, line or component) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The process file cannot be read.
    #[error("cannot read process file {}: {source}", path.display())]
    ReadProcess {
        /// The process file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The process file is not a process.
    #[error("process file {} is not valid: {source}", path.display())]
    InvalidProcess {
        /// The process file.
        path: PathBuf,
        /// What the parser found.
        source: serde_json::Error,
    },
    /// The component folder cannot be read.
    #[error("cannot read component folder {}: {source}", dir.display())]
    ReadComponents {
        /// The component folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A component file cannot be used.
    #[error(transparent)]
    Component(#[from] components::LoadError),
    /// Two component files have the same id.
    #[error("two component files in {} have id {id}", dir.display())]
    DuplicateComponent {
        /// The component folder.
        dir: PathBuf,
        /// The id.
        id: String,
    },
    /// A step names a component the folder does not have.
    #[error("step \"{step}\" names {role} component \"{id}\", which is not in {}", dir.display())]
    UnknownComponent {
        /// The step.
        step: String,
        /// `connection` or `operation`.
        role: &'static str,
        /// The id it names.
        id: String,
        /// The component folder.
        dir: PathBuf,
    },
    /// A step takes the outputs of a step that does not run before it.
    #[error("step \"{step}\" takes the outputs of step \"{from}\", which does not run before it")]
    InputNotBefore {
        /// The step.
        step: String,
        /// The step it takes outputs from.
        from: String,
    },
    /// A documents file cannot be read.
    #[error("cannot read documents file {}: {source}", path.display())]
    ReadDocuments {
        /// The documents file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a documents file is not a document.
    #[error("documents file {}, line {line}: {problem}", path.display())]
    BadDocument {
        /// The documents file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it, and what to write instead.
        problem: String,
    },
    /// The process does not suit the command (for instance `listen` needs a listener step).
    #[error("{0}")]
    Unsuitable(String),
}

/// Loads a process file and its components; an error names the file and what is wrong.
pub fn load(path: &Path) -> Result<Process, ProcessError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProcessError::ReadProcess {
        path: path.to_owned(),
        source,
    })?;
    let file: ProcessFile =
        serde_json::from_str(&text).map_err(|source| ProcessError::InvalidProcess {
            path: path.to_owned(),
            source,
        })?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
    let component_dir = dir.join(&file.components);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&component_dir)
        .map_err(|source| ProcessError::ReadComponents {
            dir: component_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    let mut components = BTreeMap::new();
    for entry in entries {
        let component = components::load(&entry)?;
        if let Some(previous) = components.insert(component.id.to_string(), component) {
            return Err(ProcessError::DuplicateComponent {
                dir: component_dir,
                id: previous.id.to_string(),
            });
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for step in &file.steps {
        for (role, id) in [
            ("connection", &step.connection),
            ("operation", &step.operation),
        ] {
            if !components.contains_key(id) {
                return Err(ProcessError::UnknownComponent {
                    step: step.name.clone(),
                    role,
                    id: id.clone(),
                    dir: component_dir,
                });
            }
        }
        if let Some(Input::Step { step: from }) = &step.input
            && !seen.contains(&from.as_str())
        {
            return Err(ProcessError::InputNotBefore {
                step: step.name.clone(),
                from: from.clone(),
            });
        }
        seen.push(&step.name);
    }
    Ok(Process {
        file,
        dir,
        components,
    })
}

/// Reads a JSONL file of Document objects (blank lines are skipped). An error names the file,
/// and for a bad line its number and what is wrong with it.
pub fn read_documents(path: &Path) -> Result<Vec<Document>, ProcessError> {
    let bytes = std::fs::read(path).map_err(|source| ProcessError::ReadDocuments {
        path: path.to_owned(),
        source,
    })?;
    let mut documents = Vec::new();
    for (number, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let document = parse_document(line).map_err(|problem| ProcessError::BadDocument {
            path: path.to_owned(),
            line: number + 1,
            problem,
        })?;
        documents.extend(document);
    }
    Ok(documents)
}

/// The keys a document line may have.
const DOCUMENT_KEYS: [&str; 3] = ["data", "dataBase64", "properties"];

/// One line of a documents file: a document, nothing for a blank line, or what is wrong with it.
fn parse_document(line: &[u8]) -> Result<Option<Document>, String> {
    let text = std::str::from_utf8(line).map_err(|e| {
        format!(
            "not UTF-8 text (at byte {}); put bytes in \"dataBase64\"",
            e.valid_up_to() + 1
        )
    })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("not JSON: {} (column {})", without_position(&e), e.column()))?;
    let Some(object) = value.as_object() else {
        return Err(format!(
            "not a document: a JSON object like {{\"data\": \"...\", \"properties\": {{}}}} is expected, not {}",
            json_kind(&value)
        ));
    };
    // The protocol tolerates unknown keys; in a file people write, one is a typo that would
    // silently send an empty document.
    if let Some(key) = object.keys().find(|k| !DOCUMENT_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "not a document: unknown key \"{key}\" (a document has {})",
            DOCUMENT_KEYS.map(|k| format!("\"{k}\"")).join(", ")
        ));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| format!("not a document: {}", without_position(&e)))
}

/// A JSON error's text without serde's `at line L column C` (the line is the file's, given
/// apart).
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&position).unwrap_or(&text).to_owned()
}

/// What a JSON value is, in words: `an array`, `a number`.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(lines: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.jsonl");
        std::fs::write(&path, lines).unwrap();
        let err = read_documents(&path).unwrap_err().to_string();
        let prefix = format!("documents file {}, ", path.display());
        err.strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{err:?} does not start with {prefix:?}"))
            .to_owned()
    }

    #[test]
    fn reads_documents_and_skips_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.jsonl");
        std::fs::write(
            &path,
            "{\"data\": \"a\", \"properties\": {\"k\": \"v\"}}\n\n  \n{\"dataBase64\": \"AP8=\"}\n",
        )
        .unwrap();
        let documents = read_documents(&path).unwrap();
        assert_eq!(
            documents,
            [
                Document::new("a").with_property("k", "v"),
                Document::new(vec![0, 255])
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named_by_its_number_with_what_is_wrong() {
        let good = "{\"data\": \"a\"}\n";
        let cases: [(&[u8], &str); 7] = [
            (
                b"{\"data\": \"a\",}",
                "line 2: not JSON: trailing comma (column 14)",
            ),
            (
                b"[1, 2]",
                "line 2: not a document: a JSON object like {\"data\": \"...\", \"properties\": {}} is expected, not an array",
            ),
            (
                b"{\"dta\": \"a\"}",
                "line 2: not a document: unknown key \"dta\" (a document has \"data\", \"dataBase64\", \"properties\")",
            ),
            (
                b"{\"data\": 5}",
                "line 2: not a document: invalid type: integer `5`, expected a string",
            ),
            (
                b"{\"dataBase64\": \"%%%\"}",
                "line 2: not a document: `dataBase64` is not valid base64",
            ),
            (
                b"{\"properties\": {\"k\": 1}}",
                "line 2: not a document: invalid type: integer `1`, expected a string",
            ),
            (
                b"{\"data\": \"\xff\"}",
                "line 2: not UTF-8 text (at byte 11); put bytes in \"dataBase64\"",
            ),
        ];
        for (line, expected) in cases {
            let mut file = good.as_bytes().to_vec();
            file.extend_from_slice(line);
            file.extend_from_slice(b"\n");
            file.extend_from_slice(good.as_bytes());
            let err = error_of(&file);
            assert!(
                err.starts_with(expected),
                "line {:?}:\n  expected {expected:?}\n  got      {err:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.jsonl");
        let err = read_documents(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot read documents file {}: ", path.display())),
            "{err}"
        );
    }
}
