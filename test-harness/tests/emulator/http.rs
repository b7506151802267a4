//! A raw HTTP/1.1 client: writes requests byte for byte as given (header names, order, chunking)
//! and reads one response by its Content-Length.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::signer::Request;

/// A received response.
#[derive(Debug)]
pub(crate) struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `message` of an error body.
    pub(crate) fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The emulator's detailed reason.
    pub(crate) fn reason(&self) -> String {
        self.header("x-emulator-reason")
            .unwrap_or_default()
            .to_owned()
    }
}

/// The bytes of `request` on the wire: Content-Length added unless chunked or already present.
pub(crate) fn wire(request: &Request) -> Vec<u8> {
    let mut out = format!("POST {} HTTP/1.1\r\n", request.target).into_bytes();
    for (name, value) in &request.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if request.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for chunk in request.body.chunks(37) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        if request.header("content-length").is_none() {
            out.extend_from_slice(format!("Content-Length: {}\r\n", request.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&request.body);
    }
    out
}

/// Sends a request to the emulator over plain HTTP.
pub(crate) async fn send(addr: SocketAddr, request: &Request) -> Response {
    send_raw(addr, &wire(request)).await
}

/// Sends raw bytes over plain HTTP; reads one response.
pub(crate) async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connects to the emulator");
    exchange(&mut stream, bytes).await
}

/// `GET path` over plain HTTP.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Response {
    send_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
    .await
}

/// Writes `bytes` and reads one response from any stream (plain or TLS).
pub(crate) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> Response {
    stream.write_all(bytes).await.expect("writes the request");
    stream.flush().await.expect("flushes");
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buf).await.expect("reads the response");
        assert!(n > 0, "connection closed before the response headers");
        seen.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().expect("content-length"))
        .unwrap_or(0);
    let mut body = seen[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await.expect("reads the body");
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(length);
    Response {
        status,
        headers,
        body,
    }
}
