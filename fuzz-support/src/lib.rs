//! The fuzz driver of the workspace's fuzz tests, on the stable toolchain under `cargo test`
//! (cargo-fuzz and libFuzzer need nightly).
//!
//! A [`Target`] takes a corpus of valid inputs and mutates them: byte flips, inserts, deletes,
//! splices between corpus entries, repeated and truncated segments, and interesting values
//! (huge numbers, deep nesting, long strings, bytes that are not UTF-8, escapes such as
//! `\ud800`), plus the target's own tokens and, optionally, its own structure-aware mutation
//! (a certificate's DER inside its PEM, for example). Every input is run under
//! `catch_unwind`, timed, and measured by [`CountingAllocator`], which the test binary declares
//! as its `#[global_allocator]`. A failure (an `Err` from the check, a panic, an input slower
//! than the target's time limit, or an allocation peak beyond its [`Bound`]) is reported with
//! the seed, the iteration, the input (escaped, cut to its ends) and a minimized input, and is
//! saved to a file.
//!
//! The environment:
//!
//! * `FUZZ_SECONDS`: the time budget of each target (a decimal number; the default is each
//!   target's own, a few seconds, so that the test suite stays fast).
//! * `FUZZ_SEED`: the seed (decimal or `0x` hex); without it a new one is drawn, and printed.
//! * `FUZZ_ITERATION`: with `FUZZ_SEED`, runs that one input of that seed again.
//! * `FUZZ_INPUT`: a file holding an input (a saved failure) to run alone.
//!
//! Inputs are numbered: input `i` of seed `s` is the same bytes on every run (the corpus first,
//! then mutations drawn from a generator seeded with `s` and `i`), so any failure replays from
//! the two numbers the report prints.

// A test tool: it times each input against the wall clock, which is what it measures.
#![allow(clippy::disallowed_methods)]
#![warn(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Counting allocations.

/// The system allocator, counting per thread the bytes held while a measurement runs
/// ([`measure`]). Declare it in each fuzz test binary:
///
/// ```ignore
/// #[global_allocator]
/// static ALLOCATOR: fuzz_support::CountingAllocator = fuzz_support::CountingAllocator;
/// ```
pub struct CountingAllocator;

/// While a measurement runs on a thread, a request that would take that thread's measured bytes
/// beyond this is refused (the process then aborts, after printing which input asked): an input
/// that makes a parser ask for terabytes is reported instead of swapping the machine to death.
pub const HARD_CAP: usize = 4 << 30;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static BASE: Cell<isize> = const { Cell::new(0) };
    /// The largest peak of the [`measured`] regions of the current input, if any ran.
    static MEASURED_PEAK: Cell<Option<usize>> = const { Cell::new(None) };
    /// The seed and iteration running on this thread, for the hard cap's message.
    static RUNNING: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Counts `bytes` more held by this thread; false when that passes [`HARD_CAP`].
fn grow(bytes: usize) -> bool {
    ARMED
        .try_with(|armed| {
            if !armed.get() {
                return true;
            }
            let current = CURRENT.get().saturating_add(bytes as isize);
            if current.saturating_sub(BASE.get()) > HARD_CAP as isize {
                refuse(bytes);
                return false;
            }
            CURRENT.set(current);
            if current > PEAK.get() {
                PEAK.set(current);
            }
            true
        })
        .unwrap_or(true)
}

fn shrink(bytes: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            CURRENT.set(CURRENT.get().saturating_sub(bytes as isize));
        }
    });
}

/// Text formatted on the stack: what the allocator may print without allocating.
struct StackText {
    bytes: [u8; 320],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = (self.len + text.len()).min(self.bytes.len());
        self.bytes[self.len..end].copy_from_slice(&text.as_bytes()[..end - self.len]);
        self.len = end;
        Ok(())
    }
}

fn refuse(bytes: usize) {
    use std::io::Write as _;
    let (seed, iteration) = RUNNING.try_with(Cell::get).unwrap_or_default();
    let mut text = StackText {
        bytes: [0; 320],
        len: 0,
    };
    let _ = write!(
        text,
        "\nfuzz: an input asked for {bytes} bytes more, beyond the hard cap of {HARD_CAP}; \
         the process aborts. Replay: FUZZ_SEED={seed} FUZZ_ITERATION={iteration}\n"
    );
    let _ = std::io::stderr().write_all(&text.bytes[..text.len]);
}

