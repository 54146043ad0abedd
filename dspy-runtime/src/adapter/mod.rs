//! Adapters turn a signature, instructions, demos and inputs into chat messages, and an LM's
//! reply back into output fields. [`ChatAdapter`] (the default), [`JsonAdapter`], [`XmlAdapter`],
//! [`BamlAdapter`] and [`TwoStepAdapter`] render byte-identical messages to DSPy 3.4.1's.

mod baml;
mod chat;
pub(crate) mod coerce;
mod json;
pub(crate) mod lenient_json;
pub mod stream;
mod two_step;
mod words;
mod xml;

pub use baml::BamlAdapter;
pub use chat::ChatAdapter;
pub use json::JsonAdapter;
pub(crate) use json::structured_schema;
pub use two_step::TwoStepAdapter;
pub(crate) use two_step::extractor_signature;
pub use xml::XmlAdapter;

use crate::demo::Demo;
use crate::error::{Error, ParseError};
use crate::lm::{Capabilities, Message, ResponseFormat};
use crate::signature::{FieldMeta, InputFields, SignatureMeta};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The parts of a prompt that do not change from one input to the next, formatted once.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The system message and the demos' messages.
    pub messages: Vec<Message>,
    /// Text that ends every final user message (the output requirements).
    pub request_suffix: String,
}

/// A value the parser changed to fit its field, recorded on the prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Coercion {
    /// The field.
    pub field: String,
    /// What the LM wrote (cut).
    pub from: String,
    /// What it became.
    pub to: Value,
    /// The rule applied, e.g. `near-miss label`, `integral float`, `number in words`.
    pub rule: &'static str,
}

/// Output fields parsed from a reply, with the coercions applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedOutput {
    /// Field name to value, in the signature's order.
    pub fields: Map<String, Value>,
    /// What was coerced to fit.
    pub coercions: Vec<Coercion>,
}

/// Formats prompts and parses replies for one prompt style.
pub trait Adapter: Send + Sync + 'static {
    /// The adapter's name as DSPy spells it (`ChatAdapter`, `JSONAdapter`).
    fn name(&self) -> &'static str;

    /// Formats what every call of a predictor shares: system message, demos, output requirements.
    fn prepare(&self, sig: &SignatureMeta, instructions: &str, demos: &[Demo]) -> Prepared;

    /// Formats the final user message for one call's inputs; an input that does not
    /// serialize is an error naming it.
    fn format_request(
        &self,
        sig: &SignatureMeta,
        prepared: &Prepared,
        inputs: &dyn InputFields,
    ) -> Result<String, Error> {
        request_content(sig, inputs, &prepared.request_suffix)
    }

    /// The structured-output request to send, given what the LM supports.
    fn response_format(
        &self,
        _sig: &SignatureMeta,
        _caps: Capabilities,
    ) -> Option<Arc<ResponseFormat>> {
        None
    }

    /// Parses a reply into output fields (typed, coerced where unambiguous, validated).
    fn parse(&self, sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseError>;

    /// The adapter to try once if parsing fails (ChatAdapter's is JSONAdapter).
    fn fallback(&self) -> Option<&Arc<dyn Adapter>> {
        None
    }

    /// An assistant message answering with `outputs` (as demos are written); a conversation's
    /// earlier turns use it. An output missing from `outputs` is written as DSPy's
    /// "Not supplied for this particular example." Defaults to ChatAdapter's form.
    fn format_assistant(&self, sig: &SignatureMeta, outputs: &Demo) -> String {
        chat::assistant_content(sig, outputs)
    }

    /// The LM that extracts the outputs from the main LM's prose reply (TwoStepAdapter's
    /// second step); `None` for adapters that parse the reply themselves.
    fn extraction_lm(&self) -> Option<&crate::lm::Lm> {
        None
    }

    /// Whether tools go to the LM natively (OpenAI `tools`, Anthropic tool use) when the LM
    /// supports it, rather than as a text field (DSPy's `use_native_function_calling`:
    /// off for ChatAdapter unless asked, on for JSONAdapter).
    fn native_tool_calls(&self) -> bool {
        false
    }

    /// Reads a streamed reply's output fields as they arrive (for `dspy::stream`): each
    /// adapter finds its own markers. `None` (the default) streams no field text; the final
    /// prediction still comes.
    fn field_stream(&self, _sig: &SignatureMeta) -> Option<Box<dyn stream::FieldStream>> {
        None
    }

    /// All messages for one call: `prepare` followed by `format_request`.
    fn format(
        &self,
        sig: &SignatureMeta,
        instructions: &str,
        demos: &[Demo],
        inputs: &dyn InputFields,
    ) -> Result<Vec<Message>, Error> {
        let prepared = self.prepare(sig, instructions, demos);
        let user = self.format_request(sig, &prepared, inputs)?;
        let mut messages = prepared.messages;
        messages.push(Message::user(user));
        Ok(messages)
    }
}

/// `Your input fields are: ... Your output fields are: ...`
pub(crate) fn field_description(sig: &SignatureMeta) -> String {
    format!(
        "Your input fields are:\n{}\nYour output fields are:\n{}",
        field_list(sig.inputs()),
        field_list(sig.outputs())
    )
}

