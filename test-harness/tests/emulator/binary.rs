//! The `roles-anywhere-emulator` subcommand of the harness binary, spawned for real: its first
//! stdout line, plain HTTP, and HTTPS on the certificate it writes to `--tls CERT_OUT`.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::common::*;
use super::http;

/// Spawns the emulator with the example config and extra arguments; returns the child and the
/// first stdout line.
async fn spawn(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_test-harness"))
        .arg("roles-anywhere-emulator")
        .arg("--config")
        .arg(emu("config.json"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the harness binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("the first line comes within 20 s")
    .expect("reads stdout");
    (child, line.trim_end().to_owned())
}

fn address(line: &str, scheme: &str) -> SocketAddr {
    let prefix = format!("listening on {scheme}://");
    let rest = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("first line {line:?} should start with {prefix:?}"));
    let addr: SocketAddr = rest
        .parse()
        .unwrap_or_else(|_| panic!("{rest:?} is not HOST:PORT"));
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    addr
}

/// A request signed now (the binary runs on the real clock).
fn signed_now() -> super::signer::Request {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let mut spec = rsa_spec();
    spec.amz_date = time::OffsetDateTime::now_utc()
        .format(format)
        .expect("date");
    spec.sign()
}

#[tokio::test]
async fn binary_serves_http_and_prints_its_address_first() {
    let (mut child, line) = spawn(&[]).await;
    let addr = address(&line, "http");
    let response = http::send(addr, &signed_now()).await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let mut bad = signed_now();
    bad.flip_signature_digit();
    assert_eq!(http::send(addr, &bad).await.status, 403);
    let stats = http::get(addr, "/_emulator/stats").await;
    assert_eq!(
        stats.json(),
        serde_json::json!({"accepted": 1, "rejected": 1})
    );
    child.kill().await.expect("stops");
}

#[tokio::test]
async fn binary_serves_https_on_the_certificate_it_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_out = dir.path().join("emulator-cert.pem");
    let (mut child, line) = spawn(&["--tls", cert_out.to_str().expect("utf-8 path")]).await;
    let addr = address(&line, "https");
    let pem = std::fs::read_to_string(&cert_out).expect("the certificate was written");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der(&cert_out)))
        .expect("a root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());

    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let mut tls = connector
        .connect(name.clone(), tcp)
        .await
        .expect("the handshake verifies the written certificate for 127.0.0.1");
    let response = http::exchange(&mut tls, &http::wire(&signed_now())).await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );

    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let stats = http::exchange(
        &mut tls,
        format!("GET /_emulator/stats HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(
        stats.json(),
        serde_json::json!({"accepted": 1, "rejected": 0})
    );

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plain
        .write_all(b"GET /_emulator/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "TLS port must not answer plain HTTP"
    );
    child.kill().await.expect("stops");
}
