//! A/B measurement of the protocol's hand-written JSON fast path (`json_in`, `json_out`) against
//! `serde_json` and two fast JSON crates, `sonic-rs` and `simd-json` (issue 17: replace the fast
//! path by a well-kept crate if one is at least as fast, or keep it with its fuzzing in
//! `fuzz.rs`). An ignored test, run on a release build:
//!
//! ```text
//! cargo test --release -p connector-sdk --lib json_ab -- --ignored --nocapture
//! ```
//!
//! Each scenario does the same end-to-end work with every contender, on the same messages:
//!
//! * reading an `execute` request line of SEND documents into the id and the
//!   [`IncomingExecuteParams`] the runtime uses (what the server does with a line);
//! * writing an `execute` response line for SEND-like and RECEIVE-like results (what the
//!   server's `Answer::line` does);
//! * reading such a response line into the [`ExecuteResult`] a host returns (what the client
//!   does with a line).
//!
//! Before timing, every contender's output is checked against the fast path's, so a contender
//! that reads or writes something else fails the test instead of being measured.
//!
//! Rounds interleave the contenders, the order alternating (odd rounds first to last, even
//! rounds last to first), so that drift on a shared machine falls on all of them. Each
//! measurement runs a contender over the whole message as many times as fit in about
//! `JSON_AB_MS` milliseconds (default 60) and reports nanoseconds per document;
//! `JSON_AB_ROUNDS` (default 9) sets the rounds. The tables printed are Markdown.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::input::IncomingExecuteParams;
use super::json_in;
use super::json_out;
use super::types::{ExecuteParamsRef, ExecuteResult, Outputs, RpcError};
use crate::component::Component;
use crate::document::{Document, DocumentResult, InputDocument, ResultStatus};

/// Documents per message: the host's default batch is of this order.
const DOCUMENTS: usize = 1_000;

// ---------------------------------------------------------------------------------------------
// The messages.
// ---------------------------------------------------------------------------------------------

/// The fuzz driver's seeded generator, with what the messages need: every run measures the
/// same bytes.
struct Rng(fuzz_support::Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(fuzz_support::Rng::new(seed))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.0.below(items.len())]
    }

    /// `len` characters of `alphabet`.
    fn text(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len() as u64) as usize]))
            .collect()
    }

    /// An id shaped like SQS's message ids (a UUID).
    fn uuid(&mut self) -> String {
        const HEX: &[u8] = b"0123456789abcdef";
        format!(
            "{}-{}-4{}-{}-{}",
            self.text(HEX, 8),
            self.text(HEX, 4),
            self.text(HEX, 3),
            self.text(HEX, 4),
            self.text(HEX, 12)
        )
    }
}

// The bodies' words: names, products and events of a small shop, with accents and quotes to
// escape like a real payload's.
const FIRST: &[&str] = &[
    "Noor", "Tomás", "Ingrid", "Kofi", "Mei", "Olek", "Priya", "Sven",
];
const LAST: &[&str] = &[
    "Okafor",
    "Nakamura",
    "Lindqvist",
    "Duarte",
    "Kowalski",
    "Haddad",
];
const EVENTS: &[&str] = &[
    "order.placed",
    "order.packed",
    "order.delivered",
    "order.refunded",
];
const CURRENCIES: &[&str] = &["SEK", "JPY", "PLN", "NOK"];
const CITIES: &[&str] = &["Malmö", "Osaka", "Kraków", "Bergen", "Accra", "Pune"];
const NOTES: &[&str] = &[
    "",
    "ring twice",
    "the parcel goes to the neighbour at no. 4",
    "write \"fragile\" on the box; \\ no tape on the label",
];

/// A JSON order event of about 300 to 450 bytes: what SQS queues carry, and full of quotes to
/// escape once it is a document's `data`.
fn order_event(rng: &mut Rng, n: usize) -> String {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    // Each item as a row of [line, product code, count, price in cents].
    let lines: Vec<Value> = (1..=1 + rng.below(2))
        .map(|line| {
            let product = format!("P{:04}/{}", rng.below(10_000), rng.below(100));
            json!([line, product, 1 + rng.below(9), rng.below(30_000)])
        })
        .collect();
    json!({
        "eventId": format!("evt-{n:08}"),
        "eventType": rng.pick(EVENTS),
        "occurredAt": format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            1 + rng.below(30),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000)
        ),
        "order": {
            "id": format!("ORD-{:07}", rng.below(10_000_000)),
            "customer": {
                "id": format!("CUST-{:05}", rng.below(100_000)),
                "name": format!("{first} {last}"),
                "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
            },
            "lines": lines,
            "currency": rng.pick(CURRENCIES),
            "shipTo": {"city": rng.pick(CITIES), "postcode": format!("{:05}", rng.below(100_000))},
            "note": rng.pick(NOTES),
        },
    })
    .to_string()
}

