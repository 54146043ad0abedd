//! What RLM shows the LM about its REPL: each input variable's metadata and the history of
//! code and outputs, formatted as DSPy 3.4.1's `REPLVariable` and `REPLHistory` format them.

use crate::format::{py_json_indented, python_str};
use crate::signature::FieldMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many characters of a variable's value its preview shows (DSPy's default).
const PREVIEW_CHARS: usize = 1000;

/// One input variable as the LM sees it before reading it: type, description, length and a
/// head-and-tail preview.
pub(crate) fn describe_variable(field: &FieldMeta, value: &Value) -> String {
    let text = match value {
        Value::Object(_) | Value::Array(_) => {
            let mut s = String::new();
            py_json_indented(value, true, &mut s);
            s
        }
        other => python_str(other),
    };
    let total = text.chars().count();
    let preview = match head_and_tail(&text, total, PREVIEW_CHARS) {
        Some((head, tail)) => format!("{head}...{tail}"),
        None => text,
    };
    let mut lines = vec![
        format!("Variable: `{}` (access it in your code)", field.name()),
        format!("Type: {}", python_type(field, value)),
    ];
    if let Some(desc) = field
        .desc()
        .filter(|d| !d.is_empty() && !d.starts_with("${"))
    {
        lines.push(format!("Description: {desc}"));
    }
    if !field.constraints_text().is_empty() {
        lines.push(format!("Constraints: {}", field.constraints_text()));
    }
    lines.push(format!("Total length: {} characters", thousands(total)));
    lines.push(format!("Preview:\n```\n{preview}\n```"));
    lines.join("\n")
}

/// Python's `type(value).__name__` for the value a field holds: the model's name for a
/// structured type, else the builtin's.
fn python_type(field: &FieldMeta, value: &Value) -> String {
    match value {
        Value::Null => "NoneType".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_f64() => "float".into(),
        Value::Number(_) => "int".into(),
        Value::String(_) => "str".into(),
        Value::Array(_) => "list".into(),
        Value::Object(_) => {
            let name = field.type_name();
            if name.starts_with("dict") || name.contains('[') || name == "Any" {
                "dict".into()
            } else {
                name.into()
            }
        }
    }
}

/// The first half and the last half of `keep` characters of `text` (`len` characters long),
/// or `None` when it is no longer than `keep`.
fn head_and_tail(text: &str, len: usize, keep: usize) -> Option<(String, String)> {
    if len <= keep {
        return None;
    }
    let head = keep / 2;
    let tail = keep - head;
    Some((
        text.chars().take(head).collect(),
        text.chars().skip(len - tail).collect(),
    ))
}

/// `1,234,567` (Python's `{n:,}`).
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One REPL step: the LM's reasoning, the code it wrote and what the code gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplEntry {
    /// The reasoning before the code.
    pub reasoning: String,
    /// The code that ran (fences removed).
    pub code: String,
    /// What it printed or returned, or its error (`[Error] …`).
    pub output: String,
}

impl ReplEntry {
    /// The entry as the LM sees it at step `index` (0-based), its output cut to `max_chars`
    /// (head and tail kept).
    fn format(&self, index: usize, max_chars: usize, out: &mut String) {
        out.push_str(&format!("=== Step {} ===\n", index + 1));
        if !self.reasoning.is_empty() {
            out.push_str("Reasoning: ");
            out.push_str(&self.reasoning);
            out.push('\n');
        }
        out.push_str("Code:\n```python\n");
        out.push_str(&self.code);
        out.push_str("\n```\n");
        out.push_str(&format_output(&self.output, max_chars));
    }
}

/// `Output (N chars):` and the output, its middle cut when longer than `max_chars`.
fn format_output(output: &str, max_chars: usize) -> String {
    let len = output.chars().count();
    let shown = match head_and_tail(output, len, max_chars) {
        Some((head, tail)) => format!(
            "{head}\n\n... ({} characters omitted) ...\n\n{tail}",
            thousands(len - max_chars)
        ),
        None => output.to_string(),
    };
    format!("Output ({} chars):\n{shown}", thousands(len))
}

/// The history of one RLM call's REPL steps, formatted for the LM.
pub(crate) fn format_history(entries: &[ReplEntry], max_chars: usize) -> String {
    if entries.is_empty() {
        return "You have not interacted with the REPL environment yet.".into();
    }
    let mut out = String::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        entry.format(i, max_chars, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Role;
    use serde_json::json;

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn a_long_variable_is_previewed_by_head_and_tail() {
        let field = FieldMeta::string("context", Role::Input, None);
        let text = format!("{}{}", "a".repeat(600), "b".repeat(600));
        let shown = describe_variable(&field, &json!(text));
        assert!(shown.contains("Total length: 1,200 characters"));
        assert!(shown.contains(&format!("{}...{}", "a".repeat(500), "b".repeat(500))));
        assert!(shown.starts_with("Variable: `context` (access it in your code)\nType: str\n"));
    }

    #[test]
    fn a_long_output_keeps_its_head_and_tail() {
        let entry = ReplEntry {
            reasoning: String::new(),
            code: "print(x)".into(),
            output: "x".repeat(30),
        };
        let shown = format_history(&[entry], 10);
        assert!(shown.starts_with("=== Step 1 ===\nCode:\n```python\nprint(x)\n```\n"));
        assert!(
            shown
                .ends_with("Output (30 chars):\nxxxxx\n\n... (20 characters omitted) ...\n\nxxxxx")
        );
    }
}
