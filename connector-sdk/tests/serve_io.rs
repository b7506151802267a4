//! The plugin server in process (`serve_io`), over writers a test controls: work registered with
//! `ExecutionContext::after_delivery` runs only once the response line was written and flushed,
//! is told `false` when the output fails, and a broken output cancels what runs. With small
//! limits (`serve_io_with`): a line longer than `maxLineBytes` is refused and the next served,
//! at most `maxRequestsInFlight` requests run, and a slow output holds back the reading.

// Of the connector this binary uses a few operations and the record of deliveries.
#[allow(dead_code)]
#[path = "support/echo.rs"]
mod echo;
#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use connector_sdk::Connector;
use connector_sdk::host::INVALID_REQUEST;
use connector_sdk::plugin::{ServeOptions, serve_io, serve_io_with};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream, Lines};
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

    served_to_the_end(host, server).await;
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

/// The lines a host reads from the plugin's output.
type Output = Lines<BufReader<DuplexStream>>;

/// `connector` served with `options`: the host's end of the plugin's input (a pipe that holds
/// `input_room` bytes until the plugin reads them), the lines of its output (a pipe that holds
/// `output_room` bytes until the host reads them) and the server.
fn serve_limited(
    connector: Connector,
    options: ServeOptions,
    input_room: usize,
    output_room: usize,
) -> (DuplexStream, Output, JoinHandle<io::Result<()>>) {
    let (host, plugin_in) = tokio::io::duplex(input_room);
    let (plugin_out, host_in) = tokio::io::duplex(output_room);
    let server = tokio::spawn(serve_io_with(
        Arc::new(connector),
        BufReader::new(plugin_in),
        plugin_out,
        options,
    ));
    (host, BufReader::new(host_in).lines(), server)
}

/// The next response on the output.
async fn next_response(output: &mut Output) -> Value {
    let line = tokio::time::timeout(PATIENCE, output.next_line())
        .await
        .expect("expected a response within 10 s")
        .expect("the output is readable")
        .expect("expected a response line; the output closed");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a response: {line} ({e})"))
}

/// An `initialize` request of protocol 1.1, with `limits.maxLineBytes` when given.
fn initialize_1_1(id: u64, max_line_bytes: Option<u64>) -> Value {
    let mut params =
        json!({"protocolVersion": "1.1", "host": {"name": "serve-io-test", "version": "0"}});
    if let Some(max) = max_line_bytes {
        params["limits"] = json!({"maxLineBytes": max});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params})
}

/// An ECHO execute request line of exactly `length` bytes (without its newline).
fn execute_line_of_length(id: u64, length: usize) -> Vec<u8> {
    let empty = serde_json::to_vec(&execute(id, "ECHO", &format!("e-length-{id}"), "")).unwrap();
    let data = "x".repeat(length - empty.len());
    let line = serde_json::to_vec(&execute(id, "ECHO", &format!("e-length-{id}"), &data)).unwrap();
    assert_eq!(line.len(), length);
    line
}

async fn send_line(host: &mut DuplexStream, line: &[u8]) {
    host.write_all(line).await.unwrap();
    host.write_all(b"\n").await.unwrap();
}

/// Checks that `response` is the -32600 of a line longer than `limit`, for request `id`.
fn assert_too_long(response: &Value, id: Value, limit: usize) {
    assert_eq!(response["id"], id, "{response}");
    assert_eq!(response["error"]["code"], INVALID_REQUEST, "{response}");
    let message = format!(
        "the line is {} bytes or more; this plugin accepts lines of at most {limit} bytes \
         (limits.maxLineBytes)",
        limit + 1
    );
    assert_eq!(response["error"]["message"], json!(message), "{response}");
}

async fn served_to_the_end(host: DuplexStream, server: JoinHandle<io::Result<()>>) {
    drop(host);
    let served = tokio::time::timeout(PATIENCE, server).await;
    assert!(
        matches!(served, Ok(Ok(Ok(())))),
        "expected the server to end with Ok once its input closed; got {served:?}"
    );
}