/// `count` SEND input documents: an order event and two or three properties, as a process
/// hands them to the SQS connector's SEND.
fn send_documents(count: usize) -> Vec<Document> {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|n| {
            let body = order_event(&mut rng, n);
            let mut document = Document::new(body)
                .with_property(
                    "sqs.attribute.customerId",
                    format!("CUST-{:05}", rng.below(100_000)),
                )
                .with_property("sqs.attribute.eventType", rng.pick(EVENTS));
            if n % 2 == 0 {
                document = document
                    .with_property("sqs.messageGroupId", format!("orders-{}", rng.below(16)));
            }
            document
        })
        .collect()
}

const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders";

/// Fields of a component, from a JSON object.
fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A connection and a SEND operation shaped as the SQS connector's.
fn sqs_components() -> (Component, Component) {
    let connection = Component::connection(
        "conn-orders-prod",
        "amazon-sqs",
        fields(json!({
            "authenticationType": "ACCESS_KEYS",
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "secretKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "region": "eu-west-1",
        })),
    );
    let operation = Component::operation(
        "op-send-orders",
        "amazon-sqs",
        "SEND",
        fields(json!({
            "queue": QUEUE_URL,
            "delaySeconds": 0,
            "batch": true,
            "maxConcurrentRequests": 8,
        })),
    );
    (connection, operation)
}

/// The `execute` request line a host using this SDK writes for `documents` (without its `\n`).
fn request_line(documents: &[Document]) -> String {
    let (connection, operation) = sqs_components();
    let params = ExecuteParamsRef {
        execution_id: "exec-2026-11-30-000042",
        process_name: "orders to SQS",
        connection: &connection,
        operation: &operation,
        documents,
    };
    let mut line = br#"{"jsonrpc":"2.0","id":7,"method":"execute","params":"#.to_vec();
    json_out::push_execute_params(&mut line, &params, Outputs::Full).expect("written");
    line.push(b'}');
    String::from_utf8(line).expect("UTF-8")
}

/// SEND's results: each output is the input document with the three properties SEND adds.
fn send_results(documents: &[Document]) -> ExecuteResult {
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    ExecuteResult::new(
        documents
            .iter()
            .enumerate()
            .map(|(index, document)| DocumentResult {
                index,
                status: ResultStatus::Success,
                status_code: None,
                message: None,
                outputs: vec![
                    document
                        .clone()
                        .with_property("sqs.messageId", rng.uuid())
                        .with_property("sqs.queueUrl", QUEUE_URL)
                        .with_property("sqs.md5OfBody", rng.text(b"0123456789abcdef", 32)),
                ],
            })
            .collect(),
    )
}

/// RECEIVE's result: one result (for the trigger document) whose outputs are `count` messages,
/// each an order event with twelve properties (ids, receipt handle, system attributes, message
/// attributes and their types).
fn receive_results(count: usize) -> ExecuteResult {
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = Rng::new(0x1234_5678_9ABC_DEF1);
    let outputs = (0..count)
        .map(|n| {
            let body = order_event(&mut rng, n);
            let sent = 1_796_000_000_000 + rng.below(1_000_000_000);
            Document::new(body)
                .with_property("sqs.messageId", rng.uuid())
                .with_property("sqs.receiptHandle", rng.text(BASE64, 176))
                .with_property("sqs.md5OfBody", rng.text(b"0123456789abcdef", 32))
                .with_property("sqs.queueUrl", QUEUE_URL)
                .with_property("sqs.sentTimestamp", sent.to_string())
                .with_property(
                    "sqs.approximateFirstReceiveTimestamp",
                    (sent + rng.below(5_000)).to_string(),
                )
                .with_property(
                    "sqs.approximateReceiveCount",
                    (1 + rng.below(3)).to_string(),
                )
                .with_property("sqs.senderId", "AIDAIENQZJOLO23YVJ4VO")
                .with_property(
                    "sqs.attribute.customerId",
                    format!("CUST-{:05}", rng.below(100_000)),
                )
                .with_property("sqs.attributeType.customerId", "String")
                .with_property("sqs.attribute.eventType", rng.pick(EVENTS))
                .with_property("sqs.attributeType.eventType", "String")
        })
        .collect();
    ExecuteResult::new(vec![DocumentResult {
        index: 0,
        status: ResultStatus::Success,
        status_code: None,
        message: None,
        outputs,
    }])
}

