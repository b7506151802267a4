//! Text for one cell of a Markdown table: it never breaks its row (no newline, `|` escaped) and
//! renders as written (no stray HTML, entities or escapes), while the code spans it holds stay
//! code.

/// `raw` as cell text: whitespace runs (newlines too) become one space, `|` is escaped, and
/// outside code spans `\`, `&` and `<` are escaped. Backtick code spans are kept as code.
pub(super) fn text(raw: &str) -> String {
    let flat = one_line(raw);
    let chars: Vec<char> = flat.chars().collect();
    let mut out = String::with_capacity(flat.len());
    let mut at = 0;
    while at < chars.len() {
        if chars[at] == '`' {
            let fence = run_length(&chars, at);
            match closing_fence(&chars, at + fence, fence) {
                Some(close) => {
                    // The span, fences included, as it is: GFM unescapes `\|` inside code spans
                    // of a table cell, and nothing else in a code span is special.
                    for &c in &chars[at..close + fence] {
                        push_pipe_safe(&mut out, c);
                    }
                    at = close + fence;
                }
                None => {
                    // An unmatched fence is literal text in Markdown.
                    out.extend(&chars[at..at + fence]);
                    at += fence;
                }
            }
            continue;
        }
        match chars[at] {
            '\\' => out.push_str("\\\\"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            c => push_pipe_safe(&mut out, c),
        }
        at += 1;
    }
    out
}

/// `value` as a code span for a cell: a fence longer than any backtick run in it, `|` escaped.
pub(super) fn code(value: &str) -> String {
    let flat = one_line(value);
    if flat.is_empty() {
        // An empty code span cannot be written; show the empty string as JSON does.
        return "`\"\"`".into();
    }
    let chars: Vec<char> = flat.chars().collect();
    let longest = (0..chars.len())
        .filter(|&at| chars[at] == '`')
        .map(|at| run_length(&chars, at))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // Markdown strips one space from each end of a code span, and a backtick at an end would
    // join the fence: pad those.
    let pad = if flat.starts_with('`')
        || flat.ends_with('`')
        || (flat.starts_with(' ') && flat.ends_with(' '))
    {
        " "
    } else {
        ""
    };
    let mut out = String::with_capacity(flat.len() + 2 * fence.len() + 2);
    out.push_str(&fence);
    out.push_str(pad);
    for c in chars {
        push_pipe_safe(&mut out, c);
    }
    out.push_str(pad);
    out.push_str(&fence);
    out
}

/// A table row of the given cells (each already made safe with [`text`] or [`code`]).
pub(super) fn row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = String::from("|");
    for cell in cells {
        let cell = cell.as_ref();
        if cell.is_empty() {
            line.push_str(" |");
        } else {
            line.push(' ');
            line.push_str(cell);
            line.push_str(" |");
        }
    }
    line
}

/// A table's header row and its delimiter row.
pub(super) fn header(titles: &[&str]) -> String {
    let delimiter = vec!["---"; titles.len()];
    format!("{}\n{}", row(titles), row(&delimiter))
}

fn one_line(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn push_pipe_safe(out: &mut String, c: char) {
    if c == '|' {
        out.push_str("\\|");
    } else {
        out.push(c);
    }
}

fn run_length(chars: &[char], at: usize) -> usize {
    chars[at..].iter().take_while(|&&c| c == '`').count()
}

/// Where the next run of exactly `fence` backticks from `from` starts.
fn closing_fence(chars: &[char], from: usize, fence: usize) -> Option<usize> {
    let mut at = from;
    while at < chars.len() {
        if chars[at] == '`' {
            let run = run_length(chars, at);
            if run == fence {
                return Some(at);
            }
            at += run;
        } else {
            at += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_has_no_newline_and_no_bare_pipe() {
        assert_eq!(text("one\ntwo |  three\r\n"), "one two \\| three");
    }

    #[test]
    fn html_entities_and_escapes_render_as_written() {
        assert_eq!(
            text(r"https://x.<region>.com & a\b"),
            r"https://x.&lt;region>.com &amp; a\\b"
        );
    }

    #[test]
    fn code_spans_stay_code_with_pipes_escaped() {
        assert_eq!(
            text("from `sqs.attribute.<Name>` or `a|b`"),
            "from `sqs.attribute.<Name>` or `a\\|b`"
        );
        assert_eq!(text("a `` x ` y `` b"), "a `` x ` y `` b");
    }

    #[test]
    fn an_unmatched_backtick_is_text() {
        assert_eq!(text("it`s <b>"), "it`s &lt;b>");
    }

    #[test]
    fn a_code_cell_fences_its_backticks_and_pads_its_ends() {
        assert_eq!(code("us-east-1"), "`us-east-1`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("^(a|b)$"), "`^(a\\|b)$`");
        assert_eq!(code(""), "`\"\"`");
    }

    #[test]
    fn rows_leave_empty_cells_empty() {
        assert_eq!(row(&["a", "", "c"]), "| a | | c |");
        assert_eq!(header(&["A", "B"]), "| A | B |\n| --- | --- |");
    }
}
