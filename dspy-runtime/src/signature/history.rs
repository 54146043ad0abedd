//! DSPy's `dspy.History`: a conversation's earlier turns as an input field. Each message is a
//! map keyed by the signature's field names (inputs for the user's turn, outputs for the
//! assistant's); the adapter writes them as alternating user and assistant messages between
//! the demos and the final request, as DSPy does.

use super::{FieldMeta, InputFields, SignatureMeta};
use crate::demo::Demo;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A conversation so far: a signature with a `History` input field turns it into chat turns.
///
/// ```
/// # use dspy_runtime::History;
/// # use serde_json::json;
/// let history = History::new()
///     .with(json!({"question": "What is the capital of France?", "answer": "Paris"}));
/// assert_eq!(history.messages.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct History {
    /// The turns, each keyed by field name.
    pub messages: Vec<Map<String, Value>>,
}

impl History {
    /// An empty conversation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same conversation with one more message (a JSON object keyed by field names;
    /// anything else is ignored).
    pub fn with(mut self, message: Value) -> Self {
        if let Value::Object(m) = message {
            self.messages.push(m);
        }
        self
    }

    /// Appends a turn from a call's typed inputs and outputs (their fields, by name; the
    /// inputs' own history is left out).
    pub fn push<I: Serialize, O: Serialize>(&mut self, inputs: &I, outputs: &O) {
        let mut turn = Map::new();
        for v in [serde_json::to_value(inputs), serde_json::to_value(outputs)] {
            if let Ok(Value::Object(m)) = v {
                turn.extend(m.into_iter().filter(|(_, v)| !looks_like_history(v)));
            }
        }
        self.messages.push(turn);
    }
}

/// Whether `v` is a serialized [`History`] (an object whose only key is a `messages` list).
fn looks_like_history(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.len() == 1 && m.get("messages").is_some_and(Value::is_array))
}

/// The index of `sig`'s `History` input, if it has one.
pub(crate) fn history_input(sig: &SignatureMeta) -> Option<usize> {
    sig.inputs().iter().position(is_history)
}

fn is_history(f: &FieldMeta) -> bool {
    f.type_name() == "History"
        && f.schema()
            .pointer("/$defs/History/properties/messages")
            .or_else(|| f.schema().pointer("/properties/messages"))
            .is_some()
}

/// A call's inputs without one of them (the history, written as turns instead).
pub(crate) struct Without<'a> {
    pub inputs: &'a dyn InputFields,
    pub skip: usize,
}

impl InputFields for Without<'_> {
    fn write_input(
        &self,
        index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> Result<bool, String> {
        if index == self.skip {
            return Ok(false);
        }
        self.inputs.write_input(index, field, out)
    }
}

/// The history input's messages, read back from its rendering (`None` if the call has none).
pub(crate) fn messages_of(
    inputs: &dyn InputFields,
    sig: &SignatureMeta,
    index: usize,
) -> Result<Option<History>, String> {
    let mut text = String::new();
    if !inputs.write_input(index, &sig.inputs()[index], &mut text)? {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the history input is not a History: {e}"))
}

/// One history message as a demo: its fields, with every output it lacks as null (DSPy writes
/// a missing output of a history turn as `None`).
pub(crate) fn turn_outputs(sig: &SignatureMeta, mut m: Map<String, Value>) -> Demo {
    for f in sig.outputs() {
        m.entry(f.name().to_string()).or_insert(Value::Null);
    }
    Demo::from_map(m)
}

/// Whether a history message holds any of `sig`'s inputs (then its user turn is written, with
/// the output requirements, as DSPy writes it).
pub(crate) fn has_inputs(sig: &SignatureMeta, skip: usize, message: &Map<String, Value>) -> bool {
    sig.inputs()
        .iter()
        .enumerate()
        .any(|(i, f)| i != skip && message.contains_key(f.name()))
}
