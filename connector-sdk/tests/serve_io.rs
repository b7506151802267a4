//! The plugin server in process (`serve_io`), over writers a test controls: work registered with
//! `ExecutionContext::after_delivery` runs only once the response line was written and flushed,
//! is told `false` when the output fails, and a broken output cancels what runs.

// Of the connector this binary uses a few operations and the record of deliveries.
#[allow(dead_code)]
#[path = "support/echo.rs"]
mod echo;
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use connector_sdk::protocol::serve_io;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

use fixtures::{API_KEY, connection, operation};

/// How long anything here may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(10);

/// What a [`TestWriter`] was given: every byte written, and each flush with its tick (see
/// `echo::tick`) and how many bytes had been written by then.
#[derive(Default)]
struct Written {
    bytes: Vec<u8>,
    flushes: Vec<(u64, usize)>,
}

/// A writer that records what it is given, and fails every write that holds `fail_on`.
#[derive(Clone)]
struct TestWriter {
    written: Arc<Mutex<Written>>,
    fail_on: Option<&'static [u8]>,
}

impl TestWriter {
    fn new(fail_on: Option<&'static [u8]>) -> Self {
        Self {
            written: Arc::default(),
            fail_on,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.written.lock().unwrap().bytes.clone()
    }

    fn flushes(&self) -> Vec<(u64, usize)> {
        self.written.lock().unwrap().flushes.clone()
    }
}

impl AsyncWrite for TestWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(needle) = self.fail_on
            && buf.windows(needle.len()).any(|w| w == needle)
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the host went away",
            )));
        }
        self.written.lock().unwrap().bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = self.written.lock().unwrap();
        let len = written.bytes.len();
        written.flushes.push((echo::tick(), len));
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The echo connector served over a pipe the test writes requests into, and `writer`.
fn serve<W: AsyncWrite + Unpin + Send + 'static>(
    writer: W,
) -> (DuplexStream, JoinHandle<io::Result<()>>) {
    let (host, plugin) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(serve_io(
        Arc::new(echo::connector()),
        BufReader::new(plugin),
        writer,
    ));
    (host, server)
}

async fn send(host: &mut DuplexStream, request: Value) {
    let mut line = serde_json::to_vec(&request).unwrap();
    line.push(b'\n');
    host.write_all(&line).await.unwrap();
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
           "params": {"protocolVersion": "1.0", "host": {"name": "serve-io-test", "version": "0"}}})
}

fn execute(id: u64, op: &str, execution_id: &str, data: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "execute", "params": {
        "executionId": execution_id, "processName": "p",
        "connection": connection("conn-serve-io", API_KEY),
        "operation": operation(op, json!({})),
        "documents": [{"data": data, "properties": {}}],
    }})
}

/// Waits until work after delivery of `execution_id` ran, and returns what it was told.
async fn delivered(execution_id: &str) -> Vec<(u64, bool)> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let told = echo::deliveries(execution_id);
            if !told.is_empty() {
                return told;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("expected the work after delivery of {execution_id} to run"))
}

/// Where the response line with `id` ends in `bytes`, once it is there.
fn end_of_response(bytes: &[u8], id: u64) -> Option<usize> {
    let head = format!(r#"{{"jsonrpc":"2.0","id":{id},"#);
    let start = bytes
        .windows(head.len())
        .position(|w| w == head.as_bytes())?;
    let length = bytes[start..].iter().position(|b| *b == b'\n')?;
    Some(start + length + 1)
}

#[tokio::test]
async fn work_after_delivery_runs_after_the_response_line_was_written_and_flushed() {
    let writer = TestWriter::new(None);
    let (mut host, server) = serve(writer.clone());
    send(&mut host, initialize()).await;
    send(&mut host, execute(2, "DEFERRED", "e-serve-io-written", "a")).await;

    let told = delivered("e-serve-io-written").await;
    assert_eq!(told.len(), 1, "expected the work to run once; got {told:?}");
    let (ran_at, delivered) = told[0];
    assert!(
        delivered,
        "expected the work to be told the results were delivered"
    );
    let bytes = writer.bytes();
    let end = end_of_response(&bytes, 2).expect("the execute's response line was written");
    let flushed_before = writer
        .flushes()
        .iter()
        .any(|(at, len)| *at < ran_at && *len >= end);
    assert!(
        flushed_before,
        "expected the response line to be written and flushed before the work ran (tick \
         {ran_at}); flushes: {:?}, line ends at {end}",
        writer.flushes()
    );

    drop(host);
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "expected the server to end with Ok once its input closed; got {served:?}"
    );
}

