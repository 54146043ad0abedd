//! Anthropic's Messages API: the system prompt goes apart, `max_tokens` is required.

use super::openai::{decode, snippet};
use super::{LmConfig, LmError, LmRequest, LmResponse, MessageRole, ToolCall, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Anthropic requires `max_tokens`; DSPy's default for it is 4,000 (we use 4,096).
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Serialize)]
pub(crate) struct MessagesBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    system: String,
    messages: Vec<WireMessage<'a>>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    /// Extended thinking, from `reasoning_effort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
}

/// The thinking budget for a reasoning effort (litellm's mapping, which DSPy goes through).
fn thinking_budget(effort: Option<&str>) -> Option<u32> {
    match effort? {
        "low" | "minimal" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        _ => None,
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Content<'a>,
}

/// Plain text, or content blocks (tool use and tool results).
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Blocks(Vec<Value>),
}

/// An OpenAI function definition as an Anthropic tool (`name`, `description`,
/// `input_schema`).
fn anthropic_tool(openai: &Value) -> Value {
    let f = openai.get("function").unwrap_or(openai);
    let mut tool = json!({
        "name": f.get("name").cloned().unwrap_or(Value::Null),
        "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
    });
    if let Some(d) = f.get("description") {
        tool["description"] = d.clone();
    }
    tool
}