#[tokio::test]
async fn a_line_longer_than_max_line_bytes_gets_invalid_request_with_its_id_and_the_next_is_served()
{
    const LIMIT: usize = 64 << 10;
    let options = ServeOptions::default().with_max_line_bytes(LIMIT);
    let (mut host, mut output, server) =
        serve_limited(echo::connector(), options, 1 << 20, 1 << 20);
    send(&mut host, initialize_1_1(1, None)).await;
    let initialized = next_response(&mut output).await;
    assert_eq!(
        initialized["result"]["limits"],
        json!({"maxLineBytes": LIMIT, "maxRequestsInFlight": 64}),
        "{initialized}"
    );

    // A line of exactly the limit is served; one byte more is not.
    send_line(&mut host, &execute_line_of_length(2, LIMIT)).await;
    let served = next_response(&mut output).await;
    assert_eq!(served["id"], 2);
    assert_eq!(served["result"]["results"][0]["status"], "SUCCESS");
    send_line(&mut host, &execute_line_of_length(3, LIMIT + 1)).await;
    assert_too_long(&next_response(&mut output).await, json!(3), LIMIT);

    // An id that the line's head does not show: null.
    let late_id = format!(
        r#"{{"jsonrpc":"2.0","method":"browse","params":{{"filter":"{}"}},"id":4}}"#,
        "y".repeat(LIMIT)
    );
    send_line(&mut host, late_id.as_bytes()).await;
    assert_too_long(&next_response(&mut output).await, Value::Null, LIMIT);

    // Lines too long one after the other, then a request: it is served.
    let garbage = vec![b'z'; 3 * LIMIT];
    send_line(&mut host, &garbage).await;
    send_line(&mut host, &garbage).await;
    send(
        &mut host,
        json!({"jsonrpc": "2.0", "id": 5, "method": "testConnection",
               "params": {"connection": connection("conn-serve-io-limit", API_KEY)}}),
    )
    .await;
    assert_too_long(&next_response(&mut output).await, Value::Null, LIMIT);
    assert_too_long(&next_response(&mut output).await, Value::Null, LIMIT);
    let tested = next_response(&mut output).await;
    assert_eq!(
        (&tested["id"], &tested["result"]["ok"]),
        (&json!(5), &json!(true)),
        "{tested}"
    );
    served_to_the_end(host, server).await;
}

