//! The boto3 contender: `scripts/bench/boto3_bench.py`, run with the venv's Python. The script
//! warms its client up, times its own loop and prints `{"seconds": …, "messages": …, "cpu_seconds": …}`.

use std::path::PathBuf;

use serde::Deserialize;

/// How to run the script.
#[derive(Debug, Clone)]
pub(crate) struct Boto3 {
    /// The Python interpreter (`.venv/bin/python`).
    pub python: PathBuf,
    /// The script.
    pub script: PathBuf,
    /// The SQS endpoint.
    pub endpoint: String,
    /// The messages as JSON lines.
    pub messages: PathBuf,
    /// Calls in flight (threads of the script; 1: one call after the other).
    pub concurrency: usize,
}

/// What the script printed.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Timing {
    /// Seconds its loop took.
    pub seconds: f64,
    /// Messages it sent or deleted.
    pub messages: usize,
    /// CPU seconds the script used in its loop.
    pub cpu_seconds: f64,
}

impl Boto3 {
    /// Runs `mode` (`send` or `drain`) on `queue_url` for `count` messages.
    pub(crate) async fn run(
        &self,
        mode: &str,
        queue_url: &str,
        count: usize,
    ) -> Result<Timing, String> {
        let output = tokio::process::Command::new(&self.python)
            .arg(&self.script)
            .arg(mode)
            .args(["--endpoint", &self.endpoint, "--queue-url", queue_url])
            .arg("--messages")
            .arg(&self.messages)
            .args(["--count", &count.to_string()])
            .args(["--concurrency", &self.concurrency.to_string()])
            .output()
            .await
            .map_err(|e| format!("running {}: {e}", self.python.display()))?;
        if !output.status.success() {
            return Err(format!(
                "the boto3 script failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let last = text.lines().last().unwrap_or_default();
        let timing: Timing = serde_json::from_str(last)
            .map_err(|e| format!("the boto3 script printed {last:?}: {e}"))?;
        if timing.messages != count {
            return Err(format!(
                "the boto3 script handled {} messages instead of {count}",
                timing.messages
            ));
        }
        Ok(timing)
    }
}
