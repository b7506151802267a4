//! Documents (bytes and string properties) and per-document results.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use parking_lot::Mutex;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ConnectorError, ErrorKind};

/// A document: a body of bytes and string properties.
///
/// On the wire the body is `data` when it is UTF-8 text and `dataBase64` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The body.
    pub data: Vec<u8>,
    /// The properties, keyed by name (`sqs.messageGroupId`).
    pub properties: BTreeMap<String, String>,
}

impl Document {
    /// A document with the given body and no properties.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Self {
            data: data.into(),
            properties: BTreeMap::new(),
        }
    }

    /// The same document with one more property.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// A property's value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    /// The body as text, when it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDocument {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    data_base64: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        // Written field by field from borrowed data: a large batch is never copied to be sent.
        let mut state = serializer.serialize_struct("Document", 2)?;
        match std::str::from_utf8(&self.data) {
            Ok(text) => state.serialize_field("data", text)?,
            Err(_) => state.serialize_field("dataBase64", &BASE64.encode(&self.data))?,
        }
        state.serialize_field("properties", &self.properties)?;
        state.end()
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireDocument::deserialize(deserializer)?;
        let data = match (wire.data, wire.data_base64) {
            (Some(_), Some(_)) => {
                return Err(D::Error::custom(
                    "a document has either `data` or `dataBase64`, not both",
                ));
            }
            (Some(text), None) => text.into_bytes(),
            (None, Some(encoded)) => BASE64
                .decode(encoded.as_bytes())
                .map_err(|e| D::Error::custom(format!("`dataBase64` is not valid base64: {e}")))?,
            (None, None) => Vec::new(),
        };
        Ok(Document {
            data,
            properties: wire.properties,
        })
    }
}

/// The outcome of one input document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResultStatus {
    /// The document was processed.
    Success,
    /// The service or a check refused this document; the others are unaffected.
    ApplicationError,
    /// The connector could not do its work for this document (network, credentials, a bug).
    Failure,
}

impl fmt::Display for ResultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResultStatus::Success => "SUCCESS",
            ResultStatus::ApplicationError => "APPLICATION_ERROR",
            ResultStatus::Failure => "FAILURE",
        })
    }
}

/// The result of one input document, as the protocol carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentResult {
    /// The input document's position in the batch.
    pub index: usize,
    /// What happened.
    pub status: ResultStatus,
    /// A short code (a service error code, a rule name), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// What happened, in words, when it was not a plain success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The documents this input produced.
    ///
    /// For an operation that takes input (its [`OperationInfo::takes_input`](crate::OperationInfo)
    /// is true: SEND, DELETE) every result carries at least one: a `SUCCESS` its outputs, an
    /// `APPLICATION_ERROR` or `FAILURE` the input document itself, unchanged (unless the
    /// operation gave other outputs). The one exception is a document that could not be read
    /// (`statusCode` `InvalidDocument`): there is no document to give back, so it has none.
    #[serde(default)]
    pub outputs: Vec<Document>,
}

/// An input document as the plugin read it off the wire: the document, or, when it could not
/// be read, why.
///
/// A document that cannot be read (`dataBase64` that is not base64, a property value that is
/// not a string, text that is not UTF-8) fails alone:
/// [`Connector::execute_deferred`](crate::Connector::execute_deferred) gives it an
/// `APPLICATION_ERROR` with `statusCode` `InvalidDocument` and runs the operation over the
/// other documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputDocument {
    /// A document that was read.
    Document(Document),
    /// A document that could not be read: what is wrong with it and what to send instead
    /// (`"dataBase64" is not valid base64 (…); send bytes as standard base64`).
    Malformed(String),
}

impl From<Document> for InputDocument {
    fn from(document: Document) -> Self {
        InputDocument::Document(document)
    }
}

/// The `statusCode` of the result of a document that could not be read.
pub const INVALID_DOCUMENT: &str = "InvalidDocument";

/// What an operation records for one document; the index is added by [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What happened.
    pub status: ResultStatus,
    /// A short code, when there is one.
    pub status_code: Option<String>,
    /// What happened, in words.
    pub message: Option<String>,
    /// The documents produced. For an operation that takes input, an outcome other than
    /// success with no outputs gets the input document itself as its one output.
    pub outputs: Vec<Document>,
    /// When set, the input document itself, with these properties added, is the one output
    /// (it is moved, not copied, once the operation is done).
    pub(crate) input_with: Option<Vec<(String, String)>>,
}

