//! What SEND and DELETE share: grouping documents into batch calls (at most 10 entries and a byte
//! budget), and mapping a batch answer back to documents, retrying only the entries the service
//! failed without the sender's fault, so no entry that succeeded is ever sent twice.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::BatchResultErrorEntry;
use connector_sdk::{Batch, ConnectorError, ErrorKind, Outcome};

/// The most entries in one batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The most bytes of message content in one SendMessageBatch.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// How many times an entry the service failed without sender fault is sent again.
pub const ENTRY_RETRIES: u32 = 3;

/// An entry of a batch call: the document's index and what to send for it.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// The index of the document in the execution's batch; also the entry id.
    pub index: usize,
    /// What to send.
    pub item: T,
}

impl<T> Entry<T> {
    /// The entry id: the document index, unique within a call.
    pub fn id(&self) -> String {
        self.index.to_string()
    }
}

/// The document index of the pending entry with this id (ids are document indexes).
pub fn entry_index<T>(pending: &[Entry<T>], id: &str) -> Option<usize> {
    let index: usize = id.parse().ok()?;
    pending.iter().any(|e| e.index == index).then_some(index)
}

/// One entry the service reported in `Failed`.
#[derive(Debug, Clone)]
pub struct EntryFailure {
    /// The entry id.
    pub id: String,
    /// The service's error code.
    pub code: String,
    /// The service's message.
    pub message: String,
    /// Whether the sender was at fault (retrying cannot help).
    pub sender_fault: bool,
}

impl From<&BatchResultErrorEntry> for EntryFailure {
    fn from(entry: &BatchResultErrorEntry) -> Self {
        Self {
            id: entry.id().to_owned(),
            code: entry.code().to_owned(),
            message: entry.message().unwrap_or_default().to_owned(),
            sender_fault: entry.sender_fault(),
        }
    }
}

/// What a batch call answered: the outcomes of the entries that succeeded, and the failures.
#[derive(Debug, Default)]
pub struct BatchAnswer {
    /// (entry id, outcome) for each successful entry.
    pub succeeded: Vec<(String, Outcome)>,
    /// Each failed entry.
    pub failed: Vec<EntryFailure>,
}

/// Splits entries into calls of at most `MAX_BATCH_ENTRIES` entries and `max_bytes` bytes.
pub fn chunk<T>(
    entries: Vec<Entry<T>>,
    size_of: impl Fn(&T) -> usize,
    max_bytes: usize,
) -> Vec<Vec<Entry<T>>> {
    let mut chunks = Vec::new();
    let mut current: Vec<Entry<T>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = size_of(&entry.item);
        if !current.is_empty() && (current.len() == MAX_BATCH_ENTRIES || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(entry);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(6))
}

