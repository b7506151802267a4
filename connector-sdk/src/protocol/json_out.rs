//! The two large messages of the protocol, written by hand: `execute` params (a host's
//! documents) and `execute` results (a plugin's outputs). Their bulk is document bodies, often
//! JSON themselves and so full of characters to escape; this writer escapes them a word at a
//! time instead of a byte at a time. The bytes are exactly what `serde_json` writes for the same
//! values (the tests compare them), so either side may use either writer.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

#[cfg(feature = "host")]
use super::types::ExecuteParamsRef;
use super::types::{ExecuteResult, ListenBatchParams, Outputs};
use crate::document::{Document, DocumentResult, ResultStatus};

/// Where the first byte JSON must escape (`"`, `\` or a control character) is among eight bytes
/// of text, if one is. The reader uses it too, to skip what needs no unescaping.
#[inline]
pub(super) fn first_escape(word: [u8; 8]) -> Option<usize> {
    crate::bytes::first_in_word(word, 0x20, [b'"', b'\\'])
}

/// What JSON writes for each byte below 0x80 inside a string: 0 for the byte itself, the
/// letter of a two-character escape (`\n`), or `u` for a `\u00XX` escape.
const ESCAPES: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends one byte of a string, escaped if JSON wants it escaped.
#[inline]
fn push_byte(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPES.get(usize::from(byte)).copied().unwrap_or(0) {
        0 => out.push(byte),
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0x0f)],
        ]),
        letter => out.extend_from_slice(&[b'\\', letter]),
    }
}

/// Appends `text` as a JSON string literal, quotes included.
///
/// Eight bytes at a time: each word is copied whole and, when it holds a byte to escape, cut
/// back to that byte, which is written escaped. Bodies that are JSON have a quote every few
/// bytes; copying the runs between escapes (a `memcpy` call for every few bytes) costs more.
pub(super) fn push_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let word: [u8; 8] = word.try_into().unwrap_or_default();
        out.extend_from_slice(&word);
        match first_escape(word) {
            None => at += 8,
            Some(position) => {
                out.truncate(out.len() - 8 + position);
                push_byte(out, word[position]);
                at += position + 1;
            }
        }
    }
    for &byte in &bytes[at..] {
        push_byte(out, byte);
    }
    out.push(b'"');
}

/// Appends a document: `{"data":…,"properties":{…}}`, or `dataBase64` for a body that is not
/// UTF-8 text.
pub(super) fn push_document(out: &mut Vec<u8>, document: &Document) {
    match std::str::from_utf8(&document.data) {
        Ok(text) => {
            out.extend_from_slice(b"{\"data\":");
            push_str(out, text);
        }
        Err(_) => {
            out.extend_from_slice(b"{\"dataBase64\":\"");
            out.extend_from_slice(BASE64.encode(&document.data).as_bytes());
            out.push(b'"');
        }
    }
    out.push(b',');
    push_properties(out, document);
}

/// Appends `"properties":{…}}`: the rest of a document object.
fn push_properties(out: &mut Vec<u8>, document: &Document) {
    out.extend_from_slice(b"\"properties\":{");
    for (n, (name, value)) in document.properties.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_str(out, name);
        out.push(b':');
        push_str(out, value);
    }
    out.extend_from_slice(b"}}");
}

fn push_documents(out: &mut Vec<u8>, documents: &[Document]) {
    out.push(b'[');
    for (n, document) in documents.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_document(out, document);
    }
    out.push(b']');
}

/// A result; with `delta`, its first output is only what the operation added, written without
/// a body (`"outputs": "added"`).
fn push_result(out: &mut Vec<u8>, result: &DocumentResult, delta: bool) {
    out.extend_from_slice(b"{\"index\":");
    out.extend_from_slice(result.index.to_string().as_bytes());
    out.extend_from_slice(match result.status {
        ResultStatus::Success => b",\"status\":\"SUCCESS\"".as_slice(),
        ResultStatus::ApplicationError => b",\"status\":\"APPLICATION_ERROR\"".as_slice(),
        ResultStatus::Failure => b",\"status\":\"FAILURE\"".as_slice(),
    });
    if let Some(code) = &result.status_code {
        out.extend_from_slice(b",\"statusCode\":");
        push_str(out, code);
    }
    if let Some(message) = &result.message {
        out.extend_from_slice(b",\"message\":");
        push_str(out, message);
    }
    out.extend_from_slice(b",\"outputs\":");
    match result.outputs.split_first() {
        Some((first, rest)) if delta => {
            out.extend_from_slice(b"[{");
            push_properties(out, first);
            for document in rest {
                out.push(b',');
                push_document(out, document);
            }
            out.push(b']');
        }
        _ => push_documents(out, &result.outputs),
    }
    out.push(b'}');
}