impl<'a> MessagesBody<'a> {
    /// The body for `request` with `config` (the request's settings merged with the LM's).
    pub fn new(
        model: &'a str,
        request: &'a LmRequest,
        config: &'a LmConfig,
        stream: bool,
    ) -> Result<Self, LmError> {
        let mut system = String::new();
        let mut messages = Vec::with_capacity(request.messages.len());
        for m in &request.messages {
            match m.role {
                MessageRole::System => {
                    if !system.is_empty() {
                        system.push_str("\n\n");
                    }
                    system.push_str(&m.content);
                }
                MessageRole::User => messages.push(WireMessage {
                    role: "user",
                    content: match m.content_parts() {
                        Some(parts) => Content::Blocks(
                            parts
                                .iter()
                                .map(super::content::to_anthropic)
                                .collect::<Result<_, _>>()?,
                        ),
                        None => Content::Text(&m.content),
                    },
                }),
                MessageRole::Assistant => match &m.tool_calls {
                    None => messages.push(WireMessage {
                        role: "assistant",
                        content: Content::Text(&m.content),
                    }),
                    Some(calls) => {
                        let mut blocks = Vec::with_capacity(calls.len() + 1);
                        if !m.content.is_empty() {
                            blocks.push(json!({"type": "text", "text": &*m.content}));
                        }
                        blocks.extend(calls.iter().map(|c| {
                            json!({"type": "tool_use", "id": c.id.as_deref().unwrap_or(""),
                                   "name": c.name, "input": c.args})
                        }));
                        messages.push(WireMessage {
                            role: "assistant",
                            content: Content::Blocks(blocks),
                        });
                    }
                },
                // Anthropic takes tool results as user blocks; consecutive ones share a message.
                MessageRole::Tool => {
                    let block = json!({"type": "tool_result",
                        "tool_use_id": m.tool_call_id.as_deref().unwrap_or(""),
                        "content": &*m.content});
                    match messages.last_mut() {
                        Some(WireMessage {
                            role: "user",
                            content: Content::Blocks(blocks),
                        }) => blocks.push(block),
                        _ => messages.push(WireMessage {
                            role: "user",
                            content: Content::Blocks(vec![block]),
                        }),
                    }
                }
            }
        }
        let offered = request.tool_choice != Some(super::ToolChoice::None);
        let tools = match (&request.tools, offered) {
            (Some(tools), true) => tools.iter().map(anthropic_tool).collect(),
            _ => Vec::new(),
        };
        let tool_choice = match tools.is_empty() {
            true => None,
            false => request.tool_choice.as_ref().and_then(|c| c.to_anthropic()),
        };
        let budget = thinking_budget(config.reasoning_effort.as_deref());
        let max_tokens = config.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        Ok(MessagesBody {
            model,
            system,
            messages,
            // Thinking needs room beyond its budget, and its own temperature (1).
            max_tokens: budget.map_or(max_tokens, |b| max_tokens.max(b + 1024)),
            temperature: config.temperature.filter(|_| budget.is_none()),
            top_p: config.top_p,
            stop_sequences: &config.stop,
            tools,
            tool_choice,
            stream,
            thinking: budget.map(|b| json!({"type": "enabled", "budget_tokens": b})),
        })
    }
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    /// A `thinking` block's reasoning.
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

/// Reads a Messages API response body.
pub(crate) fn parse_response(body: &[u8]) -> Result<LmResponse, LmError> {
    let parsed: MessagesResponse = decode("an Anthropic message", body)?;
    let text: String = parsed
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect();
    if parsed.content.is_empty() {
        return Err(LmError::InvalidResponse(format!(
            "no content in the reply: {}",
            snippet(body)
        )));
    }
    let thinking: Vec<&str> = parsed
        .content
        .iter()
        .filter(|b| b.kind == "thinking")
        .filter_map(|b| b.thinking.as_deref())
        .collect();
    let reasoning = match thinking.is_empty() {
        true => Vec::new(),
        false => vec![Some(thinking.join("\n"))],
    };
    let calls: Vec<ToolCall> = parsed
        .content
        .into_iter()
        .filter(|b| b.kind == "tool_use")
        .map(|b| ToolCall {
            id: b.id,
            name: b.name.unwrap_or_default(),
            args: b.input.unwrap_or_else(|| json!({})),
        })
        .collect();
    let usage = parsed.usage.unwrap_or_default();
    Ok(LmResponse {
        outputs: vec![text],
        usage: Usage {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
        },
        cache_hit: false,
        tool_calls: if calls.is_empty() {
            Vec::new()
        } else {
            vec![calls]
        },
        reasoning,
    })
}

/// The text delta (and usage) of one streamed event's data.
pub(crate) fn stream_delta(data: &str) -> Result<Option<(String, Option<Usage>)>, LmError> {
    let v: Value = decode("a stream event", data.as_bytes())?;
    match v.get("type").and_then(Value::as_str) {
        Some("content_block_delta") => Ok(v
            .pointer("/delta/text")
            .and_then(Value::as_str)
            .map(|t| (t.to_string(), None))),
        Some("message_start") => Ok(v.pointer("/message/usage").map(|u| {
            (
                String::new(),
                Some(Usage {
                    prompt_tokens: u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0),
                    completion_tokens: 0,
                }),
            )
        })),
        Some("message_delta") => Ok(v.get("usage").map(|u| {
            (
                String::new(),
                Some(Usage {
                    prompt_tokens: 0,
                    completion_tokens: u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
                }),
            )
        })),
        Some("error") => Err(LmError::Server {
            status: 500,
            message: v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("stream error")
                .to_string(),
        }),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Message;

    #[test]
    fn system_goes_apart_and_max_tokens_is_set() {
        let req = LmRequest {
            messages: vec![
                Message::system("be brief"),
                Message::user("hi"),
                Message::assistant("yo"),
                Message::user("again"),
            ],
            ..Default::default()
        };
        let body = serde_json::to_value(
            MessagesBody::new("claude", &req, &LmConfig::default(), false).unwrap(),
        )
        .unwrap();
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["messages"].as_array().unwrap().len(), 3);
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn tools_calls_and_results_use_anthropics_blocks() {
        let tool = json!({"type": "function", "function": {"name": "add", "description": "Adds.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}});
        let call = ToolCall {
            id: Some("t1".into()),
            name: "add".into(),
            args: json!({"a": 1}),
        };
        let req = LmRequest {
            messages: vec![
                Message::user("add 1"),
                Message::assistant_calls(
                    "",
                    vec![
                        call.clone(),
                        ToolCall {
                            id: Some("t2".into()),
                            ..call
                        },
                    ],
                ),
                Message::tool_result("t1", "1"),
                Message::tool_result("t2", "1"),
            ],
            tools: Some(vec![tool].into()),
            tool_choice: Some(super::super::ToolChoice::Required),
            ..Default::default()
        };
        let body = serde_json::to_value(
            MessagesBody::new("claude", &req, &LmConfig::default(), false).unwrap(),
        )
        .unwrap();
        assert_eq!(
            body["tools"],
            json!([{"name": "add", "description": "Adds.",
            "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}])
        );
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            3,
            "both results in one user message: {body}"
        );
        assert_eq!(
            messages[1]["content"][0],
            json!({"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1}})
        );
        assert_eq!(
            messages[2]["content"][1],
            json!({"type": "tool_result", "tool_use_id": "t2", "content": "1"})
        );

        let r = parse_response(br#"{"content":[{"type":"text","text":"Adding."},{"type":"tool_use","id":"t9","name":"add","input":{"a":2}}]}"#).unwrap();
        assert_eq!(r.outputs, ["Adding."]);
        assert_eq!(
            r.tool_calls,
            vec![vec![ToolCall {
                id: Some("t9".into()),
                name: "add".into(),
                args: json!({"a": 2})
            }]]
        );
    }

    #[test]
    fn responses() {
        let r = parse_response(br#"{"content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":5,"output_tokens":1}}"#).unwrap();
        assert_eq!(r.outputs, ["Hi"]);
        assert_eq!(r.usage.prompt_tokens, 5);
        assert!(r.reasoning.is_empty());
        assert!(parse_response(b"{").is_err());
    }

    #[test]
    fn reasoning_effort_becomes_thinking_and_thinking_comes_back() {
        let req = LmRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        let config = LmConfig::default()
            .temperature(0.0)
            .max_tokens(500)
            .reasoning_effort("medium");
        let body = serde_json::to_value(MessagesBody::new("claude", &req, &config, false).unwrap())
            .unwrap();
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        assert_eq!(body["max_tokens"], 2048 + 1024);
        assert!(body.get("temperature").is_none());
        let plain = LmConfig::default().reasoning_effort("none");
        let body = serde_json::to_value(MessagesBody::new("claude", &req, &plain, false).unwrap())
            .unwrap();
        assert!(body.get("thinking").is_none());

        let r = parse_response(br#"{"content":[{"type":"thinking","thinking":"7 x 13","signature":"s"},{"type":"text","text":"No."}]}"#).unwrap();
        assert_eq!(r.outputs, ["No."]);
        assert_eq!(r.reasoning, [Some("7 x 13".to_string())]);
    }
}
