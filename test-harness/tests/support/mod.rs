//! Shared by the harness's integration tests: the servers the test command started, the
//! binaries under test, and small loopback HTTP stubs for answers no real server gives on demand.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The moto server started by `scripts/test.sh`. Missing is a failure, never a skip.
pub fn sqs_endpoint() -> String {
    std::env::var("SQS_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SQS_TEST_ENDPOINT is not set: run the tests with ./scripts/test.sh, which installs and \
             starts a moto server on loopback and passes its address"
        )
    })
}

/// The harness binary under test.
pub fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_test-harness"))
}

/// The plugin binary, built next to the harness by `cargo build --workspace`.
pub fn plugin() -> PathBuf {
    let path = harness().with_file_name("sqs-connector");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace), as scripts/test.sh does",
        path.display()
    );
    path
}

/// A connection component with access keys, pointed at `endpoint`.
pub fn access_key_component(id: &str, endpoint: &str, secret: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "connector": "amazon-sqs",
        "kind": "connection",
        "fields": {
            "authenticationType": "ACCESS_KEYS",
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "secretKey": secret,
            "region": "us-east-1",
            "endpointUrl": endpoint
        }
    })
}

/// Runs the harness with arguments; returns its output.
pub fn run_harness(args: &[&str]) -> Output {
    std::process::Command::new(harness())
        .args(args)
        .arg("--plugin")
        .arg(plugin())
        .output()
        .expect("the harness runs")
}

/// Text of stdout and stderr together.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A loopback HTTP server that answers every request with the given status, headers and body.
/// Returns its base URL.
pub async fn stub_http(status: u16, headers: Vec<(String, String)>, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let headers = headers.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // Read until the end of the headers and the body announced by Content-Length.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = find(&seen, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let mut response = format!("HTTP/1.1 {status} Stub\r\ncontent-length: {}\r\n", body.len());
                for (name, value) in &headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&body);
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// A loopback TCP server that accepts connections and never answers. Returns its base URL.
pub async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

/// A port on loopback where nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
