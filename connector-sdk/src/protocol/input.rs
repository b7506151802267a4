//! `execute` params as the plugin reads them: each document on its own, so that one that cannot
//! be read (`dataBase64` that is not base64, a property value that is not a string, text that is
//! not UTF-8) becomes an [`InputDocument::Malformed`] carrying why, and its neighbours are still
//! served. This is the general reader (any key order, any spacing); `json_in` reads the shape
//! hosts using this SDK write, and gives the same answers with the same words (see [`why`]).
//!
//! A line that is not UTF-8 is not JSON text; [`repair_utf8`] turns each of its sequences that is
//! not UTF-8 into a mark both readers report for the document that holds it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::component::Component;
use crate::document::{Document, InputDocument};
use crate::protocol::types::Outputs;

/// `execute` params as the plugin reads them: the documents each read on their own.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IncomingExecuteParams {
    /// The host's id for the process execution.
    pub execution_id: String,
    /// The process name.
    pub process_name: String,
    /// The connection component.
    pub connection: Component,
    /// The operation component.
    pub operation: Component,
    /// The input documents, each read or not.
    #[serde(deserialize_with = "documents")]
    pub documents: Vec<InputDocument>,
    /// What SEND's and DELETE's outputs carry (1.1; `full` when absent).
    #[serde(default)]
    pub outputs: Outputs,
}

/// Why a document could not be read: the words both readers use, each saying what is wrong and
/// what to send instead. The result's message puts `document N could not be read: ` before them.
pub(crate) mod why {
    use std::fmt::Display;

    /// `data` holds bytes that are not UTF-8, or an unpaired surrogate escape.
    pub(crate) fn data_not_text() -> String {
        "\"data\" is not valid UTF-8 text (or holds an unpaired surrogate escape such as \
         \\ud800); send bytes that are not UTF-8 text as \"dataBase64\""
            .to_owned()
    }

    /// A property's value holds bytes that are not UTF-8, or an unpaired surrogate escape.
    pub(crate) fn property_not_text(name: &str) -> String {
        format!(
            "property {name:?} is not valid UTF-8 text (or holds an unpaired surrogate escape \
             such as \\ud800); property values are UTF-8 text"
        )
    }

    /// A property's name holds bytes that are not UTF-8, or an unpaired surrogate escape.
    pub(crate) fn property_name_not_text() -> String {
        "a property name is not valid UTF-8 text (or holds an unpaired surrogate escape such as \
         \\ud800); property names are UTF-8 text"
            .to_owned()
    }

    /// `dataBase64` does not decode.
    pub(crate) fn bad_base64(error: impl Display) -> String {
        format!(
            "\"dataBase64\" is not valid base64 ({error}); send bytes as standard base64 (RFC \
             4648, with padding)"
        )
    }

    /// Both bodies are given.
    pub(crate) fn both_bodies() -> String {
        "it has both \"data\" and \"dataBase64\"; send text as \"data\" or bytes as \
         \"dataBase64\", not both"
            .to_owned()
    }

    /// `data` is not a string.
    pub(crate) fn data_not_a_string(kind: &str) -> String {
        format!(
            "\"data\" is {kind}; \"data\" is a string of text (send bytes as base64 in \
             \"dataBase64\")"
        )
    }

    /// `dataBase64` is not a string.
    pub(crate) fn base64_not_a_string(kind: &str) -> String {
        format!("\"dataBase64\" is {kind}; \"dataBase64\" is a string of standard base64")
    }

    /// `properties` is not an object.
    pub(crate) fn properties_not_an_object(kind: &str) -> String {
        format!(
            "\"properties\" is {kind}; properties are an object of strings, such as \
             {{\"name\": \"value\"}}"
        )
    }

    /// A property's value is not a string.
    pub(crate) fn property_not_a_string(name: &str, kind: &str) -> String {
        format!("property {name:?} is {kind}; property values are strings")
    }

    /// The document is not an object.
    pub(crate) fn not_an_object(kind: &str) -> String {
        format!(
            "it is {kind}; a document is an object such as {{\"data\": \"text\", \
             \"properties\": {{}}}}"
        )
    }

    /// The object could not be read (not expected: the line is JSON by then).
    pub(crate) fn not_readable(error: impl Display) -> String {
        format!("it could not be read ({error}); send documents as the protocol describes them")
    }

    /// A key of the document is given twice.
    pub(crate) fn twice(key: &str) -> String {
        format!("{key:?} is given twice; give it once")
    }
}

/// What kind of JSON value `raw` is, with its article, for messages.
fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Deserializes a string as its bytes, escapes decoded, without the checks that would fail the
/// whole parse: neither that the bytes are UTF-8 nor that surrogate escapes come in pairs (an
/// unpaired one is written as the three bytes it would take, which are not UTF-8).
struct Bytes;

