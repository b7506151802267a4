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
pub(super) fn take(size: usize) -> Vec<u8> {
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

/// Keeps `buffer` for a later [`take`] (or frees it when enough are kept or it is very large),
/// wiped either way (see [`wipe`]).
pub(super) fn give_back(mut buffer: Vec<u8>) {
    wipe(&mut buffer);
    if buffer.capacity() == 0 || buffer.capacity() > KEPT_BUFFER_BYTES {
        return;
    }
    let mut kept = KEPT.lock();
    if kept.len() < KEPT_BUFFERS {
        kept.push(buffer);
    }
}

/// Overwrites the line in `buffer` with zeros and empties it. Request lines carry connection
/// components, secrets included; a buffer is wiped before it is reused or freed, so that the
/// text does not linger in a kept buffer or in freed memory. (A buffer that grew while a line
/// was read left the copy it grew from to the allocator: lines are read into buffers that
/// already have the room as far as possible, see [`take`].)
pub(super) fn wipe(buffer: &mut Vec<u8>) {
    zero(buffer);
    buffer.clear();
}

/// Overwrites `bytes` with zeros, which are written even though nothing reads them.
fn zero(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(&*bytes);
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

    #[test]
    fn a_line_is_overwritten_with_zeros_before_its_buffer_is_emptied() {
        let mut line = br#"{"secretKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#.to_vec();
        zero(&mut line);
        assert!(line.iter().all(|b| *b == 0), "{line:?}");
        let capacity = line.capacity();
        wipe(&mut line);
        assert!(line.is_empty() && line.capacity() == capacity);
    }
}
