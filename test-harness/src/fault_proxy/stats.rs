//! What the proxy counted: per action, and the messages whose digest it corrupted.

use std::collections::BTreeMap;

use super::rules::FaultKind;

/// Counts for one SQS action.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ActionStats {
    /// Requests passed to the upstream (with or without a fault afterwards).
    pub forwarded: u64,
    /// Upstream answers passed back to the client unchanged and in time.
    pub answered: u64,
    /// Requests the upstream did not answer (connection refused, cut, timed out); the client got
    /// a 502 from the proxy.
    pub upstream_errors: u64,
    /// Faults applied, by kind name (`reset-after`); kinds never applied are absent.
    pub faults: BTreeMap<String, u64>,
}

/// A snapshot of the proxy's counters, served as JSON at `GET /_fault-proxy/stats`:
///
/// ```json
/// {"actions":{"SendMessageBatch":{"forwarded":3,"answered":2,"upstreamErrors":0,
///   "faults":{"reset-after":1}}},"corruptedMessageIds":[]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProxyStats {
    /// Counts by SQS action (`SendMessage`, or `(unknown)` for requests without one).
    pub actions: BTreeMap<String, ActionStats>,
    /// The `MessageId` of each message whose `MD5OfBody` a `corrupt-md5` fault changed, in
    /// order (an empty string when the message had no id).
    pub corrupted_message_ids: Vec<String>,
}

impl ProxyStats {
    /// How many faults of `kind` were applied, over all actions.
    pub fn faults(&self, kind: FaultKind) -> u64 {
        self.actions
            .values()
            .filter_map(|a| a.faults.get(kind.name()))
            .sum()
    }

    /// How many faults were applied, of any kind.
    pub fn total_faults(&self) -> u64 {
        self.actions.values().flat_map(|a| a.faults.values()).sum()
    }

    /// Requests passed to the upstream, over all actions.
    pub fn forwarded(&self) -> u64 {
        self.actions.values().map(|a| a.forwarded).sum()
    }

    /// Upstream answers passed back unchanged, over all actions.
    pub fn answered(&self) -> u64 {
        self.actions.values().map(|a| a.answered).sum()
    }

    /// The counts of one action (zeros when it was never seen).
    pub fn action(&self, action: &str) -> ActionStats {
        self.actions.get(action).cloned().unwrap_or_default()
    }

    pub(crate) fn entry(&mut self, action: &str) -> &mut ActionStats {
        self.actions.entry(action.to_string()).or_default()
    }

    pub(crate) fn add_fault(&mut self, action: &str, kind: FaultKind) {
        *self
            .entry(action)
            .faults
            .entry(kind.name().to_string())
            .or_default() += 1;
    }
}
