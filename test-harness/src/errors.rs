//! How the harness reports what went wrong: the documents that failed in the same way grouped
//! into one line, and a component's field errors as `--json` prints them.
//!
//! Documents fail in the same way when their status, status code and message are the same, the
//! message read without the numbers of the documents it names: connectors name the document in
//! its message (`document 17 was not processed: the queue does not exist`), and a call's index
//! is not the step's. A group of several shows its message with `document <index>`.

use std::collections::HashMap;

use connector_sdk::{FieldError, ResultStatus};
use serde::Serialize;

/// The documents that did not succeed with one status, status code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroup {
    /// How many documents.
    pub count: usize,
    /// Their status.
    pub status: ResultStatus,
    /// Their status code, when they have one.
    pub status_code: Option<String>,
    /// Their message, when they have one; for several documents with `document <index>` where
    /// each named itself.
    pub message: Option<String>,
    /// The index of the first of them (in the first execution or batch that had one).
    pub first_index: usize,
}

impl ErrorGroup {
    /// `document 17` for one document, `300 documents` for more.
    pub fn documents(&self) -> String {
        match self.count {
            1 => format!("document {}", self.first_index),
            count => format!("{count} documents"),
        }
    }
}

impl std::fmt::Display for ErrorGroup {
    /// `300 documents: FAILURE QueueDoesNotExist: <message>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.documents(), self.status)?;
        if let Some(code) = &self.status_code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// Groups results that are not `SUCCESS` by (status, status code, message), in the order each
/// group was first seen.
#[derive(Debug, Default)]
pub struct ErrorGroups {
    groups: Vec<ErrorGroup>,
    /// The message of each group without document numbers.
    general: Vec<Option<String>>,
    /// Where each key's group is in `groups`.
    positions: HashMap<(ResultStatus, Option<String>, Option<String>), usize>,
}

impl ErrorGroups {
    /// Counts one result; a `SUCCESS` is not an error and is left out.
    pub fn add(
        &mut self,
        index: usize,
        status: ResultStatus,
        status_code: Option<&str>,
        message: Option<&str>,
    ) {
        if status == ResultStatus::Success {
            return;
        }
        let general = message.map(without_document_numbers);
        let key = (status, status_code.map(str::to_owned), general);
        match self.positions.get(&key) {
            Some(&position) => self.groups[position].count += 1,
            None => {
                self.positions.insert(key.clone(), self.groups.len());
                self.general.push(key.2);
                self.groups.push(ErrorGroup {
                    count: 1,
                    status,
                    status_code: key.1,
                    message: message.map(str::to_owned),
                    first_index: index,
                });
            }
        }
    }

    /// The groups, in the order each was first seen.
    pub fn into_groups(self) -> Vec<ErrorGroup> {
        self.groups
            .into_iter()
            .zip(self.general)
            .map(|(mut group, general)| {
                if group.count > 1 {
                    group.message = general;
                }
                group
            })
            .collect()
    }
}

/// `message` with `document <index>` for every `document 17` in it.
fn without_document_numbers(message: &str) -> String {
    const WORD: &str = "document ";
    let mut general = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(WORD) {
        let after = &rest[at + WORD.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        // `document` as a word of its own: not the end of `subdocument`.
        let starts_word = !rest[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        general.push_str(&rest[..at + WORD.len()]);
        if digits > 0 && starts_word {
            general.push_str("<index>");
        } else {
            general.push_str(&after[..digits]);
        }
        rest = &after[digits..];
    }
    general.push_str(rest);
    general
}

/// A field error of a component, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentFieldError {
    /// The component's id.
    pub component: String,
    /// The field key (`customRegion`).
    pub field: String,
    /// The field's label (`Custom AWS SQS Region`).
    pub label: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl ComponentFieldError {
    /// The field errors of one component.
    pub fn of(component: &str, errors: &[FieldError]) -> Vec<Self> {
        errors
            .iter()
            .map(|error| Self {
                component: component.to_owned(),
                field: error.field.clone(),
                label: error.label.clone(),
                message: error.message.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_errors_are_one_group_with_their_count() {
        let mut groups = ErrorGroups::default();
        for index in 0..300 {
            groups.add(
                index,
                ResultStatus::Failure,
                Some("QueueDoesNotExist"),
                Some("no queue"),
            );
        }
        groups.add(300, ResultStatus::Success, None, None);
        groups.add(
            301,
            ResultStatus::ApplicationError,
            Some("Rule"),
            Some("too big"),
        );
        groups.add(302, ResultStatus::Failure, None, Some("no queue"));
        // The message names its own document (by its index in the call, not in the step).
        for index in [3, 12, 450] {
            groups.add(
                500 + index,
                ResultStatus::ApplicationError,
                Some("QueueDoesNotExist"),
                Some(&format!("document {index} was not processed: no queue")),
            );
        }
        groups.add(
            999,
            ResultStatus::Failure,
            None,
            Some("subdocument 7 of document 99 is lost"),
        );
        let lines: Vec<String> = groups
            .into_groups()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "300 documents: FAILURE QueueDoesNotExist: no queue",
                "document 301: APPLICATION_ERROR Rule: too big",
                "document 302: FAILURE: no queue",
                "3 documents: APPLICATION_ERROR QueueDoesNotExist: document <index> was not processed: no queue",
                "document 999: FAILURE: subdocument 7 of document 99 is lost",
            ]
        );
    }
}