// ---------------------------------------------------------------------------------------------
// The contenders' readers and writers.
// ---------------------------------------------------------------------------------------------

/// A request line as the server's general path reads it first (`server::Envelope`): the params
/// are kept as text and read into their type in a second pass.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    #[allow(dead_code, reason = "read as the server reads it; not looked at here")]
    jsonrpc: Cow<'a, str>,
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    #[allow(dead_code, reason = "read as the server reads it; not looked at here")]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: &'a RawValue,
}

/// What the server's general path does with an execute request line: the envelope, then the
/// params, each document read on its own (`input::read_document`).
fn serde_json_request(line: &str) -> Option<(u64, IncomingExecuteParams)> {
    let envelope: Envelope<'_> = serde_json::from_str(line).ok()?;
    let id = envelope.id.get().parse().ok()?;
    let params = serde_json::from_str(envelope.params.get()).ok()?;
    Some((id, params))
}

/// An execute request line for a crate that cannot run `IncomingExecuteParams`'s reader (it
/// reads each document as a `serde_json::RawValue`, which only `serde_json` produces): the same
/// fields, in one pass, with the documents read by `Document`'s own serde reader. On valid
/// documents the values are the same; a document that cannot be read would fail the whole line
/// here instead of alone (see [`LinePerDocument`] for the shape that keeps that).
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    #[allow(dead_code, reason = "read as the server reads it; not looked at here")]
    jsonrpc: Cow<'a, str>,
    id: u64,
    #[serde(borrow)]
    #[allow(dead_code, reason = "read as the server reads it; not looked at here")]
    method: Cow<'a, str>,
    params: Params,
}

/// `execute` params with whole documents (see [`Line`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    execution_id: String,
    process_name: String,
    connection: Component,
    operation: Component,
    documents: Vec<Document>,
    #[serde(default)]
    outputs: Outputs,
}

impl Line<'_> {
    /// The values the runtime uses.
    fn into_incoming(self) -> (u64, IncomingExecuteParams) {
        let Params {
            execution_id,
            process_name,
            connection,
            operation,
            documents,
            outputs,
        } = self.params;
        (
            self.id,
            IncomingExecuteParams {
                execution_id,
                process_name,
                connection,
                operation,
                documents: documents.into_iter().map(InputDocument::from).collect(),
                outputs,
            },
        )
    }
}

/// serde_json, one pass, documents read whole (see [`Line`]): how much of the general path's
/// cost is its two passes and its per-document reader rather than the crate.
fn serde_json_request_one_pass(line: &str) -> Option<(u64, IncomingExecuteParams)> {
    serde_json::from_str::<Line<'_>>(line)
        .ok()
        .map(Line::into_incoming)
}

/// sonic-rs, one pass, documents read whole (see [`Line`]).
fn sonic_request(line: &str) -> Option<(u64, IncomingExecuteParams)> {
    sonic_rs::from_str::<Line<'_>>(line)
        .ok()
        .map(Line::into_incoming)
}

/// simd-json, one pass, documents read whole (see [`Line`]); it parses in place, so the line is
/// copied first (as the server would have to, or give up its buffer).
fn simd_request(line: &str) -> Option<(u64, IncomingExecuteParams)> {
    let mut copy = line.as_bytes().to_vec();
    simd_json::serde::from_slice::<Line<'_>>(&mut copy)
        .ok()
        .map(Line::into_incoming)
}

/// An execute request line with the documents kept as sonic-rs's raw values and read one by
/// one: the shape of `input.rs`'s reader (a document that cannot be read fails alone), on
/// sonic-rs.
#[derive(Deserialize)]
struct LinePerDocument<'a> {
    id: u64,
    #[serde(borrow)]
    params: ParamsPerDocument<'a>,
}