/// Sends `entries` with `call`, records each entry's outcome in `batch`, and sends again, with
/// backoff, only the entries that failed without the sender's fault. When a whole call is refused
/// for a reason of the request's content (an application error) and it held several entries,
/// each entry is sent alone, so one bad document cannot fail its neighbours: nothing of a refused
/// call was accepted, so nothing is sent twice.
pub async fn send_with_retries<T, F, Fut>(batch: &Batch, entries: Vec<Entry<T>>, mut call: F)
where
    F: FnMut(Vec<Entry<T>>) -> Fut,
    Fut: Future<Output = Result<BatchAnswer, ConnectorError>>,
    T: Clone,
{
    // Each group is one call to make, with the number of retries it has had.
    let mut groups: Vec<(Vec<Entry<T>>, u32)> = vec![(entries, 0)];
    while let Some((pending, attempt)) = groups.pop() {
        if pending.is_empty() {
            continue;
        }
        if attempt > 0 {
            tracing::info!(
                entries = pending.len(),
                attempt,
                "retrying batch entries SQS failed without sender fault"
            );
            tokio::time::sleep(backoff(attempt)).await;
        }
        let answer = match call(pending.clone()).await {
            Ok(answer) => answer,
            Err(err) if err.kind() == ErrorKind::Application && pending.len() > 1 => {
                tracing::info!(entries = pending.len(), error = %err, "a batch call was refused; sending its entries one by one");
                groups.extend(
                    pending
                        .into_iter()
                        .rev()
                        .map(|entry| (vec![entry], attempt)),
                );
                continue;
            }
            Err(err) => {
                for entry in &pending {
                    batch.record(entry.index, Outcome::from_error(&err));
                }
                continue;
            }
        };
        let index_of = |id: &str| entry_index(&pending, id);
        for (id, outcome) in answer.succeeded {
            if let Some(index) = index_of(&id) {
                batch.record(index, outcome);
            }
        }
        let mut retry = Vec::new();
        for failure in answer.failed {
            let Some(index) = index_of(&failure.id) else {
                continue;
            };
            if failure.sender_fault {
                batch.application_error(
                    index,
                    failure.code,
                    format!("SQS refused document {index}: {}", failure.message),
                );
            } else if attempt >= ENTRY_RETRIES {
                batch.fail(
                    index,
                    format!(
                        "SQS failed document {index} {} times without the sender's fault ({}: {}); it was not delivered",
                        attempt + 1,
                        failure.code,
                        failure.message
                    ),
                );
            } else {
                retry.push(index);
            }
        }
        let again: Vec<Entry<T>> = pending
            .into_iter()
            .filter(|e| retry.contains(&e.index))
            .collect();
        if !again.is_empty() {
            groups.push((again, attempt + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::{Document, ResultStatus};

    fn entries(sizes: &[usize]) -> Vec<Entry<usize>> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, &item)| Entry { index, item })
            .collect()
    }

    #[test]
    fn chunks_hold_at_most_ten_entries_and_the_byte_budget() {
        let chunks = chunk(entries(&[1; 25]), |s| *s, MAX_BATCH_BYTES);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let chunks = chunk(
            entries(&[600_000, 600_000, 100, 900_000]),
            |s| *s,
            MAX_BATCH_BYTES,
        );
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1, 2, 1]
        );
    }

    #[tokio::test]
    async fn only_entries_failed_without_sender_fault_are_sent_again() {
        let batch = Batch::new(vec![
            Document::new("a"),
            Document::new("b"),
            Document::new("c"),
        ]);
        let mut calls: Vec<Vec<usize>> = Vec::new();
        send_with_retries(&batch, entries(&[1, 1, 1]), |pending| {
            calls.push(pending.iter().map(|e| e.index).collect());
            let first = calls.len() == 1;
            async move {
                let mut answer = BatchAnswer::default();
                for entry in pending {
                    match (first, entry.index) {
                        (true, 1) => answer.failed.push(EntryFailure {
                            id: entry.id(),
                            code: "InternalError".into(),
                            message: "try again".into(),
                            sender_fault: false,
                        }),
                        (true, 2) => answer.failed.push(EntryFailure {
                            id: entry.id(),
                            code: "InvalidParameterValue".into(),
                            message: "bad".into(),
                            sender_fault: true,
                        }),
                        _ => answer
                            .succeeded
                            .push((entry.id(), Outcome::success(vec![]))),
                    }
                }
                Ok(answer)
            }
        })
        .await;
        assert_eq!(
            calls,
            vec![vec![0, 1, 2], vec![1]],
            "only the retryable entry is sent again"
        );
        let results = batch.into_results(|_| Outcome::failure("missing"));
        let statuses: Vec<ResultStatus> = results.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![
                ResultStatus::Success,
                ResultStatus::Success,
                ResultStatus::ApplicationError
            ]
        );
        assert_eq!(
            results[2].status_code.as_deref(),
            Some("InvalidParameterValue")
        );
    }

    #[tokio::test]
    async fn a_refused_call_is_split_so_only_the_bad_entry_fails() {
        let batch = Batch::new(vec![
            Document::new("a"),
            Document::new("b"),
            Document::new("c"),
        ]);
        let mut calls: Vec<Vec<usize>> = Vec::new();
        send_with_retries(&batch, entries(&[1, 1, 1]), |pending| {
            calls.push(pending.iter().map(|e| e.index).collect());
            async move {
                if pending.iter().any(|e| e.index == 1) {
                    return Err(ConnectorError::application(
                        "InvalidParameterValue: bad entry 1",
                    ));
                }
                let mut answer = BatchAnswer::default();
                for entry in pending {
                    answer
                        .succeeded
                        .push((entry.id(), Outcome::success(vec![])));
                }
                Ok(answer)
            }
        })
        .await;
        assert_eq!(calls, vec![vec![0, 1, 2], vec![0], vec![1], vec![2]]);
        let statuses: Vec<ResultStatus> = batch
            .into_results(|_| Outcome::failure("missing"))
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses,
            vec![
                ResultStatus::Success,
                ResultStatus::ApplicationError,
                ResultStatus::Success
            ]
        );
    }
}
