//! Request lines read with a bound. A line longer than the plugin accepts is not stored: only its
//! head is kept, to read the request's id from, and the rest is discarded as it streams in.

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// How many bytes of a line that is too long are kept, to read its id from.
pub(super) const HEAD_KEPT: usize = 512;

/// How much of a discarded line is read at a time.
const DISCARD_PIECE: u64 = 64 << 10;

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineRead {
    /// The input ended; nothing was read.
    End,
    /// A whole line is in the buffer, its `\n` included (none when the input ended without one).
    Line,
    /// The line is longer than the limit: the buffer holds its first [`HEAD_KEPT`] bytes, and the
    /// rest of the line is still to be read, by [`discard_line`].
    TooLong,
}

/// How much of a line is read at a time, with the room for it made first (see [`grow`]).
const READ_PIECE: usize = 64 << 10;

/// Up to this capacity a line's buffer grows by doubling, as `Vec` does; a line longer than this
/// gets room for the whole limit at once (see [`grow`]).
const DOUBLING_UP_TO: usize = 64 << 20;

/// Appends the next line to `buffer` (empty when called) when it holds at most `limit` bytes
/// besides its `\n`. A longer line is read no further than `limit + 1` bytes, of which the first
/// [`HEAD_KEPT`] are kept. The buffer's capacity never exceeds `limit + 1` bytes on this
/// account (see [`grow`]).
pub(super) async fn read_line<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<LineRead> {
    let start = buffer.len();
    let bound = start.saturating_add(limit).saturating_add(1);
    loop {
        let piece = READ_PIECE.min(bound - buffer.len());
        grow(buffer, piece, bound);
        let read = (&mut *reader)
            .take(piece as u64)
            .read_until(b'\n', buffer)
            .await?;
        if read == 0 {
            return Ok(match buffer.len() == start {
                true => LineRead::End,
                false => LineRead::Line,
            });
        }
        if buffer.last() == Some(&b'\n') {
            return Ok(LineRead::Line);
        }
        if buffer.len() == bound {
            buffer.truncate(start + HEAD_KEPT);
            return Ok(LineRead::TooLong);
        }
    }
}

/// Makes room in `buffer` for `piece` more bytes, its capacity kept within `bound`. Up to
/// [`DOUBLING_UP_TO`] the capacity doubles; beyond it the buffer gets the whole `bound` at once.
/// A request line near the limit (hundreds of megabytes) is thus copied once on its way in, not
/// at every doubling, and its buffer is never twice the limit: doubling from a capacity just
/// below the bound would allocate up to twice the bound, and each copy left behind is memory the
/// allocator may keep. Only the pages written count towards the plugin's resident set, so the
/// room reserved for the rest of the limit costs address space, not memory. When the system
/// refuses that much address space, the buffer grows by doubling as before.
fn grow(buffer: &mut Vec<u8>, piece: usize, bound: usize) {
    let needed = buffer.len() + piece;
    if needed <= buffer.capacity() {
        return;
    }
    let doubled = buffer.capacity().saturating_mul(2).max(needed);
    let target = match doubled <= DOUBLING_UP_TO {
        true => doubled.min(bound),
        false => bound,
    };
    if buffer.try_reserve_exact(target - buffer.len()).is_err() {
        buffer.reserve(piece);
    }
}

/// Reads the rest of the current line (up to its `\n` or the end of the input) and forgets it,
/// a piece at a time; returns how many bytes it read.
pub(super) async fn discard_line<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
) -> std::io::Result<u64> {
    let mut piece = Vec::with_capacity(DISCARD_PIECE as usize);
    let mut discarded = 0;
    loop {
        piece.clear();
        let read = (&mut *reader)
            .take(DISCARD_PIECE)
            .read_until(b'\n', &mut piece)
            .await?;
        discarded += read as u64;
        if read == 0 || piece.last() == Some(&b'\n') {
            return Ok(discarded);
        }
    }
}

