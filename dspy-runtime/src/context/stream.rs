//! Where a streamed call's events go: `dspy::stream` puts a sink in the context of the call it
//! runs, predictors that find one stream their LM call into it, and a callback turns module
//! and tool calls into status messages.

use super::callback::{Call, CallKind, Callback, ModuleEnd, ModuleStart, ToolEnd, ToolStart};
use serde_json::Value;
use std::collections::HashMap;
use tokio::sync::mpsc::UnboundedSender;

/// A piece of one output field of one predictor, as the LM writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamChunk {
    /// The predictor's path (`self` for a lone predictor, `answer.predict` in a program).
    pub predictor: String,
    /// The output field.
    pub field: String,
    /// The text (empty on a last chunk that carries nothing more).
    pub text: String,
    /// Whether this is the field's last chunk.
    pub last: bool,
}

/// A structured output (a list, a map, a model) as far as it has streamed: its complete items
/// so far, valid against the field's type.
#[derive(Clone, Debug, PartialEq)]
pub struct PartialValue {
    /// The predictor's path.
    pub predictor: String,
    /// The output field.
    pub field: String,
    /// The value so far.
    pub value: Value,
}

/// A module or tool call starting or ending, during a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// A module (a program, not a single predictor) started.
    ModuleStart {
        /// Its name.
        name: String,
    },
    /// A module ended.
    ModuleEnd {
        /// Its name.
        name: String,
        /// Whether it succeeded.
        ok: bool,
    },
    /// A tool is being called.
    ToolStart {
        /// The tool.
        name: String,
    },
    /// A tool call ended.
    ToolEnd {
        /// The tool.
        name: String,
        /// Whether it returned a result.
        ok: bool,
    },
    /// A predictor's reply did not parse, and it asks again with its adapter's fallback
    /// (ChatAdapter's is JSONAdapter): the chunks it streamed so far are void, and its fields
    /// stream again from the start.
    Retry {
        /// The predictor's path.
        predictor: String,
        /// The adapter it asks with now.
        adapter: String,
    },
}

impl std::fmt::Display for Status {
    /// DSPy's status messages for tools; for modules, the module's name and what happened.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::ModuleStart { name } => write!(f, "Running {name}..."),
            Status::ModuleEnd { name, ok: true } => write!(f, "{name} finished."),
            Status::ModuleEnd { name, ok: false } => write!(f, "{name} failed."),
            Status::ToolStart { name } => write!(f, "Calling tool {name}..."),
            Status::ToolEnd { .. } => {
                f.write_str("Tool calling finished! Querying the LLM with tool calling results...")
            }
            Status::Retry { predictor, adapter } => {
                write!(
                    f,
                    "{predictor}: the reply did not parse; asking again with {adapter}..."
                )
            }
        }
    }
}

/// What a sink receives.
#[derive(Clone, Debug)]
pub(crate) enum Note {
    Chunk(StreamChunk),
    Partial(PartialValue),
    Status(Status),
}

/// The events of one streamed call, and the paths of its predictors.
pub(crate) struct StreamSink {
    tx: UnboundedSender<Note>,
    paths: HashMap<usize, String>,
}

impl StreamSink {
    pub(crate) fn new(tx: UnboundedSender<Note>, paths: HashMap<usize, String>) -> Self {
        StreamSink { tx, paths }
    }

    /// The path of the predictor with this id (`self` if the stream's module has no such
    /// predictor, e.g. one built inside a call).
    pub(crate) fn path(&self, predictor: usize) -> String {
        self.paths
            .get(&predictor)
            .cloned()
            .unwrap_or_else(|| "self".into())
    }

    /// Sends a note; one the reader no longer wants is dropped.
    pub(crate) fn send(&self, note: Note) {
        let _ = self.tx.send(note);
    }
}

/// Turns module and tool calls into [`Status`] notes.
pub(crate) struct StatusCallback(pub(crate) std::sync::Arc<StreamSink>);

impl Callback for StatusCallback {
    fn on_module_start(&self, call: &Call<'_>, _: &ModuleStart<'_>) {
        if call.kind == CallKind::Module && call.predictor.is_none() {
            self.0.send(Note::Status(Status::ModuleStart {
                name: call.name.to_string(),
            }));
        }
    }

    fn on_module_end(&self, call: &Call<'_>, end: &ModuleEnd<'_>) {
        if call.kind == CallKind::Module && call.predictor.is_none() {
            self.0.send(Note::Status(Status::ModuleEnd {
                name: call.name.to_string(),
                ok: end.outputs.is_ok(),
            }));
        }
    }

    fn on_tool_start(&self, call: &Call<'_>, _: &ToolStart<'_>) {
        // DSPy says nothing for ReAct's `finish`.
        if call.name != "finish" {
            self.0.send(Note::Status(Status::ToolStart {
                name: call.name.to_string(),
            }));
        }
    }

    fn on_tool_end(&self, call: &Call<'_>, end: &ToolEnd<'_>) {
        if call.name != "finish" {
            self.0.send(Note::Status(Status::ToolEnd {
                name: call.name.to_string(),
                ok: end.result.is_ok(),
            }));
        }
    }
}
