//! Line buffers kept for reuse, by the plugin (responses) and by the host (requests and
//! responses). The lines of `execute` are megabytes; a fresh buffer for each would be grown by
//! copying and its pages faulted in every time, and freeing it makes the allocator return
//! memory to the system only to ask for it again.

use parking_lot::Mutex;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// How many buffers are kept.
const KEPT_BUFFERS: usize = 8;
/// Larger buffers are freed, not kept.
const KEPT_BUFFER_BYTES: usize = 64 << 20;

/// An empty buffer with room for at least `size` bytes: the smallest kept buffer that has the
/// room, else the largest kept one (grown once to `size`), else a new one. A large line thus
/// lands in a large buffer instead of growing a small one by doubling, page by fresh page.
/// `usize::MAX` asks for the largest kept buffer, for a line of unknown length.
pub fn take(size: usize) -> Vec<u8> {
    let mut buffer = {
        let mut kept = KEPT.lock();
        let fitting = kept
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= size)
            .min_by_key(|(_, b)| b.capacity())
            .or_else(|| kept.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
            .map(|(i, _)| i);
        fitting.map(|i| kept.swap_remove(i)).unwrap_or_default()
    };
    if size != usize::MAX {
        buffer.reserve(size);
    }
    buffer
}

/// Keeps `buffer` for a later [`take`] (or frees it when enough are kept or it is very large).
pub fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > KEPT_BUFFER_BYTES {
        return;
    }
    let mut kept = KEPT.lock();
    if kept.len() < KEPT_BUFFERS {
        buffer.clear();
        kept.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_large_enough_and_huge_ones_are_not_kept() {
        let mut small = Vec::with_capacity(4096);
        small.extend_from_slice(b"a line");
        give_back(small);
        give_back(Vec::with_capacity(1 << 20));
        // Other tests may share the pool: whatever comes back is empty and has the room asked.
        let big = take(500_000);
        assert!(big.is_empty() && big.capacity() >= 500_000);
        let largest = take(usize::MAX);
        assert!(largest.is_empty());
        let fresh = take(10);
        assert!(fresh.capacity() >= 10);
        give_back(Vec::with_capacity((64 << 20) + 1));
        assert!(
            KEPT.lock()
                .iter()
                .all(|b| b.capacity() <= KEPT_BUFFER_BYTES)
        );
    }
}