#[tokio::test]
async fn the_line_limit_negotiated_with_a_1_1_host_is_in_force_and_a_1_0_host_gets_the_plugins() {
    const PLUGIN_MAX: usize = 4 << 20;
    const FLOOR: usize = 1 << 20;
    let options = ServeOptions::default()
        .with_max_line_bytes(PLUGIN_MAX)
        .with_max_requests_in_flight(8);
    let (mut host, mut output, server) =
        serve_limited(echo::connector(), options, 1 << 20, 16 << 20);

    // More than the plugin's maximum: the plugin's maximum.
    send(&mut host, initialize_1_1(1, Some(1 << 40))).await;
    let answer = next_response(&mut output).await;
    assert_eq!(
        answer["result"]["limits"],
        json!({"maxLineBytes": PLUGIN_MAX, "maxRequestsInFlight": 8})
    );
    // Less than the floor: the floor, and it is in force.
    send(&mut host, initialize_1_1(2, Some(1000))).await;
    let answer = next_response(&mut output).await;
    assert_eq!(answer["result"]["limits"]["maxLineBytes"], FLOOR);
    send_line(&mut host, &execute_line_of_length(3, FLOOR)).await;
    assert_eq!(next_response(&mut output).await["id"], 3);
    send_line(&mut host, &execute_line_of_length(4, FLOOR + 1)).await;
    assert_too_long(&next_response(&mut output).await, json!(4), FLOOR);

    // A 1.0 host: no limits in the answer, exactly as in 1.0, and the plugin's maximum.
    send(&mut host, initialize()).await;
    let answer = next_response(&mut output).await;
    let keys: Vec<&String> = answer["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["protocolVersion", "connector"], "{answer}");
    assert_eq!(answer["result"]["protocolVersion"], "1.0");
    send_line(&mut host, &execute_line_of_length(5, 3 << 20)).await;
    let served = next_response(&mut output).await;
    assert_eq!(served["id"], 5);
    assert_eq!(served["result"]["results"][0]["status"], "SUCCESS");
    send_line(&mut host, &execute_line_of_length(6, PLUGIN_MAX + 1)).await;
    assert_too_long(&next_response(&mut output).await, json!(6), PLUGIN_MAX);
    served_to_the_end(host, server).await;
}

/// Waits until the GATE operation of `execution_id` started.
async fn gate_started(execution_id: &str) {
    tokio::time::timeout(PATIENCE, async {
        while !echo::gate_started(execution_id) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("expected the GATE of {execution_id} to start"));
}

#[tokio::test]
async fn with_max_requests_in_flight_running_the_plugin_reads_no_further_line_until_one_finishes() {
    let options = ServeOptions::default().with_max_requests_in_flight(2);
    let (mut host, mut output, server) =
        serve_limited(echo::connector_with_gate(), options, 1 << 20, 1 << 20);
    send(&mut host, initialize_1_1(1, None)).await;
    let answer = next_response(&mut output).await;
    assert_eq!(answer["result"]["limits"]["maxRequestsInFlight"], 2);

    for (id, execution) in [(2, "e-gate-1"), (3, "e-gate-2"), (4, "e-gate-3")] {
        send(&mut host, execute(id, "GATE", execution, "a")).await;
    }
    send(
        &mut host,
        json!({"jsonrpc": "2.0", "id": 5, "method": "testConnection",
               "params": {"connection": connection("conn-serve-io-gate", API_KEY)}}),
    )
    .await;
    gate_started("e-gate-1").await;
    gate_started("e-gate-2").await;
    // Two run: the third execute and the testConnection behind it are not even read.
    let nothing = tokio::time::timeout(Duration::from_millis(500), output.next_line()).await;
    assert!(
        nothing.is_err(),
        "expected no response while two requests run; got {nothing:?}"
    );
    assert!(
        !echo::gate_started("e-gate-3"),
        "expected the third execute not to start while two run"
    );

    echo::open_gate("e-gate-1");
    assert_eq!(next_response(&mut output).await["id"], 2);
    gate_started("e-gate-3").await;
    // The second and third run: the testConnection waits still.
    let nothing = tokio::time::timeout(Duration::from_millis(300), output.next_line()).await;
    assert!(nothing.is_err(), "expected no response; got {nothing:?}");

    echo::open_gate("e-gate-2");
    echo::open_gate("e-gate-3");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(next_response(&mut output).await["id"].as_u64().unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, [3, 4, 5]);
    served_to_the_end(host, server).await;
}

#[tokio::test]
async fn a_slow_output_holds_back_the_reading_instead_of_queueing_responses() {
    const REQUESTS: usize = 200;
    // One request at a time, so two responses queued at most; an output of 64 bytes.
    let options = ServeOptions::default().with_max_requests_in_flight(1);
    let (mut host, mut output, server) = serve_limited(echo::connector(), options, 4096, 64);
    send(&mut host, initialize_1_1(1, None)).await;
    next_response(&mut output).await;

    let written = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            for n in 0..REQUESTS {
                send(
                    &mut host,
                    json!({"jsonrpc": "2.0", "id": 10 + n, "method": "testConnection",
                           "params": {"connection": connection("conn-serve-io-slow", API_KEY)}}),
                )
                .await;
                written.fetch_add(1, Ordering::SeqCst);
            }
            host
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stalled_at = written.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        stalled_at < REQUESTS / 2 && written.load(Ordering::SeqCst) == stalled_at,
        "expected the host's writing to stall while the output is not read; {stalled_at} of \
         {REQUESTS} requests were written, then {}",
        written.load(Ordering::SeqCst)
    );

    let mut ids = Vec::new();
    for _ in 0..REQUESTS {
        let response = next_response(&mut output).await;
        assert_eq!(response["result"]["ok"], true, "{response}");
        ids.push(response["id"].as_u64().unwrap());
    }
    let expected: Vec<u64> = (10..10 + REQUESTS as u64).collect();
    ids.sort_unstable();
    assert_eq!(ids, expected);
    let host = tokio::time::timeout(PATIENCE, writer)
        .await
        .expect("the host's writing ends once the output is read")
        .unwrap();
    served_to_the_end(host, server).await;
}