/// `execute` params with raw documents (see [`LinePerDocument`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParamsPerDocument<'a> {
    execution_id: String,
    process_name: String,
    connection: Component,
    operation: Component,
    #[serde(borrow)]
    documents: Vec<sonic_rs::LazyValue<'a>>,
    #[serde(default)]
    outputs: Outputs,
}

/// sonic-rs, the documents each read on their own (see [`LinePerDocument`]); a document that
/// cannot be read is kept as malformed, with sonic-rs's words.
fn sonic_request_per_document(line: &str) -> Option<(u64, IncomingExecuteParams)> {
    let read: LinePerDocument<'_> = sonic_rs::from_str(line).ok()?;
    let ParamsPerDocument {
        execution_id,
        process_name,
        connection,
        operation,
        documents,
        outputs,
    } = read.params;
    let documents = documents
        .iter()
        .map(
            |raw| match sonic_rs::from_str::<Document>(raw.as_raw_str()) {
                Ok(document) => InputDocument::Document(document),
                Err(error) => InputDocument::Malformed(error.to_string()),
            },
        )
        .collect();
    Some((
        read.id,
        IncomingExecuteParams {
            execution_id,
            process_name,
            connection,
            operation,
            documents,
            outputs,
        },
    ))
}

/// A response line as the client's general path reads it (`client::TypedResponse`).
#[derive(Deserialize)]
struct TypedResponse {
    #[serde(default)]
    result: Option<ExecuteResult>,
    #[serde(default)]
    #[allow(dead_code, reason = "read as the client reads it; not looked at here")]
    error: Option<RpcError>,
}

/// The line the server writes for an execute result (`server::result_line`): a buffer sized by
/// `json_out::execute_result_size_hint`, the head, the result `write` appends, the tail.
fn response_line(
    result: &ExecuteResult,
    write: impl FnOnce(&mut Vec<u8>, &ExecuteResult),
) -> Vec<u8> {
    let mut line = Vec::with_capacity(json_out::execute_result_size_hint(result));
    line.extend_from_slice(br#"{"jsonrpc":"2.0","id":7,"result":"#);
    write(&mut line, result);
    line.extend_from_slice(b"}\n");
    line
}

fn fast_write(line: &mut Vec<u8>, result: &ExecuteResult) {
    json_out::push_execute_result(line, result);
}

fn serde_json_write(line: &mut Vec<u8>, result: &ExecuteResult) {
    serde_json::to_writer(line, result).expect("written");
}

fn sonic_write(line: &mut Vec<u8>, result: &ExecuteResult) {
    sonic_rs::to_writer(line, result).expect("written");
}

fn simd_write(line: &mut Vec<u8>, result: &ExecuteResult) {
    simd_json::serde::to_writer(line, result).expect("written");
}

// ---------------------------------------------------------------------------------------------
// The measurement.
// ---------------------------------------------------------------------------------------------

/// One way of doing a scenario's work over the whole message.
struct Contender<'a> {
    name: &'static str,
    run: Box<dyn FnMut() + 'a>,
}

impl<'a> Contender<'a> {
    fn new(name: &'static str, run: impl FnMut() + 'a) -> Self {
        Self {
            name,
            run: Box::new(run),
        }
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `iterations` runs of `run`, timed.
#[allow(
    clippy::disallowed_methods,
    reason = "a measurement: it reads the system's clock on purpose"
)]
fn timed(run: &mut dyn FnMut(), iterations: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..iterations {
        run();
    }
    started.elapsed()
}

