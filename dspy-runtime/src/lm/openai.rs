//! The OpenAI chat-completions wire format (also spoken by vLLM, SGLang, Ollama, llama.cpp's
//! llama-server and LiteLLM proxies).

use super::{LmConfig, LmError, LmRequest, LmResponse, Message, ResponseFormat, ToolCall, Usage};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

/// The request body, serialized straight from the request (no JSON tree in between).
#[derive(Serialize)]
pub(crate) struct ChatBody<'a> {
    pub model: &'a str,
    pub messages: WireMessages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<&'a ResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<&'a [Value]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Asks a stream for its token counts (in its last chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
}

/// Messages in OpenAI's wire shape: `role` and `content`, and an assistant's `tool_calls` or
/// a tool result's `tool_call_id` when there are any.
pub(crate) struct WireMessages<'a>(pub &'a [Message]);

impl Serialize for WireMessages<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Wire))
    }
}

struct Wire<'a>(&'a Message);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("role", m.role.as_str())?;
        match m.content_parts() {
            Some(parts) => map.serialize_entry("content", &parts)?,
            None => map.serialize_entry("content", &*m.content)?,
        }
        if let Some(calls) = &m.tool_calls {
            let calls: Vec<Value> = calls.iter().map(ToolCall::to_openai).collect();
            map.serialize_entry("tool_calls", &calls)?;
        }
        if let Some(id) = &m.tool_call_id {
            map.serialize_entry("tool_call_id", &**id)?;
        }
        map.end()
    }
}

/// One message in OpenAI's wire shape, as JSON.
pub(crate) fn wire_message(m: &Message) -> Value {
    serde_json::to_value(Wire(m)).unwrap_or_else(|_| json!({"role": m.role.as_str()}))
}

impl<'a> ChatBody<'a> {
    /// The body for `request` with `config` (the request's settings merged with the LM's).
    pub fn new(model: &'a str, request: &'a LmRequest, config: &'a LmConfig, stream: bool) -> Self {
        ChatBody {
            model,
            messages: WireMessages(&request.messages),
            temperature: config.temperature,
            top_p: config.top_p,
            max_tokens: config.max_tokens,
            n: config.n,
            stop: &config.stop,
            seed: config.seed,
            reasoning_effort: config.reasoning_effort.as_deref(),
            response_format: request.response_format.as_deref(),
            tools: request.tools.as_deref(),
            tool_choice: request.tool_choice.as_ref().map(|c| c.to_openai()),
            stream,
            stream_options: stream.then(|| json!({"include_usage": true})),
        }
    }
}

impl Serialize for ResponseFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    /// The model's reasoning (llama-server, DeepSeek, vLLM: `reasoning_content`; some
    /// gateways: `reasoning`).
    #[serde(default, alias = "reasoning")]
    reasoning_content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    /// A JSON string by the spec; some servers send the object itself.
    #[serde(default)]
    arguments: Option<Value>,
}

impl WireToolCall {
    fn into_call(self) -> Option<ToolCall> {
        let f = self.function?;
        Some(match f.arguments {
            Some(Value::String(text)) => ToolCall::from_openai(self.id, f.name, &text),
            Some(args) => ToolCall {
                id: self.id,
                name: f.name,
                args,
            },
            None => ToolCall::from_openai(self.id, f.name, ""),
        })
    }
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// Reads a chat-completions response body.
pub(crate) fn parse_response(body: &[u8]) -> Result<LmResponse, LmError> {
    let parsed: ChatResponse = decode("a chat completion", body)?;
    if parsed.choices.is_empty() {
        return Err(LmError::InvalidResponse(format!(
            "no choices in the reply: {}",
            snippet(body)
        )));
    }
    let mut outputs = Vec::with_capacity(parsed.choices.len());
    let mut tool_calls = Vec::new();
    let mut reasoning = Vec::new();
    for (i, c) in parsed.choices.into_iter().enumerate() {
        let (content, calls, thought) = match c.message {
            Some(m) => (m.content, m.tool_calls, m.reasoning_content),
            None => (None, None, None),
        };
        if thought.is_some() {
            reasoning.resize(i + 1, None);
            reasoning[i] = thought;
        }
        outputs.push(content.or(c.text).unwrap_or_default());
        if let Some(calls) = calls {
            tool_calls.resize_with(i + 1, Vec::new);
            tool_calls[i] = calls
                .into_iter()
                .filter_map(WireToolCall::into_call)
                .collect();
        }
    }
    let usage = parsed.usage.unwrap_or_default();
    Ok(LmResponse {
        outputs,
        usage: Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        },
        cache_hit: false,
        tool_calls,
        reasoning,
    })
}

/// The text delta of one streamed chunk (`data: {...}`), if it has one.
pub(crate) fn stream_delta(data: &str) -> Result<Option<(String, Option<Usage>)>, LmError> {
    let v: Value = decode("a stream chunk", data.as_bytes())?;
    // The first completion's text (with `n` > 1, each chunk carries one choice and its index).
    let first = v
        .pointer("/choices/0/index")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        == 0;
    let text = v
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
        .filter(|_| first)
        .map(str::to_string);
    let usage = v.get("usage").filter(|u| u.is_object()).map(|u| Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        completion_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    });
    Ok(match (text, usage) {
        (None, None) => None,
        (t, u) => Some((t.unwrap_or_default(), u)),
    })
}

