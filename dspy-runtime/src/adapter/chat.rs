//! DSPy's default prompt style: `[[ ## field ## ]]` sections.

use super::{
    Adapter, JsonAdapter, MISSING_FIELD, ParsedOutput, Prepared, coerce, field_placeholders,
    messages, py_strip,
};
use crate::demo::Demo;
use crate::error::{ParseError, ParseErrorKind};
use crate::format::write_field_value;
use crate::signature::{FieldKind, SignatureMeta};
use serde_json::Map;
use std::sync::Arc;

/// Formats fields as `[[ ## name ## ]]` sections and parses replies written that way.
///
/// Parsing is more forgiving than DSPy's: the `completed` marker may be missing, a value may
/// sit on its header's line, headers may differ in case and spacing, and values are coerced
/// where that is unambiguous (recorded on the prediction). On failure it falls back once to
/// [`JsonAdapter`], as DSPy does, unless built with [`ChatAdapter::without_fallback`].
#[derive(Clone)]
pub struct ChatAdapter {
    fallback: Option<Arc<dyn Adapter>>,
    native_tools: bool,
}

impl Default for ChatAdapter {
    fn default() -> Self {
        ChatAdapter {
            fallback: Some(Arc::new(JsonAdapter::default())),
            native_tools: false,
        }
    }
}

impl std::fmt::Debug for ChatAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatAdapter")
            .field("json_fallback", &self.fallback.is_some())
            .field("native_tools", &self.native_tools)
            .finish()
    }
}

impl ChatAdapter {
    /// A ChatAdapter that falls back to JSONAdapter once on a parse failure.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ChatAdapter that reports parse failures without a second try.
    pub fn without_fallback() -> Self {
        ChatAdapter {
            fallback: None,
            native_tools: false,
        }
    }

    /// A ChatAdapter that falls back to `adapter` on a parse failure.
    pub fn with_fallback(adapter: impl Adapter) -> Self {
        ChatAdapter {
            fallback: Some(Arc::new(adapter)),
            native_tools: false,
        }
    }

    /// The same adapter, sending an agent's tools natively when the LM supports it (DSPy's
    /// `ChatAdapter(use_native_function_calling=True)`); off by default, as in DSPy.
    pub fn native_function_calling(mut self, on: bool) -> Self {
        self.native_tools = on;
        self
    }
}

impl Adapter for ChatAdapter {
    fn field_stream(
        &self,
        sig: &crate::signature::SignatureMeta,
    ) -> Option<Box<dyn super::stream::FieldStream>> {
        Some(Box::new(super::stream::ChatFieldStream::new(
            super::stream::output_names(sig),
        )))
    }

    fn name(&self) -> &'static str {
        "ChatAdapter"
    }

    fn prepare(&self, sig: &SignatureMeta, instructions: &str, demos: &[Demo]) -> Prepared {
        let structure = py_strip(&format!(
            "All interactions will be structured in the following way, with the appropriate values filled in.\n\n{}\n\n{}\n\n[[ ## completed ## ]]\n",
            field_placeholders(sig.inputs()),
            field_placeholders(sig.outputs()),
        ))
        .to_string();
        Prepared {
            messages: messages(sig, &structure, instructions, demos, assistant_content),
            request_suffix: output_requirements(sig),
        }
    }

    fn parse(&self, sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseError> {
        parse_sections(sig, completion)
            .map_err(|kind| ParseError::new(self.name(), kind, completion))
    }

    fn fallback(&self) -> Option<&Arc<dyn Adapter>> {
        self.fallback.as_ref()
    }

    fn format_assistant(&self, sig: &SignatureMeta, outputs: &Demo) -> String {
        assistant_content(sig, outputs)
    }

    fn native_tool_calls(&self) -> bool {
        self.native_tools
    }
}

pub(crate) fn assistant_content(sig: &SignatureMeta, demo: &Demo) -> String {
    let mut out = String::new();
    for (i, f) in sig.outputs().iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str("[[ ## ");
        out.push_str(f.name());
        out.push_str(" ## ]]\n");
        match demo.get(f.name()) {
            Some(v) => write_field_value(v, *f.kind() == FieldKind::Str, &mut out),
            None => out.push_str(MISSING_FIELD),
        }
    }
    let mut out = py_strip(&out).to_string();
    out.push_str("\n\n[[ ## completed ## ]]\n");
    out
}

