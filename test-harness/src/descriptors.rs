//! The checked-in descriptors: regenerate them, or check that they are current.

use std::path::{Path, PathBuf};

/// The command that rewrites the descriptors, for messages.
pub const WRITE_COMMAND: &str = "cargo run -p test-harness -- descriptors --write";

/// The descriptors folder of this repository.
pub fn default_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../descriptors");
    dir.canonicalize().unwrap_or(dir)
}

/// Every descriptor this repository publishes: file name and current text.
pub fn generated() -> Vec<(String, String)> {
    let connector = sqs_connector::connector();
    vec![(
        format!("{}.json", connector.info().id),
        connector.descriptor_file_text(),
    )]
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