impl Outcome {
    /// Success with the given outputs.
    pub fn success(outputs: Vec<Document>) -> Self {
        Self {
            status: ResultStatus::Success,
            status_code: None,
            message: None,
            outputs,
            input_with: None,
        }
    }

    /// Success whose one output is the input document with `properties` added.
    pub fn success_with_input(properties: Vec<(String, String)>) -> Self {
        Self {
            input_with: Some(properties),
            ..Self::success(Vec::new())
        }
    }

    /// The service or a check refused the document.
    pub fn application_error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: ResultStatus::ApplicationError,
            status_code: Some(code.into()),
            message: Some(message.into()),
            outputs: Vec::new(),
            input_with: None,
        }
    }

    /// The connector could not do its work for the document.
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            status: ResultStatus::Failure,
            status_code: None,
            message: Some(message.into()),
            outputs: Vec::new(),
            input_with: None,
        }
    }

    /// The same outcome with the status code `code`.
    pub fn with_status_code(self, code: impl Into<String>) -> Self {
        Self {
            status_code: Some(code.into()),
            ..self
        }
    }

    /// The same outcome with the message `message`.
    pub fn with_message(self, message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            ..self
        }
    }

    /// The same outcome with the output documents `outputs`.
    pub fn with_outputs(self, outputs: Vec<Document>) -> Self {
        Self { outputs, ..self }
    }

    /// Adds a property to the input document this outcome outputs (see
    /// [`success_with_input`](Self::success_with_input)); an outcome that does not output its
    /// input is left as it is. Returns whether the property was added.
    pub fn add_to_input(&mut self, name: impl Into<String>, value: impl Into<String>) -> bool {
        match self.input_with.as_mut() {
            Some(added) => {
                added.push((name.into(), value.into()));
                true
            }
            None => false,
        }
    }

    /// The outcome an error implies: `APPLICATION_ERROR` for application errors, `FAILURE`
    /// otherwise.
    pub fn from_error(err: &ConnectorError) -> Self {
        let status = if err.kind() == ErrorKind::Application {
            ResultStatus::ApplicationError
        } else {
            ResultStatus::Failure
        };
        Self {
            status,
            status_code: err.status_code().map(str::to_owned),
            message: Some(err.display_chain()),
            outputs: Vec::new(),
            input_with: None,
        }
    }
}

/// What results carry of their input documents.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Echo {
    /// A result other than success with no outputs gets its input document (operations that
    /// take input).
    pub(crate) input: bool,
    /// An output that is the input document is only the properties the operation added
    /// (protocol 1.1 `"outputs": "added"`).
    pub(crate) added: bool,
}

/// The documents of one `execute` call and the results recorded for them.
///
/// Operations read documents with [`Batch::documents`] and record one outcome per document with
/// [`Batch::record`], from any number of concurrent tasks. The SDK turns the batch into exactly
/// one [`DocumentResult`] per input document, whatever the operation did.
#[derive(Debug)]
pub struct Batch {
    documents: Vec<Document>,
    /// Each document's position in the execute request, when documents that could not be read
    /// were taken out (else a document's index is its position).
    input_indexes: Option<Vec<usize>>,
    outcomes: Mutex<Vec<Option<Outcome>>>,
}

impl Batch {
    /// A batch over the given documents, with no results yet.
    pub fn new(documents: Vec<Document>) -> Self {
        let outcomes = Mutex::new(vec![None; documents.len()]);
        Self {
            documents,
            input_indexes: None,
            outcomes,
        }
    }

    /// A batch over the documents of an execute request that could be read; `input_indexes`
    /// holds each one's position in the request.
    pub(crate) fn with_input_indexes(documents: Vec<Document>, input_indexes: Vec<usize>) -> Self {
        debug_assert_eq!(documents.len(), input_indexes.len());
        Self {
            input_indexes: Some(input_indexes),
            ..Self::new(documents)
        }
    }

