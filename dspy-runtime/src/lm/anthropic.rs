//! Anthropic's Messages API: the system prompt goes apart, `max_tokens` is required.

use super::openai::{decode, snippet};
use super::{LmConfig, LmError, LmRequest, LmResponse, MessageRole, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl<'a> MessagesBody<'a> {
    /// The body for `request` with `config` (the request's settings merged with the LM's).
    pub fn new(model: &'a str, request: &'a LmRequest, config: &'a LmConfig, stream: bool) -> Self {
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
                    content: &m.content,
                }),
                MessageRole::Assistant => messages.push(WireMessage {
                    role: "assistant",
                    content: &m.content,
                }),
            }
        }
        MessagesBody {
            model,
            system,
            messages,
            max_tokens: config.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            temperature: config.temperature,
            top_p: config.top_p,
            stop_sequences: &config.stop,
            stream,
        }
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
    let usage = parsed.usage.unwrap_or_default();
    Ok(LmResponse {
        outputs: vec![text],
        usage: Usage {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
        },
        cache_hit: false,
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
        let body = serde_json::to_value(MessagesBody::new(
            "claude",
            &req,
            &LmConfig::default(),
            false,
        ))
        .unwrap();
        assert_eq!(body["system"], "be brief");
        assert_eq!(body["messages"].as_array().unwrap().len(), 3);
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn responses() {
        let r = parse_response(br#"{"content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":5,"output_tokens":1}}"#).unwrap();
        assert_eq!(r.outputs, ["Hi"]);
        assert_eq!(r.usage.prompt_tokens, 5);
        assert!(parse_response(b"{").is_err());
    }
}
