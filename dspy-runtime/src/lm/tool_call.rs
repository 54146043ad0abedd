//! Native tool calling: the tools offered with a request, how the LM may use them, and the
//! calls it makes (OpenAI's `tools` / `tool_choice` / `tool_calls`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One tool call the LM made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (a tool result refers to it); `None` if it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name.
    pub name: String,
    /// The arguments: a JSON object, or the raw text when the LM's arguments were not JSON
    /// (a tool then refuses them with a clear error).
    pub args: Value,
}

impl ToolCall {
    /// A call from OpenAI's wire shape, whose `arguments` is a JSON string.
    pub(crate) fn from_openai(id: Option<String>, name: String, arguments: &str) -> ToolCall {
        let args = if arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments)
                .or_else(|_| crate::adapter::lenient_json::parse(arguments))
                .unwrap_or_else(|_| Value::String(arguments.to_string()))
        };
        ToolCall { id, name, args }
    }

    /// OpenAI's wire shape: `{"id", "type": "function", "function": {"name", "arguments"}}`.
    pub(crate) fn to_openai(&self) -> Value {
        let arguments = match &self.args {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        json!({
            "id": self.id.as_deref().unwrap_or(""),
            "type": "function",
            "function": {"name": self.name, "arguments": arguments},
        })
    }
}

/// Whether and which tool the LM must call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The LM decides (OpenAI's default).
    #[default]
    Auto,
    /// The LM must call some tool.
    Required,
    /// The LM must not call a tool.
    None,
    /// The LM must call this tool.
    Function(String),
}

impl ToolChoice {
    /// OpenAI's `tool_choice` value.
    pub fn to_openai(&self) -> Value {
        match self {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Required => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Function(name) => json!({"type": "function", "function": {"name": name}}),
        }
    }

    /// Anthropic's `tool_choice` value (`None` has no equivalent but sending no tools).
    pub fn to_anthropic(&self) -> Option<Value> {
        match self {
            ToolChoice::Auto => Some(json!({"type": "auto"})),
            ToolChoice::Required => Some(json!({"type": "any"})),
            ToolChoice::None => None,
            ToolChoice::Function(name) => Some(json!({"type": "tool", "name": name})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_forgivingly_and_kept_when_unreadable() {
        let c = ToolCall::from_openai(Some("c1".into()), "add".into(), r#"{"a": 1, "b": 2}"#);
        assert_eq!(c.args, json!({"a": 1, "b": 2}));
        assert_eq!(
            c.to_openai(),
            json!({"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1,\"b\":2}"}})
        );
        assert_eq!(
            ToolCall::from_openai(None, "now".into(), "").args,
            json!({})
        );
        let trailing = ToolCall::from_openai(None, "add".into(), r#"{"a": 1,}"#);
        assert_eq!(trailing.args, json!({"a": 1}));
        let junk = ToolCall::from_openai(None, "add".into(), "a=1");
        assert_eq!(junk.args, json!("a=1"));
    }
}