    /// The position of document `index` in the execute request, which is what the host calls
    /// it (messages that name a document should use this). It differs from `index` when
    /// documents of the request that could not be read were left out of the batch.
    pub fn input_index(&self, index: usize) -> usize {
        self.input_indexes
            .as_ref()
            .and_then(|indexes| indexes.get(index).copied())
            .unwrap_or(index)
    }

    /// The input documents, in input order.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// The number of input documents.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether the batch has no documents.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// Records the outcome of document `index`. The first outcome recorded for a document wins;
    /// a second one is ignored and logged, so no document ever gets two results.
    pub fn record(&self, index: usize, outcome: Outcome) {
        let mut outcomes = self.outcomes.lock();
        match outcomes.get_mut(index) {
            Some(slot @ None) => *slot = Some(outcome),
            Some(Some(_)) => {
                tracing::warn!(
                    index,
                    "a second result was recorded for one document; the first is kept"
                )
            }
            None => tracing::warn!(
                index,
                len = self.documents.len(),
                "a result was recorded for a document that does not exist"
            ),
        }
    }

    /// Shorthand for recording a success.
    pub fn succeed(&self, index: usize, outputs: Vec<Document>) {
        self.record(index, Outcome::success(outputs));
    }

    /// Shorthand for recording an application error.
    pub fn application_error(
        &self,
        index: usize,
        code: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.record(index, Outcome::application_error(code, message));
    }

    /// Shorthand for recording a failure.
    pub fn fail(&self, index: usize, message: impl Into<String>) {
        self.record(index, Outcome::failure(message));
    }

    /// Whether document `index` already has a result.
    pub fn has_result(&self, index: usize) -> bool {
        self.outcomes.lock().get(index).is_some_and(Option::is_some)
    }