fn output_requirements(sig: &SignatureMeta) -> String {
    let mut out =
        String::from("Respond with the corresponding output fields, starting with the field ");
    for (i, f) in sig.outputs().iter().enumerate() {
        if i > 0 {
            out.push_str(", then ");
        }
        out.push_str(&format!("`[[ ## {} ## ]]`{}", f.name(), f.requirement()));
    }
    out.push_str(", and then ending with the marker for `[[ ## completed ## ]]`.");
    out
}

/// The longest start of a line read for a header: a line whose `]]` comes later is text
/// (so that a streamed line can be decided before it ends; see `adapter::stream`).
pub(super) const MAX_HEADER_LINE: usize = 256;

/// If `line` (trimmed) starts with a `[[ ## name ## ]]` header, the name and the rest of the line.
///
/// Accepts what DSPy's `\[\[ ## (\w+) ## \]\]` accepts, and also other spacing, other
/// numbers of `#`, and any case (names are matched case-insensitively by the caller).
fn header(line: &str) -> Option<(&str, &str)> {
    let (name, rest_at) = header_at(line)?;
    Some((name, line[rest_at..].trim()))
}

/// [`header`]'s name, and where the rest of the line starts (after the `]]`), read on the
/// line's first [`MAX_HEADER_LINE`] bytes.
pub(super) fn header_at(line: &str) -> Option<(&str, usize)> {
    let mut cut = MAX_HEADER_LINE.min(line.len());
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &line[..cut];
    let t = head.trim_start();
    let rest = t.strip_prefix("[[")?;
    let rest = rest.trim_start().trim_start_matches('#').trim_start();
    let name_len = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let after = after.trim_start().trim_start_matches('#').trim_start();
    let after = after.strip_prefix("]]")?;
    Some((name, head.len() - after.len()))
}

fn parse_sections(sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseErrorKind> {
    // Byte ranges of each section's text, by output index; the first occurrence wins.
    let outputs = sig.outputs();
    let mut found: Vec<Option<String>> = vec![None; outputs.len()];
    let mut current: Option<usize> = None;
    let mut buf = String::new();
    let flush = |current: Option<usize>, buf: &mut String, found: &mut Vec<Option<String>>| {
        if let Some(i) = current
            && found[i].is_none()
        {
            found[i] = Some(py_strip(buf).to_string());
        }
        buf.clear();
    };
    for line in completion.lines() {
        if let Some((name, rest)) = header(line) {
            flush(current, &mut buf, &mut found);
            current = outputs.iter().position(|f| f.name() == name).or_else(|| {
                outputs
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(name))
            });
            if !rest.is_empty() {
                buf.push_str(rest);
            }
            continue;
        }
        if current.is_some() {
            if !buf.is_empty() {
                buf.push('\n');
            }
            buf.push_str(line);
        }
    }
    flush(current, &mut buf, &mut found);

    let mut parsed = ParsedOutput {
        fields: Map::with_capacity(outputs.len()),
        coercions: Vec::new(),
    };
    let mut missing = Vec::new();
    for (f, text) in outputs.iter().zip(found) {
        match text {
            Some(text) => {
                let value = coerce::from_text(f, &text, &mut parsed.coercions)?;
                parsed.fields.insert(f.name().to_string(), value);
            }
            None if f.is_nullable() => {
                parsed
                    .fields
                    .insert(f.name().to_string(), serde_json::Value::Null);
            }
            None => missing.push(f.name().to_string()),
        }
    }
    if !missing.is_empty() {
        let found = parsed.fields.keys().cloned().collect();
        return Err(ParseErrorKind::MissingFields { missing, found });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recognised_loosely() {
        assert_eq!(header("[[ ## answer ## ]]"), Some(("answer", "")));
        assert_eq!(
            header("  [[ ## answer ## ]] Paris."),
            Some(("answer", "Paris."))
        );
        assert_eq!(header("[[## Answer ##]]"), Some(("Answer", "")));
        assert_eq!(header("[[ answer ]]"), Some(("answer", "")));
        assert_eq!(header("[answer]"), None);
        assert_eq!(header("[[ ## ## ]]"), None);
    }
}