impl<'de> DeserializeSeed<'de> for Bytes {
    type Value = Cow<'de, [u8]>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for Bytes {
    type Value = Cow<'de, [u8]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_bytes<E>(self, bytes: &'de [u8]) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(bytes))
    }

    fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        Ok(Cow::Owned(bytes.to_vec()))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text.as_bytes()))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.as_bytes().to_vec()))
    }
}

/// The bytes of a JSON string (see [`Bytes`]); `None` when `raw` is not a string.
fn string_bytes(raw: &RawValue) -> Option<Cow<'_, [u8]>> {
    if !raw.get().starts_with('"') {
        return None;
    }
    Bytes
        .deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
        .ok()
}

/// The keys (as bytes, see [`Bytes`]) and values of a JSON object, in order.
type Entries<'a> = Vec<(Cow<'a, [u8]>, &'a RawValue)>;

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(Bytes)? {
            entries.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(entries)
    }
}

/// The entries of the JSON object `raw`; `Err` with the message when `raw` is not an object.
fn entries(raw: &RawValue) -> Result<Entries<'_>, serde_json::Error> {
    serde_json::Deserializer::from_str(raw.get()).deserialize_map(EntriesVisitor)
}

/// Reads the `documents` list: each document on its own (see [`read_document`]). Only a value
/// that is not a list fails the whole request.
fn documents<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<InputDocument>, D::Error> {
    struct DocumentsVisitor;

    impl<'de> Visitor<'de> for DocumentsVisitor {
        type Value = Vec<InputDocument>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of documents")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut documents = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                documents.push(read_document(raw));
            }
            Ok(documents)
        }
    }

    deserializer.deserialize_seq(DocumentsVisitor)
}

/// One document, read on its own: the document, or why it cannot be read.
pub(crate) fn read_document(raw: &RawValue) -> InputDocument {
    match document(raw) {
        Ok(document) => InputDocument::Document(document),
        Err(why) => InputDocument::Malformed(why),
    }
}

fn document(raw: &RawValue) -> Result<Document, String> {
    if !raw.get().starts_with('{') {
        return Err(why::not_an_object(kind(raw)));
    }
    let entries = entries(raw).map_err(why::not_readable)?;
    let (mut data, mut data_base64, mut properties) = (None, None, None);
    for (key, value) in entries {
        let (slot, key) = match key.as_ref() {
            b"data" => (&mut data, "data"),
            b"dataBase64" => (&mut data_base64, "dataBase64"),
            b"properties" => (&mut properties, "properties"),
            // Other keys are ignored, as `Document`'s own reader does.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(why::twice(key));
        }
    }
    // `null` stands for an absent body.
    fn given(value: Option<&RawValue>) -> Option<&RawValue> {
        value.filter(|v| v.get() != "null")
    }
    let data = match (given(data), given(data_base64)) {
        (Some(_), Some(_)) => return Err(why::both_bodies()),
        (Some(text), None) => {
            let bytes = string_bytes(text).ok_or_else(|| why::data_not_a_string(kind(text)))?;
            if std::str::from_utf8(&bytes).is_err() {
                return Err(why::data_not_text());
            }
            bytes.into_owned()
        }
        (None, Some(encoded)) => {
            let bytes =
                string_bytes(encoded).ok_or_else(|| why::base64_not_a_string(kind(encoded)))?;
            BASE64.decode(&bytes).map_err(why::bad_base64)?
        }
        (None, None) => Vec::new(),
    };
    let properties = match properties {
        Some(raw) => read_properties(raw)?,
        None => BTreeMap::new(),
    };
    Ok(Document { data, properties })
}

fn read_properties(raw: &RawValue) -> Result<BTreeMap<String, String>, String> {
    if !raw.get().starts_with('{') {
        return Err(why::properties_not_an_object(kind(raw)));
    }
    let entries = entries(raw).map_err(why::not_readable)?;
    let mut properties = BTreeMap::new();
    for (name, value) in entries {
        let name =
            String::from_utf8(name.into_owned()).map_err(|_| why::property_name_not_text())?;
        let bytes =
            string_bytes(value).ok_or_else(|| why::property_not_a_string(&name, kind(value)))?;
        let value =
            String::from_utf8(bytes.into_owned()).map_err(|_| why::property_not_text(&name))?;
        // A repeated name keeps its last value, as `serde_json` does.
        properties.insert(name, value);
    }
    Ok(properties)
}

