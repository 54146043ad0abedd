//! Python's whitespace rules for instruction text: `inspect.cleandoc` (what DSPy's
//! `Signature.instructions` returns) and `textwrap.dedent` (what its adapters apply on top).

/// Python's `str.isspace` for one character (Rust's `char::is_whitespace` plus the
/// separators `\x1c`..`\x1f`).
pub fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `inspect.cleandoc`: tabs expanded to 8-column stops; the common indentation of
/// the lines after the first (the first line is left out when it is measured) removed; the
/// first line's leading whitespace removed; leading and trailing empty lines dropped.
/// Trailing spaces on a line are kept.
pub fn cleandoc(doc: &str) -> String {
    let expanded = expand_tabs(doc);
    let mut lines: Vec<&str> = expanded.split('\n').collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter_map(|line| {
            let content = line.trim_start_matches(py_is_space);
            (!content.is_empty()).then(|| line[..line.len() - content.len()].chars().count())
        })
        .min();
    if let Some(first) = lines.first_mut() {
        *first = first.trim_start_matches(py_is_space);
    }
    if let Some(margin) = margin {
        for line in lines.iter_mut().skip(1) {
            let cut = line
                .char_indices()
                .nth(margin)
                .map_or(line.len(), |(i, _)| i);
            *line = &line[cut..];
        }
    }
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let start = lines[..end]
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(end);
    lines[start..end].join("\n")
}

/// Python's `str.expandtabs()`: each tab advances to the next multiple of 8 columns; the
/// column restarts after `\n` and `\r`.
fn expand_tabs(s: &str) -> String {
    if !s.contains('\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut column = 0;
    for c in s.chars() {
        match c {
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\n' | '\r' => {
                out.push(c);
                column = 0;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// Python's `textwrap.dedent`: lines of only spaces and tabs become empty, then the longest
/// run of spaces and tabs that starts every other line is removed (`"  a"` and `"\ta"` have
/// none in common).
pub fn dedent(text: &str) -> String {
    let is_blank = |l: &str| !l.is_empty() && l.bytes().all(|b| b == b' ' || b == b'\t');
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| if is_blank(l) { "" } else { l })
        .collect();
    let mut margin: Option<&str> = None;
    for line in lines.iter().filter(|l| !l.is_empty()) {
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        margin = Some(match margin {
            None => indent,
            Some(m) => {
                let common = m
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    lines
        .iter()
        .map(|l| l.strip_prefix(margin).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Python's `str.splitlines()`: splits at `\n`, `\r\n`, `\r`, `\v`, `\f`, `\x1c`..`\x1e`,
/// `\u{85}`, `\u{2028}` and `\u{2029}`; no empty last piece for a trailing break.
pub fn splitlines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let breaks = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !breaks {
            continue;
        }
        out.push(&text[start..i]);
        start = i + c.len_utf8();
        if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
            chars.next();
            start += 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleandoc_leaves_the_first_line_out_of_the_margin() {
        assert_eq!(cleandoc("Summary.\n    a\n      b\n"), "Summary.\na\n  b");
        assert_eq!(cleandoc("\n  a\n    b\n  "), "a\n  b");
        assert_eq!(cleandoc("  x  \n\t y \n"), "x  \ny ");
        assert_eq!(cleandoc("\n\n"), "");
    }

    #[test]
    fn dedent_compares_indents_as_text() {
        assert_eq!(dedent("  a\n    b\n \n  c"), "a\n  b\n\nc");
        assert_eq!(dedent("  a\n\tb"), "  a\n\tb");
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(splitlines("a\r\nb\rc\x0cd\n"), ["a", "b", "c", "d"]);
        assert_eq!(splitlines(""), Vec::<&str>::new());
        assert_eq!(splitlines("\n"), [""]);
    }
}
