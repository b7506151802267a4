//! Shared by the harness's integration tests: the servers the test command started, the
//! binaries under test, and small loopback HTTP stubs for answers no real server gives on demand.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod declared;
pub(crate) mod roles_anywhere;
pub(crate) mod secret_scan;

use std::path::PathBuf;
use std::process::Output;

use connector_sdk::host::{PluginCommand, PluginProcess};
use secret_scan::{ScanGuard, SecretScan};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The moto server started by `scripts/test.sh`. Missing is a failure, never a skip.
pub(crate) fn sqs_endpoint() -> String {
    std::env::var("SQS_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SQS_TEST_ENDPOINT is not set: run the tests with ./scripts/test.sh, which installs and \
             starts a moto server on loopback and passes its address"
        )
    })
}

/// The harness binary under test.
pub(crate) fn harness() -> PathBuf {
    // Another build of the harness (say, of an earlier commit), to show a test fails there.
    if let Ok(path) = std::env::var("TEST_HARNESS_UNDER_TEST") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_BIN_EXE_test-harness"))
}

/// The plugin binary, built next to the harness by `cargo build --workspace`.
pub(crate) fn plugin() -> PathBuf {
    // Another build of the plugin (say, of an earlier commit), to show a test fails there.
    if let Ok(path) = std::env::var("TEST_PLUGIN_UNDER_TEST") {
        return PathBuf::from(path);
    }
    let path = harness().with_file_name("sqs-connector");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace), as scripts/test.sh does",
        path.display()
    );
    path
}

/// A connection component with access keys, pointed at `endpoint`; `secret` (when it is long
/// enough to tell from ordinary text) is a secret of every scan from now on.
pub(crate) fn access_key_component(id: &str, endpoint: &str, secret: &str) -> serde_json::Value {
    if secret.len() >= secret_scan::MIN_SECRET_LEN {
        secret_scan::register(&format!("the access-key secret of {id}"), secret);
    }
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

/// The secret of the access-key components for moto.
pub(crate) const MOTO_SECRET: &str = "moto-accepts-any-secret";

/// Registers the secrets every test of the suite may hand a plugin (once per test binary): the
/// moto secret, the quickstart's secret, every fixture private key and their passphrase. Tests
/// register their own with [`secret_scan::register`].
pub(crate) fn register_suite_secrets() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        secret_scan::register("the moto access-key secret", MOTO_SECRET);
        secret_scan::register("the quickstart's access-key secret", "example-secret");
        // `password` is an ordinary word (messages and the descriptor's texts hold it): it is
        // looked for as a quoted value, the form a leaked field takes, except where the
        // descriptor names the widget of every secret field.
        secret_scan::register_with_benign(
            "the fixture keys' passphrase",
            &format!("\"{}\"", roles_anywhere::PASSPHRASE),
            &["\"x-widget\":\"password\""],
        );
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rolesanywhere/keys");
        let mut keys = 0;
        for entry in std::fs::read_dir(&dir).expect("the fixture keys") {
            let path = entry.expect("a fixture file").path();
            let text = std::fs::read_to_string(&path).expect("a fixture file");
            if text.contains("PRIVATE KEY") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                secret_scan::register_pem(&format!("the private key {name}"), &text);
                keys += 1;
            }
        }
        assert!(keys > 0, "no fixture private key in {}", dir.display());
    });
}

/// Runs a harness command with the plugin's transcript on (see
/// `test_harness::plugin::TRANSCRIPT_ENV`) and the plugin logging at debug level; scans the
/// transcript and the harness's own stdout and stderr for every secret of the suite and panics
/// on a hit (naming the secret, never showing it). Returns the output.
pub(crate) fn scanned_output(command: &mut std::process::Command) -> Output {
    scanned_run(command, "debug").output
}

/// What a harness command wrote, scanned for secrets (see [`scanned_run`]).
pub(crate) struct Scanned {
    /// Its exit status, stdout and stderr.
    pub output: Output,
    /// The transcript of its plugin: every line it wrote, `stdout: ...` or `stderr: ...`.
    pub transcript: String,
}

/// [`scanned_output`] with the plugin logging at `level` (the harness's `CONNECTOR_LOG`, which
/// its plugin inherits); also returns the plugin's transcript.
pub(crate) fn scanned_run(command: &mut std::process::Command, level: &str) -> Scanned {
    register_suite_secrets();
    let dir = tempfile::tempdir().expect("a folder for the transcript");
    let transcript = dir.path().join("plugin-transcript.txt");
    let output = command
        .env(test_harness::plugin::TRANSCRIPT_ENV, &transcript)
        .env(connector_sdk::plugin::LOG_ENV, level)
        .output()
        .expect("the harness runs");
    let scan = SecretScan::new();
    let written = std::fs::read(&transcript).unwrap_or_default();
    scan.scan_text("the plugin (transcript)", &written);
    scan.scan_text("the harness's stdout", &output.stdout);
    scan.scan_text("the harness's stderr", &output.stderr);
    scan.assert_clean();
    Scanned {
        output,
        transcript: String::from_utf8_lossy(&written).into_owned(),
    }
}

