//! The suite-wide log-leak test: every plugin a test starts is watched line by line (stdout and
//! stderr) for every secret the test binary knows, and a test whose plugin wrote one fails.
//!
//! The secrets are registered for the whole test binary ([`register`], [`register_source`] for
//! secrets issued while tests run, such as an emulator's session tokens): a plugin of one test
//! writing the secret of another is caught too. A [`SecretScan`] records its hits (the secret's
//! label, the stream and a short context with every secret masked) and panics when it is dropped
//! with hits, unless the thread is already panicking. Nothing here ever prints a secret.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use connector_sdk::host::{LineObserver, Stream};

/// Secrets shorter than this are not scanned for (they would match ordinary text).
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// Body lines of a PEM block at least this long are secrets of their own.
pub(crate) const MIN_PEM_LINE_LEN: usize = 16;

/// How many characters of context a hit keeps on each side of the secret.
const CONTEXT: usize = 40;

/// Gives the secrets issued so far by something running in the test (label, value).
pub(crate) type SecretSource = Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

#[derive(Default)]
struct Registry {
    /// Shared with the scans reading it, replaced (not changed) when a secret is added.
    secrets: Arc<Vec<(String, String)>>,
    sources: Vec<SecretSource>,
    /// Texts that hold a secret that is also an ordinary word, where it is not the secret (the
    /// fixture passphrase `password` in the descriptor's `"x-widget":"password"`): removed from
    /// a line before it is scanned.
    benign: Arc<Vec<String>>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The variants of a secret a log line may hold: itself, and JSON-escaped when it has
/// characters JSON escapes (a PEM's line ends).
fn variants(value: &str) -> Vec<String> {
    let mut all = vec![value.to_owned()];
    if let Ok(quoted) = serde_json::to_string(value) {
        let escaped = &quoted[1..quoted.len() - 1];
        if escaped != value {
            all.push(escaped.to_owned());
        }
    }
    all
}

/// Registers a secret for every scan of this test binary, under `label` (what a hit names; never
/// the value). Too short a value is refused: it would match ordinary text.
pub(crate) fn register(label: &str, value: &str) {
    assert!(
        value.len() >= MIN_SECRET_LEN,
        "the secret {label} is shorter than {MIN_SECRET_LEN} characters: the scan cannot tell it \
         from ordinary text"
    );
    let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    let mut secrets = registry.secrets.as_ref().clone();
    for variant in variants(value) {
        if !secrets.iter().any(|(_, known)| *known == variant) {
            secrets.push((label.to_owned(), variant));
        }
    }
    registry.secrets = Arc::new(secrets);
}

/// Registers a secret that is also an ordinary word, with the texts in which it is not the
/// secret (`"x-widget":"password"` for the passphrase `password`): those are skipped.
pub(crate) fn register_with_benign(label: &str, value: &str, benign: &[&str]) {
    register(label, value);
    let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    let mut all = registry.benign.as_ref().clone();
    all.extend(benign.iter().map(|text| (*text).to_owned()));
    registry.benign = Arc::new(all);
}

/// Registers a PEM block (a private key) as a secret: each line of its base64 body of at least
/// [`MIN_PEM_LINE_LEN`] characters (the whole block, escaped or not, holds them all).
pub(crate) fn register_pem(label: &str, pem: &str) {
    for (n, line) in pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----") && !line.contains(':'))
        .enumerate()
    {
        if line.len() >= MIN_PEM_LINE_LEN {
            register(&format!("{label} (body line {})", n + 1), line);
        }
    }
}

/// Registers a source of secrets issued while the tests run; it is asked on every line scanned.
pub(crate) fn register_source(source: SecretSource) {
    registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .sources
        .push(source);
}

/// The registered secrets, those issued so far, and the benign texts.
type Known = (
    Arc<Vec<(String, String)>>,
    Vec<(String, String)>,
    Arc<Vec<String>>,
);

/// Every secret known now, (label, value): the registered ones and those issued so far.
fn known() -> Known {
    let registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    let mut issued = Vec::new();
    for source in &registry.sources {
        for (label, value) in source() {
            if value.len() >= MIN_SECRET_LEN {
                issued.extend(variants(&value).into_iter().map(|v| (label.clone(), v)));
            }
        }
    }
    (registry.secrets.clone(), issued, registry.benign.clone())
}

/// One secret found in what a plugin (or the harness) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The secret's label.
    pub label: String,
    /// Where: `stdout`, `stderr`, or what the caller named.
    pub stream: String,
    /// The text around it, every secret masked as `<secret: label>`.
    pub context: String,
}

