//! What an agent did: its steps (thought, tool, arguments, observation) and why it stopped,
//! formatted for the LM as DSPy formats ReAct's trajectory.

use crate::format::write_field_value;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One turn: what the agent thought, the tool it chose with its arguments, what came back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The turn's number (DSPy's `_0`, `_1` key suffixes); kept when older turns are dropped.
    pub index: usize,
    /// `next_thought`.
    pub thought: String,
    /// `next_tool_name`.
    pub tool_name: String,
    /// `next_tool_args` (a JSON object).
    pub tool_args: Value,
    /// The tool's result, or `Execution error in <tool>: …` when it failed.
    pub observation: Value,
}

/// Why an episode stopped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum End {
    /// The agent chose `finish`.
    Finished,
    /// `max_iters` turns ran without `finish`.
    #[default]
    MaxIters,
    /// A reply could not be read as a step (no tool, a tool that does not exist, arguments
    /// that are not an object); DSPy ends the trajectory there too.
    InvalidStep {
        /// What the parser said.
        message: String,
    },
    /// The prompt outgrew the context window even with the oldest turns dropped.
    ContextWindow {
        /// What the LM said.
        message: String,
    },
}

/// An agent's episode: its steps in order and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The turns still in the prompt (the oldest go first when the context overflows).
    pub steps: Vec<Step>,
    /// How many of the oldest turns were dropped to fit the context window.
    pub dropped: usize,
    /// Why the episode stopped.
    pub end: End,
}

impl Trajectory {
    /// The trajectory as DSPy's ReAct keeps it: `thought_0`, `tool_name_0`, `tool_args_0`,
    /// `observation_0`, … in order.
    pub fn to_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for s in &self.steps {
            for (key, value) in s.fields() {
                m.insert(format!("{key}_{}", s.index), value.into_owned());
            }
        }
        m
    }

    /// The `trajectory` input as the LM sees it (ChatAdapter's `format_user_message_content`
    /// over the keys, which JSONAdapter shares): `[[ ## thought_0 ## ]]` and its value, … ;
    /// empty for no steps.
    pub fn format(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            for (key, value) in s.fields() {
                if !out.is_empty() {
                    out.push_str("\n\n");
                }
                out.push_str("[[ ## ");
                out.push_str(key);
                out.push('_');
                out.push_str(&s.index.to_string());
                out.push_str(" ## ]]\n");
                write_field_value(&value, true, &mut out);
            }
        }
        crate::adapter::py_strip(&out).to_string()
    }

    /// How many tools were called (`finish` not counted).
    pub fn tool_calls(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.tool_name != super::signatures::FINISH)
            .count()
            + self.dropped
    }
}

impl Step {
    fn fields(&self) -> [(&'static str, std::borrow::Cow<'_, Value>); 4] {
        use std::borrow::Cow;
        [
            ("thought", Cow::Owned(Value::String(self.thought.clone()))),
            (
                "tool_name",
                Cow::Owned(Value::String(self.tool_name.clone())),
            ),
            ("tool_args", Cow::Borrowed(&self.tool_args)),
            ("observation", Cow::Borrowed(&self.observation)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(index: usize, tool: &str, obs: Value) -> Step {
        Step {
            index,
            thought: format!("think {index}"),
            tool_name: tool.into(),
            tool_args: json!({"q": "ü", "k": 2}),
            observation: obs,
        }
    }

    #[test]
    fn formats_as_dspys_trajectory() {
        let t = Trajectory {
            steps: vec![
                step(0, "search", json!(["a", "b"])),
                step(1, "finish", json!("Completed.")),
            ],
            ..Trajectory::default()
        };
        assert_eq!(
            t.format(),
            "[[ ## thought_0 ## ]]\nthink 0\n\n[[ ## tool_name_0 ## ]]\nsearch\n\n\
             [[ ## tool_args_0 ## ]]\n{\"q\": \"ü\", \"k\": 2}\n\n[[ ## observation_0 ## ]]\n[1] «a»\n[2] «b»\n\n\
             [[ ## thought_1 ## ]]\nthink 1\n\n[[ ## tool_name_1 ## ]]\nfinish\n\n\
             [[ ## tool_args_1 ## ]]\n{\"q\": \"ü\", \"k\": 2}\n\n[[ ## observation_1 ## ]]\nCompleted."
        );
        assert_eq!(Trajectory::default().format(), "");
        let keys: Vec<String> = t.to_fields().keys().cloned().collect();
        assert_eq!(
            keys[..4],
            ["thought_0", "tool_name_0", "tool_args_0", "observation_0"]
        );
        assert_eq!(t.tool_calls(), 1);
    }

    #[test]
    fn an_observation_keeps_its_python_str() {
        let t = Trajectory {
            steps: vec![step(3, "add", json!(4.0))],
            ..Trajectory::default()
        };
        assert!(
            t.format().ends_with("[[ ## observation_3 ## ]]\n4.0"),
            "{}",
            t.format()
        );
    }
}