// SAFETY: every call is passed on to `System` unchanged; the counting touches only this
// thread's counters, which are `const` thread-locals without destructors (`try_with` covers
// a thread being torn down), and allocates nothing.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        let pointer = unsafe { System.alloc(layout) };
        if pointer.is_null() {
            shrink(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if pointer.is_null() {
            shrink(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(pointer, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !grow(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if moved.is_null() {
            if new_size > old {
                shrink(new_size - old);
            }
        } else if new_size < old {
            shrink(old - new_size);
        }
        moved
    }
}

/// Restores the counters of an enclosing measurement when a measurement ends (also by a panic).
struct Restore {
    was_armed: bool,
    outer_peak: isize,
    outer_base: isize,
}

impl Drop for Restore {
    fn drop(&mut self) {
        PEAK.set(PEAK.get().max(self.outer_peak));
        BASE.set(self.outer_base);
        ARMED.set(self.was_armed);
    }
}

/// Runs `f` and returns what it returned and the most bytes it held at once on this thread
/// beyond what the thread held when it started (0 without [`CountingAllocator`]). Measurements
/// nest.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = CURRENT.get();
    let restore = Restore {
        was_armed: ARMED.get(),
        outer_peak: PEAK.get(),
        outer_base: BASE.get(),
    };
    if !restore.was_armed {
        BASE.set(start);
    }
    PEAK.set(start);
    ARMED.set(true);
    let value = f();
    let peak = PEAK.get().saturating_sub(start).max(0) as usize;
    drop(restore);
    (value, peak)
}

/// Runs `f`, the parsing under test, and counts its allocation peak against the target's
/// [`Bound`]. A check that calls this has only these regions measured (the largest counts), so
/// that a reference parser or the comparison it runs besides is not charged to the parser; a
/// check that does not has all of its work measured.
pub fn measured<R>(f: impl FnOnce() -> R) -> R {
    let (value, peak) = measure(f);
    MEASURED_PEAK.set(Some(MEASURED_PEAK.get().map_or(peak, |p| p.max(peak))));
    value
}

// ---------------------------------------------------------------------------------------------
// Random numbers.

/// SplitMix64: small, fast, and good enough to choose mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True `numerator` times in `denominator`.
    pub fn chance(&mut self, numerator: usize, denominator: usize) -> bool {
        self.below(denominator) < numerator
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A length, mostly small: 1..=8 often, up to `max` rarely.
    pub fn length(&mut self, max: usize) -> usize {
        let max = max.max(1);
        match self.below(10) {
            0..=6 => 1 + self.below(8.min(max)),
            7 | 8 => 1 + self.below(256.min(max)),
            _ => 1 + self.below(max),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

/// Tokens worth trying in any text protocol: JSON's structure and escapes, numbers at and past
/// the limits of their types, and bytes that are not UTF-8.
const GENERIC_TOKENS: &[&[u8]] = &[
    b"\\ud800",
    b"\\udc00",
    b"\\udfff\\udfff",
    b"\\ud83d\\ude00",
    b"\\ud800\\u0041",
    b"\\u0000",
    b"\\u00e9",
    b"\\u",
    b"\\uZZZZ",
    b"\\",
    b"\\\\",
    b"\\\"",
    b"\\n",
    b"\\/",
    b"\"",
    b"0",
    b"-0",
    b"01",
    b"-1",
    b"1.5",
    b"1e3",
    b"2147483648",
    b"4294967296",
    b"9007199254740993",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999999999999999999999",
    b"1e999999",
    b"1.7976931348623157e309",
    b"4.9e-325",
    b"null",
    b"true",
    b"false",
    b"{}",
    b"[]",
    b"{\"\":\"\"}",
    b",",
    b":",
    b" ",
    b"\t",
    b"\r\n",
    b"\n",
    b"\r",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x80",
    b"\xc0\xaf",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf0\x9f\x98",
    b"\xf4\x90\x80\x80",
    "é✓😀\u{fffd}\u{2028}".as_bytes(),
    b"%",
    b"%zz",
    b"%00",
    b"=",
    b"==",
    b"-----",
];

const INTERESTING_BYTES: &[u8] = &[
    0x00, 0x01, 0x08, 0x0a, 0x0d, 0x1f, 0x20, 0x22, 0x2c, 0x2d, 0x2f, 0x30, 0x39, 0x3a, 0x3d, 0x5b,
    0x5c, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xa0, 0xc0, 0xed, 0xfe, 0xff,
];

/// Mutates inputs: the generic byte-level mutations, splices between corpus entries, and the
/// target's tokens. Structure-aware mutations of a target call it for the parts they mutate.
#[derive(Debug, Clone)]
pub struct Mutator {
    corpus: Arc<Vec<Vec<u8>>>,
    tokens: Vec<Vec<u8>>,
    max_len: usize,
}

impl Mutator {
    /// The largest input this mutator makes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// A token: the target's or a generic one.
    pub fn token(&self, rng: &mut Rng) -> Vec<u8> {
        if !self.tokens.is_empty() && rng.chance(2, 3) {
            rng.pick(&self.tokens).clone()
        } else {
            rng.pick(GENERIC_TOKENS).to_vec()
        }
    }

    /// Something big: deep nesting, a long string, a long run of one byte or token.
    pub fn big(&self, rng: &mut Rng) -> Vec<u8> {
        let n = match rng.below(4) {
            0 => 1 + rng.below(200),
            1 => 100 + rng.below(2_000),
            _ => 1_000 + rng.below(self.max_len / 2),
        };
        let unit: Vec<u8> = match rng.below(7) {
            0 => b"[".to_vec(),
            1 => b"{\"a\":".to_vec(),
            2 => b"[1,".to_vec(),
            3 => vec![rng.below(256) as u8],
            4 => b"a".to_vec(),
            5 => b"\\ud800".to_vec(),
            _ => self.token(rng),
        };
        let count = (n / unit.len().max(1)).max(1);
        let mut out = Vec::with_capacity(count * unit.len() + 2);
        let quoted = unit == b"a" || unit == b"\\ud800";
        if quoted {
            out.push(b'"');
        }
        for _ in 0..count {
            out.extend_from_slice(&unit);
        }
        if quoted {
            out.push(b'"');
        }
        out
    }

    /// A range of `data`: `(start, end)`, possibly empty.
    fn range(rng: &mut Rng, data: &[u8]) -> (usize, usize) {
        let start = rng.below(data.len() + 1);
        let len = rng.length(data.len() - start);
        (start, (start + len).min(data.len()))
    }

    /// Applies one random mutation to `data`.
    pub fn mutate(&self, rng: &mut Rng, data: &mut Vec<u8>) {
        if data.is_empty() {
            let seed = rng.pick(&self.corpus).clone();
            *data = if seed.is_empty() {
                self.token(rng)
            } else {
                seed
            };
            return;
        }
        let at = rng.below(data.len());
        match rng.below(17) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = rng.below(256) as u8,
            2 => data[at] = *rng.pick(INTERESTING_BYTES),
            3 => {
                let bytes: Vec<u8> = (0..rng.length(16)).map(|_| rng.below(256) as u8).collect();
                data.splice(at..at, bytes);
            }
            4 => {
                let (start, end) = Self::range(rng, data);
                data.drain(start..end);
            }
            5 => {
                // A segment repeated: mostly a few times, sometimes many.
                let (start, end) = Self::range(rng, data);
                let times = if rng.chance(1, 8) {
                    rng.below(1_000)
                } else {
                    1 + rng.below(4)
                };
                let segment = data[start..end].to_vec();
                let mut repeated = Vec::new();
                for _ in 0..times {
                    if repeated.len() + data.len() > self.max_len {
                        break;
                    }
                    repeated.extend_from_slice(&segment);
                }
                data.splice(end..end, repeated);
            }
            6 => data.truncate(at),
            7 => {
                // A piece of another corpus entry in place of a piece of this one.
                let other = rng.pick(&self.corpus);
                let (from, to) = Self::range(rng, other);
                let (start, end) = Self::range(rng, data);
                data.splice(start..end, other[from..to].iter().copied());
            }
            8 => {
                // This input's head, another's tail.
                let other = rng.pick(&self.corpus);
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            9 | 10 => {
                let token = self.token(rng);
                if rng.chance(1, 2) {
                    data.splice(at..at, token);
                } else {
                    let (start, end) = Self::range(rng, data);
                    data.splice(start..end, token);
                }
            }
            11 => {
                // A number in place of a run of digits.
                let Some(start) = (at..data.len()).find(|&i| data[i].is_ascii_digit()) else {
                    return;
                };
                let end = (start..data.len())
                    .find(|&i| !data[i].is_ascii_digit())
                    .unwrap_or(data.len());
                let numbers: Vec<&[u8]> = GENERIC_TOKENS
                    .iter()
                    .copied()
                    .filter(|t| t.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-'))
                    .collect();
                data.splice(start..end, rng.pick(&numbers).iter().copied());
            }
            12 => {
                let big = self.big(rng);
                data.splice(at..at, big);
            }
            13 => {
                // A segment copied elsewhere.
                let (start, end) = Self::range(rng, data);
                let segment = data[start..end].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, segment);
            }
            14 => {
                let delta = 1 + rng.below(4) as u8;
                data[at] = match rng.chance(1, 2) {
                    true => data[at].wrapping_add(delta),
                    false => data[at].wrapping_sub(delta),
                };
            }
            15 => {
                // One of the target's tokens found in the input, swapped for another token.
                if self.tokens.is_empty() {
                    return;
                }
                let found = rng.pick(&self.tokens);
                if let Some(start) = find(data, found) {
                    let replacement = self.token(rng);
                    data.splice(start..start + found.len(), replacement);
                }
            }
            _ => {
                // A byte that is not UTF-8, in place or added.
                let bad = *rng.pick(&[0x80u8, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf5, 0xff]);
                if rng.chance(1, 2) {
                    data[at] = bad;
                } else {
                    data.insert(at, bad);
                }
            }
        }
        data.truncate(self.max_len);
    }
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Targets.

/// The most bytes a target's parsing may hold at once for an input of `len` bytes:
/// `per_input_byte · len + base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Bytes allowed per byte of input.
    pub per_input_byte: usize,
    /// Bytes allowed whatever the input.
    pub base: usize,
}

impl Bound {
    /// The bound for an input of `len` bytes.
    pub fn limit(&self, len: usize) -> usize {
        self.per_input_byte
            .saturating_mul(len)
            .saturating_add(self.base)
    }
}

impl Default for Bound {
    /// 16 bytes per input byte plus 1 MiB.
    fn default() -> Self {
        Self {
            per_input_byte: 16,
            base: 1 << 20,
        }
    }
}

/// A structure-aware mutation: a new input from one, or `None` to fall back to the generic ones.
pub type Structured = Arc<dyn Fn(&mut Rng, &Mutator, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// A check of one input: `Err` says what is wrong. A panic fails too.
pub type Check = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// A fuzz target: a corpus and the limits each input is held to. See the crate's docs.
pub struct Target {
    name: String,
    corpus: Arc<Vec<Vec<u8>>>,
    tokens: Vec<Vec<u8>>,
    seconds: f64,
    max_len: usize,
    time_limit: Duration,
    bound: Bound,
    structured: Option<Structured>,
}

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Inputs run.
    pub iterations: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// The seed.
    pub seed: u64,
    /// The largest allocation peak seen, and the size of its input.
    pub largest_peak: (usize, usize),
    /// The slowest input.
    pub slowest: Duration,
}

/// Why an input failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Check,
    Panic,
    Slow,
    Allocation,
}

struct Failure {
    kind: Kind,
    message: String,
}

struct Outcome {
    failure: Option<Failure>,
    peak: usize,
    elapsed: Duration,
}

/// The progress a watchdog reads: the input running and since when.
struct Progress {
    iteration: AtomicU64,
    /// Microseconds since the run started when the current input started; `u64::MAX` between
    /// inputs.
    started: AtomicU64,
}

const IDLE: u64 = u64::MAX;

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text} is not a number")))
}

impl Target {
    /// A target named `name` (the test's name, printed in its reports) over `corpus`, with the
    /// defaults: 3 seconds, inputs of at most 256 KiB, 1 second per input, [`Bound::default`].
    pub fn new(name: &str, corpus: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Self {
        let mut corpus: Vec<Vec<u8>> = corpus.into_iter().map(Into::into).collect();
        if corpus.is_empty() {
            corpus.push(Vec::new());
        }
        Self {
            name: name.to_owned(),
            corpus: Arc::new(corpus),
            tokens: Vec::new(),
            seconds: 3.0,
            max_len: 256 << 10,
            time_limit: Duration::from_secs(1),
            bound: Bound::default(),
            structured: None,
        }
    }

    /// Tokens of the input's language, inserted and swapped by the mutations.
    pub fn tokens(mut self, tokens: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Self {
        self.tokens
            .extend(tokens.into_iter().map(|t| t.as_ref().to_vec()));
        self
    }

    /// The time budget when `FUZZ_SECONDS` is not set.
    pub fn seconds(mut self, seconds: f64) -> Self {
        self.seconds = seconds;
        self
    }

    /// The largest input made.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The longest one input may take (the check's whole work).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// The allocation bound.
    pub fn bound(mut self, bound: Bound) -> Self {
        self.bound = bound;
        self
    }

    /// A structure-aware mutation, used for about half of the mutations.
    pub fn structured(
        mut self,
        mutation: impl Fn(&mut Rng, &Mutator, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.structured = Some(Arc::new(mutation));
        self
    }

    fn mutator(&self) -> Mutator {
        Mutator {
            corpus: self.corpus.clone(),
            tokens: self.tokens.clone(),
            max_len: self.max_len,
        }
    }

    /// Input `iteration` of `seed`: the corpus entries first, as they are, then mutants.
    pub fn input(&self, seed: u64, iteration: u64) -> Vec<u8> {
        if let Some(entry) = self.corpus.get(iteration as usize) {
            return entry.clone();
        }
        let mutator = self.mutator();
        let mut rng = Rng::new(seed ^ Rng::new(iteration).next_u64());
        let mut data = rng.pick(&self.corpus).clone();
        let rounds = 1 + rng.below(4) + if rng.chance(1, 4) { rng.below(12) } else { 0 };
        for _ in 0..rounds {
            if let Some(structured) = &self.structured
                && rng.chance(1, 2)
                && let Some(mutant) = structured(&mut rng, &mutator, &data)
            {
                data = mutant;
                data.truncate(self.max_len);
                continue;
            }
            mutator.mutate(&mut rng, &mut data);
        }
        data
    }

    fn run_one(&self, check: &Check, input: &[u8]) -> Outcome {
        MEASURED_PEAK.set(None);
        let started = Instant::now();
        let (result, whole) = measure(|| catch_unwind(AssertUnwindSafe(|| check(input))));
        let elapsed = started.elapsed();
        let peak = MEASURED_PEAK.take().unwrap_or(whole);
        let limit = self.bound.limit(input.len());
        let failure = match result {
            Ok(Ok(())) if elapsed > self.time_limit => Some(Failure {
                kind: Kind::Slow,
                message: format!(
                    "took {elapsed:?}, more than the limit of {:?}",
                    self.time_limit
                ),
            }),
            Ok(Ok(())) if peak > limit => Some(Failure {
                kind: Kind::Allocation,
                message: format!(
                    "held {peak} bytes at once, more than the bound of {limit} ({} per input \
                     byte + {})",
                    self.bound.per_input_byte, self.bound.base
                ),
            }),
            Ok(Ok(())) => None,
            Ok(Err(message)) => Some(Failure {
                kind: Kind::Check,
                message,
            }),
            Err(payload) => Some(Failure {
                kind: Kind::Panic,
                message: format!("panicked: {}", panic_text(payload.as_ref())),
            }),
        };
        Outcome {
            failure,
            peak,
            elapsed,
        }
    }

    /// A smaller input failing the same way, found within a second or two.
    fn minimize(&self, check: &Check, input: &[u8], kind: Kind) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let mut best = input.to_vec();
        let mut chunk = (best.len() / 2).max(1);
        while Instant::now() < deadline {
            let mut at = 0;
            let mut progressed = false;
            while at < best.len() && Instant::now() < deadline {
                let mut candidate = best.clone();
                candidate.drain(at..(at + chunk).min(best.len()));
                let same = self
                    .run_one(check, &candidate)
                    .failure
                    .is_some_and(|f| f.kind == kind);
                if same {
                    best = candidate;
                    progressed = true;
                } else {
                    at += chunk;
                }
            }
            if !progressed {
                if chunk == 1 {
                    break;
                }
                chunk /= 2;
            }
        }
        std::panic::set_hook(hook);
        best
    }

    /// Runs the target for its time budget (all of the corpus at least), each input through
    /// `check`; panics with a report at the first failure.
    pub fn run(
        self,
        check: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Report {
        let check: Check = Arc::new(check);
        let (_, probe) = measure(|| vec![0u8; 4096]);
        assert!(
            probe >= 4096,
            "declare `#[global_allocator] static A: fuzz_support::CountingAllocator = \
             fuzz_support::CountingAllocator;` in the test binary"
        );
        let seconds = std::env::var("FUZZ_SECONDS")
            .ok()
            .map(|s| s.trim().parse::<f64>().expect("FUZZ_SECONDS is a number"))
            .unwrap_or(self.seconds);
        let seed = env_number("FUZZ_SEED").unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64;
            Rng::new(nanos ^ u64::from(std::process::id()) << 32).next_u64() >> 1
        });
        let only_iteration = env_number("FUZZ_ITERATION");
        let only_input = std::env::var_os("FUZZ_INPUT")
            .map(|path| std::fs::read(&path).unwrap_or_else(|e| panic!("FUZZ_INPUT: {e}")));
        println!(
            "fuzz {}: seed {seed} (FUZZ_SEED={seed}), {seconds} s",
            self.name
        );

        let target = Arc::new(self);
        let progress = Arc::new(Progress {
            iteration: AtomicU64::new(0),
            started: AtomicU64::new(IDLE),
        });
        let began = Instant::now();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let worker = {
            let (target, progress, check) = (target.clone(), progress.clone(), check.clone());
            std::thread::Builder::new()
                .name(format!("fuzz {}", target.name))
                .spawn(move || {
                    let result = target.work(
                        &check,
                        &progress,
                        began,
                        seed,
                        seconds,
                        only_iteration,
                        only_input,
                    );
                    let _ = done_tx.send(());
                    result
                })
                .expect("a thread")
        };
        // The watchdog: an input that runs far past its time limit is a hang, reported from
        // here (the worker cannot be stopped; the failing test ends the process).
        let hang = (target.time_limit * 10).max(Duration::from_secs(10));
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            done_rx.recv_timeout(Duration::from_millis(100))
        {
            let started = progress.started.load(Ordering::SeqCst);
            if started == IDLE {
                continue;
            }
            let running = began
                .elapsed()
                .saturating_sub(Duration::from_micros(started));
            if running > hang {
                let iteration = progress.iteration.load(Ordering::SeqCst);
                let input = target.input(seed, iteration);
                panic!(
                    "{}",
                    target.report(
                        seed,
                        iteration,
                        &input,
                        None,
                        &format!("hangs: still running after {running:?}")
                    )
                );
            }
        }
        match worker.join() {
            Ok(Ok(report)) => {
                println!(
                    "fuzz {}: {} inputs in {:.1} s ({:.0}/s), largest allocation peak {} bytes \
                     (input of {} bytes), slowest input {:?}",
                    target.name,
                    report.iterations,
                    report.elapsed.as_secs_f64(),
                    report.iterations as f64 / report.elapsed.as_secs_f64().max(1e-9),
                    report.largest_peak.0,
                    report.largest_peak.1,
                    report.slowest,
                );
                report
            }
            Ok(Err(report)) => panic!("{report}"),
            Err(payload) => panic!("fuzz driver: {}", panic_text(payload.as_ref())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn work(
        &self,
        check: &Check,
        progress: &Progress,
        began: Instant,
        seed: u64,
        seconds: f64,
        only_iteration: Option<u64>,
        only_input: Option<Vec<u8>>,
    ) -> Result<Report, String> {
        let deadline = began + Duration::from_secs_f64(seconds.max(0.0));
        let mut report = Report {
            iterations: 0,
            elapsed: Duration::ZERO,
            seed,
            largest_peak: (0, 0),
            slowest: Duration::ZERO,
        };
        let mut iteration = only_iteration.unwrap_or(0);
        loop {
            let input = match &only_input {
                Some(input) => input.clone(),
                None => self.input(seed, iteration),
            };
            RUNNING.set((seed, iteration));
            progress.iteration.store(iteration, Ordering::SeqCst);
            progress
                .started
                .store(began.elapsed().as_micros() as u64, Ordering::SeqCst);
            let outcome = self.run_one(check, &input);
            progress.started.store(IDLE, Ordering::SeqCst);
            report.iterations += 1;
            if outcome.peak > report.largest_peak.0 {
                report.largest_peak = (outcome.peak, input.len());
            }
            report.slowest = report.slowest.max(outcome.elapsed);
            if let Some(failure) = outcome.failure {
                let minimized = match failure.kind {
                    Kind::Slow => None,
                    kind => Some(self.minimize(check, &input, kind)),
                };
                return Err(self.report(
                    seed,
                    iteration,
                    &input,
                    minimized.as_deref(),
                    &failure.message,
                ));
            }
            iteration += 1;
            let seeds_done = iteration as usize >= self.corpus.len();
            if only_input.is_some()
                || only_iteration.is_some()
                || (seeds_done && Instant::now() >= deadline)
            {
                break;
            }
        }
        report.elapsed = began.elapsed();
        Ok(report)
    }

    fn report(
        &self,
        seed: u64,
        iteration: u64,
        input: &[u8],
        minimized: Option<&[u8]>,
        message: &str,
    ) -> String {
        let path = std::env::temp_dir().join(format!(
            "fuzz-{}-{seed}-{iteration}.bin",
            self.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        let saved = match std::fs::write(&path, input) {
            Ok(()) => format!(
                "saved to {} (replay with FUZZ_INPUT=that path)",
                path.display()
            ),
            Err(e) => format!("not saved: {e}"),
        };
        let mut text = format!(
            "fuzz target {} failed on input {iteration} of seed {seed}: {message}\n\
             input ({} bytes): {}\n",
            self.name,
            input.len(),
            escape(input, 1200)
        );
        if let Some(minimized) = minimized {
            let _ = writeln!(
                text,
                "minimized ({} bytes): {}",
                minimized.len(),
                escape(minimized, 1200)
            );
        }
        let _ = write!(
            text,
            "{saved}\nreplay: FUZZ_SEED={seed} FUZZ_ITERATION={iteration} cargo test --workspace \
             {}",
            self.name
        );
        text
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// `bytes` as printable ASCII (`\n`, `\"`, `\xNN`), in quotes; longer than `max` bytes, its head
/// and tail with how much was left out between them.
pub fn escape(bytes: &[u8], max: usize) -> String {
    fn push(out: &mut String, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                b'\\' => out.push_str("\\\\"),
                b'"' => out.push_str("\\\""),
                0x20..=0x7e => out.push(b as char),
                _ => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
    }
    let mut out = String::from("\"");
    if bytes.len() <= max {
        push(&mut out, bytes);
    } else {
        let half = max / 2;
        push(&mut out, &bytes[..half]);
        let _ = write!(out, "\" … {} bytes … \"", bytes.len() - 2 * half);
        push(&mut out, &bytes[bytes.len() - half..]);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    #[test]
    fn measures_the_peak_of_nested_regions() {
        let (_, peak) = measure(|| {
            let a = vec![0u8; 10_000];
            let inner = measured(|| vec![0u8; 50_000].len());
            drop(a);
            inner
        });
        assert!((60_000..70_000).contains(&peak), "{peak}");
        assert_eq!(MEASURED_PEAK.take(), Some(50_000));
    }

    #[test]
    fn inputs_are_the_same_for_the_same_seed_and_iteration() {
        let target = Target::new("t", [&b"{\"a\":[1,2,\"x\"]}"[..], b"abc"]).tokens(["\"a\""]);
        for i in 0..200 {
            assert_eq!(target.input(7, i), target.input(7, i));
        }
        assert_eq!(target.input(1, 0), b"{\"a\":[1,2,\"x\"]}");
    }

    #[test]
    fn a_failure_is_reported_with_its_replay() {
        // A replay or a budget from the environment would change what this run finds.
        if ["FUZZ_SECONDS", "FUZZ_SEED", "FUZZ_ITERATION", "FUZZ_INPUT"]
            .iter()
            .any(|name| std::env::var_os(name).is_some())
        {
            return;
        }
        let target = Target::new("finds", [&b"hello"[..]]).seconds(5.0);
        let failed = catch_unwind(AssertUnwindSafe(|| {
            target.run(|input| match find(input, b"\xff") {
                Some(_) => Err("a 0xff byte".to_owned()),
                None => Ok(()),
            })
        }));
        let text = panic_text(failed.expect_err("found").as_ref());
        assert!(text.contains("a 0xff byte"), "{text}");
        assert!(text.contains("minimized (1 bytes): \"\\xff\""), "{text}");
        assert!(text.contains("FUZZ_ITERATION="), "{text}");
    }

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(escape(b"a\"\n\xff", 10), "\"a\\\"\\n\\xff\"");
        assert_eq!(escape(b"0123456789", 4), "\"01\" … 6 bytes … \"89\"");
    }
}
