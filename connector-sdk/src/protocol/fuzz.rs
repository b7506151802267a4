//! Fuzzing of the protocol's readers, run for a few seconds each by `cargo test` (longer with
//! `FUZZ_SECONDS`; `fuzz-support` describes the environment and the reports):
//!
//! * `json_in`'s execute request and response readers against `serde_json` on the same line: a
//!   line the fast path reads is a line `serde_json` reads, to the same values; and the line
//!   `json_out` writes for what `serde_json` read is read back by the fast path, the same.
//!   Lines that are not UTF-8 go through `input::repair_utf8` first, as the server's do.
//! * The bounded line reader (`lines::read_line`, `discard_line`) over random chunkings,
//!   against a plain split of the input, holding no more than its limit however long a line.
//! * The ids read from a line's head (`lines::head_request_id`, `json_in::head_id`): on any
//!   prefix of a JSON object line, no id or the id `serde_json` reads in the whole line.
//!
//! Allocation bound of the JSON readers: 64 bytes per input byte + 1 MiB. A component's
//! fields are `serde_json::Value`s, and a `Value` (72 bytes with `preserve_order`) per two
//! bytes of `[0,0,…]`, in a `Vec` that grows by doubling, is the worst the input can ask for
//! legitimately (about 72 bytes per input byte at the doubling's peak, which the 1 MiB covers
//! for the inputs made here); the point is that it is linear: a length read from the input is
//! never trusted. Time limit: 2 s per input (a debug build; the slowest seen take a third of it).

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use fuzz_support::{Bound, Rng, Target, measured};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::input::{IncomingExecuteParams, repair_utf8};
use super::json_in;
use super::json_out;
use super::lines::{self, HEAD_KEPT, LineRead};
use super::types::{ExecuteParamsRef, ExecuteResult};
use crate::document::{Document, InputDocument};

#[global_allocator]
static ALLOCATOR: fuzz_support::CountingAllocator = fuzz_support::CountingAllocator;

const JSON_BOUND: Bound = Bound {
    per_input_byte: 64,
    base: 1 << 20,
};

/// Tokens of the protocol's lines.
const TOKENS: &[&str] = &[
    "{\"jsonrpc\":\"2.0\",\"id\":",
    ",\"method\":\"execute\",\"params\":",
    "{\"executionId\":",
    ",\"processName\":",
    ",\"connection\":",
    ",\"operation\":",
    ",\"documents\":",
    "{\"data\":",
    "{\"dataBase64\":",
    ",\"properties\":{",
    "\"data\"",
    "\"dataBase64\"",
    "\"properties\"",
    ",\"result\":{\"results\":[",
    "{\"index\":",
    ",\"status\":\"SUCCESS\"",
    ",\"status\":\"APPLICATION_ERROR\"",
    ",\"status\":\"FAILURE\"",
    ",\"statusCode\":",
    ",\"message\":",
    ",\"outputs\":",
    "\"id\":",
    "\"kind\":\"connection\"",
    "\"kind\":\"operation\"",
    "\"fields\":{",
    "\"operationType\":\"SEND\"",
    "\"/wAQ\"",
    "\"YQ==\"",
    "\"YQ=\"",
    "}}",
    "}}\n",
    "]}",
    "\"error\":{\"code\":-32600,\"message\":\"x\"}",
];

fn documents() -> Vec<Document> {
    vec![
        Document::new("plain"),
        Document::new("{\"order\":{\"id\":\"O-1\",\"note\":\"a \\\"quoted\\\" word\"}}")
            .with_property("sqs.attribute.x", "1")
            .with_property("k\"ey", "v\\al\u{1}ue"),
        Document::new("tab\tnew\nline\u{0}nul ünïcödé ✓ 😀 \u{FFFF}\u{10FFFF}"),
        Document::new(vec![0xff, 0x00, 0x10, 0xc3]),
        Document::default(),
        Document::new("12345678\"12345678\\1234567\n12345678").with_property("", ""),
    ]
}

/// An execute request line as hosts using this SDK write it.
fn request_line(id: u64, documents: &[Document]) -> Vec<u8> {
    let (connection, operation) = json_out::tests::components();
    let params = ExecuteParamsRef {
        execution_id: "exec\t1",
        process_name: "orders",
        connection: &connection,
        operation: &operation,
        documents,
    };
    let mut line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"execute\",\"params\":")
        .into_bytes();
    json_out::push_execute_params(&mut line, &params, crate::protocol::types::Outputs::Full)
        .expect("components serialize");
    line.extend_from_slice(b"}\n");
    line
}

