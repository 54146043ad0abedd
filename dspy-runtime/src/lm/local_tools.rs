//! Native tool calls on the embedded model, in the Hermes format its ChatML models were tuned
//! on (Qwen2.5's chat template): the tools listed in the system message inside `<tools>`,
//! calls written as `<tool_call>{"name", "arguments"}</tool_call>`, results sent back inside
//! `<tool_response>`. A required call is constrained by a grammar, so it always parses and
//! its arguments fit the tool's schema.

use super::{LmRequest, Message, MessageRole, ToolCall, ToolChoice};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The request's messages with the tools written in (system message, calls, results), ready
/// for a plain chat template; `None` when the request offers no tools (or forbids calls).
pub(crate) fn messages_with_tools(request: &LmRequest) -> Option<Vec<Message>> {
    let tools = request.tools.as_deref().filter(|t| !t.is_empty())?;
    if request.tool_choice == Some(ToolChoice::None) {
        return None;
    }
    let mut block = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for tool in offered(tools, request.tool_choice.as_ref()) {
        block.push('\n');
        block.push_str(&tool.to_string());
    }
    block.push_str(
        "\n</tools>\n\nFor each function call, return a json object with function name and \
         arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": \
         <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
    );
    let mut out: Vec<Message> = Vec::with_capacity(request.messages.len() + 1);
    let rest = match request.messages.split_first() {
        Some((m, rest)) if m.role == MessageRole::System => {
            out.push(Message::system(format!("{}\n\n{block}", m.content)));
            rest
        }
        _ => {
            out.push(Message::system(format!(
                "You are a helpful assistant.\n\n{block}"
            )));
            &request.messages[..]
        }
    };
    for m in rest {
        match (m.role, &m.tool_calls) {
            (MessageRole::Assistant, Some(calls)) => {
                let mut text = m.content.to_string();
                for c in calls.iter() {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    let call = json!({"name": c.name, "arguments": c.args});
                    text.push_str(&format!("<tool_call>\n{call}\n</tool_call>"));
                }
                out.push(Message::assistant(text));
            }
            (MessageRole::Tool, _) => {
                let response = format!("<tool_response>\n{}\n</tool_response>", m.content);
                // Consecutive results share one user turn, as the template writes them.
                match out.last_mut() {
                    Some(last)
                        if last.role == MessageRole::User
                            && last.content.ends_with("</tool_response>") =>
                    {
                        last.content = Arc::from(format!("{}\n{response}", last.content));
                    }
                    _ => out.push(Message::user(response)),
                }
            }
            _ => out.push(Message::new(m.role, m.content.clone())),
        }
    }
    Some(out)
}

/// The tools a call may use: all, or the one `tool_choice` names.
fn offered<'a>(tools: &'a [Value], choice: Option<&ToolChoice>) -> Vec<&'a Value> {
    match choice {
        Some(ToolChoice::Function(name)) => tools
            .iter()
            .filter(|t| t["function"]["name"] == json!(name))
            .collect(),
        _ => tools.iter().collect(),
    }
}

/// The JSON schema a required call must fit: one of the offered tools' `{"name",
/// "arguments"}` objects. `None` when the LM may answer without a call.
pub(crate) fn required_call_schema(request: &LmRequest) -> Option<Value> {
    let tools = request.tools.as_deref()?;
    if !matches!(
        request.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Function(_))
    ) {
        return None;
    }
    let calls: Vec<Value> = offered(tools, request.tool_choice.as_ref())
        .into_iter()
        .map(|t| {
            let f = &t["function"];
            let params = match f.get("parameters") {
                Some(p) if p.is_object() => p.clone(),
                _ => json!({"type": "object"}),
            };
            json!({
                "type": "object",
                "properties": {"name": {"const": f["name"]}, "arguments": params},
                "required": ["name", "arguments"],
            })
        })
        .collect();
    Some(match calls.len() {
        1 => calls.into_iter().next().unwrap_or_default(),
        _ => json!({ "anyOf": calls }),
    })
}

