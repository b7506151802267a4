//! What SEND and DELETE share: grouping documents into batch calls (at most 10 entries and a byte
//! budget), and mapping a batch answer back to documents, retrying only the entries the service
//! failed without the sender's fault (so no entry SQS reported done is sent twice), and whole
//! calls that failed on the way, saying so when such a call may have taken effect.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use aws_sdk_sqs::types::BatchResultErrorEntry;
use connector_sdk::secret::scrub;
use connector_sdk::{Batch, ConnectorError, ErrorKind, Outcome};

use crate::errors::{Retry, is_sender_fault};

/// The most entries in one batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The most bytes of message content in one SendMessageBatch.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// How many attempts a batch call, or an entry the service failed without the sender's fault,
/// gets in all (the SDK's own retries are off for these calls: the connector retries them, so
/// that it knows which attempts may have taken effect).
pub const MAX_ATTEMPTS: u32 = 4;

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
    /// The service's message, scrubbed of anything that looks like a credential.
    pub message: String,
    /// Whether the sender was at fault (retrying cannot help).
    pub sender_fault: bool,
}

impl From<&BatchResultErrorEntry> for EntryFailure {
    fn from(entry: &BatchResultErrorEntry) -> Self {
        Self {
            id: entry.id().to_owned(),
            code: scrub(entry.code()).into_owned(),
            message: scrub(entry.message().unwrap_or_default()).into_owned(),
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

/// Groups entries, in their order, into batch calls of at most `max_entries` entries and
/// `max_bytes` bytes: an entry that would take the open call over the byte budget starts the
/// next one, and an entry larger than the budget goes alone. A call is handed out as soon as it
/// is full, so it can be in flight while later entries are still being prepared.
#[derive(Debug)]
pub struct Batcher<T> {
    max_entries: usize,
    max_bytes: usize,
    open: Vec<Entry<T>>,
    bytes: usize,
}

impl<T> Batcher<T> {
    /// A batcher of calls of at most `max_entries` entries (at least 1) and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_bytes,
            open: Vec::new(),
            bytes: 0,
        }
    }

    /// A batcher of SQS's limits: `MAX_BATCH_ENTRIES` entries and `MAX_BATCH_BYTES` bytes.
    pub fn sqs() -> Self {
        Self::new(MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)
    }

    /// Adds an entry of `size` bytes; returns the call this closes, if any: the open call when
    /// the entry does not fit in its byte budget, or the call the entry fills.
    pub fn push(&mut self, entry: Entry<T>, size: usize) -> Option<Vec<Entry<T>>> {
        // With at least one entry per call, at most one of the two closes a call.
        let closed = if !self.open.is_empty() && self.bytes + size > self.max_bytes {
            Some(self.take())
        } else {
            None
        };
        self.bytes += size;
        self.open.push(entry);
        if self.open.len() == self.max_entries {
            return Some(self.take());
        }
        closed
    }

    /// The call still open, if it holds any entry.
    pub fn finish(mut self) -> Option<Vec<Entry<T>>> {
        (!self.open.is_empty()).then(|| self.take())
    }

    /// All of `entries` in calls, `size_of` telling each entry's bytes.
    pub fn split(
        mut self,
        entries: impl IntoIterator<Item = Entry<T>>,
        size_of: impl Fn(&T) -> usize,
    ) -> Vec<Vec<Entry<T>>> {
        let mut calls: Vec<Vec<Entry<T>>> = entries
            .into_iter()
            .filter_map(|entry| {
                let size = size_of(&entry.item);
                self.push(entry, size)
            })
            .collect();
        calls.extend(self.finish());
        calls
    }

    fn take(&mut self) -> Vec<Entry<T>> {
        self.bytes = 0;
        std::mem::take(&mut self.open)
    }
}

/// Keyed entries (key, entry, bytes) grouped into batch calls per key (a queue URL: entries for
/// different queues never share a call), lazily: a call comes out as soon as its [`Batcher`]
/// closes it, and the calls still open come out once the entries run out.
#[derive(Debug)]
pub struct ByKey<K, T, I> {
    entries: I,
    max_entries: usize,
    max_bytes: usize,
    open: HashMap<K, Batcher<T>>,
}

impl<K, T, I> ByKey<K, T, I> {
    /// Groups `entries` with one [`Batcher::new`]`(max_entries, max_bytes)` per key.
    pub fn new(entries: I, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries,
            max_entries,
            max_bytes,
            open: HashMap::new(),
        }
    }
}