#[tokio::test]
async fn work_after_delivery_waits_while_the_response_line_cannot_be_written() {
    // The output holds 64 bytes until the host reads them.
    let (plugin_out, host_in) = tokio::io::duplex(64);
    let (mut host, server) = serve(plugin_out);
    let mut responses = BufReader::new(host_in).lines();
    send(&mut host, initialize()).await;
    let initialized = tokio::time::timeout(PATIENCE, responses.next_line())
        .await
        .expect("the initialize response in time")
        .unwrap()
        .expect("a line");
    assert!(initialized.contains(r#""id":1"#), "{initialized}");

    let body = "x".repeat(4096);
    send(&mut host, execute(2, "DEFERRED", "e-serve-io-held", &body)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        echo::deliveries("e-serve-io-held"),
        Vec::new(),
        "expected no work after delivery while the response line is not written"
    );
    let response = tokio::time::timeout(PATIENCE, responses.next_line())
        .await
        .expect("the execute response in time")
        .unwrap()
        .expect("a line");
    assert!(response.contains(r#""id":2"#), "{response}");
    let told: Vec<bool> = delivered("e-serve-io-held")
        .await
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(told, vec![true]);

    drop(host);
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "got {served:?}");
}

#[tokio::test]
async fn work_after_delivery_is_told_false_when_the_output_fails_and_the_server_stops() {
    let writer = TestWriter::new(Some(br#""results""#));
    let (mut host, server) = serve(writer.clone());
    send(&mut host, initialize()).await;
    send(&mut host, execute(2, "DEFERRED", "e-serve-io-failed", "a")).await;

    let told: Vec<bool> = delivered("e-serve-io-failed")
        .await
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(
        told,
        vec![false],
        "expected the work to be told the results were not delivered"
    );
    // The input is still open: the server stops because its output failed.
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "expected the server to stop cleanly once its output failed; got {served:?}"
    );
    assert_eq!(end_of_response(&writer.bytes(), 2), None);
    drop(host);
}

#[tokio::test]
async fn a_broken_output_cancels_the_executes_that_run() {
    // The testConnection response breaks the output while WAIT waits for cancellation.
    let writer = TestWriter::new(Some(br#""steps""#));
    let (mut host, server) = serve(writer);
    send(&mut host, initialize()).await;
    send(&mut host, execute(2, "WAIT", "e-serve-io-broken", "a")).await;
    send(
        &mut host,
        json!({"jsonrpc": "2.0", "id": 3, "method": "testConnection",
               "params": {"connection": connection("conn-serve-io", API_KEY)}}),
    )
    .await;

    let told: Vec<bool> = delivered("e-serve-io-broken")
        .await
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(told, vec![false]);
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "expected the server to stop cleanly once its output broke; got {served:?}"
    );
    drop(host);
}

#[tokio::test]
async fn cancelling_through_serve_io_tells_the_work_after_delivery_false() {
    let writer = TestWriter::new(None);
    let (mut host, server) = serve(writer.clone());
    send(&mut host, initialize()).await;
    send(&mut host, execute(2, "WAIT", "e-serve-io-cancelled", "a")).await;
    send(
        &mut host,
        json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 2}}),
    )
    .await;
    let told: Vec<bool> = delivered("e-serve-io-cancelled")
        .await
        .into_iter()
        .map(|(_, delivered)| delivered)
        .collect();
    assert_eq!(told, vec![false]);
    drop(host);
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "got {served:?}");
    let bytes = writer.bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(
        text.lines().count(),
        2,
        "expected two responses (initialize, execute) and none for the cancel; got {text}"
    );
    assert!(text.contains(r#""statusCode":"CANCELLED""#), "{text}");
}