fn request_corpus() -> Vec<Vec<u8>> {
    let all = documents();
    let mut corpus = vec![
        request_line(7, &all),
        request_line(0, &[]),
        request_line(18_446_744_073_709_551_615, &all[..1]),
    ];
    for document in &all {
        corpus.push(request_line(1, std::slice::from_ref(document)));
    }
    // Documents only the general reader can read, and documents that fail alone.
    let mut with_documents = |documents: &str| {
        let line = String::from_utf8(request_line(9, &[])).expect("UTF-8");
        corpus.push(
            line.replace("\"documents\":[]", &format!("\"documents\":{documents}"))
                .into_bytes(),
        );
    };
    with_documents(
        r#"[{"data":"a\ud800b","properties":{"x":"\udc00"}},{"dataBase64":"!!","properties":{}}]"#,
    );
    with_documents(r#"[{"data":"\ud83d\ude00\u00e9\n","properties":{"\ud800":"v"}}]"#);
    with_documents(
        r#"[{ "properties": {"k": 1}, "data": null, "dataBase64": "/wAQ" }, "text", 3]"#,
    );
    with_documents(r#"[{"data":"a","data":"b"},{"data":"a","dataBase64":"YQ=="}]"#);
    // Another spacing and key order: the general path's.
    corpus.push(
        br#"{ "id": 3, "jsonrpc": "2.0", "method": "execute", "params": {"processName": "p", "executionId": "e", "documents": [{"data": "x"}], "connection": {"id": "c", "connector": "amazon-sqs", "kind": "connection"}, "operation": {"id": "o", "connector": "amazon-sqs", "kind": "operation", "operationType": "SEND"}}}"#
            .to_vec(),
    );
    // Bytes that are not UTF-8 inside a document, and outside.
    let mut raw = request_line(5, &[Document::new("ab")]);
    if let Some(at) = fuzz_support::find(&raw, b"\"ab\"") {
        raw.splice(at + 1..at + 2, [0xff, 0xe2, 0x82]);
    }
    corpus.push(raw);
    corpus
}

/// A line as `serde_json` reads it: the general path of the server (`parse_request`, then the
/// params as `IncomingExecuteParams`).
#[derive(Deserialize)]
struct RequestLine<'a> {
    jsonrpc: String,
    #[serde(default)]
    id: Option<Value>,
    method: String,
    #[serde(borrow)]
    params: &'a RawValue,
}

fn reference_request(line: &str) -> Result<(Option<Value>, IncomingExecuteParams), String> {
    let request: RequestLine<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if request.jsonrpc != "2.0" || request.method != "execute" {
        return Err(format!(
            "jsonrpc {:?}, method {:?}",
            request.jsonrpc, request.method
        ));
    }
    let params = serde_json::from_str(request.params.get()).map_err(|e| e.to_string())?;
    Ok((request.id, params))
}

fn same_params(
    fast: &IncomingExecuteParams,
    reference: &IncomingExecuteParams,
) -> Result<(), String> {
    let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        Err(format!("{what} differs: fast path {a:?}, serde_json {b:?}"))
    };
    if fast.execution_id != reference.execution_id {
        return differs("executionId", &fast.execution_id, &reference.execution_id);
    }
    if fast.process_name != reference.process_name {
        return differs("processName", &fast.process_name, &reference.process_name);
    }
    if fast.connection != reference.connection {
        return differs(
            "connection",
            &serde_json::to_string(&fast.connection),
            &serde_json::to_string(&reference.connection),
        );
    }
    if fast.operation != reference.operation {
        return differs(
            "operation",
            &serde_json::to_string(&fast.operation),
            &serde_json::to_string(&reference.operation),
        );
    }
    if fast.documents != reference.documents {
        return differs("documents", &fast.documents, &reference.documents);
    }
    Ok(())
}

/// A line as the server has it: its text, or its text repaired (see `input::repair_utf8`).
fn line_text(bytes: &[u8]) -> Option<Cow<'_, str>> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(Cow::Borrowed(text)),
        Err(_) => measured(|| repair_utf8(bytes)).map(Cow::Owned),
    }
}

