//! The generated section of a Markdown file: the lines between two marker comments, replaced
//! as a whole; the text around them is kept byte for byte.

use std::fmt;

/// The line that opens the README's generated reference section.
pub const BEGIN: &str = "<!-- generated: reference (test-harness descriptors --write) -->";

/// The line that closes it.
pub const END: &str = "<!-- end generated -->";

/// Why a file's generated section cannot be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionError {
    /// The opening marker is not in the file.
    NoBegin,
    /// No closing marker follows the opening one.
    NoEnd,
    /// The opening marker is there more than once.
    TwoBegins,
}

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectionError::NoBegin => write!(
                f,
                "it has no generated section: add the lines `{BEGIN}` and `{END}` where the \
                 reference tables go"
            ),
            SectionError::NoEnd => write!(
                f,
                "its generated section is not closed: add the line `{END}` after `{BEGIN}`"
            ),
            SectionError::TwoBegins => write!(
                f,
                "it has `{BEGIN}` more than once: keep one generated section"
            ),
        }
    }
}

impl std::error::Error for SectionError {}

/// `text` with the lines between its markers replaced by `generated` (blank lines around it,
/// so the Markdown inside starts and ends as its own blocks).
pub fn replace(text: &str, generated: &str) -> Result<String, SectionError> {
    let begin = text.find(BEGIN).ok_or(SectionError::NoBegin)?;
    let after_begin = begin + BEGIN.len();
    if text[after_begin..].contains(BEGIN) {
        return Err(SectionError::TwoBegins);
    }
    let end = text[after_begin..]
        .find(END)
        .map(|at| after_begin + at)
        .ok_or(SectionError::NoEnd)?;
    let mut out = String::with_capacity(text.len() + generated.len());
    out.push_str(&text[..after_begin]);
    out.push_str("\n\n");
    out.push_str(generated.trim_end_matches('\n'));
    out.push_str("\n\n");
    out.push_str(&text[end..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_replaced_and_the_rest_kept() {
        let text = format!("# Title\n\nbefore\n{BEGIN}\nold\nlines\n{END}\nafter\n");
        let replaced = replace(&text, "| new |\n").unwrap();
        assert_eq!(
            replaced,
            format!("# Title\n\nbefore\n{BEGIN}\n\n| new |\n\n{END}\nafter\n")
        );
        assert_eq!(replace(&replaced, "| new |\n").unwrap(), replaced);
    }

    #[test]
    fn missing_or_doubled_markers_are_named() {
        assert_eq!(replace("text", "x"), Err(SectionError::NoBegin));
        assert_eq!(
            replace(&format!("{BEGIN}\nx\n"), "x"),
            Err(SectionError::NoEnd)
        );
        assert_eq!(
            replace(&format!("{END}\n{BEGIN}\nx\n"), "x"),
            Err(SectionError::NoEnd)
        );
        assert_eq!(
            replace(&format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n"), "x"),
            Err(SectionError::TwoBegins)
        );
        assert!(SectionError::NoBegin.to_string().contains(BEGIN));
    }
}
