//! What a tool-calling agent did, as DSPy's ReActV2 keeps it in its `history`: per turn the
//! thought, the tool calls (with ids) and their results; and why the episode ended.

use crate::lm::ToolCall;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One tool call's result, answering the call with the same id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The id of the call it answers.
    pub call_id: String,
    /// The tool's name.
    pub name: String,
    /// What the tool returned, or the error text the agent sees.
    pub value: Value,
    /// Whether the call failed (an unknown tool, bad arguments, the tool's own error).
    pub is_error: bool,
}

impl ToolResult {
    /// The result as a tool message's content: a string as it is, anything else as JSON
    /// (DSPy's `_tool_result_content`).
    pub fn content(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// One turn: what the agent thought, the calls it made and what came back, in call order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentTurn {
    /// `next_thought` (empty when the LM gave only tool calls).
    pub thought: String,
    /// The calls, each with an id (`call_<turn>_<index>` when the LM gave none).
    pub calls: Vec<ToolCall>,
    /// One result per call.
    pub results: Vec<ToolResult>,
}

impl AgentTurn {
    /// The calls as DSPy's `ToolCalls` writes them in text mode: `{"tool_calls": [{"name",
    /// "args"}]}`.
    pub(crate) fn calls_value(&self) -> Value {
        let calls: Vec<Value> = self
            .calls
            .iter()
            .map(|c| json!({"name": c.name, "args": c.args}))
            .collect();
        json!({ "tool_calls": calls })
    }
}

/// Why the tool-calling loop stopped before `submit` succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Break {
    /// `max_iters` turns ran.
    MaxIters,
    /// A reply could not be read (DSPy's `parse_error`).
    ParseError {
        /// What the parser said.
        message: String,
    },
    /// A reply made no tool call.
    EmptyToolCalls,
    /// The prompt outgrew the context window.
    ContextWindowExceeded {
        /// What the LM said.
        message: String,
    },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Break::MaxIters => "max_iters",
            Break::ParseError { .. } => "parse_error",
            Break::EmptyToolCalls => "empty_tool_calls",
            Break::ContextWindowExceeded { .. } => "context_window_exceeded",
        })
    }
}

/// How an episode ended with outputs (DSPy's `termination_reason`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "termination", rename_all = "snake_case")]
pub enum Termination {
    /// The agent called `submit` with valid outputs.
    Submit,
    /// The loop stopped (see `after`) and a last call, told to call `submit`, gave the
    /// outputs.
    ForcedSubmit {
        /// Why the loop stopped.
        after: Break,
    },
}
