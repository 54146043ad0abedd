//! Text the proposers build as DSPy builds it: Python's `repr` of examples, and DSPy's
//! `strip_prefix` of a proposal.

pub(crate) use crate::format::{python_repr, python_str};

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
