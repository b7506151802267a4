//! The reading side of [`json_out`](super::json_out): the two large messages of the protocol,
//! read by hand when they have the exact shape `json_out` writes (keys in its order, no spaces).
//! Anything else, or anything wrong, gives `None`, and the caller parses the line with
//! `serde_json` instead, which has the last word on what the line means and on any error. The
//! point is speed on the common path: bodies that are JSON carry an escape every few bytes, and
//! each document's properties are built into their map in one go.
//!
//! Two problems of a request's document are its own, not the line's, and are reported for it
//! alone (in the words of [`input`](super::input), which reads any other shape): `dataBase64`
//! that is not base64, and an unpaired surrogate escape in its data or properties (which is
//! also how a line's bytes that are not UTF-8 arrive here, see `input::repair_utf8`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::input::{IncomingExecuteParams, why};
#[cfg(feature = "host")]
use super::types::ExecuteResult;
use super::types::Outputs;
use crate::component::Component;
use crate::document::{Document, InputDocument};
#[cfg(feature = "host")]
use crate::document::{DocumentResult, ResultStatus};

use super::json_out::first_escape;

/// A position in a line of JSON text.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Consumes `literal` if the text continues with it.
    fn eat(&mut self, literal: &str) -> bool {
        let matches = self.bytes()[self.at..].starts_with(literal.as_bytes());
        if matches {
            self.at += literal.len();
        }
        matches
    }

    fn expect(&mut self, literal: &str) -> Option<()> {
        self.eat(literal).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    /// A string value, quotes included in the text, escapes decoded; `None` also for a string
    /// holding an unpaired surrogate escape.
    fn string(&mut self) -> Option<String> {
        self.text_or_unpaired()?
    }

    /// A string value, quotes included in the text, escapes decoded: `Some(None)` when the
    /// string is valid JSON but holds an unpaired surrogate escape, so it is not text (it is
    /// read to its end all the same), `None` when it is not a JSON string.
    fn text_or_unpaired(&mut self) -> Option<Option<String>> {
        self.expect("\"")?;
        let bytes = self.bytes();
        let start = self.at;
        // Most strings (names, ids, handles) have no escape: found whole, copied once.
        loop {
            self.skip_to_escape();
            match *bytes.get(self.at)? {
                b'"' => {
                    let text = self.text.get(start..self.at)?.to_owned();
                    self.at += 1;
                    return Some(Some(text));
                }
                b'\\' => break,
                // A raw control character is not valid JSON: serde_json says so.
                0x00..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        // Escapes (JSON bodies have one every few bytes): the text is rebuilt eight bytes at a
        // time, each word copied whole and cut back to its first escape, which is decoded. The
        // buffer starts with room for what is left of the line (at most 2 KiB) and is shrunk
        // if it ends mostly empty: growing it by doubling costs more.
        let mut out = Vec::with_capacity((bytes.len() - start).min(2048));
        out.extend_from_slice(bytes.get(start..self.at)?);
        let mut unpaired = false;
        loop {
            if let Some(word) = bytes.get(self.at..self.at + 8) {
                let word: [u8; 8] = word.try_into().ok()?;
                out.extend_from_slice(&word);
                match first_escape(word) {
                    None => {
                        self.at += 8;
                        continue;
                    }
                    Some(position) => {
                        out.truncate(out.len() - 8 + position);
                        self.at += position;
                    }
                }
            }
            let byte = *bytes.get(self.at)?;
            self.at += 1;
            match byte {
                b'"' => {
                    if unpaired {
                        return Some(None);
                    }
                    if out.capacity() > 2 * out.len() {
                        out.shrink_to_fit();
                    }
                    return String::from_utf8(out).ok().map(Some);
                }
                b'\\' => {
                    let escaped = *bytes.get(self.at)?;
                    self.at += 1;
                    let decoded = match escaped {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            match self.unicode_escape()? {
                                Some(c) => {
                                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                                }
                                None => unpaired = true,
                            }
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(decoded);
                }
                0x00..=0x1f => return None,
                _ => out.push(byte),
            }
        }
    }

    /// Moves to the first byte that needs attention in a string (a quote, a backslash, a
    /// control character), or to within a word of the end of the line.
    fn skip_to_escape(&mut self) {
        while let Some(word) = self.bytes().get(self.at..self.at + 8) {
            match first_escape(word.try_into().unwrap_or_default()) {
                None => self.at += 8,
                Some(position) => {
                    self.at += position;
                    return;
                }
            }
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` read), with its low surrogate if it has one:
    /// `Some(None)` for a surrogate without its other half (an escape that follows a lone high
    /// surrogate is left to be read on its own), `None` for digits that are not hex.
    fn unicode_escape(&mut self) -> Option<Option<char>> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            let before = self.at;
            if self.eat("\\u") {
                let second = self.hex4()?;
                if (0xDC00..0xE000).contains(&second) {
                    return Some(char::from_u32(
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00),
                    ));
                }
                self.at = before;
            }
            Some(None)
        } else {
            // `None` for a low surrogate without its high one: every other value is a char.
            Some(char::from_u32(first))
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// An unsigned integer.
    fn index(&mut self) -> Option<usize> {
        let digits = self.bytes()[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        // JSON has no leading zeros: leave "01" to serde_json.
        if digits == 0 || (digits > 1 && self.peek() == Some(b'0')) {
            return None;
        }
        let value = self.text[self.at..self.at + digits].parse().ok()?;
        self.at += digits;
        Some(value)
    }

    /// The items of a list or object whose opening bracket is read, up to and including `close`:
    /// `item` reads one, the commas between them are read here.
    fn items<T>(
        &mut self,
        close: &str,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Some(items);
        }
        loop {
            items.push(item(self)?);
            if !self.eat(",") {
                self.expect(close)?;
                return Some(items);
            }
        }
    }

    /// `{"data":"…","properties":{…}}`, or `dataBase64`: the document, or why it cannot be read
    /// when that is its own problem (see the module's comment).
    fn input_document(&mut self) -> Option<InputDocument> {
        let data = if self.eat("{\"data\":") {
            let text = self.text_or_unpaired()?;
            self.expect(",")?;
            text.map(String::into_bytes).ok_or_else(why::data_not_text)
        } else if self.eat("{\"dataBase64\":") {
            let decoded = BASE64.decode(self.string()?).map_err(why::bad_base64);
            self.expect(",")?;
            decoded
        } else {
            // No body: an output of `"outputs": "added"` (only what the operation added).
            self.expect("{")?;
            Ok(Vec::new())
        };
        self.expect("\"properties\":{")?;
        let mut problem = data.as_ref().err().cloned();
        let pairs = self.items("}", |reader| {
            let name = reader.text_or_unpaired()?;
            reader.expect(":")?;
            let value = reader.text_or_unpaired()?;
            match (name, value) {
                (Some(name), Some(value)) => return Some(Some((name, value))),
                (None, _) => {
                    problem.get_or_insert_with(why::property_name_not_text);
                }
                (Some(name), None) => {
                    problem.get_or_insert_with(|| why::property_not_text(&name));
                }
            }
            Some(None)
        })?;
        self.expect("}")?;
        if let Some(problem) = problem {
            return Some(InputDocument::Malformed(problem));
        }
        // Built in one go (sorted pairs, a later duplicate winning as with inserts).
        let properties: BTreeMap<String, String> = pairs.into_iter().flatten().collect();
        Some(InputDocument::Document(Document {
            data: data.ok()?,
            properties,
        }))
    }

    #[cfg(feature = "host")]
    /// A document that can be read whole (an output, which the plugin wrote).
    fn document(&mut self) -> Option<Document> {
        match self.input_document()? {
            InputDocument::Document(document) => Some(document),
            InputDocument::Malformed(_) => None,
        }
    }

    #[cfg(feature = "host")]
    fn documents(&mut self) -> Option<Vec<Document>> {
        self.expect("[")?;
        self.items("]", Self::document)
    }

    fn input_documents(&mut self) -> Option<Vec<InputDocument>> {
        self.expect("[")?;
        self.items("]", Self::input_document)
    }

    #[cfg(feature = "host")]
    fn result(&mut self) -> Option<DocumentResult> {
        self.expect("{\"index\":")?;
        let index = self.index()?;
        let status = if self.eat(",\"status\":\"SUCCESS\"") {
            ResultStatus::Success
        } else if self.eat(",\"status\":\"APPLICATION_ERROR\"") {
            ResultStatus::ApplicationError
        } else {
            self.expect(",\"status\":\"FAILURE\"")?;
            ResultStatus::Failure
        };
        let status_code = match self.eat(",\"statusCode\":") {
            true => Some(self.string()?),
            false => None,
        };
        let message = match self.eat(",\"message\":") {
            true => Some(self.string()?),
            false => None,
        };
        self.expect(",\"outputs\":")?;
        let outputs = self.documents()?;
        self.expect("}")?;
        Some(DocumentResult {
            index,
            status,
            status_code,
            message,
            outputs,
        })
    }

    /// The text of the JSON object starting here (strings skipped with their escapes).
    fn object_text(&mut self) -> Option<&'a str> {
        let start = self.at;
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.at += 1;
                    if depth == 0 {
                        return self.text.get(start..self.at);
                    }
                }
                _ => self.at += 1,
            }
        }
    }

    fn component(&mut self) -> Option<Component> {
        let text = self.object_text()?;
        serde_json::from_str(text).ok()
    }
}

/// The numeric id at the head of a line that starts as this SDK writes JSON-RPC lines
/// (`{"jsonrpc":"2.0","id":N`), and the rest of the line; read from the first bytes, so a line of
/// megabytes need not be parsed to route it.
pub(super) fn head_id(line: &[u8]) -> Option<(u64, &[u8])> {
    let rest = line.strip_prefix(br#"{"jsonrpc":"2.0","id":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let id = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some((id, &rest[digits..]))
}

#[cfg(feature = "host")]
/// The result of a response line `{"jsonrpc":"2.0","id":N,"result":{"results":[…]}}` as a
/// plugin writes it; `None` for anything else (an error response included).
pub(super) fn execute_response(line: &str) -> Option<ExecuteResult> {
    let mut reader = Reader { text: line, at: 0 };
    reader.expect("{\"jsonrpc\":\"2.0\",\"id\":")?;
    reader.index()?;
    reader.expect(",\"result\":{\"results\":[")?;
    let results = reader.items("]", Reader::result)?;
    reader.expect("}}")?;
    (reader.at == line.len()).then_some(ExecuteResult::new(results))
}

/// The id and params of a request line `{"jsonrpc":"2.0","id":N,"method":"execute",
/// "params":{…}}` as a host writes it; `None` for anything else.
pub(super) fn execute_request(line: &str) -> Option<(u64, IncomingExecuteParams)> {
    let mut reader = Reader { text: line, at: 0 };
    reader.expect("{\"jsonrpc\":\"2.0\",\"id\":")?;
    let id = u64::try_from(reader.index()?).ok()?;
    reader.expect(",\"method\":\"execute\",\"params\":{\"executionId\":")?;
    let execution_id = reader.string()?;
    reader.expect(",\"processName\":")?;
    let process_name = reader.string()?;
    reader.expect(",\"connection\":")?;
    let connection = reader.component()?;
    reader.expect(",\"operation\":")?;
    let operation = reader.component()?;
    reader.expect(",\"documents\":")?;
    let documents = reader.input_documents()?;
    let outputs = if reader.eat(",\"outputs\":\"added\"") {
        Outputs::Added
    } else {
        // `full`, written or not.
        reader.eat(",\"outputs\":\"full\"");
        Outputs::Full
    };
    reader.expect("}}")?;
    let end = line.trim_end_matches(['\n', '\r']).len();
    (reader.at == end).then_some((
        id,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::input::IncomingExecuteParams;
    use crate::protocol::json_out;
    use crate::protocol::json_out::tests::{components, results, tricky_strings};
    use crate::protocol::types::ExecuteParamsRef;

    fn documents() -> Vec<Document> {
        let mut documents: Vec<Document> = tricky_strings()
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                Document::new(text.clone())
                    .with_property(format!("k{i}"), text.clone())
                    .with_property("sqs.attribute.x", "1")
            })
            .collect();
        documents.push(Document::new(vec![0xff, 0x00, 0x10]));
        documents.push(Document::default());
        documents
    }

    #[test]
    fn responses_as_plugins_write_them_read_as_serde_json_reads_them() {
        let result = results(documents());
        let mut line = br#"{"jsonrpc":"2.0","id":42,"result":"#.to_vec();
        json_out::push_execute_result(&mut line, &result);
        line.push(b'}');
        let line = String::from_utf8(line).unwrap();
        assert_eq!(execute_response(&line), Some(result));
        let empty = r#"{"jsonrpc":"2.0","id":1,"result":{"results":[]}}"#;
        assert_eq!(
            execute_response(empty),
            Some(ExecuteResult::new(Vec::new()))
        );
    }

    #[test]
    fn requests_as_hosts_write_them_read_as_serde_json_reads_them() {
        let documents = documents();
        let (connection, operation) = components();
        let params = ExecuteParamsRef {
            execution_id: "exec\t1",
            process_name: "orders",
            connection: &connection,
            operation: &operation,
            documents: &documents,
        };
        let mut line = br#"{"jsonrpc":"2.0","id":7,"method":"execute","params":"#.to_vec();
        json_out::push_execute_params(&mut line, &params, crate::protocol::types::Outputs::Full)
            .unwrap();
        line.extend_from_slice(b"}\n");
        let line = String::from_utf8(line).unwrap();
        let (id, read) = execute_request(&line).expect("read");
        let reference: IncomingExecuteParams =
            serde_json::from_str(&serde_json::to_string(&params).unwrap()).unwrap();
        assert_eq!(id, 7);
        assert_eq!(read.execution_id, reference.execution_id);
        assert_eq!(read.process_name, reference.process_name);
        assert_eq!(read.connection, reference.connection);
        assert_eq!(read.operation, reference.operation);
        assert_eq!(read.documents, reference.documents);
        let expected: Vec<InputDocument> = documents.into_iter().map(Into::into).collect();
        assert_eq!(read.documents, expected);
    }

    #[test]
    fn outputs_added_is_asked_for_and_written_without_the_body_on_both_paths() {
        use crate::protocol::types::Outputs;
        let (connection, operation) = components();
        let documents = documents();
        let params = ExecuteParamsRef {
            execution_id: "e",
            process_name: "p",
            connection: &connection,
            operation: &operation,
            documents: &documents,
        };
        for outputs in [Outputs::Full, Outputs::Added] {
            let mut line = br#"{"jsonrpc":"2.0","id":7,"method":"execute","params":"#.to_vec();
            json_out::push_execute_params(&mut line, &params, outputs).unwrap();
            line.push(b'}');
            let line = String::from_utf8(line).unwrap();
            let (_, fast) = execute_request(&line).expect("read by the fast path");
            #[derive(serde::Deserialize)]
            struct Request {
                params: IncomingExecuteParams,
            }
            let general: Request = serde_json::from_str(&line).unwrap();
            assert_eq!(
                (fast.outputs, general.params.outputs),
                (outputs, outputs),
                "{line}"
            );
        }

        // A result whose first output is a delta: only its properties, no body.
        let mut result = json_out::tests::results(vec![
            Document::default().with_property("sqs.messageId", "m-1"),
            Document::new("made by the operation"),
        ]);
        result.delta = vec![true, false, false];
        let mut line = br#"{"jsonrpc":"2.0","id":1,"result":"#.to_vec();
        json_out::push_execute_result(&mut line, &result);
        line.push(b'}');
        let line = String::from_utf8(line).unwrap();
        assert!(
            line.contains(r#""outputs":[{"properties":{"sqs.messageId":"m-1"}},{"data":"made by the operation","properties":{}}]"#),
            "{line}"
        );
        let general: serde_json::Value = serde_json::from_str(&line).unwrap();
        let general: ExecuteResult = serde_json::from_value(general["result"].clone()).unwrap();
        result.delta = Vec::new();
        assert_eq!(
            execute_response(&line),
            Some(result.clone()),
            "the fast path"
        );
        assert_eq!(general, result, "serde_json");
    }

    /// An execute request line as hosts write it, with `documents` (JSON text) as given.
    fn request_line(documents: &str) -> String {
        let (connection, operation) = components();
        format!(
            r#"{{"jsonrpc":"2.0","id":9,"method":"execute","params":{{"executionId":"e","processName":"p","connection":{},"operation":{},"documents":{documents}}}}}"#,
            serde_json::to_string(&connection).unwrap(),
            serde_json::to_string(&operation).unwrap(),
        )
    }

    #[test]
    fn a_document_that_cannot_be_read_fails_alone_with_the_words_of_the_general_reader() {
        let good = r#"{"data":"ok","properties":{"k":"v"}}"#;
        for (bad, expected) in [
            (
                r#"{"dataBase64":"not base64!","properties":{}}"#,
                "\"dataBase64\" is not valid base64",
            ),
            (
                r#"{"data":"a\ud800b","properties":{}}"#,
                "\"data\" is not valid UTF-8",
            ),
            (
                r#"{"data":"a\udc00b","properties":{}}"#,
                "\"data\" is not valid UTF-8",
            ),
            (
                r#"{"data":"\ud800\u0041","properties":{}}"#,
                "\"data\" is not valid UTF-8",
            ),
            (
                r#"{"data":"a\udfff\udfffb","properties":{}}"#,
                "\"data\" is not valid UTF-8",
            ),
            (
                r#"{"data":"a","properties":{"x":"\ud800","y":"\udc00"}}"#,
                "property \"x\" is not valid UTF-8",
            ),
            (
                r#"{"data":"a","properties":{"\ud800":"v"}}"#,
                "a property name is not valid UTF-8",
            ),
        ] {
            let line = request_line(&format!("[{good},{bad},{good}]"));
            let (_, fast) = execute_request(&line).unwrap_or_else(|| panic!("read: {bad}"));
            #[derive(serde::Deserialize)]
            struct Line<'a> {
                #[serde(borrow)]
                params: &'a serde_json::value::RawValue,
            }
            let general: Line<'_> = serde_json::from_str(&line).unwrap();
            let general: IncomingExecuteParams =
                serde_json::from_str(general.params.get()).unwrap();
            assert_eq!(fast.documents, general.documents, "{bad}");
            let good = InputDocument::Document(Document::new("ok").with_property("k", "v"));
            assert_eq!(fast.documents[0], good, "{bad}");
            assert_eq!(fast.documents[2], good, "{bad}");
            assert!(
                matches!(&fast.documents[1], InputDocument::Malformed(why) if why.starts_with(expected)),
                "{bad}: {:?}",
                fast.documents[1]
            );
        }
        // Paired surrogates are text.
        let line = request_line(r#"[{"data":"\ud83d\ude00\n","properties":{}}]"#);
        let (_, read) = execute_request(&line).unwrap();
        assert_eq!(read.documents, vec![Document::new("😀\n").into()]);
    }

    #[test]
    fn other_shapes_and_bad_json_are_left_to_serde_json() {
        for line in [
            // Spaces, another key order, an error response, trailing text.
            r#"{"jsonrpc": "2.0", "id":1,"result":{"results":[]}}"#,
            r#"{"id":1,"jsonrpc":"2.0","result":{"results":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"results":[]}}x"#,
            // A bad escape, a lone surrogate, a raw control character, a leading zero.
            r#"{"jsonrpc":"2.0","id":1,"result":{"results":[{"index":0,"status":"SUCCESS","message":"\x","outputs":[]}]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"results":[{"index":0,"status":"SUCCESS","message":"\ud800","outputs":[]}]}}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"results\":[{\"index\":0,\"status\":\"SUCCESS\",\"message\":\"\u{1}\",\"outputs\":[]}]}}",
            r#"{"jsonrpc":"2.0","id":1,"result":{"results":[{"index":01,"status":"SUCCESS","outputs":[]}]}}"#,
            // Truncated.
            r#"{"jsonrpc":"2.0","id":1,"result":{"results":[{"index":0,"status":"SUCCESS","outputs":[{"data":"abc"#,
        ] {
            assert_eq!(execute_response(line), None, "{line}");
        }
        assert!(
            execute_request(r#"{"jsonrpc":"2.0","id":1,"method":"browse","params":{}}"#).is_none()
        );
    }

    #[test]
    fn pseudo_random_documents_survive_the_round_trip() {
        // xorshift over a palette of escapes, controls, ASCII and multi-byte characters.
        let palette: Vec<char> = "\"\\/\u{0}\u{8}\t\n\u{c}\r\u{1f} aZ09{}[]:,é✓😀\u{7f}\u{FFFD}"
            .chars()
            .collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut text = |len: usize| {
            (0..len)
                .map(|_| palette[next(palette.len())])
                .collect::<String>()
        };
        let outputs: Vec<Document> = (0..300)
            .map(|i| {
                let mut document = Document::new(text(i % 41));
                for _ in 0..(i % 5) {
                    document.properties.insert(text(1 + i % 7), text(i % 13));
                }
                document
            })
            .collect();
        let result = ExecuteResult::new(vec![DocumentResult {
            index: 0,
            status: ResultStatus::Success,
            status_code: None,
            message: Some(text(30)),
            outputs,
        }]);
        let mut line = br#"{"jsonrpc":"2.0","id":3,"result":"#.to_vec();
        json_out::push_execute_result(&mut line, &result);
        line.push(b'}');
        assert_eq!(
            execute_response(std::str::from_utf8(&line).unwrap()),
            Some(result)
        );
    }

    #[test]
    fn a_repeated_property_keeps_its_last_value_as_serde_json_does() {
        let line = r#"{"jsonrpc":"2.0","id":1,"result":{"results":[{"index":0,"status":"SUCCESS","outputs":[{"data":"","properties":{"b":"1","a":"2","b":"3"}}]}]}}"#;
        #[derive(serde::Deserialize)]
        struct Envelope {
            result: ExecuteResult,
        }
        let reference: Envelope = serde_json::from_str(line).unwrap();
        assert_eq!(execute_response(line), Some(reference.result));
    }
}
