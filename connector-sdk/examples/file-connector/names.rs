//! File names: the ones documents may ask for, generated unique ones, and READ's patterns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// The longest file name most file systems accept, in bytes.
const MAX_NAME_BYTES: usize = 255;

/// Why `name` cannot be a file name in the directory, when it cannot.
///
/// A name is one plain component: no separator, no `..`, and not hidden (READ skips hidden
/// files, which is also where WRITE keeps a file while it is being written).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        "it is empty"
    } else if name.contains(['/', '\\']) {
        "it contains a path separator (/ or \\)"
    } else if name.contains('\0') {
        "it contains a NUL character"
    } else if name == "." || name == ".." {
        "it names a directory"
    } else if name.starts_with('.') {
        "it starts with '.' (hidden files are skipped by READ)"
    } else if name.len() > MAX_NAME_BYTES {
        "it is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(problem.to_owned())
}

/// A suffix no other call in any process gives: the time, the process id and a counter.
pub(crate) fn unique_suffix(now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let micros = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{micros}-{}-{count}", std::process::id())
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters and `?` one.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Where the last `*` was and the name position it is currently made to cover up to.
    let mut star: Option<(usize, usize)> = None;
    let (mut p, mut n) = (0, 0);
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // Let the last `*` take one more character, and try again after it.
                Some((star_p, star_n)) => {
                    star = Some((star_p, star_n + 1));
                    p = star_p + 1;
                    n = star_n + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_a_shell() {
        assert!(matches("*", "a.json"));
        assert!(matches("*.json", "order-1.json"));
        assert!(!matches("*.json", "order-1.json.tmp"));
        assert!(matches("order-?.json", "order-1.json"));
        assert!(!matches("order-?.json", "order-12.json"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
        assert!(matches("", ""));
    }

    #[test]
    fn names_with_separators_or_dots_are_refused() {
        assert!(check_name("order-1.json").is_ok());
        for bad in ["", "../x", "a/b", "a\\b", "..", ".hidden", &"x".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