fn check_request(bytes: &[u8]) -> Result<(), String> {
    let Some(text) = line_text(bytes) else {
        return Ok(());
    };
    let fast = measured(|| json_in::execute_request(&text));
    let reference = reference_request(&text);
    if let Some((id, fast)) = &fast {
        let (reference_id, reference) = reference
            .as_ref()
            .map_err(|e| format!("the fast path read a line serde_json refuses ({e})"))?;
        if reference_id.as_ref() != Some(&Value::from(*id)) {
            return Err(format!("id: fast path {id}, serde_json {reference_id:?}"));
        }
        same_params(fast, reference)?;
    }
    // What serde_json read, written as hosts write it, is read back by the fast path the same.
    if let Ok((Some(Value::Number(id)), reference)) = &reference
        && let Some(id) = id.as_u64()
    {
        let documents: Option<Vec<Document>> = reference
            .documents
            .iter()
            .map(|d| match d {
                InputDocument::Document(document) => Some(document.clone()),
                InputDocument::Malformed(_) => None,
            })
            .collect();
        if let Some(documents) = documents {
            let params = ExecuteParamsRef {
                execution_id: &reference.execution_id,
                process_name: &reference.process_name,
                connection: &reference.connection,
                operation: &reference.operation,
                documents: &documents,
            };
            let mut line =
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"execute\",\"params\":")
                    .into_bytes();
            json_out::push_execute_params(
                &mut line,
                &params,
                crate::protocol::types::Outputs::Full,
            )
            .map_err(|e| e.to_string())?;
            line.push(b'}');
            let line =
                String::from_utf8(line).map_err(|_| "json_out wrote bytes that are not UTF-8")?;
            let (read_id, read) =
                measured(|| json_in::execute_request(&line)).ok_or_else(|| {
                    format!(
                        "the fast path refused the line json_out wrote: {}",
                        fuzz_support::escape(line.as_bytes(), 600)
                    )
                })?;
            if read_id != id {
                return Err(format!("round trip id {read_id}, not {id}"));
            }
            same_params(&read, reference)?;
        }
    }
    Ok(())
}

#[test]
fn fuzz_execute_request_reader_against_serde_json() {
    Target::new(
        "fuzz_execute_request_reader_against_serde_json",
        request_corpus(),
    )
    .tokens(TOKENS)
    .seconds(4.0)
    .bound(JSON_BOUND)
    .time_limit(std::time::Duration::from_secs(2))
    .run(check_request);
}

fn response_line(id: u64, result: &ExecuteResult) -> Vec<u8> {
    let mut line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":").into_bytes();
    json_out::push_execute_result(&mut line, result);
    line.push(b'}');
    line
}

#[derive(Deserialize)]
struct ResponseLine {
    jsonrpc: String,
    id: Value,
    result: ExecuteResult,
}

fn check_response(bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let fast = measured(|| json_in::execute_response(text));
    let reference = serde_json::from_str::<ResponseLine>(text);
    if let Some(fast) = &fast {
        let reference = reference
            .as_ref()
            .map_err(|e| format!("the fast path read a line serde_json refuses ({e})"))?;
        if reference.jsonrpc != "2.0" || !reference.id.is_u64() {
            return Err(format!(
                "the fast path read a response with jsonrpc {:?} and id {}",
                reference.jsonrpc, reference.id
            ));
        }
        if *fast != reference.result {
            return Err(format!(
                "results differ: fast path {fast:?}, serde_json {:?}",
                reference.result
            ));
        }
    }
    if let Ok(reference) = &reference
        && let Some(id) = reference.id.as_u64()
    {
        let line = response_line(id, &reference.result);
        let line =
            String::from_utf8(line).map_err(|_| "json_out wrote bytes that are not UTF-8")?;
        let read = measured(|| json_in::execute_response(&line)).ok_or_else(|| {
            format!(
                "the fast path refused the line json_out wrote: {}",
                fuzz_support::escape(line.as_bytes(), 600)
            )
        })?;
        if read != reference.result {
            return Err(format!("round trip: {read:?}, not {:?}", reference.result));
        }
    }
    Ok(())
}