/// Measures the contenders in interleaved rounds and prints a Markdown table: per contender the
/// median and the range of nanoseconds per document, the median's ratio to the first
/// contender's (the fast path), and the rounds in which it was the fastest.
fn measure(title: &str, documents: usize, contenders: &mut [Contender<'_>]) {
    let rounds = env_or("JSON_AB_ROUNDS", 9).max(1) as usize;
    let budget = Duration::from_millis(env_or("JSON_AB_MS", 60));
    // Warm up (caches, the allocator) and find how many runs fill the budget.
    let iterations: Vec<u64> = contenders
        .iter_mut()
        .map(|contender| {
            timed(&mut contender.run, 1);
            let once = timed(&mut contender.run, 3) / 3;
            (budget.as_nanos() / once.as_nanos().max(1)).clamp(1, 100_000) as u64
        })
        .collect();
    let mut ns_per_document = vec![Vec::with_capacity(rounds); contenders.len()];
    let mut wins = vec![0usize; contenders.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..contenders.len()).collect();
        // Rounds 1, 3, 5… first to last; rounds 2, 4, 6… last to first.
        if round % 2 == 1 {
            order.reverse();
        }
        let mut this_round = vec![0.0; contenders.len()];
        for c in order {
            let elapsed = timed(&mut contenders[c].run, iterations[c]);
            this_round[c] = elapsed.as_nanos() as f64 / (iterations[c] as f64 * documents as f64);
        }
        let fastest = (0..contenders.len())
            .min_by(|&a, &b| this_round[a].total_cmp(&this_round[b]))
            .unwrap_or(0);
        wins[fastest] += 1;
        for (column, value) in ns_per_document.iter_mut().zip(this_round) {
            column.push(value);
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let reference = median(&ns_per_document[0]);
    println!("\n### {title}\n");
    println!(
        "{rounds} rounds, {documents} documents per message; runs per measurement: {}\n",
        contenders
            .iter()
            .zip(&iterations)
            .map(|(c, i)| format!("{} {i}", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("| contender | median ns/doc | min–max ns/doc | × fast path | rounds won |");
    println!("|---|---:|---:|---:|---:|");
    for (c, contender) in contenders.iter().enumerate() {
        let values = &ns_per_document[c];
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(0.0, f64::max);
        let m = median(values);
        println!(
            "| {} | {m:.0} | {min:.0}–{max:.0} | {:.2} | {}/{rounds} |",
            contender.name,
            m / reference,
            wins[c]
        );
    }
    println!(
        "\nper round (ns/doc): {}",
        contenders
            .iter()
            .zip(&ns_per_document)
            .map(|(c, v)| format!(
                "{}: {}",
                c.name,
                v.iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// Checks that a read gives the fast path's values.
fn assert_same_request(
    name: &str,
    read: Option<(u64, IncomingExecuteParams)>,
    expected: &(u64, IncomingExecuteParams),
) {
    let (id, read) = read.unwrap_or_else(|| panic!("{name} could not read the line"));
    let (expected_id, expected) = expected;
    assert_eq!(id, *expected_id, "{name}: id");
    assert_eq!(
        read.execution_id, expected.execution_id,
        "{name}: executionId"
    );
    assert_eq!(
        read.process_name, expected.process_name,
        "{name}: processName"
    );
    assert!(read.connection == expected.connection, "{name}: connection");
    assert!(read.operation == expected.operation, "{name}: operation");
    assert_eq!(read.outputs, expected.outputs, "{name}: outputs");
    assert!(read.documents == expected.documents, "{name}: documents");
}

/// Checks that a writer gives the fast path's line: the same bytes, or (said so) the same
/// values once read back.
fn check_same_line(name: &str, line: &[u8], expected: &[u8]) {
    if line == expected {
        println!(
            "- {name}: the same bytes as the fast path ({} bytes)",
            line.len()
        );
        return;
    }
    let read = |line: &[u8]| {
        serde_json::from_slice::<TypedResponse>(line)
            .expect("a response line")
            .result
    };
    assert_eq!(read(line), read(expected), "{name}: another result");
    println!(
        "- {name}: other bytes ({} bytes against {}), the same values once read back",
        line.len(),
        expected.len()
    );
}

fn sizes(what: &str, lengths: impl Iterator<Item = usize>) {
    let lengths: Vec<usize> = lengths.collect();
    let (min, max) = (
        lengths.iter().min().copied().unwrap_or(0),
        lengths.iter().max().copied().unwrap_or(0),
    );
    let mean = lengths.iter().sum::<usize>() / lengths.len().max(1);
    println!("- {what}: {min}..{max} bytes, mean {mean}");
}

#[test]
#[ignore = "a measurement: run on a release build with --ignored --nocapture"]
fn json_ab() {
    println!("## JSON fast path A/B (issue 17)");
    let documents = send_documents(DOCUMENTS);
    let request = request_line(&documents);
    let send = send_results(&documents);
    let receive = receive_results(DOCUMENTS);
    sizes("SEND bodies", documents.iter().map(|d| d.data.len()));
    sizes(
        "RECEIVE bodies",
        receive.results[0].outputs.iter().map(|d| d.data.len()),
    );
    println!("- request line: {} bytes", request.len());

    // 1. The request line → the values the runtime uses.
    let expected = json_in::execute_request(&request).expect("the fast path reads it");
    let inputs: Vec<InputDocument> = documents.iter().cloned().map(Into::into).collect();
    assert!(expected.1.documents == inputs, "the fast path: documents");
    assert_same_request("serde_json", serde_json_request(&request), &expected);
    assert_same_request(
        "serde_json one pass",
        serde_json_request_one_pass(&request),
        &expected,
    );
    assert_same_request("sonic-rs", sonic_request(&request), &expected);
    assert_same_request(
        "sonic-rs per document",
        sonic_request_per_document(&request),
        &expected,
    );
    assert_same_request("simd-json", simd_request(&request), &expected);
    measure(
        "Read an execute request (1,000 SEND documents)",
        DOCUMENTS,
        &mut [
            Contender::new("fast path (json_in::execute_request)", || {
                black_box(json_in::execute_request(black_box(&request)));
            }),
            Contender::new("serde_json (the server's general path)", || {
                black_box(serde_json_request(black_box(&request)));
            }),
            Contender::new("serde_json (one pass, whole documents)", || {
                black_box(serde_json_request_one_pass(black_box(&request)));
            }),
            Contender::new("sonic-rs (one pass, whole documents)", || {
                black_box(sonic_request(black_box(&request)));
            }),
            Contender::new("sonic-rs (each document on its own)", || {
                black_box(sonic_request_per_document(black_box(&request)));
            }),
            Contender::new("simd-json (copy + one pass, whole documents)", || {
                black_box(simd_request(black_box(&request)));
            }),
        ],
    );

    // 2. Results → the response line; 3. the response line → the results (the host).
    for (what, result, outputs) in [
        ("SEND-like", &send, send.results.len()),
        ("RECEIVE-like", &receive, receive.results[0].outputs.len()),
    ] {
        let expected = response_line(result, fast_write);
        let serde_line = response_line(result, serde_json_write);
        assert_eq!(
            serde_line, expected,
            "serde_json writes the fast path's bytes"
        );
        println!("\n{what} response line:");
        check_same_line("serde_json", &serde_line, &expected);
        check_same_line("sonic-rs", &response_line(result, sonic_write), &expected);
        check_same_line("simd-json", &response_line(result, simd_write), &expected);
        measure(
            &format!("Write an execute response ({what}, {outputs} outputs)"),
            outputs,
            &mut [
                Contender::new("fast path (json_out::push_execute_result)", || {
                    black_box(response_line(black_box(result), fast_write));
                }),
                Contender::new("serde_json::to_writer", || {
                    black_box(response_line(black_box(result), serde_json_write));
                }),
                Contender::new("sonic_rs::to_writer", || {
                    black_box(response_line(black_box(result), sonic_write));
                }),
                Contender::new("simd_json::serde::to_writer", || {
                    black_box(response_line(black_box(result), simd_write));
                }),
            ],
        );

        // The host reads the line without its `\n`.
        let line = &expected[..expected.len() - 1];
        let text = std::str::from_utf8(line).expect("UTF-8");
        let serde_read = |line: &[u8]| serde_json::from_slice::<TypedResponse>(line).ok()?.result;
        let sonic_read = |line: &[u8]| sonic_rs::from_slice::<TypedResponse>(line).ok()?.result;
        let simd_read = |line: &[u8]| {
            let mut copy = line.to_vec();
            simd_json::serde::from_slice::<TypedResponse>(&mut copy)
                .ok()?
                .result
        };
        assert_eq!(json_in::execute_response(text).as_ref(), Some(result));
        assert_eq!(serde_read(line).as_ref(), Some(result), "serde_json");
        assert_eq!(sonic_read(line).as_ref(), Some(result), "sonic-rs");
        assert_eq!(simd_read(line).as_ref(), Some(result), "simd-json");
        measure(
            &format!("Read an execute response, host side ({what}, {outputs} outputs)"),
            outputs,
            &mut [
                Contender::new("fast path (json_in::execute_response)", || {
                    black_box(json_in::execute_response(black_box(text)));
                }),
                Contender::new("serde_json (the client's general path)", || {
                    black_box(serde_read(black_box(line)));
                }),
                Contender::new("sonic-rs", || {
                    black_box(sonic_read(black_box(line)));
                }),
                Contender::new("simd-json (copy + read)", || {
                    black_box(simd_read(black_box(line)));
                }),
            ],
        );
    }
}