/// About how many bytes a document takes once written (escapes of JSON bodies included).
fn document_size_hint(document: &Document) -> usize {
    let properties: usize = document
        .properties
        .iter()
        .map(|(name, value)| name.len() + value.len() + 6)
        .sum();
    document.data.len() + document.data.len() / 6 + properties + 32
}

/// About how many bytes [`push_execute_result`] writes for `result`: a buffer this size is taken
/// for it, so a large response is not grown by doubling.
pub(super) fn execute_result_size_hint(result: &ExecuteResult) -> usize {
    result
        .results
        .iter()
        .map(|r| {
            64 + r.message.as_ref().map_or(0, String::len)
                + r.outputs.iter().map(document_size_hint).sum::<usize>()
        })
        .sum::<usize>()
        + 64
}

#[cfg(feature = "host")]
/// About how many bytes [`push_execute_params`] writes for `params`.
pub(super) fn execute_params_size_hint(params: &ExecuteParamsRef<'_>) -> usize {
    params
        .documents
        .iter()
        .map(document_size_hint)
        .sum::<usize>()
        + 4096
}

/// Appends an `execute` result: `{"results":[…]}`.
pub(super) fn push_execute_result(out: &mut Vec<u8>, result: &ExecuteResult) {
    out.extend_from_slice(b"{\"results\":[");
    for (n, one) in result.results.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_result(out, one, result.delta.get(n) == Some(&true));
    }
    out.extend_from_slice(b"]}");
}

#[cfg(feature = "host")]
/// Appends `execute` params; the components (small) go through `serde_json`.
pub(super) fn push_execute_params(
    out: &mut Vec<u8>,
    params: &ExecuteParamsRef<'_>,
    outputs: Outputs,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"executionId\":");
    push_str(out, params.execution_id);
    out.extend_from_slice(b",\"processName\":");
    push_str(out, params.process_name);
    out.extend_from_slice(b",\"connection\":");
    serde_json::to_writer(&mut *out, params.connection)?;
    out.extend_from_slice(b",\"operation\":");
    serde_json::to_writer(&mut *out, params.operation)?;
    out.extend_from_slice(b",\"documents\":");
    push_documents(out, params.documents);
    if outputs == Outputs::Added {
        out.extend_from_slice(b",\"outputs\":\"added\"");
    }
    out.push(b'}');
    Ok(())
}

/// About how many bytes [`push_listen_batch_params`] writes for `params`.
pub(super) fn listen_batch_params_size_hint(params: &ListenBatchParams) -> usize {
    params
        .documents
        .iter()
        .map(document_size_hint)
        .sum::<usize>()
        + params.listener_id.len()
        + params.batch_id.len()
        + 64
}

