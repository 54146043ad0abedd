//! `ToolCalls`: tool calls as the value of an output field (DSPy's `dspy.ToolCalls`), for a
//! signature that asks the LM which tools to call and leaves running them to the program.

use super::{Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One call: the tool's name and its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Call {
    /// The tool to call.
    pub name: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// The tools the LM chose to call, read as forgivingly as DSPy reads them:
/// `{"tool_calls": [...]}`, a bare list of calls or one call; each call `{"name", "args"}`,
/// `{"name", "arguments"}` or OpenAI's `{"function": {...}}`, arguments as an object or a JSON
/// string.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct ToolCalls {
    /// The calls, in order.
    pub tool_calls: Vec<Call>,
}

impl<'de> Deserialize<'de> for ToolCalls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        match read_calls(&value) {
            Some(calls) => Ok(ToolCalls {
                tool_calls: calls
                    .into_iter()
                    .map(|(name, args)| Call {
                        name,
                        args: match args {
                            Value::Object(m) => m,
                            _ => Map::new(),
                        },
                    })
                    .collect(),
            }),
            None => Err(serde::de::Error::custom(format!(
                "expected {{\"tool_calls\": [{{\"name\": ..., \"args\": {{...}}}}]}}, a list of \
                 calls or one call, got {}",
                crate::error::excerpt(&value.to_string())
            ))),
        }
    }
}

impl ToolCalls {
    /// Runs the calls concurrently on `tools`; results in call order (DSPy's
    /// `ToolCall.execute`, each call's failure its own).
    pub async fn execute(&self, tools: &[Tool]) -> Vec<Result<Value, ToolError>> {
        let runs = self.tool_calls.iter().map(|c| async move {
            match tools.iter().find(|t| t.name() == c.name) {
                Some(tool) => tool.call(Value::Object(c.args.clone())).await,
                None => Err(ToolError::Unknown {
                    tool: c.name.clone(),
                    available: tools.iter().map(Tool::name).collect::<Vec<_>>().join(", "),
                }),
            }
        });
        futures_util::future::join_all(runs).await
    }
}

/// The calls in `value`, in any of the shapes [`ToolCalls`] reads; `None` if it has none of
/// them.
pub(crate) fn read_calls(value: &Value) -> Option<Vec<(String, Value)>> {
    let list = match value {
        Value::Object(m) if m.contains_key("tool_calls") => m.get("tool_calls")?.as_array()?,
        Value::Array(items) => items,
        Value::Object(_) => return read_call(value).map(|c| vec![c]),
        Value::String(s) => {
            return match crate::adapter::lenient_json::parse(s).ok()? {
                Value::String(_) => None,
                other => read_calls(&other),
            };
        }
        _ => return None,
    };
    list.iter().map(read_call).collect()
}

fn read_call(value: &Value) -> Option<(String, Value)> {
    let m = value.as_object()?;
    let (name, args) = match m.get("function").and_then(Value::as_object) {
        Some(f) => (f.get("name").or_else(|| m.get("name")), f.get("arguments")),
        None => (m.get("name"), m.get("args").or_else(|| m.get("arguments"))),
    };
    let name = name?.as_str()?.to_string();
    let args = match args {
        Some(Value::Object(a)) => Value::Object(a.clone()),
        Some(Value::String(s)) => match crate::adapter::lenient_json::parse(s) {
            Ok(Value::Object(a)) => Value::Object(a),
            _ => Value::Object(Map::new()),
        },
        _ => Value::Object(Map::new()),
    };
    Some((name, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_are_read_in_every_shape_dspy_reads() {
        let want = vec![("add".to_string(), json!({"a": 1}))];
        for v in [
            json!({"tool_calls": [{"name": "add", "args": {"a": 1}}]}),
            json!([{"name": "add", "arguments": "{\"a\": 1}"}]),
            json!({"name": "add", "args": {"a": 1}}),
            json!({"function": {"name": "add", "arguments": "{\"a\": 1,}"}}),
            json!("{\"tool_calls\": [{\"name\": \"add\", \"args\": {\"a\": 1}}]}"),
        ] {
            assert_eq!(read_calls(&v), Some(want.clone()), "{v}");
        }
        assert_eq!(read_calls(&json!({"tool_calls": []})), Some(vec![]));
        assert_eq!(read_calls(&json!("no calls")), None);
        assert_eq!(read_calls(&json!({"tool_calls": [{"args": {}}]})), None);
        assert_eq!(
            read_calls(&json!([{"name": "now"}])),
            Some(vec![("now".to_string(), json!({}))])
        );
    }

    #[tokio::test]
    async fn tool_calls_deserialize_forgivingly_and_execute_in_order() {
        let calls: ToolCalls = serde_json::from_value(
            json!([{"name": "add", "arguments": "{\"a\": 2}"}, {"name": "nope"}]),
        )
        .expect("a list of calls");
        let add = Tool::new_blocking("add", "Adds one.", json!({"a": {"type": "integer"}}), |a| {
            Ok::<_, String>(a["a"].as_i64().unwrap_or(0) + 1)
        })
        .expect("a tool");
        let results = calls.execute(&[add]).await;
        assert_eq!(results[0], Ok(json!(3)));
        assert!(matches!(results[1], Err(ToolError::Unknown { .. })));
        let err = serde_json::from_value::<ToolCalls>(json!(42)).expect_err("not calls");
        assert!(err.to_string().contains("got 42"), "{err}");
    }
}