/// What [`repair_utf8`] writes in place of a sequence of bytes that is not UTF-8: two unpaired
/// low surrogate escapes. The first may pair with a high surrogate escape written just before
/// it; the second never pairs (a low surrogate cannot open a pair), so the string holding the
/// mark always reads as holding an unpaired surrogate, which both readers report for that
/// document alone.
const NOT_UTF8_MARK: &str = "\\udfff\\udfff";

/// The line with every sequence of bytes that is not UTF-8 replaced by [`NOT_UTF8_MARK`], or
/// `None` when such a sequence follows an escape's backslash (then no mark can stand for it).
/// Inside a string the mark makes the string unreadable, and only its document fails; anywhere
/// else it is not JSON, and neither was the line.
pub(crate) fn repair_utf8(line: &[u8]) -> Option<String> {
    let mut repaired = String::with_capacity(line.len() + 64);
    let mut rest = line;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                repaired.push_str(text);
                return Some(repaired);
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                repaired.push_str(std::str::from_utf8(valid).ok()?);
                let backslashes = repaired.bytes().rev().take_while(|&b| b == b'\\').count();
                if backslashes % 2 == 1 {
                    return None;
                }
                repaired.push_str(NOT_UTF8_MARK);
                rest = &after[error.error_len().unwrap_or(after.len())..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(document: &str) -> InputDocument {
        let raw: &RawValue = serde_json::from_str(document).expect("valid JSON");
        read_document(raw)
    }

    fn malformed(document: &str) -> String {
        match read(document) {
            InputDocument::Malformed(why) => why,
            other => panic!("expected {document} to be malformed; got {other:?}"),
        }
    }

    #[test]
    fn documents_in_any_key_order_and_spacing_are_read() {
        assert_eq!(
            read(
                r#"{ "properties" : {"k": "v", "k": "w"}, "data": "a\u00e9\ud83d\ude00", "x": 1 }"#
            ),
            InputDocument::Document(Document::new("aé😀").with_property("k", "w"))
        );
        assert_eq!(
            read(r#"{"dataBase64": "/wAQ", "data": null}"#),
            InputDocument::Document(Document::new(vec![0xff, 0x00, 0x10]))
        );
        assert_eq!(read("{}"), InputDocument::Document(Document::default()));
    }

    #[test]
    fn each_problem_is_named_with_what_to_do() {
        let cases = [
            (
                r#"{"dataBase64":"!!"}"#,
                "\"dataBase64\" is not valid base64",
            ),
            (
                r#"{"data":"a","dataBase64":"YQ=="}"#,
                "both \"data\" and \"dataBase64\"",
            ),
            (
                r#"{"data":"a","properties":{"x":1}}"#,
                "property \"x\" is a number",
            ),
            (
                r#"{"data":"a","properties":{"x":null}}"#,
                "property \"x\" is null",
            ),
            (
                r#"{"data":"a","properties":{"x":{}}}"#,
                "property \"x\" is an object",
            ),
            (r#"{"data":"a\ud800b"}"#, "\"data\" is not valid UTF-8"),
            (r#"{"data":"a\udc00"}"#, "\"data\" is not valid UTF-8"),
            (
                r#"{"properties":{"x":"\ud800"}}"#,
                "property \"x\" is not valid UTF-8",
            ),
            (
                r#"{"properties":{"\ud800":"v"}}"#,
                "a property name is not valid UTF-8",
            ),
            (r#"{"data":7}"#, "\"data\" is a number"),
            (r#"{"properties":[]}"#, "\"properties\" is a list"),
            (r#""text""#, "it is a string; a document is an object"),
            (r#"{"data":"a","data":"b"}"#, "\"data\" is given twice"),
        ];
        for (document, expected) in cases {
            let why = malformed(document);
            assert!(why.contains(expected), "{document}: {why}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_become_a_mark_only_inside_strings_count() {
        let line = b"{\"data\":\"a\xffb\xe2\x82\",\"x\":\"\xc3\xa9\"}";
        let repaired = repair_utf8(line).expect("repaired");
        assert_eq!(repaired, r#"{"data":"a\udfff\udfffb\udfff\udfff","x":"é"}"#);
        assert!(malformed(&repaired).contains("\"data\" is not valid UTF-8"));
        // After a high surrogate escape the mark still reads as unpaired.
        let repaired = repair_utf8(b"{\"data\":\"\\ud800\xff\"}").expect("repaired");
        assert!(malformed(&repaired).contains("\"data\" is not valid UTF-8"));
        // Right after an escape's backslash there is nothing to mark; after an escaped
        // backslash there is.
        assert_eq!(repair_utf8(b"{\"data\":\"\\\xff\"}"), None);
        assert!(repair_utf8(b"{\"data\":\"\\\\\xff\"}").is_some());
    }
}