/// A reply split into its text and its calls: `<tool_call>` blocks, or (as small models
/// often write, and as a grammar-constrained call comes) the whole reply as one
/// `{"name", "arguments"}` object naming an offered tool. Ids are `call_<tag>_<i>`.
pub(crate) fn split_reply(text: &str, tools: &[Value], tag: u64) -> (String, Vec<ToolCall>) {
    let known = |name: &str| tools.iter().any(|t| t["function"]["name"] == json!(name));
    let read = |json_text: &str| -> Option<(String, Value)> {
        let v = crate::adapter::lenient_json::parse(json_text.trim()).ok()?;
        let name = v.get("name")?.as_str()?.to_string();
        let args = match v.get("arguments").or_else(|| v.get("args")) {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            Some(Value::String(s)) => crate::adapter::lenient_json::parse(s)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::Object(Map::new())),
            _ => Value::Object(Map::new()),
        };
        Some((name, args))
    };
    let mut calls = Vec::new();
    let content = match text.find("<tool_call>") {
        Some(start) => {
            let mut rest = &text[start..];
            while let Some(open) = rest.find("<tool_call>") {
                let body = &rest[open + "<tool_call>".len()..];
                let (inner, after) = match body.find("</tool_call>") {
                    Some(end) => (&body[..end], &body[end + "</tool_call>".len()..]),
                    None => (body, ""),
                };
                calls.extend(read(inner));
                rest = after;
            }
            text[..start].trim_end().to_string()
        }
        None => match read(text) {
            Some(call) if known(&call.0) && text.trim_start().starts_with('{') => {
                calls.push(call);
                String::new()
            }
            _ => text.to_string(),
        },
    };
    let calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, args))| ToolCall {
            id: Some(format!("call_{tag}_{i}")),
            name,
            args,
        })
        .collect();
    (content, calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add() -> Value {
        json!({"type": "function", "function": {"name": "add", "description": "Adds.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}})
    }

    fn request(messages: Vec<Message>, choice: Option<ToolChoice>) -> LmRequest {
        LmRequest {
            messages,
            tools: Some(
                vec![
                    add(),
                    json!({"type": "function", "function": {"name": "submit"}}),
                ]
                .into(),
            ),
            tool_choice: choice,
            ..Default::default()
        }
    }

    #[test]
    fn tools_calls_and_results_are_written_in_hermes_form() {
        let call = ToolCall {
            id: Some("c1".into()),
            name: "add".into(),
            args: json!({"a": 1}),
        };
        let req = request(
            vec![
                Message::system("Be brief."),
                Message::user("add 1"),
                Message::assistant_calls("Adding.", vec![call.clone(), call]),
                Message::tool_result("c1", "1"),
                Message::tool_result("c1", "1"),
            ],
            None,
        );
        let m = messages_with_tools(&req).expect("tools offered");
        assert_eq!(m.len(), 4);
        assert!(m[0].content.starts_with("Be brief.\n\n# Tools\n"));
        assert!(
            m[0].content
                .contains("<tools>\n{\"type\":\"function\",\"function\":{\"name\":\"add\"")
        );
        assert_eq!(
            &*m[2].content,
            "Adding.\n<tool_call>\n{\"name\":\"add\",\"arguments\":{\"a\":1}}\n</tool_call>\n<tool_call>\n{\"name\":\"add\",\"arguments\":{\"a\":1}}\n</tool_call>"
        );
        assert_eq!(
            &*m[3].content,
            "<tool_response>\n1\n</tool_response>\n<tool_response>\n1\n</tool_response>"
        );
        assert!(messages_with_tools(&request(vec![], Some(ToolChoice::None))).is_none());
        let only = messages_with_tools(&request(
            vec![Message::user("x")],
            Some(ToolChoice::Function("submit".into())),
        ))
        .expect("one tool");
        assert!(!only[0].content.contains("\"add\""));
        assert!(only[0].content.starts_with("You are a helpful assistant."));
    }

    #[test]
    fn a_required_call_has_a_schema_and_replies_split_into_text_and_calls() {
        assert!(required_call_schema(&request(vec![], None)).is_none());
        let s =
            required_call_schema(&request(vec![], Some(ToolChoice::Required))).expect("required");
        assert_eq!(s["anyOf"][0]["properties"]["name"]["const"], "add");
        let s = required_call_schema(&request(vec![], Some(ToolChoice::Function("add".into()))))
            .expect("named");
        assert_eq!(s["properties"]["arguments"]["required"], json!(["a"]));

        let tools = [add()];
        let (text, calls) = split_reply(
            "I add.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 2}}\n</tool_call>\n<tool_call>{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 3}\"}",
            &tools,
            7,
        );
        assert_eq!(text, "I add.");
        let got: Vec<_> = calls
            .iter()
            .map(|c| (c.id.as_deref(), c.args.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("call_7_0"), json!({"a": 2})),
                (Some("call_7_1"), json!({"a": 3}))
            ]
        );
        let (text, calls) =
            split_reply("{\"name\": \"add\", \"arguments\": {\"a\": 1}}", &tools, 0);
        assert_eq!((text.as_str(), calls.len()), ("", 1));
        let (text, calls) = split_reply("{\"name\": \"other\", \"arguments\": {}}", &tools, 0);
        assert_eq!(
            (text.as_str(), calls.len()),
            ("{\"name\": \"other\", \"arguments\": {}}", 0)
        );
        let (text, calls) = split_reply("The answer is 5.", &tools, 0);
        assert_eq!((text.as_str(), calls.len()), ("The answer is 5.", 0));
    }
}