#[test]
fn fuzz_execute_response_reader_against_serde_json() {
    let mut corpus = vec![
        response_line(42, &json_out::tests::results(documents())),
        response_line(1, &ExecuteResult::new(Vec::new())),
        response_line(3, &json_out::tests::results(Vec::new())),
        br#"{"jsonrpc":"2.0","id":1,"result":{"results":[{"index":0,"status":"SUCCESS","outputs":[{"data":"","properties":{"b":"1","a":"2","b":"3"}}]}]}}"#.to_vec(),
        br#"{"jsonrpc": "2.0", "id": 1, "result": {"results": [{"index": 0, "status": "FAILURE", "statusCode": null, "outputs": [{"dataBase64": "/wAQ"}]}]}}"#.to_vec(),
        br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"x"}}"#.to_vec(),
    ];
    corpus.push(response_line(
        9,
        &json_out::tests::results(vec![Document::new("\u{1}\"\\").with_property("é", "😀")]),
    ));
    Target::new("fuzz_execute_response_reader_against_serde_json", corpus)
        .tokens(TOKENS)
        .seconds(3.0)
        .bound(JSON_BOUND)
        .time_limit(std::time::Duration::from_secs(2))
        .run(check_response);
}

/// An input that arrives a few bytes at a time, sometimes after a `Pending`.
struct Chunked {
    data: Vec<u8>,
    at: usize,
    rng: Rng,
    largest: usize,
}

impl tokio::io::AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.rng.chance(1, 8) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let size = 1 + this.rng.below(this.largest);
        let end = (this.at + size)
            .min(this.data.len())
            .min(this.at + buf.remaining());
        buf.put_slice(&this.data[this.at..end]);
        this.at = end;
        Poll::Ready(Ok(()))
    }
}

/// What the line reader should find: each line whole up to `limit` bytes besides its `\n`, or
/// its first bytes (at most `HEAD_KEPT`, and at most `limit + 1`) and how many bytes are left
/// of it to discard.
fn expected_lines(input: &[u8], limit: usize) -> Vec<(LineRead, Vec<u8>, u64)> {
    let mut expected = Vec::new();
    for line in input.split_inclusive(|&b| b == b'\n') {
        let content = line.len() - usize::from(line.ends_with(b"\n"));
        if content <= limit {
            expected.push((LineRead::Line, line.to_vec(), 0));
        } else {
            let kept = (limit + 1).min(HEAD_KEPT);
            expected.push((
                LineRead::TooLong,
                line[..kept].to_vec(),
                (line.len() - (limit + 1)) as u64,
            ));
        }
    }
    expected
}