/// The provider's error message from an error body (`{"error": {"message": ...}}`), or the body.
pub(crate) fn error_message(body: &[u8]) -> String {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    v.as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("error"))
        })
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_else(|| snippet(body))
}

/// `bytes` read as JSON of type `T`, or an invalid-response error naming `what` was expected.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<T, LmError> {
    serde_json::from_slice(bytes)
        .map_err(|e| LmError::InvalidResponse(format!("expected {what} ({e}): {}", snippet(bytes))))
}

/// The start of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    crate::error::excerpt(&String::from_utf8_lossy(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::LmConfig;
    use std::sync::Arc;

    #[test]
    fn body_merges_defaults_and_skips_unset() {
        let req = LmRequest {
            messages: vec![Message::user("hi")],
            config: Arc::new(LmConfig {
                temperature: Some(0.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let defaults = LmConfig {
            max_tokens: Some(64),
            temperature: Some(1.0),
            ..Default::default()
        };
        let config = req.config.or_defaults(&defaults);
        let body = serde_json::to_string(&ChatBody::new("m", &req, &config, false)).unwrap();
        assert_eq!(
            body,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.0,"max_tokens":64}"#
        );
        let config = LmConfig::default().reasoning_effort("low");
        let body = serde_json::to_value(ChatBody::new("m", &req, &config, false)).unwrap();
        assert_eq!(body["reasoning_effort"], "low");
    }

    #[test]
    fn tools_go_out_and_tool_calls_come_back() {
        use crate::lm::ToolChoice;
        let call = ToolCall {
            id: Some("c1".into()),
            name: "add".into(),
            args: json!({"a": 1}),
        };
        let req = LmRequest {
            messages: vec![
                Message::user("add"),
                Message::assistant_calls("", vec![call]),
                Message::tool_result("c1", "1"),
            ],
            tools: Some(vec![json!({"type": "function", "function": {"name": "add"}})].into()),
            tool_choice: Some(ToolChoice::Function("add".into())),
            ..Default::default()
        };
        let config = LmConfig::default();
        let body = serde_json::to_value(ChatBody::new("m", &req, &config, false)).unwrap();
        assert_eq!(body, req.openai_body("m"));
        assert_eq!(
            body["messages"][0],
            json!({"role": "user", "content": "add"})
        );
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(
            body["messages"][2],
            json!({"role": "tool", "content": "1", "tool_call_id": "c1"})
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "function", "function": {"name": "add"}})
        );

        let r = parse_response(
            br#"{"choices":[{"message":{"content":null,"tool_calls":[
            {"id":"x","type":"function","function":{"name":"add","arguments":"{\"a\": 2}"}},
            {"id":"y","type":"function","function":{"name":"add","arguments":{"a": 3}}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(r.outputs, [""]);
        let args: Vec<&Value> = r.tool_calls[0].iter().map(|c| &c.args).collect();
        assert_eq!(args, [&json!({"a": 2}), &json!({"a": 3})]);
        assert!(
            parse_response(br#"{"choices":[{"message":{"content":"hi"}}]}"#)
                .unwrap()
                .tool_calls
                .is_empty()
        );
    }

    #[test]
    fn responses_and_their_faults() {
        let r = parse_response(
            br#"{"choices":[{"message":{"content":"No.","reasoning_content":"7 x 13"}}]}"#,
        )
        .unwrap();
        assert_eq!(r.reasoning, [Some("7 x 13".to_string())]);
        let r = parse_response(br#"{"choices":[{"message":{"content":"a"}},{"message":{"content":"b","reasoning":"r"}}]}"#).unwrap();
        assert_eq!(r.reasoning, [None, Some("r".to_string())]);
        let ok = parse_response(br#"{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#).unwrap();
        assert!(ok.reasoning.is_empty());
        assert_eq!(ok.outputs, ["a", "b"]);
        assert_eq!(ok.usage.total_tokens(), 5);
        assert!(
            matches!(parse_response(br#"{"choices":[]}"#), Err(LmError::InvalidResponse(m)) if m.contains("no choices"))
        );
        assert!(matches!(
            parse_response(br#"{"choices":[{"mess"#),
            Err(LmError::InvalidResponse(_))
        ));
        assert_eq!(
            error_message(br#"{"error":{"message":"too long"}}"#),
            "too long"
        );
    }

    #[test]
    fn stream_chunks() {
        let d = stream_delta(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#).unwrap();
        assert_eq!(d, Some(("Hel".to_string(), None)));
        assert_eq!(stream_delta(r#"{"choices":[{"delta":{}}]}"#).unwrap(), None);
        let other = r#"{"choices":[{"index":1,"delta":{"content":"B"}}]}"#;
        assert_eq!(stream_delta(other).unwrap(), None);
    }
}
