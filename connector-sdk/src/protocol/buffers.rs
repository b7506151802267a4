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

/// An empty buffer, recycled when one is kept.
pub fn take() -> Vec<u8> {
    KEPT.lock().pop().unwrap_or_default()
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
    fn a_buffer_given_back_is_taken_again_empty_with_its_capacity() {
        let mut buffer = Vec::with_capacity(4096);
        buffer.extend_from_slice(b"a line");
        give_back(buffer);
        // Other tests may share the pool: some buffer comes back, empty.
        let again = take();
        assert!(again.is_empty());
        give_back(Vec::with_capacity((64 << 20) + 1));
        assert!(
            KEPT.lock()
                .iter()
                .all(|b| b.capacity() <= KEPT_BUFFER_BYTES)
        );
    }
}