pub(crate) fn field_list(fields: &[FieldMeta]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}. `{}` ({}): ", i + 1, f.name(), f.type_name()));
        out.push_str(f.desc().unwrap_or(""));
        if !f.constraints_text().is_empty() {
            out.push_str("\nConstraints: ");
            out.push_str(f.constraints_text());
        }
    }
    py_strip(&out).to_string()
}

/// `In adhering to this structure, your objective is: ...`: DSPy's `textwrap.dedent` of the
/// instructions, each line (Python's `splitlines`) indented by eight spaces.
pub(crate) fn task_description(instructions: &str) -> String {
    let mut out = String::from("In adhering to this structure, your objective is: ");
    for line in dspy_grammar::splitlines(&dspy_grammar::dedent(instructions)) {
        out.push_str("\n        ");
        out.push_str(line);
    }
    out
}

/// The system message (field list, `structure`, objective), then each demo as a user message
/// and an assistant message rendered by `assistant`.
pub(crate) fn messages(
    sig: &SignatureMeta,
    structure: &str,
    instructions: &str,
    demos: &[Demo],
    assistant: fn(&SignatureMeta, &Demo) -> String,
) -> Vec<Message> {
    let system = format!(
        "{}\n{}\n{}",
        field_description(sig),
        structure,
        task_description(instructions)
    );
    let mut messages = vec![Message::system(system)];
    for (demo, complete) in ordered_demos(sig, demos) {
        let prefix = if complete { "" } else { INCOMPLETE_DEMO_PREFIX };
        let Ok(content) = user_content(sig, prefix, None, |_, f, out| {
            Ok::<_, std::convert::Infallible>(demo.write_value(f, out))
        });
        messages.push(Message::user(content));
        messages.push(Message::assistant(assistant(sig, demo)));
    }
    messages
}

/// `[[ ## name ## ]]\n{name}{note}` blocks for the field structure.
pub(crate) fn field_placeholders(fields: &[FieldMeta]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&format!("[[ ## {0} ## ]]\n{{{0}}}{1}", f.name(), f.note()));
    }
    py_strip(&out).to_string()
}

/// The final user message: the call's inputs, then `suffix`; an input that does not
/// serialize is an error naming it.
pub(crate) fn request_content(
    sig: &SignatureMeta,
    inputs: &dyn InputFields,
    suffix: &str,
) -> Result<String, Error> {
    user_content(sig, "", Some(suffix), |i, f, out| {
        inputs
            .write_input(i, f, out)
            .map_err(|e| Error::Serialize(format!("input `{}` of {}: {e}", f.name(), sig.name())))
    })
}

/// DSPy's `format_user_message_content`: prefix, the present inputs (`write` appends one and
/// says whether it was present), the suffix, stripped.
pub(crate) fn user_content<E>(
    sig: &SignatureMeta,
    prefix: &str,
    suffix: Option<&str>,
    mut write: impl FnMut(usize, &FieldMeta, &mut String) -> Result<bool, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(256 + prefix.len());
    out.push_str(prefix);
    for (i, f) in sig.inputs().iter().enumerate() {
        let mark = out.len();
        out.push_str("\n\n[[ ## ");
        out.push_str(f.name());
        out.push_str(" ## ]]\n");
        if !write(i, f, &mut out)? {
            out.truncate(mark);
        }
    }
    if let Some(s) = suffix {
        out.push_str("\n\n");
        out.push_str(s);
    }
    Ok(into_py_stripped(out))
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(dspy_grammar::py_is_space)
}

fn into_py_stripped(s: String) -> String {
    let t = py_strip(&s);
    if t.len() == s.len() { s } else { t.to_string() }
}

/// Whether a demo has every field (none null), and whether it has any input and any output.
pub(crate) fn demo_shape(sig: &SignatureMeta, demo: &Demo) -> (bool, bool) {
    let complete = sig
        .fields()
        .all(|f| demo.get(f.name()).is_some_and(|v| !v.is_null()));
    let usable = sig.inputs().iter().any(|f| demo.get(f.name()).is_some())
        && sig.outputs().iter().any(|f| demo.get(f.name()).is_some());
    (complete, usable)
}

/// DSPy orders demos: incomplete ones (with a note) first, then complete ones; demos without
/// any input or any output are dropped.
pub(crate) fn ordered_demos<'d>(sig: &SignatureMeta, demos: &'d [Demo]) -> Vec<(&'d Demo, bool)> {
    let mut incomplete = Vec::new();
    let mut complete = Vec::new();
    for d in demos {
        match demo_shape(sig, d) {
            (true, _) => complete.push((d, true)),
            (false, true) => incomplete.push((d, false)),
            _ => {}
        }
    }
    incomplete.extend(complete);
    incomplete
}

/// The prefix DSPy puts on the user message of an incomplete demo.
pub(crate) const INCOMPLETE_DEMO_PREFIX: &str =
    "This is an example of the task, though some input or output fields are not supplied.";

/// What DSPy writes for an output a demo lacks.
pub(crate) const MISSING_FIELD: &str = "Not supplied for this particular example. ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_description_indents_each_line() {
        assert_eq!(
            task_description("Do it.\nWell."),
            "In adhering to this structure, your objective is: \n        Do it.\n        Well."
        );
    }
}
