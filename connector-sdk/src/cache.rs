//! [`BoundedCache`]: a map that keeps at most a given number of entries and, to make room for
//! a new one, drops the entry used least recently. The runtime keeps built connections and
//! operations in it; a connector can keep its own per-component state the same way.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A map of at most `capacity` entries: adding a new key to a full cache first drops the least
/// recently used entry.
///
/// An entry counts as used when [`get`](Self::get) finds it or [`insert`](Self::insert) puts it
/// in. Values that are also used outside the cache (through an `Arc` a caller holds on to) can
/// tell when they were last used instead: see [`with_last_used`](Self::with_last_used).
///
/// Finding the entry to drop looks at every entry, so it suits hundreds of entries (one per
/// component, say), not millions. It does no locking: put it behind a mutex to share it.
pub struct BoundedCache<K, V> {
    entries: HashMap<K, Slot<V>>,
    capacity: usize,
    /// Counts uses: an entry's stamp is the count at its last use.
    uses: u64,
    /// When set, what says when a value was last used (the cache's own stamps are ignored).
    last_used: Option<fn(&V) -> u64>,
}

struct Slot<V> {
    value: V,
    used: u64,
}

impl<K: Eq + Hash + Clone, V> BoundedCache<K, V> {
    /// An empty cache for at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            uses: 0,
            last_used: None,
        }
    }

    /// An empty cache for at most `capacity` entries (at least one) whose values tell when they
    /// were last used, in any unit that grows with time (seconds of a clock, a counter): the
    /// value with the smallest is dropped to make room.
    pub fn with_last_used(capacity: usize, last_used: fn(&V) -> u64) -> Self {
        Self {
            last_used: Some(last_used),
            ..Self::new(capacity)
        }
    }

    /// The value kept for `key`, which now counts as the most recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.entries.get_mut(key)?;
        self.uses += 1;
        slot.used = self.uses;
        Some(&slot.value)
    }

    /// Keeps `value` for `key`, in place of the value it had. When `key` is new and the cache
    /// is full, the least recently used entry makes room first; it is returned.
    pub fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        let mut dropped = None;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, slot)| match self.last_used {
                    Some(last_used) => last_used(&slot.value),
                    None => slot.used,
                })
                .map(|(oldest, _)| oldest.clone());
            dropped = oldest.and_then(|oldest| self.entries.remove_entry(&oldest));
        }
        self.uses += 1;
        self.entries.insert(
            key,
            Slot {
                value,
                used: self.uses,
            },
        );
        dropped.map(|(key, slot)| (key, slot.value))
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most entries it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<K, V> std::fmt::Debug for BoundedCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn the_least_recently_used_entry_makes_room() {
        let mut cache = BoundedCache::new(2);
        assert_eq!(cache.insert("a", 1), None);
        assert_eq!(cache.insert("b", 2), None);
        assert_eq!(cache.get("a"), Some(&1));
        assert_eq!(
            cache.insert("c", 3),
            Some(("b", 2)),
            "a was used after b, so b goes"
        );
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a"), Some(&1));
        assert_eq!(cache.get("c"), Some(&3));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn replacing_a_value_drops_nothing() {
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.insert("a", 10), None);
        assert_eq!(cache.get("a"), Some(&10));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn holds_at_least_one_entry() {
        let mut cache = BoundedCache::new(0);
        assert_eq!(cache.capacity(), 1);
        cache.insert("a", 1);
        assert_eq!(cache.insert("b", 2), Some(("a", 1)));
        assert_eq!(cache.get("b"), Some(&2));
        assert!(!cache.is_empty());
    }

    #[test]
    fn values_that_tell_their_last_use_decide_what_goes() {
        let stamp = |at: u64| Arc::new(AtomicU64::new(at));
        let mut cache: BoundedCache<&str, Arc<AtomicU64>> =
            BoundedCache::with_last_used(2, |v| v.load(Ordering::Relaxed));
        let a = stamp(1);
        cache.insert("a", a.clone());
        cache.insert("b", stamp(2));
        // Used outside the cache: the cache never saw it, the value says so.
        a.store(3, Ordering::Relaxed);
        let (dropped, _) = cache.insert("c", stamp(4)).unwrap();
        assert_eq!(dropped, "b", "a was used last at 3, b at 2");
    }
}
