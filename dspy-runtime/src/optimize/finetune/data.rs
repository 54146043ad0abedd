//! Training data: a predictor call as a chat conversation (OpenAI's fine-tuning format).

use crate::lm::Message;
use serde::{Deserialize, Serialize};

/// One training conversation: the messages a predictor call sends, then the assistant's
/// answer to learn (DSPy's `format_finetune_data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// System, demo and request messages, the assistant's answer last.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The conversation as one JSON line: `{"messages":[{"role":…,"content":…},…]}`.
    pub fn to_json_line(&self) -> String {
        let messages: Vec<serde_json::Value> = self
            .messages
            .iter()
            .map(|m| serde_json::json!({"role": m.role.as_str(), "content": &*m.content}))
            .collect();
        serde_json::json!({ "messages": messages }).to_string()
    }
}

/// Conversations as JSON Lines, the file OpenAI-compatible fine-tuning APIs take.
pub fn to_jsonl(conversations: &[Conversation]) -> String {
    let mut out = String::new();
    for c in conversations {
        out.push_str(&c.to_json_line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_is_one_json_line_of_roles_and_contents() {
        let c = Conversation {
            messages: vec![
                Message::system("Sort.\nWell."),
                Message::user("b a"),
                Message::assistant("a b"),
            ],
        };
        let jsonl = to_jsonl(&[c.clone(), c]);
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"messages":[{"role":"system","content":"Sort.\nWell."},{"role":"user","content":"b a"},{"role":"assistant","content":"a b"}]}"#
        );
    }
}