/// Runs the harness with arguments (the plugin scanned, see [`scanned_output`]); returns its
/// output.
pub(crate) fn run_harness(args: &[&str]) -> Output {
    scanned_output(
        std::process::Command::new(harness())
            .args(args)
            .arg("--plugin")
            .arg(plugin()),
    )
}

/// Text of stdout and stderr together.
pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A loopback HTTP server that answers every request with the given status, headers and body.
/// Returns its base URL.
pub(crate) async fn stub_http(status: u16, headers: Vec<(String, String)>, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let headers = headers.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // Read until the end of the headers and the body announced by Content-Length.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
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
                let mut response = format!(
                    "HTTP/1.1 {status} Stub\r\ncontent-length: {}\r\n",
                    body.len()
                );
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
pub(crate) async fn silent_server() -> String {
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
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An SQS client of the test's own, pointed at the moto server, to set up queues and to look at
/// what the server holds afterwards.
pub(crate) fn sqs_client() -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(sqs_endpoint())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "test",
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A queue name no other test uses.
pub(crate) fn unique_queue(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a queue with attributes; returns its URL.
pub(crate) async fn create_queue(name: &str, attributes: &[(&str, &str)]) -> String {
    let mut request = sqs_client().create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::from(*key), *value);
    }
    request
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .unwrap()
        .to_owned()
}

/// Every message in a queue right now, read with the test's own client (and made visible again
/// after `visibility` seconds).
pub(crate) async fn drain_visible(url: &str, visibility: i32) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let messages = receive_ten(url, visibility).await;
        if messages.is_empty() {
            return all;
        }
        all.extend(messages);
    }
}

/// Up to ten messages of a queue, with every attribute, read with the test's own client.
pub(crate) async fn receive_ten(url: &str, visibility: i32) -> Vec<aws_sdk_sqs::types::Message> {
    sqs_client()
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .message_attribute_names("All")
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default()
}

/// Puts messages with these bodies on a queue with the test's own client, ten per call.
pub(crate) async fn send_bodies(url: &str, bodies: &[String]) {
    for chunk in bodies.chunks(10) {
        let mut request = sqs_client().send_message_batch().queue_url(url);
        for (i, body) in chunk.iter().enumerate() {
            request = request.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .expect("a batch entry"),
            );
        }
        let answer = request.send().await.expect("send the messages");
        assert!(answer.failed().is_empty(), "messages refused: {answer:?}");
    }
}

/// Every message in a queue right now, read with the test's own client and deleted as it is read
/// (moto's ReceiveMessage slows down with every message it holds in flight, so taking them off
/// keeps the check fast on queues of hundreds).
pub(crate) async fn take_all(url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let messages = receive_ten(url, 300).await;
        if messages.is_empty() {
            return all;
        }
        let mut delete = sqs_client().delete_message_batch().queue_url(url);
        for (i, message) in messages.iter().enumerate() {
            delete = delete.entries(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("a delete entry"),
            );
        }
        delete.send().await.expect("delete");
        all.extend(messages);
    }
}

/// The approximate number of messages (visible and in flight) the queue holds.
pub(crate) async fn queue_depth(url: &str) -> (u64, u64) {
    queue_depth_with(&sqs_client(), url).await
}

/// [`queue_depth`] asked with `client` (signed for another region, say).
pub(crate) async fn queue_depth_with(client: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let answer = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let attrs = answer.attributes().unwrap();
    let get = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        get(A::ApproximateNumberOfMessages),
        get(A::ApproximateNumberOfMessagesNotVisible),
    )
}

/// A plugin started for a test, whose every line is scanned for the suite's secrets: dropping it
/// panics when one was found (see [`secret_scan`]). Derefs to the [`PluginProcess`].
pub(crate) struct ScannedPlugin {
    process: PluginProcess,
    scan: ScanGuard,
}

impl ScannedPlugin {
    /// The scan of this plugin's output.
    pub(crate) fn scan(&self) -> &SecretScan {
        &self.scan.0
    }
}

impl std::ops::Deref for ScannedPlugin {
    type Target = PluginProcess;

    fn deref(&self) -> &PluginProcess {
        &self.process
    }
}

/// Starts the plugin for a test, logging at debug level, its output scanned for secrets.
pub(crate) async fn start_plugin() -> ScannedPlugin {
    start_plugin_with(|_| {}).await
}

