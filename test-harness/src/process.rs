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

/// Loads a process file and its components; an error names the file and what is wrong.
pub fn load(path: &Path) -> Result<Process, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read process file {}: {e}", path.display()))?;
    let file: ProcessFile = serde_json::from_str(&text)
        .map_err(|e| format!("process file {} is not valid: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
    let component_dir = dir.join(&file.components);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&component_dir)
        .map_err(|e| {
            format!(
                "cannot read component folder {}: {e}",
                component_dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    let mut components = BTreeMap::new();
    for entry in entries {
        let component = components::load(&entry).map_err(|e| e.to_string())?;
        if let Some(previous) = components.insert(component.id.to_string(), component) {
            return Err(format!(
                "two component files in {} have id {}",
                component_dir.display(),
                previous.id
            ));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for step in &file.steps {
        for (what, id) in [
            ("connection", &step.connection),
            ("operation", &step.operation),
        ] {
            if !components.contains_key(id) {
                return Err(format!(
                    "step \"{}\" names {what} component \"{id}\", which is not in {}",
                    step.name,
                    component_dir.display()
                ));
            }
        }
        if let Some(Input::Step { step: from }) = &step.input
            && !seen.contains(&from.as_str())
        {
            return Err(format!(
                "step \"{}\" takes the outputs of step \"{from}\", which does not run before it",
                step.name
            ));
        }
        seen.push(&step.name);
    }
    Ok(Process {
        file,
        dir,
        components,
    })
}

/// Reads a JSONL file of Document objects; an error names the line.
pub fn read_documents(path: &Path) -> Result<Vec<Document>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read documents {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line).map_err(|e| {
                format!(
                    "{} line {}: not a document: {e}",
                    path.display(),
                    number + 1
                )
            })
        })
        .collect()
}
