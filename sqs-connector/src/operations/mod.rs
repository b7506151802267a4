//! The operations: SEND, RECEIVE and DELETE, sharing batching and per-entry result mapping.

pub mod batching;
pub mod delete;
pub mod listen;
pub mod receive;
pub mod send;

pub use delete::DeleteOperation;
pub use listen::ListenOperation;
pub use receive::ReceiveOperation;
pub use send::SendOperation;

/// The queue a document names: the first of the properties `keys` it carries (trimmed, not
/// empty), else the operation's `queue` option. `None` after [`missing_queue`] was recorded for
/// it: a document that names no queue fails alone.
pub(crate) fn queue_of<'a>(
    batch: &'a connector_sdk::Batch,
    index: usize,
    keys: &[&str],
    option: Option<&'a str>,
    what: &str,
) -> Option<&'a str> {
    let document = &batch.documents()[index];
    let named = keys
        .iter()
        .find_map(|key| {
            document
                .property(key)
                .map(str::trim)
                .filter(|q| !q.is_empty())
        })
        .or(option);
    if named.is_none() {
        batch.application_error(
            index,
            "MissingQueue",
            format!(
                "{what} {} has no {} property and the operation names no queue",
                batch.input_index(index),
                keys.join(" or ")
            ),
        );
    }
    named
}
