//! Text the proposers build as DSPy builds it: Python's `repr` of examples, and DSPy's
//! `strip_prefix` of a proposal.

use serde_json::Value;

/// Python's `repr` of a JSON value (`'text'`, `1`, `1.5`, `True`, `None`, `[…]`, `{…}`).
pub(crate) fn python_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

/// Python's `str`: text as it is, anything else as its `repr`.
pub(crate) fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => out.push_str(&format!("{f:?}")),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_str_repr(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(v, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(k, out);
                out.push_str(": ");
                write_repr(v, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr` of a `str`: single quotes unless the text has one and no double quote.
fn write_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// DSPy's `strip_prefix`: drops a leading label of one to five words and a colon
/// (`**Proposed Instruction:** …` → `…`), then surrounding double quotes.
pub(crate) fn strip_prefix(text: &str) -> String {
    let rest = text.trim_start_matches(|c: char| c == '*' || c.is_whitespace());
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'' || c == '-';
    let mut words = 0;
    let mut chars = rest.char_indices().peekable();
    let mut stripped = None;
    while let Some((_, c)) = chars.peek().copied() {
        if !word(c) {
            break;
        }
        while chars.peek().is_some_and(|(_, c)| word(*c)) {
            chars.next();
        }
        words += 1;
        match chars.peek().copied() {
            Some((i, ':')) if words <= 5 => {
                let after = rest[i + 1..].trim_start();
                stripped = Some(after);
                break;
            }
            Some((_, c)) if c.is_whitespace() && words < 5 => {
                while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                    chars.next();
                }
            }
            _ => break,
        }
    }
    let kept = stripped.unwrap_or(text);
    kept.trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reprs_are_pythons() {
        let v = json!({"headline": "It's \"big\"\n", "n": 3, "x": 1.0, "ok": true, "no": null, "l": ["a"]});
        assert_eq!(
            python_repr(&v),
            r#"{'headline': 'It\'s "big"\n', 'n': 3, 'x': 1.0, 'ok': True, 'no': None, 'l': ['a']}"#
        );
        assert_eq!(python_repr(&json!("it's")), r#""it's""#);
    }

    #[test]
    fn prefixes_are_stripped_as_dspy_strips_them() {
        assert_eq!(
            strip_prefix("**Proposed Instruction:** Do it."),
            "** Do it."
        );
        assert_eq!(strip_prefix("Proposed Instruction: \"Do it.\""), "Do it.");
        assert_eq!(strip_prefix("Do this: classify."), "classify.");
        assert_eq!(
            strip_prefix("one two three four five six: x"),
            "one two three four five six: x"
        );
        assert_eq!(
            strip_prefix("Classify the headline."),
            "Classify the headline."
        );
        assert_eq!(strip_prefix("\"Quoted\""), "Quoted");
    }
}
