//! The checked-in generated files: the descriptors, and the README's reference section made from
//! them. Regenerate them, or check that they are current.

use std::fmt;
use std::path::{Path, PathBuf};

use connector_sdk::Descriptor;

use crate::reference::{self, section::SectionError};

/// The command that rewrites the descriptors and the README's reference, for messages.
pub const WRITE_COMMAND: &str = "cargo run -p test-harness -- descriptors --write";

/// The descriptors folder of this repository.
pub fn default_dir() -> PathBuf {
    repository_path("descriptors")
}

/// This repository's README (next to `descriptors/`), whose reference section is generated.
pub fn default_readme() -> PathBuf {
    repository_path("README.md")
}

fn repository_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    path.canonicalize().unwrap_or(path)
}

/// A connector this repository publishes: its descriptor's file name, JSON and file text.
struct Published {
    file: String,
    descriptor: Descriptor,
    text: String,
}

fn published() -> Vec<Published> {
    let connector = sqs_connector::connector();
    vec![Published {
        file: format!("{}.json", connector.info().id),
        descriptor: connector.descriptor().clone(),
        text: connector.descriptor_file_text(),
    }]
}

/// Every descriptor this repository publishes: file name and current text.
pub fn generated() -> Vec<(String, String)> {
    published().into_iter().map(|p| (p.file, p.text)).collect()
}

/// The Markdown of the README's reference section, made from every published descriptor.
pub fn reference() -> String {
    let descriptors: Vec<(String, Descriptor)> = published()
        .into_iter()
        .map(|p| (p.file, p.descriptor))
        .collect();
    reference::markdown(&descriptors)
}

/// The descriptors whose file is missing or differs from the generated text.
pub fn stale(dir: &Path) -> Vec<String> {
    generated()
        .into_iter()
        .filter(|(name, text)| {
            std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text)
        })
        .map(|(name, _)| name)
        .collect()
}

/// Writes every descriptor into `dir`; returns the names written.
pub fn write(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in generated() {
        std::fs::write(dir.join(&name), text)?;
        written.push(name);
    }
    Ok(written)
}

/// What is wrong with a generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It cannot be read (the reason).
    Missing(String),
    /// It differs from what the generator writes.
    Differs,
    /// It is a README without a generated section to fill.
    NoSection(SectionError),
}

/// A generated file that is not what `descriptors --write` would make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFile {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for StaleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.problem {
            Problem::Missing(reason) => write!(f, "{path} cannot be read ({reason})"),
            Problem::Differs => write!(f, "{path} is stale"),
            Problem::NoSection(err) => write!(f, "{path}: {err}"),
        }
    }
}

/// The README's text with its reference section as it should be, or why it has none.
pub fn readme_text(current: &str) -> Result<String, SectionError> {
    reference::section::replace(current, &reference())
}

/// What is wrong with the README's reference section, if anything.
pub fn readme_problem(path: &Path) -> Option<Problem> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => return Some(Problem::Missing(err.to_string())),
    };
    match readme_text(&current) {
        Ok(text) if text == current => None,
        Ok(_) => Some(Problem::Differs),
        Err(err) => Some(Problem::NoSection(err)),
    }
}

/// Every generated file that is missing or stale: the descriptors in `dir`, then the README's
/// reference section when a README is given.
pub fn check(dir: &Path, readme: Option<&Path>) -> Vec<StaleFile> {
    let mut found: Vec<StaleFile> = stale(dir)
        .into_iter()
        .map(|name| {
            let path = dir.join(name);
            let problem = if path.exists() {
                Problem::Differs
            } else {
                Problem::Missing("no such file".into())
            };
            StaleFile { path, problem }
        })
        .collect();
    if let Some(readme) = readme {
        if let Some(problem) = readme_problem(readme) {
            found.push(StaleFile {
                path: readme.to_path_buf(),
                problem,
            });
        }
    }
    found
}

/// Why the README's reference section could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReadmeError {
    /// The README could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The README.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The README has no generated section.
    #[error("{}: {source}", path.display())]
    NoSection {
        /// The README.
        path: PathBuf,
        /// What is missing.
        source: SectionError,
    },
    /// The README could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The README.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Rewrites the README's reference section (and nothing else of it); returns whether it changed.
pub fn write_readme(path: &Path) -> Result<bool, ReadmeError> {
    let current = std::fs::read_to_string(path).map_err(|source| ReadmeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = readme_text(&current).map_err(|source| ReadmeError::NoSection {
        path: path.to_path_buf(),
        source,
    })?;
    if text == current {
        return Ok(false);
    }
    std::fs::write(path, text).map_err(|source| ReadmeError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(true)
}