/// Starts the plugin for a test with its command changed by `configure` (logging at debug level
/// unless it says otherwise), its output scanned for secrets. Every test that starts a plugin
/// goes through here.
pub(crate) async fn start_plugin_with(configure: impl FnOnce(&mut PluginCommand)) -> ScannedPlugin {
    register_suite_secrets();
    let scan = SecretScan::new();
    let mut command = PluginCommand::new(plugin(), &["serve"]);
    command.env.push((
        connector_sdk::plugin::LOG_ENV.to_owned(),
        "debug".to_owned(),
    ));
    configure(&mut command);
    command.observer = Some(scan.observer());
    let process = PluginProcess::spawn(command)
        .await
        .expect("the plugin starts");
    ScannedPlugin {
        process,
        scan: ScanGuard(scan),
    }
}

/// An operation component.
pub(crate) fn operation(
    id: &str,
    operation_type: &str,
    fields: serde_json::Value,
) -> connector_sdk::Component {
    connector_sdk::Component::operation(
        id,
        "amazon-sqs",
        operation_type,
        fields.as_object().unwrap().clone(),
    )
}

/// A connection component for the moto server.
pub(crate) fn moto_connection(id: &str) -> connector_sdk::Component {
    serde_json::from_value(access_key_component(id, &sqs_endpoint(), MOTO_SECRET)).unwrap()
}

/// Runs an operation over documents through the plugin.
pub(crate) async fn execute(
    plugin: &connector_sdk::host::PluginProcess,
    connection: &connector_sdk::Component,
    operation: &connector_sdk::Component,
    documents: Vec<connector_sdk::Document>,
) -> Vec<connector_sdk::DocumentResult> {
    let count = documents.len();
    let answer = plugin
        .execute(&connector_sdk::host::ExecuteParams {
            execution_id: unique_queue("exec"),
            process_name: "test".into(),
            connection: connection.clone(),
            operation: operation.clone(),
            documents,
        })
        .await
        .expect("execute answers");
    assert_eq!(answer.results.len(), count, "one result per document");
    for (position, result) in answer.results.iter().enumerate() {
        assert_eq!(result.index, position, "results in input order");
    }
    answer.results
}

/// A loopback proxy in front of `upstream` that replaces the MD5OfBody of every ReceiveMessage
/// answer with zeros (same length, so Content-Length stays right). Returns its base URL.
pub(crate) async fn md5_corrupting_proxy(upstream: String) -> String {
    proxy(upstream, true).await.0
}

/// A loopback proxy in front of `upstream` that records every request (its head, a blank line,
/// its body). Returns its base URL and the requests.
pub(crate) async fn recording_proxy(
    upstream: String,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    proxy(upstream, false).await
}

/// A loopback proxy in front of `upstream` that records every request (its head: request line
/// and headers, a blank line, its body), and with `corrupt` zeroes the MD5OfBody of
/// ReceiveMessage answers.
pub(crate) async fn proxy(
    upstream: String,
    corrupt: bool,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let recorded = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                loop {
                    let Some((head, body)) = read_request(&mut client).await else {
                        return;
                    };
                    recorded
                        .lock()
                        .unwrap()
                        .push(format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&body)));
                    let receive = head
                        .to_ascii_lowercase()
                        .contains("amazonsqs.receivemessage");
                    let head = head
                        .lines()
                        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                        .collect::<Vec<_>>()
                        .join("\r\n");
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let request = format!("{}\r\nconnection: close\r\n\r\n", head.trim_end());
                    if server.write_all(request.as_bytes()).await.is_err()
                        || server.write_all(&body).await.is_err()
                    {
                        return;
                    }
                    let mut response = Vec::new();
                    if server.read_to_end(&mut response).await.is_err() {
                        return;
                    }
                    if corrupt && receive {
                        corrupt_md5(&mut response);
                    }
                    if client.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), heads)
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        if let Some(end) = find(&seen, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_string();
            let length = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while seen.len() < end + 4 + length {
                let n = socket.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            return Some((head, seen[end + 4..end + 4 + length].to_vec()));
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
    }
}

fn corrupt_md5(response: &mut [u8]) {
    let key = b"\"MD5OfBody\"";
    let mut from = 0;
    while let Some(at) = find(&response[from..], key) {
        let start = from + at + key.len();
        // Skip to the opening quote of the value, then overwrite its 32 hex digits.
        if let Some(quote) = response[start..].iter().position(|b| *b == b'"') {
            let value = start + quote + 1;
            for byte in response.iter_mut().skip(value).take(32) {
                *byte = b'0';
            }
            from = value + 32;
        } else {
            return;
        }
    }
}
