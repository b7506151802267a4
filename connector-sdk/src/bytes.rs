//! Finding the first byte of a kind in text eight bytes at a time: the scan behind the
//! protocol's JSON writer and reader (bytes JSON escapes), and behind a connector's check of
//! message bodies (bytes a service refuses). The kinds are "below a threshold" (control
//! characters) and "one of a few bytes", which byte-search crates such as `memchr` do not offer
//! together.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` below `n` (`n` at most 0x80). The lowest bit set is
/// exact; above it a borrow may mark bytes that are not below `n`.
#[inline]
fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

/// Where in `word` the first byte below `below` (at most 0x80) or equal to one of `any_of` is,
/// if one is: e.g. `first_in_word(word, 0x20, [b'"', b'\\'])` finds what JSON must escape.
#[inline]
pub fn first_in_word<const N: usize>(word: [u8; 8], below: u8, any_of: [u8; N]) -> Option<usize> {
    debug_assert!(below <= 0x80, "bytes_below is exact only up to 0x80");
    let word = u64::from_le_bytes(word);
    let mut marks = bytes_below(word, below);
    for byte in any_of {
        marks |= bytes_below(word ^ (ONES * u64::from(byte)), 1);
    }
    // Little-endian: the first byte is the lowest; its mark is exact (see `bytes_below`).
    (marks != 0).then(|| (marks.trailing_zeros() / 8) as usize)
}

/// Where in `bytes` the first byte below `below` (at most 0x80) or equal to one of `any_of` is,
/// if one is: eight bytes at a time, then one at a time for the last few.
pub fn find<const N: usize>(bytes: &[u8], below: u8, any_of: [u8; N]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    for (n, word) in (&mut words).enumerate() {
        if let Some(at) = first_in_word(word.try_into().unwrap_or_default(), below, any_of) {
            return Some(n * 8 + at);
        }
    }
    let tail = bytes.len() - words.remainder().len();
    words
        .remainder()
        .iter()
        .position(|&byte| byte < below || any_of.contains(&byte))
        .map(|at| tail + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition the word-at-a-time scan must agree with.
    fn slow(bytes: &[u8], below: u8, any_of: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&byte| byte < below || any_of.contains(&byte))
    }

    #[test]
    fn finds_the_first_byte_at_every_position_and_length() {
        for len in 0..40 {
            let clean = vec![b'x'; len];
            assert_eq!(find(&clean, 0x20, [b'"', b'\\']), None, "{len} clean bytes");
            for at in 0..len {
                for (bad, fine) in [(0x00, 0x20), (0x1f, 0x7f), (b'"', 0x80), (b'\\', 0xff)] {
                    let mut bytes = clean.clone();
                    bytes[at] = fine;
                    assert_eq!(find(&bytes, 0x20, [b'"', b'\\']), None, "{fine:#x} at {at}");
                    bytes[at] = bad;
                    // A second one after it must not move the answer (the borrow above it).
                    if at + 1 < len {
                        bytes[at + 1] = 0x01;
                    }
                    assert_eq!(
                        find(&bytes, 0x20, [b'"', b'\\']),
                        slow(&bytes, 0x20, b"\"\\"),
                        "{bad:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_word_reports_its_first_match() {
        assert_eq!(first_in_word(*b"abc\"d\\ef", 0x20, [b'"', b'\\']), Some(3));
        assert_eq!(first_in_word(*b"abcdefg\x01", 0x20, [b'"']), Some(7));
        assert_eq!(first_in_word(*b"ab\xefcdefg", 0x20, [0xef]), Some(2));
        assert_eq!(first_in_word(*b"abcdefgh", 0x20, []), None);
    }
}