/// Masks every known secret in `text`.
fn mask(text: &str, secrets: &[(String, String)]) -> String {
    let mut masked = text.to_owned();
    // Longest first, so that a secret containing another is masked whole.
    let mut by_length: Vec<&(String, String)> = secrets.iter().collect();
    by_length.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    for (label, value) in by_length {
        if masked.contains(value.as_str()) {
            masked = masked.replace(value.as_str(), &format!("<secret: {label}>"));
        }
    }
    masked
}

/// A short context around the first masked `label` in a masked line.
fn context(masked: &str, label: &str) -> String {
    let marker = format!("<secret: {label}>");
    let at = masked.find(&marker).unwrap_or(0);
    let start = masked[..at]
        .char_indices()
        .rev()
        .nth(CONTEXT - 1)
        .map_or(0, |(i, _)| i);
    let after = at + marker.len();
    let end = masked[after..]
        .char_indices()
        .nth(CONTEXT)
        .map_or(masked.len(), |(i, _)| after + i);
    masked[start..end].to_owned()
}

/// The scan of one plugin's (or one harness run's) output. Clones share the hits.
#[derive(Clone, Default)]
pub(crate) struct SecretScan {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Lines scanned, to show the scan saw the output at all.
    lines: Arc<std::sync::atomic::AtomicU64>,
}

impl SecretScan {
    /// A scan with no hits yet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Scans one line written on `stream` for every known secret; records each secret found.
    pub(crate) fn scan_line(&self, stream: &str, line: &[u8]) {
        self.lines
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut text = String::from_utf8_lossy(line);
        let (registered, issued, benign) = known();
        for ordinary in benign.iter() {
            if text.contains(ordinary.as_str()) {
                text = text.replace(ordinary.as_str(), "<benign>").into();
            }
        }
        let found: Vec<&(String, String)> = registered
            .iter()
            .chain(&issued)
            .filter(|(_, value)| text.contains(value.as_str()))
            .collect();
        if found.is_empty() {
            return;
        }
        let all: Vec<(String, String)> = registered.iter().chain(&issued).cloned().collect();
        let masked = mask(&text, &all);
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        for (label, _) in found {
            hits.push(Hit {
                label: label.clone(),
                stream: stream.to_owned(),
                context: context(&masked, label),
            });
        }
    }

    /// Scans a whole text (several lines) written on `stream`.
    pub(crate) fn scan_text(&self, stream: &str, text: &[u8]) {
        for line in text.split(|b| *b == b'\n') {
            self.scan_line(stream, line);
        }
    }

    /// An observer for [`connector_sdk::host::PluginCommand::observer`] that scans every line.
    pub(crate) fn observer(&self) -> LineObserver {
        let scan = self.clone();
        Arc::new(move |stream: Stream, line: &[u8]| scan.scan_line(&stream.to_string(), line))
    }

    /// How many lines were scanned.
    pub(crate) fn lines_scanned(&self) -> u64 {
        self.lines.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The hits so far.
    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the hits so far (for tests of the scan itself, which then check them).
    pub(crate) fn take_hits(&self) -> Vec<Hit> {
        std::mem::take(&mut *self.hits.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Panics when a secret was found, naming each by label, stream and masked context.
    pub(crate) fn assert_clean(&self) {
        let hits = self.hits();
        if hits.is_empty() {
            return;
        }
        let list: Vec<String> = hits
            .iter()
            .map(|hit| format!("  {} on {}: ...{}...", hit.label, hit.stream, hit.context))
            .collect();
        panic!(
            "the plugin wrote {} secret(s) of the test (values masked):\n{}",
            hits.len(),
            list.join("\n")
        );
    }
}

/// A scan that checks itself when dropped (unless the thread is panicking already).
pub(crate) struct ScanGuard(pub SecretScan);

impl Drop for ScanGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.0.assert_clean();
        }
    }
}