/// Appends `listen/batch` params: `{"listenerId":…,"batchId":…,"documents":[…]}`.
pub(super) fn push_listen_batch_params(out: &mut Vec<u8>, params: &ListenBatchParams) {
    out.extend_from_slice(b"{\"listenerId\":");
    push_str(out, &params.listener_id);
    out.extend_from_slice(b",\"batchId\":");
    push_str(out, &params.batch_id);
    out.extend_from_slice(b",\"documents\":");
    push_documents(out, &params.documents);
    out.push(b'}');
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::component::Component;

    /// Strings that exercise every escape, multi-byte text, surrogate pairs in JSON's escapes,
    /// and every byte below 0x80 at every position of a word, in runs longer than a word. The
    /// reader's tests use them too.
    pub(in crate::protocol) fn tricky_strings() -> Vec<String> {
        let mut cases: Vec<String> = vec![
            String::new(),
            "plain".into(),
            r#"{"order":{"id":"O-1","note":"a \"quoted\" word"},"path":"C:\\tmp\\x"}"#.into(),
            "tab\tnew\nline\rcr\u{8}bs\u{c}ff\u{0}nul\u{1f}us\u{7f}del".into(),
            "ünïcödé ✓ 😀 \u{FFFF} \u{10FFFF}".into(),
            "12345678\"12345678\\1234567\n".into(),
        ];
        for c in 0u8..0x80 {
            for at in 0..9 {
                let mut s = "x".repeat(at);
                s.push(char::from(c));
                s.push_str(&"y".repeat(17 - at));
                cases.push(s);
            }
        }
        cases
    }

    /// A connection whose fields nest and hold a closing brace in a string, and an operation.
    pub(in crate::protocol) fn components() -> (Component, Component) {
        let connection = Component::connection(
            "conn \"1\"",
            "amazon-sqs",
            serde_json::json!({"region": "us-east-1", "n": 3, "nested": {"a": [1, "}"]}})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let operation = Component::operation("op", "amazon-sqs", "SEND", Default::default());
        (connection, operation)
    }

    /// An execute result with one result of each status; the first carries `outputs`.
    pub(in crate::protocol) fn results(outputs: Vec<Document>) -> ExecuteResult {
        ExecuteResult::new(vec![
            DocumentResult {
                index: 0,
                status: ResultStatus::Success,
                status_code: None,
                message: None,
                outputs,
            },
            DocumentResult {
                index: 1,
                status: ResultStatus::ApplicationError,
                status_code: Some("InvalidCharacter".into()),
                message: Some("document 1: \"the body\" contains U+0000".into()),
                outputs: Vec::new(),
            },
            DocumentResult {
                index: 12345,
                status: ResultStatus::Failure,
                status_code: None,
                message: Some("timed out".into()),
                outputs: vec![Document::new("x")],
            },
        ])
    }

    fn written(text: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    /// Where a byte-by-byte look finds the first byte to escape.
    fn first_escape_slowly(word: [u8; 8]) -> Option<usize> {
        word.iter()
            .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
    }

    #[test]
    fn the_first_byte_to_escape_is_found_in_every_word() {
        // Every byte at every position, among fillers that a borrow could confuse (bytes just
        // above the limits, bytes with the high bit set).
        for filler in [b'a', b' ', b'!', b'#', b']', 0x7f, 0x80, 0xc3, 0xff] {
            for position in 0..8 {
                for byte in 0..=255u8 {
                    let mut word = [filler; 8];
                    word[position] = byte;
                    assert_eq!(first_escape(word), first_escape_slowly(word), "{word:?}");
                }
            }
        }
        // Words with several bytes to escape and anything around them (a fixed pseudo-random
        // sequence, biased towards the bytes that matter).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let interesting = [
            0x00, 0x01, 0x1f, 0x20, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0xff,
        ];
        for _ in 0..200_000 {
            let mut word = [0u8; 8];
            for byte in &mut word {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = if state.is_multiple_of(3) {
                    interesting[(state >> 8) as usize % interesting.len()]
                } else {
                    (state >> 16) as u8
                };
            }
            assert_eq!(first_escape(word), first_escape_slowly(word), "{word:?}");
        }
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        for case in &tricky_strings() {
            assert_eq!(
                written(case),
                serde_json::to_string(case).unwrap(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn execute_params_results_and_listen_batches_are_the_bytes_serde_json_writes() {
        let documents = vec![
            Document::new(r#"{"a":"b\"c","n":1}"#)
                .with_property("sqs.attribute.x", "1")
                .with_property("k \"q\"", "v\n"),
            Document::new(vec![0xff, 0x00, 0x10]),
            Document::new(""),
        ];
        let (connection, operation) = components();
        let params = ExecuteParamsRef {
            execution_id: "exec\t1",
            process_name: "orders",
            connection: &connection,
            operation: &operation,
            documents: &documents,
        };
        let mut out = Vec::new();
        push_execute_params(&mut out, &params, Outputs::Full).unwrap();
        assert_eq!(out, serde_json::to_vec(&params).unwrap());

        let result = results(documents.clone());
        let mut out = Vec::new();
        push_execute_result(&mut out, &result);
        assert_eq!(out, serde_json::to_vec(&result).unwrap());
        let back: ExecuteResult = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, result);

        let batch = ListenBatchParams {
            listener_id: "l \"1\"".into(),
            batch_id: "l-1-b\n2".into(),
            documents,
        };
        let mut out = Vec::new();
        push_listen_batch_params(&mut out, &batch);
        assert_eq!(out, serde_json::to_vec(&batch).unwrap());
        assert!(listen_batch_params_size_hint(&batch) >= out.len());
    }
}