    /// The indexes of the documents that have no result yet.
    pub fn pending(&self) -> Vec<usize> {
        self.outcomes
            .lock()
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// Exactly one result per input document, in input order; a document without a recorded
    /// outcome gets `missing(index)`. Results (and `missing`) carry each document's
    /// [`Batch::input_index`].
    pub fn into_results(self, missing: impl FnMut(usize) -> Outcome) -> Vec<DocumentResult> {
        self.into_results_echoing(missing, Echo::default()).0
    }

    /// [`Batch::into_results`]; with `echo.input`, a result other than success that has no
    /// outputs gets the input document, unchanged, as its one output. With `echo.added`, an output
    /// that is the input document (echoed, or with properties added) is only the properties
    /// added, without a body, and is marked in the second list (per result: whether its first
    /// output is such a delta).
    pub(crate) fn into_results_echoing(
        self,
        mut missing: impl FnMut(usize) -> Outcome,
        echo: Echo,
    ) -> (Vec<DocumentResult>, Vec<bool>) {
        let Echo {
            input: echo_input,
            added,
        } = echo;
        let mut delta = Vec::new();
        let input_indexes = self.input_indexes;
        let results = self
            .documents
            .into_iter()
            .zip(self.outcomes.into_inner())
            .enumerate()
            .map(|(index, (document, outcome))| {
                let index = input_indexes
                    .as_ref()
                    .and_then(|indexes| indexes.get(index).copied())
                    .unwrap_or(index);
                let mut outcome = outcome.unwrap_or_else(|| missing(index));
                let mut is_delta = false;
                if let Some(properties) = outcome.input_with.take() {
                    let output = match added {
                        true => Document {
                            data: Vec::new(),
                            properties: properties.into_iter().collect(),
                        },
                        false => {
                            let mut output = document;
                            output.properties.extend(properties);
                            output
                        }
                    };
                    outcome.outputs.insert(0, output);
                    is_delta = added;
                } else if echo_input
                    && outcome.status != ResultStatus::Success
                    && outcome.outputs.is_empty()
                {
                    outcome.outputs.push(match added {
                        true => Document::default(),
                        false => document,
                    });
                    is_delta = added;
                }
                if added {
                    delta.push(is_delta);
                }
                DocumentResult {
                    index,
                    status: outcome.status,
                    status_code: outcome.status_code,
                    message: outcome.message,
                    outputs: outcome.outputs,
                }
            })
            .collect();
        (results, delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_refined_by_its_builders_and_adds_only_to_an_input_it_outputs() {
        let mut sent = Outcome::success_with_input(vec![("a".into(), "1".into())]);
        assert!(sent.add_to_input("b", "2"));
        let sent = sent.with_status_code("AFTER_2").with_message("retried");
        assert_eq!(sent.status, ResultStatus::Success);
        assert_eq!(sent.status_code.as_deref(), Some("AFTER_2"));
        assert_eq!(sent.message.as_deref(), Some("retried"));
        assert_eq!(
            sent.input_with,
            Some(vec![("a".into(), "1".into()), ("b".into(), "2".into())])
        );

        let mut read = Outcome::failure("stopped early").with_outputs(vec![Document::new("x")]);
        assert!(!read.add_to_input("b", "2"), "no input to add to");
        assert_eq!(read.status, ResultStatus::Failure);
        assert_eq!(read.outputs, vec![Document::new("x")]);
        assert_eq!(read.input_with, None);
    }

    #[test]
    fn text_bodies_travel_as_data_and_bytes_as_base64() {
        let text = Document::new("hello").with_property("k", "v");
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            r#"{"data":"hello","properties":{"k":"v"}}"#
        );
        let bytes = Document::new(vec![0xff, 0x00, 0x10]);
        let json = serde_json::to_string(&bytes).unwrap();
        assert_eq!(json, r#"{"dataBase64":"/wAQ","properties":{}}"#);
        let back: Document = serde_json::from_str(&json).unwrap();
        assert_eq!(back, bytes);
    }

    #[test]
    fn a_document_with_both_bodies_is_refused() {
        let err = serde_json::from_str::<Document>(r#"{"data":"a","dataBase64":"YQ=="}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn an_outcome_with_input_moves_the_input_document_into_the_output() {
        let batch = Batch::new(vec![Document::new("body").with_property("k", "v")]);
        batch.record(
            0,
            Outcome::success_with_input(vec![("added".into(), "1".into())]),
        );
        let results = batch.into_results(|_| Outcome::failure("missing"));
        let output = &results[0].outputs[0];
        assert_eq!(output.data, b"body");
        assert_eq!(output.property("k"), Some("v"));
        assert_eq!(output.property("added"), Some("1"));
        assert_eq!(results[0].outputs.len(), 1);
    }

    #[test]
    fn first_recorded_outcome_wins_and_missing_ones_are_filled() {
        let batch = Batch::new(vec![
            Document::new("a"),
            Document::new("b"),
            Document::new("c"),
        ]);
        batch.succeed(0, vec![]);
        batch.fail(0, "second result for the same document");
        batch.application_error(2, "Rule", "refused");
        assert_eq!(batch.pending(), vec![1]);
        let results =
            batch.into_results(|i| Outcome::failure(format!("no result for document {i}")));
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].status, ResultStatus::Success);
        assert_eq!(results[1].status, ResultStatus::Failure);
        assert_eq!(
            results[1].message.as_deref(),
            Some("no result for document 1")
        );
        assert_eq!(results[2].status, ResultStatus::ApplicationError);
        assert_eq!(
            results.iter().map(|r| r.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn results_carry_input_indexes_and_non_successes_echo_their_input_when_asked() {
        let batch = Batch::with_input_indexes(
            vec![
                Document::new("a"),
                Document::new("b").with_property("k", "v"),
            ],
            vec![1, 3],
        );
        assert_eq!((batch.input_index(0), batch.input_index(1)), (1, 3));
        batch.application_error(0, "Rule", "refused");
        let results = batch
            .into_results_echoing(
                |i| Outcome::failure(format!("missing {i}")),
                Echo {
                    input: true,
                    added: false,
                },
            )
            .0;
        assert_eq!(results.len(), 2);
        assert_eq!(
            (results[0].index, &results[0].outputs),
            (1, &vec![Document::new("a")])
        );
        assert_eq!(results[1].index, 3);
        assert_eq!(results[1].message.as_deref(), Some("missing 3"));
        assert_eq!(
            results[1].outputs,
            vec![Document::new("b").with_property("k", "v")]
        );

        // Without echo (operations without input), and a success's outputs are its own.
        let batch = Batch::new(vec![Document::new("a"), Document::new("b")]);
        batch.succeed(0, vec![Document::new("out")]);
        let results = batch.into_results(|_| Outcome::failure("missing"));
        assert_eq!(results[0].outputs, vec![Document::new("out")]);
        assert!(results[1].outputs.is_empty());
    }
}