fn check_line_reader(input: &[u8]) -> Result<(), String> {
    // The limit and the chunking come from the input, so that a failure replays.
    let mut rng = Rng::new(input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    let limit = match rng.below(6) {
        0 => rng.below(4),
        1 => HEAD_KEPT - 1 + rng.below(3),
        2 => 1 << 20,
        _ => rng.below(2_000),
    };
    let capacity = *rng.pick(&[1usize, 2, 7, 64, 8192]);
    let largest = *rng.pick(&[1usize, 3, 100, 100_000]);
    let chunked = Chunked {
        data: input.to_vec(),
        at: 0,
        rng: Rng::new(rng.next_u64()),
        largest,
    };
    let mut reader = tokio::io::BufReader::with_capacity(capacity, chunked);
    let mut read = Vec::new();
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        buffer.shrink_to_fit();
        // One line's buffer holds at most the limit (and what `Vec` rounds up to).
        let line_bound = 2 * (limit + 1) + 1024;
        let (outcome, peak) = fuzz_support::measure(|| {
            futures::executor::block_on(lines::read_line(&mut reader, &mut buffer, limit))
        });
        let outcome = outcome.map_err(|e| e.to_string())?;
        // The buffer itself never has room for more than the limit and a `\n`.
        if buffer.capacity() > limit + 1 {
            return Err(format!(
                "read_line grew its buffer to {} bytes for a limit of {limit}",
                buffer.capacity()
            ));
        }
        if peak > line_bound {
            return Err(format!(
                "read_line held {peak} bytes for a limit of {limit} (bound {line_bound})"
            ));
        }
        match outcome {
            LineRead::End => break,
            LineRead::Line => read.push((outcome, buffer.clone(), 0)),
            LineRead::TooLong => {
                // Discarding holds one piece (64 KiB) whatever the line's length.
                let (discarded, peak) = fuzz_support::measure(|| {
                    futures::executor::block_on(lines::discard_line(&mut reader))
                });
                let discarded = discarded.map_err(|e| e.to_string())?;
                if peak > (64 << 10) + 1024 {
                    return Err(format!("discard_line held {peak} bytes"));
                }
                read.push((outcome, buffer.clone(), discarded));
            }
        }
    }
    let expected = expected_lines(input, limit);
    if read != expected {
        let show = |lines: &[(LineRead, Vec<u8>, u64)]| {
            lines
                .iter()
                .map(|(o, l, d)| format!("{o:?} {} +{d}", fuzz_support::escape(l, 80)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "limit {limit}, buffer {capacity}, chunks up to {largest}: read [{}], expected [{}]",
            show(&read),
            show(&expected)
        ));
    }
    Ok(())
}

#[test]
fn fuzz_bounded_line_reader_against_a_plain_split() {
    let corpus: Vec<Vec<u8>> = vec![
        request_line(7, &documents()),
        b"0123456789\n01234567890\n\n\nshort\nno newline".to_vec(),
        [&[b'a'; HEAD_KEPT + 100][..], b"\nok\n"].concat(),
        b"\r\n\n\r".to_vec(),
        Vec::new(),
    ];
    Target::new("fuzz_bounded_line_reader_against_a_plain_split", corpus)
        .seconds(2.0)
        .max_len(512 << 10)
        // A line of 512 KiB read a byte at a time in a debug build takes up to a second.
        .time_limit(std::time::Duration::from_secs(3))
        // The reader's own bounds are checked per call (see `check_line_reader`); the whole run
        // also holds the check's lists of lines read and expected, about 40 bytes per line each
        // in vectors that grow by doubling, and an input of newlines is a line per byte.
        .bound(Bound {
            per_input_byte: 192,
            base: 1 << 20,
        })
        .run(check_line_reader);
}

/// The members of a JSON object, in order, repeated keys included.
fn object_members(line: &str) -> Option<Vec<(String, Value)>> {
    struct Members;
    impl<'de> serde::de::Visitor<'de> for Members {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(member) = map.next_entry()? {
                members.push(member);
            }
            Ok(members)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(line);
    let members = serde::Deserializer::deserialize_map(&mut deserializer, Members).ok()?;
    deserializer.end().ok()?;
    Some(members)
}

fn check_head_ids(bytes: &[u8]) -> Result<(), String> {
    // The id `serde_json` reads, when the line is an object with one "id".
    let id = std::str::from_utf8(bytes)
        .ok()
        .and_then(object_members)
        .and_then(|members| {
            let mut ids = members.into_iter().filter(|(k, _)| k == "id");
            match (ids.next(), ids.next()) {
                (Some((_, id)), None) => Some(id),
                _ => None,
            }
        });
    let mut rng = Rng::new(bytes.len() as u64);
    let mut cuts: Vec<usize> = (0..8).map(|_| rng.below(bytes.len() + 1)).collect();
    cuts.extend([bytes.len(), HEAD_KEPT.min(bytes.len())]);
    for cut in cuts {
        let head = &bytes[..cut];
        if let Some(found) = measured(|| lines::head_request_id(head)) {
            if !matches!(found, Value::Null | Value::Number(_) | Value::String(_)) {
                return Err(format!("head_request_id gave {found}"));
            }
            if let Some(id) = &id
                && found != *id
            {
                return Err(format!(
                    "head_request_id of the first {cut} bytes: {found}, the line's id: {id}"
                ));
            }
        }
        if let Some((found, rest)) = measured(|| json_in::head_id(head))
            && matches!(rest.first(), Some(b',' | b'}'))
            && let Some(id) = &id
            && id.as_u64() != Some(found)
        {
            return Err(format!(
                "head_id of the first {cut} bytes: {found}, the line's id: {id}"
            ));
        }
    }
    Ok(())
}

#[test]
fn fuzz_ids_read_from_a_line_head_against_serde_json() {
    let corpus: Vec<Vec<u8>> = vec![
        request_line(7, &documents()[..2]),
        br#"{"jsonrpc":"2.0","id":7,"method":"execute","params":{}}"#.to_vec(),
        br#" { "id" : "a\"b\\" , "method":"x"}"#.to_vec(),
        br#"{"id":null,"method":"shutdown"}"#.to_vec(),
        br#"{"jsonrpc":"2.0","params":{"a":[1,{"id":2}],"b":"}\""},"id":3}"#.to_vec(),
        br#"{"method":"execute","id":-4.5e1,"params":[]}"#.to_vec(),
        br#"{"jsonrpc":"2.0","id":12,"result":{"results":[]}}"#.to_vec(),
        br#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#.to_vec(),
    ];
    Target::new("fuzz_ids_read_from_a_line_head_against_serde_json", corpus)
        .tokens(TOKENS)
        .seconds(2.0)
        .bound(JSON_BOUND)
        .time_limit(std::time::Duration::from_secs(2))
        .run(check_head_ids);
}