/// The id of a request read from the head of its line (its first bytes only): the top-level
/// `"id"` member when the head shows it whole, whatever members come before it; `None` when it
/// does not (the id comes later, the head is cut inside it, or the line is no JSON object).
#[cfg(test)]
pub(super) fn head_request_id(head: &[u8]) -> Option<Value> {
    head_request_id_text(head).and_then(|text| serde_json::from_str(text).ok())
}

/// [`head_request_id`] as the id's JSON text, as written (an integer of any size exactly).
pub(super) fn head_request_id_text(head: &[u8]) -> Option<&str> {
    let mut scan = Scan { bytes: head, at: 0 };
    scan.byte(b'{')?;
    loop {
        let key = scan.string()?;
        scan.byte(b':')?;
        let value = scan.value()?;
        if key == br#""id""# {
            let id: Value = serde_json::from_slice(value).ok()?;
            return matches!(id, Value::Null | Value::Number(_) | Value::String(_))
                .then(|| std::str::from_utf8(value).ok())
                .flatten();
        }
        scan.byte(b',')?;
    }
}

/// A cursor over the head of a line that skips JSON values without parsing them.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    /// Whitespace, then `expected`.
    fn byte(&mut self, expected: u8) -> Option<()> {
        self.skip_whitespace();
        (self.bytes.get(self.at) == Some(&expected)).then(|| self.at += 1)
    }

    /// Whitespace, then a string: its bytes, quotes and escapes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.skip_whitespace();
        let start = self.at;
        (*self.bytes.get(self.at)? == b'"').then_some(())?;
        self.at += 1;
        loop {
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(&self.bytes[start..self.at]);
                }
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
    }

    /// Whitespace, then a whole value: its bytes. `None` when the head ends inside it, or right
    /// after a number or a literal (which may go on past the head).
    fn value(&mut self) -> Option<&'a [u8]> {
        self.skip_whitespace();
        let start = self.at;
        match *self.bytes.get(self.at)? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0_usize;
                loop {
                    match *self.bytes.get(self.at)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(
                    *self.bytes.get(self.at)?,
                    b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'
                ) {
                    self.at += 1;
                }
                (self.at > start).then_some(())?;
            }
        }
        Some(&self.bytes[start..self.at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn lines(input: &[u8], limit: usize) -> Vec<(LineRead, Vec<u8>)> {
        let mut reader = tokio::io::BufReader::with_capacity(7, input);
        let mut read = Vec::new();
        loop {
            let mut buffer = Vec::new();
            let outcome = read_line(&mut reader, &mut buffer, limit).await.unwrap();
            if outcome == LineRead::TooLong {
                discard_line(&mut reader).await.unwrap();
            }
            if outcome == LineRead::End {
                return read;
            }
            read.push((outcome, buffer));
        }
    }

    #[tokio::test]
    async fn lines_up_to_the_limit_are_read_whole_and_longer_ones_are_cut_to_their_head() {
        let long = [b'a'; HEAD_KEPT + 100];
        let input = [
            &b"0123456789\n"[..],
            b"01234567890\n",
            &long,
            b"\n",
            b"\n",
            b"short\n",
            b"no newline",
        ]
        .concat();
        let read = lines(&input, 10).await;
        assert_eq!(
            read,
            vec![
                (LineRead::Line, b"0123456789\n".to_vec()),
                (LineRead::TooLong, b"01234567890".to_vec()),
                (LineRead::TooLong, long[..11].to_vec()),
                (LineRead::Line, b"\n".to_vec()),
                (LineRead::Line, b"short\n".to_vec()),
                (LineRead::Line, b"no newline".to_vec()),
            ]
        );
        // A line too long at the end of the input, without a newline.
        let read = lines(&[&b"ok\n"[..], &long].concat(), 10).await;
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].0, LineRead::TooLong);
        // Of a line longer than the head, only the head is kept.
        let read = lines(&[&long[..], b"\nok\n"].concat(), HEAD_KEPT + 50).await;
        assert_eq!(
            read,
            vec![
                (LineRead::TooLong, long[..HEAD_KEPT].to_vec()),
                (LineRead::Line, b"ok\n".to_vec()),
            ]
        );
    }

    /// A line near a large limit is copied once on its way in, beyond the doubling range, and its
    /// buffer never has room for more than the limit and a `\n` (doubling past the limit made it
    /// twice the limit, and held three times the line's length while growing).
    #[test]
    fn a_long_line_gets_room_for_the_limit_at_once_and_never_more() {
        let limit = DOUBLING_UP_TO + (DOUBLING_UP_TO / 4);
        let long = DOUBLING_UP_TO + (DOUBLING_UP_TO / 8);
        let input = [&vec![b'a'; long][..], b"\n"].concat();
        let read = |limit: usize| {
            let mut reader = tokio::io::BufReader::with_capacity(READ_PIECE, &input[..]);
            let mut buffer = Vec::new();
            let (outcome, peak) = fuzz_support::measure(|| {
                futures::executor::block_on(read_line(&mut reader, &mut buffer, limit))
            });
            (outcome.unwrap(), buffer, peak)
        };
        let (outcome, buffer, peak) = read(limit);
        assert_eq!(outcome, LineRead::Line);
        assert_eq!(buffer.len(), long + 1);
        assert_eq!(buffer.capacity(), limit + 1);
        // The last doubling's buffer and the limit's, at the moment of the one copy.
        assert!(
            peak <= DOUBLING_UP_TO + limit + 1,
            "held {peak} bytes for a line of {long} under a limit of {limit}"
        );

        // Too long for a smaller limit: read up to the limit, in a buffer of the limit's size.
        let limit = DOUBLING_UP_TO + 1000;
        let (outcome, buffer, peak) = read(limit);
        assert_eq!(outcome, LineRead::TooLong);
        assert_eq!(buffer.len(), HEAD_KEPT);
        assert_eq!(buffer.capacity(), limit + 1);
        assert!(peak <= DOUBLING_UP_TO + limit + 1, "held {peak} bytes");
    }

    #[tokio::test]
    async fn discarding_reads_to_the_end_of_the_line_only() {
        let line = vec![b'x'; 3 * DISCARD_PIECE as usize + 5];
        let input = [&line[..], b"\nnext\n"].concat();
        let mut reader = tokio::io::BufReader::new(&input[..]);
        assert_eq!(
            discard_line(&mut reader).await.unwrap(),
            line.len() as u64 + 1
        );
        let mut next = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut next, 100).await.unwrap(),
            LineRead::Line
        );
        assert_eq!(next, b"next\n");
    }

    #[test]
    fn the_id_is_read_from_the_head_wherever_it_stands_among_the_first_members() {
        for (head, id) in [
            (
                &br#"{"jsonrpc":"2.0","id":7,"method":"execute","params":{"#[..],
                json!(7),
            ),
            (br#" { "id" : "abc" , "method""#, json!("abc")),
            (br#"{"id":null,"#, json!(null)),
            (
                br#"{"jsonrpc":"2.0","params":{"a":[1,{"id":2}],"b":"}\""},"id":3}"#,
                json!(3),
            ),
            (br#"{"method":"execute","id":-4.5e1,"params""#, json!(-45.0)),
        ] {
            // The text as written: an integer beyond 64 bits exactly.
            assert_eq!(
                head_request_id_text(br#"{"id":18446744073709551616123,"m"#),
                Some("18446744073709551616123")
            );
            assert_eq!(
                head_request_id(head),
                Some(id),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        for head in [
            &br#"{"jsonrpc":"2.0","id":12"#[..],
            br#"{"jsonrpc":"2.0","method":"execute","params":{"documents":[{"data":"#,
            br#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#,
            br#"{"jsonrpc":"2.0","id":"unterminated"#,
            br#"[{"id":1}]"#,
            b"not json",
            b"",
            br#"{"a":1}"#,
        ] {
            assert_eq!(
                head_request_id(head),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
