//! The studio under test: `test-harness studio` started as a person starts it, on a free
//! loopback port, over a component folder of the test's own, with its plugin's transcript on;
//! everything it and its plugin wrote is scanned for the suite's secrets when it stops.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::secret_scan::SecretScan;
use crate::support::{harness, plugin, register_suite_secrets};

/// A running studio; stopped (and its output scanned) when dropped.
pub(crate) struct Studio {
    child: Child,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its port.
    pub port: u16,
    logs: tempfile::TempDir,
}

impl Studio {
    /// Starts the studio over `components`; waits for its `listening on` line.
    pub(crate) fn start(components: &Path) -> Self {
        register_suite_secrets();
        let logs = tempfile::tempdir().expect("a folder for the studio's output");
        let stdout = std::fs::File::create(logs.path().join("stdout")).unwrap();
        let stderr = std::fs::File::create(logs.path().join("stderr")).unwrap();
        let child = Command::new(harness())
            .args(["studio", "--listen", "127.0.0.1:0", "--components"])
            .arg(components)
            .arg("--plugin")
            .arg(plugin())
            .env(
                test_harness::plugin::TRANSCRIPT_ENV,
                logs.path().join("transcript"),
            )
            .env(connector_sdk::plugin::LOG_ENV, "debug")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("the studio starts");
        let mut studio = Studio {
            child,
            url: String::new(),
            port: 0,
            logs,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out =
                std::fs::read_to_string(studio.logs.path().join("stdout")).unwrap_or_default();
            if let Some(url) = out
                .lines()
                .find_map(|line| line.strip_prefix("listening on "))
            {
                studio.url = url.trim().to_owned();
                studio.port = studio
                    .url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("a port in the studio's address");
                return studio;
            }
            if let Ok(Some(status)) = studio.child.try_wait() {
                panic!(
                    "the studio exited ({status}) before listening: {}",
                    studio.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the studio did not print `listening on` within 30 s: {}",
                studio.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the studio printed so far (stdout, then stderr).
    pub(crate) fn output(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.logs.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }

    /// Scans the studio's stdout and stderr and its plugin's transcript for every secret of the
    /// suite; panics naming the secret (never showing it) on a hit.
    pub(crate) fn assert_no_secret_written(&self) {
        let scan = SecretScan::new();
        for (name, stream) in [
            ("stdout", "the studio's stdout"),
            ("stderr", "the studio's stderr"),
            ("transcript", "the studio's plugin (transcript)"),
        ] {
            let text = std::fs::read(self.logs.path().join(name)).unwrap_or_default();
            scan.scan_text(stream, &text);
        }
        scan.assert_clean();
    }

    /// An HTTP request to the studio with its own Host header; (status, body).
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, String) {
        let host = format!("127.0.0.1:{}", self.port);
        let mut headers = vec![("Host", host.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let text = body.map(|b| b.to_string());
        raw_request(self.port, method, path, &headers, text.as_deref())
    }

    /// A JSON request; (status, answer as JSON).
    pub(crate) fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self.request(method, path, body);
        let value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path} answered {status} without JSON ({e}): {text}")
        });
        (status, value)
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            self.assert_no_secret_written();
        }
    }
}

/// A plain HTTP/1.1 request to 127.0.0.1:`port` with exactly these headers; (status, body).
pub(crate) fn raw_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the studio");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the studio answers");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