impl<K, T, I> Iterator for ByKey<K, T, I>
where
    K: Eq + Hash + Clone,
    I: Iterator<Item = (K, Entry<T>, usize)>,
{
    type Item = (K, Vec<Entry<T>>);

    fn next(&mut self) -> Option<Self::Item> {
        for (key, entry, size) in self.entries.by_ref() {
            let batcher = self
                .open
                .entry(key.clone())
                .or_insert_with(|| Batcher::new(self.max_entries, self.max_bytes));
            if let Some(call) = batcher.push(entry, size) {
                return Some((key, call));
            }
        }
        loop {
            let key = self.open.keys().next()?.clone();
            if let Some(call) = self.open.remove(&key).and_then(Batcher::finish) {
                return Some((key, call));
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(6))
}

/// The status code of a document whose call may or may not have taken effect.
pub const OUTCOME_UNKNOWN: &str = "OUTCOME_UNKNOWN";
/// The status code of a document left undone because the execution was cancelled.
pub const CANCELLED: &str = "CANCELLED";

/// A batch call that failed as a whole, and whether it may be made again.
#[derive(Debug)]
pub struct CallError {
    /// What went wrong.
    pub error: ConnectorError,
    /// Whether, and how safely, the call may be made again.
    pub retry: Retry,
}

impl From<ConnectorError> for CallError {
    fn from(error: ConnectorError) -> Self {
        Self {
            error,
            retry: Retry::Never,
        }
    }
}

/// How an operation's results are worded, and what a document that succeeded after an attempt
/// of unknown outcome becomes.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    /// What the operation does to a document, in the past tense: "sent", "deleted".
    pub done: &'static str,
    /// The outcome of a document that succeeded after an earlier attempt of unknown outcome,
    /// given the success and how many attempts it took.
    pub after_ambiguity: fn(Outcome, u32) -> Outcome,
}

/// The FAILURE of a document left undone because the execution was cancelled: nothing was
/// sent for it, so it was not `action.done`.
pub fn cancelled_outcome(batch: &Batch, index: usize, action: &Action) -> Outcome {
    Outcome::failure(format!(
        "document {} was not {}: the execution was cancelled",
        batch.input_index(index),
        action.done
    ))
    .with_status_code(CANCELLED)
}

/// A FAILURE whose outcome is unknown: the call may have taken effect.
fn unknown(index: usize, action: &Action, why: &str) -> Outcome {
    Outcome::failure(format!(
        "document {index} may or may not have been {} (perhaps more than once): {why}",
        action.done
    ))
    .with_status_code(OUTCOME_UNKNOWN)
}

/// One call still to make: its entries, how many attempts they have had, and whether an earlier
/// attempt for them ended without knowing whether it took effect.
struct Pending<T> {
    entries: Vec<Entry<T>>,
    attempt: u32,
    uncertain: bool,
}

/// Sends `entries` with `call`, records each entry's outcome in `batch`, and sends again, with
/// backoff, what may be sent again:
/// - entries the service failed without the sender's fault (by its flag and by the error codes
///   that are the sender's whatever the flag says), alone;
/// - a whole call that failed where the service did not act (throttled, unavailable, not
///   reached), or where it may have acted (the connection broke after sending, no answer in
///   time). Entries of such a call that then succeed are passed through
///   `action.after_ambiguity` (SEND marks them as possibly sent twice), and entries that never
///   succeed get `OUTCOME_UNKNOWN`, never "not sent".
///
/// When a whole call is refused for a reason of the request's content (an application error)
/// and it held several entries, each entry is sent alone, so one bad document cannot fail its
/// neighbours: nothing of a refused call was accepted, so nothing is sent twice. When
/// `cancelled()` turns true no new attempt starts: what is left gets `CANCELLED` (or
/// `OUTCOME_UNKNOWN`).
pub async fn send_with_retries<T, F, Fut>(
    batch: &Batch,
    entries: Vec<Entry<T>>,
    action: &Action,
    cancelled: &(dyn Fn() -> bool + Sync),
    mut call: F,
) where
    F: FnMut(Vec<Entry<T>>) -> Fut,
    Fut: Future<Output = Result<BatchAnswer, CallError>>,
    T: Clone,
{
    let mut work: Vec<Pending<T>> = vec![Pending {
        entries,
        attempt: 0,
        uncertain: false,
    }];
    while let Some(Pending {
        entries: pending,
        attempt,
        uncertain,
    }) = work.pop()
    {
        if pending.is_empty() {
            continue;
        }
        if attempt > 0 {
            if cancelled() {
                for entry in &pending {
                    batch.record(
                        entry.index,
                        if uncertain {
                            unknown(batch.input_index(entry.index), action, "the execution was cancelled before a retry, and an earlier attempt may have reached SQS")
                        } else {
                            cancelled_outcome(batch, entry.index, action)
                        },
                    );
                }
                continue;
            }
            tracing::info!(
                entries = pending.len(),
                attempt,
                "retrying what SQS did not do without the sender's fault"
            );
            tokio::time::sleep(backoff(attempt)).await;
        }
        let answer = match call(pending.clone()).await {
            Ok(answer) => answer,
            Err(CallError {
                error,
                retry: Retry::Never,
            }) if error.kind() == ErrorKind::Application && pending.len() > 1 => {
                tracing::info!(entries = pending.len(), error = %error, "a batch call was refused; sending its entries one by one");
                work.extend(pending.into_iter().rev().map(|entry| Pending {
                    entries: vec![entry],
                    attempt,
                    uncertain,
                }));
                continue;
            }
            Err(CallError { error, retry }) => {
                let uncertain = uncertain || retry == Retry::Ambiguous;
                if retry != Retry::Never && attempt + 1 < MAX_ATTEMPTS {
                    tracing::warn!(entries = pending.len(), attempt, uncertain, error = %error.display_chain(), "a batch call failed; it will be made again");
                    work.push(Pending {
                        entries: pending,
                        attempt: attempt + 1,
                        uncertain,
                    });
                    continue;
                }
                for entry in &pending {
                    batch.record(
                        entry.index,
                        if uncertain {
                            unknown(
                                batch.input_index(entry.index),
                                action,
                                &format!(
                                    "{} attempt(s) failed, and at least one after the request may have reached SQS; the last: {}",
                                    attempt + 1,
                                    error.display_chain()
                                ),
                            )
                        } else {
                            Outcome::from_error(&error)
                        },
                    );
                }
                continue;
            }
        };
        let index_of = |id: &str| entry_index(&pending, id);
        for (id, outcome) in answer.succeeded {
            if let Some(index) = index_of(&id) {
                let outcome = if uncertain {
                    (action.after_ambiguity)(outcome, attempt + 1)
                } else {
                    outcome
                };
                batch.record(index, outcome);
            }
        }
        let mut retry = Vec::new();
        for failure in answer.failed {
            let Some(index) = index_of(&failure.id) else {
                continue;
            };
            if is_sender_fault(&failure.code, failure.sender_fault) {
                if uncertain {
                    batch.record(
                        index,
                        unknown(
                            batch.input_index(index),
                            action,
                            &format!(
                                "SQS refused it on attempt {} ({}: {}), but an earlier attempt may have reached SQS",
                                attempt + 1,
                                failure.code,
                                failure.message
                            ),
                        ),
                    );
                } else {
                    batch.application_error(
                        index,
                        failure.code,
                        format!(
                            "SQS refused document {}: {}",
                            batch.input_index(index),
                            failure.message
                        ),
                    );
                }
            } else if attempt + 1 >= MAX_ATTEMPTS {
                let why = format!(
                    "SQS failed it {} times without the sender's fault ({}: {})",
                    attempt + 1,
                    failure.code,
                    failure.message
                );
                batch.record(
                    index,
                    if uncertain {
                        unknown(batch.input_index(index), action, &why)
                    } else {
                        Outcome::failure(format!(
                            "document {} was not {}: {why}",
                            batch.input_index(index),
                            action.done
                        ))
                    },
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
            work.push(Pending {
                entries: again,
                attempt: attempt + 1,
                uncertain,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::{Document, DocumentResult, ResultStatus};

    #[test]
    fn a_failed_entrys_message_is_scrubbed_of_what_looks_like_a_credential() {
        let token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIBz4N0bV";
        let entry = BatchResultErrorEntry::builder()
            .id("0")
            .code("InvalidParameterValue")
            .message(format!(
                "the header X-Amz-Security-Token={token} is not allowed"
            ))
            .sender_fault(true)
            .build()
            .unwrap();
        let failure = EntryFailure::from(&entry);
        assert_eq!(
            failure.message,
            "the header X-Amz-Security-Token=[redacted] is not allowed"
        );
        assert_eq!(failure.code, "InvalidParameterValue");
    }

    fn entries(sizes: &[usize]) -> Vec<Entry<usize>> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, &item)| Entry { index, item })
            .collect()
    }

    const SENT: Action = Action {
        done: "sent",
        after_ambiguity: |outcome, attempts| outcome.with_status_code(format!("AFTER_{attempts}")),
    };

    fn never() -> bool {
        false
    }

    fn batch_of(n: usize) -> Batch {
        Batch::new((0..n).map(|i| Document::new(i.to_string())).collect())
    }

    fn results(batch: Batch) -> Vec<DocumentResult> {
        batch.into_results(|_| Outcome::failure("missing"))
    }

    fn all_succeed(pending: &[Entry<usize>]) -> BatchAnswer {
        let mut answer = BatchAnswer::default();
        for entry in pending {
            answer
                .succeeded
                .push((entry.id(), Outcome::success(vec![])));
        }
        answer
    }

    fn failure(entry: &Entry<usize>, code: &str, sender_fault: bool) -> EntryFailure {
        EntryFailure {
            id: entry.id(),
            code: code.into(),
            message: "said the server".into(),
            sender_fault,
        }
    }

    /// An answer failing entry 0 with `first` (code, sender fault) and every other with `others`.
    fn first_and_others_fail(
        pending: &[Entry<usize>],
        first: (&str, bool),
        others: (&str, bool),
    ) -> BatchAnswer {
        let mut answer = BatchAnswer::default();
        for entry in pending {
            let (code, sender_fault) = if entry.index == 0 { first } else { others };
            answer.failed.push(failure(entry, code, sender_fault));
        }
        answer
    }

    fn indexes(calls: &[Vec<Entry<usize>>]) -> Vec<Vec<usize>> {
        calls
            .iter()
            .map(|call| call.iter().map(|e| e.index).collect())
            .collect()
    }

    #[test]
    fn a_call_holds_at_most_ten_entries() {
        let calls = Batcher::sqs().split(entries(&[1; 25]), |s| *s);
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
    }

    #[test]
    fn an_entry_over_the_byte_budget_starts_the_next_call() {
        let calls = Batcher::sqs().split(entries(&[600_000, 400_000, 48_576, 1]), |s| *s);
        assert_eq!(
            indexes(&calls),
            vec![vec![0, 1, 2], vec![3]],
            "exactly the budget fits; one byte more does not"
        );
    }

    #[test]
    fn an_entry_larger_than_the_budget_goes_alone() {
        let calls = Batcher::sqs().split(entries(&[100, 2_000_000, 100, 100]), |s| *s);
        assert_eq!(indexes(&calls), vec![vec![0], vec![1], vec![2, 3]]);
        let calls = Batcher::sqs().split(entries(&[600_000, 600_000, 100, 900_000]), |s| *s);
        assert_eq!(indexes(&calls), vec![vec![0], vec![1, 2], vec![3]]);
    }

    #[test]
    fn calls_keep_the_entries_order() {
        let calls = Batcher::new(3, 10).split(entries(&[4, 4, 4, 1, 1, 1, 1, 9, 0]), |s| *s);
        assert_eq!(
            indexes(&calls),
            vec![vec![0, 1], vec![2, 3, 4], vec![5, 6], vec![7, 8]]
        );
        assert!(Batcher::<usize>::sqs().split(Vec::new(), |s| *s).is_empty());
    }

    #[test]
    fn a_full_call_is_handed_out_at_once_and_one_entry_calls_each_alone() {
        let mut batcher = Batcher::sqs();
        for entry in entries(&[1; 9]) {
            assert!(batcher.push(entry, 1).is_none());
        }
        let full = batcher.push(Entry { index: 9, item: 1 }, 1);
        assert_eq!(
            full.map(|call| call.len()),
            Some(10),
            "the tenth entry closes the call"
        );
        assert!(batcher.finish().is_none(), "nothing is left open");
        let calls = Batcher::new(1, MAX_BATCH_BYTES).split(entries(&[1, 1, 1]), |s| *s);
        assert_eq!(indexes(&calls), vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn entries_of_different_keys_never_share_a_call() {
        let keyed = entries(&[1; 23])
            .into_iter()
            .map(|entry| (entry.index % 2, entry, 1));
        let calls: Vec<(usize, Vec<usize>)> = ByKey::new(keyed, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)
            .map(|(key, call)| (key, call.iter().map(|e| e.index).collect()))
            .collect();
        assert_eq!(
            calls[..2],
            [
                (0, (0..20).step_by(2).collect()),
                (1, (1..20).step_by(2).collect())
            ],
            "a full call comes out before the entries run out"
        );
        let mut rest = calls[2..].to_vec();
        rest.sort();
        assert_eq!(rest, vec![(0, vec![20, 22]), (1, vec![21])]);
    }

    #[tokio::test]
    async fn only_entries_failed_without_sender_fault_are_sent_again() {
        let batch = batch_of(3);
        let mut calls: Vec<Vec<usize>> = Vec::new();
        send_with_retries(&batch, entries(&[1, 1, 1]), &SENT, &never, |pending| {
            calls.push(pending.iter().map(|e| e.index).collect());
            let first = calls.len() == 1;
            async move {
                let mut answer = BatchAnswer::default();
                for entry in &pending {
                    match (first, entry.index) {
                        (true, 1) => answer.failed.push(failure(entry, "InternalError", false)),
                        (true, 2) => {
                            answer
                                .failed
                                .push(failure(entry, "InvalidParameterValue", true))
                        }
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
        let results = results(batch);
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
        assert_eq!(
            results[1].status_code, None,
            "a retry after a failure SQS reported is not an ambiguity"
        );
    }

    #[tokio::test]
    async fn codes_that_are_the_senders_fault_are_not_retried_whatever_the_flag_says() {
        // LocalStack answers a bogus receipt handle with SenderFault false.
        let batch = batch_of(2);
        let mut calls = 0;
        let deleted = Action {
            done: "deleted",
            ..SENT
        };
        send_with_retries(&batch, entries(&[1, 1]), &deleted, &never, |pending| {
            calls += 1;
            async move {
                Ok(first_and_others_fail(
                    &pending,
                    ("ReceiptHandleIsInvalid", false),
                    ("AWS.SimpleQueueService.InternalError", false),
                ))
            }
        })
        .await;
        let results = results(batch);
        assert_eq!(results[0].status, ResultStatus::ApplicationError);
        assert_eq!(
            results[0].status_code.as_deref(),
            Some("ReceiptHandleIsInvalid")
        );
        assert_eq!(
            calls, MAX_ATTEMPTS,
            "only the InternalError entry was retried"
        );
        assert_eq!(results[1].status, ResultStatus::Failure);
        let message = results[1].message.as_deref().unwrap_or_default();
        assert!(
            message.contains("was not deleted") && !message.contains("deliver"),
            "a DELETE failure speaks of deleting: {message}"
        );
    }

    #[tokio::test]
    async fn a_refused_call_is_split_so_only_the_bad_entry_fails() {
        let batch = batch_of(3);
        let mut calls: Vec<Vec<usize>> = Vec::new();
        send_with_retries(&batch, entries(&[1, 1, 1]), &SENT, &never, |pending| {
            calls.push(pending.iter().map(|e| e.index).collect());
            async move {
                if pending.iter().any(|e| e.index == 1) {
                    return Err(
                        ConnectorError::application("InvalidParameterValue: bad entry 1").into(),
                    );
                }
                Ok(all_succeed(&pending))
            }
        })
        .await;
        assert_eq!(calls, vec![vec![0, 1, 2], vec![0], vec![1], vec![2]]);
        let statuses: Vec<ResultStatus> = results(batch).iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![
                ResultStatus::Success,
                ResultStatus::ApplicationError,
                ResultStatus::Success
            ]
        );
    }

    fn failing_call(retry: Retry) -> CallError {
        CallError {
            error: ConnectorError::transient("connection reset"),
            retry,
        }
    }

    #[tokio::test]
    async fn a_call_that_may_have_taken_effect_and_then_succeeds_is_marked() {
        let batch = batch_of(2);
        let mut calls = 0;
        send_with_retries(&batch, entries(&[1, 1]), &SENT, &never, |pending| {
            calls += 1;
            let first = calls == 1;
            async move {
                if first {
                    return Err(failing_call(Retry::Ambiguous));
                }
                Ok(all_succeed(&pending))
            }
        })
        .await;
        for result in results(batch) {
            assert_eq!(result.status, ResultStatus::Success);
            assert_eq!(result.status_code.as_deref(), Some("AFTER_2"), "{result:?}");
        }
    }

    #[tokio::test]
    async fn a_call_the_service_did_not_act_on_is_retried_without_a_mark() {
        let batch = batch_of(1);
        let mut calls = 0;
        send_with_retries(&batch, entries(&[1]), &SENT, &never, |pending| {
            calls += 1;
            let first = calls < 3;
            async move {
                if first {
                    return Err(failing_call(Retry::Safe));
                }
                Ok(all_succeed(&pending))
            }
        })
        .await;
        let results = results(batch);
        assert_eq!(calls, 3);
        assert_eq!(results[0].status, ResultStatus::Success);
        assert_eq!(results[0].status_code, None);
    }

    #[tokio::test]
    async fn what_never_succeeds_after_an_ambiguous_attempt_has_an_unknown_outcome() {
        let batch = batch_of(2);
        let mut calls = 0;
        send_with_retries(&batch, entries(&[1, 1]), &SENT, &never, |pending| {
            calls += 1;
            let first = calls == 1;
            async move {
                if first {
                    return Err(failing_call(Retry::Ambiguous));
                }
                Ok(first_and_others_fail(
                    &pending,
                    ("InvalidParameterValue", true),
                    ("InternalError", false),
                ))
            }
        })
        .await;
        assert_eq!(calls, MAX_ATTEMPTS);
        for result in results(batch) {
            assert_eq!(result.status, ResultStatus::Failure, "{result:?}");
            assert_eq!(result.status_code.as_deref(), Some(OUTCOME_UNKNOWN));
            let message = result.message.unwrap_or_default();
            assert!(
                message.contains("may or may not have been sent"),
                "{message}"
            );
        }
        // Without an ambiguous attempt, the same exhausted retries say "not sent".
        let batch = batch_of(1);
        send_with_retries(&batch, entries(&[1]), &SENT, &never, |_| async {
            Err(failing_call(Retry::Safe))
        })
        .await;
        let result = &results(batch)[0];
        assert_eq!(result.status, ResultStatus::Failure);
        assert_ne!(result.status_code.as_deref(), Some(OUTCOME_UNKNOWN));
    }

    #[tokio::test]
    async fn a_cancelled_execution_starts_no_retry() {
        let batch = batch_of(2);
        let mut calls = 0;
        let cancelled = || true;
        send_with_retries(&batch, entries(&[1, 1]), &SENT, &cancelled, |pending| {
            calls += 1;
            async move {
                let mut answer = BatchAnswer::default();
                answer
                    .failed
                    .push(failure(&pending[0], "InternalError", false));
                answer
                    .succeeded
                    .push((pending[1].id(), Outcome::success(vec![])));
                Ok(answer)
            }
        })
        .await;
        assert_eq!(calls, 1);
        let results = results(batch);
        assert_eq!(results[0].status_code.as_deref(), Some(CANCELLED));
        assert_eq!(results[1].status, ResultStatus::Success);
    }
}
