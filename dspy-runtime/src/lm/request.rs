//! What goes to an LM and what comes back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub use super::tool_call::{ToolCall, ToolChoice};

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// Instructions.
    System,
    /// The user (inputs, demo inputs).
    User,
    /// The model (demo outputs).
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

impl MessageRole {
    /// `system`, `user`, `assistant` or `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::System => "system",
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
        }
    }
}

/// One chat message; the content is shared so cached prompt prefixes cost no copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: MessageRole,
    /// What is said.
    pub content: Arc<str>,
    /// The tool calls of an assistant message (native tool calling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Arc<[ToolCall]>>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Arc<str>>,
}

impl Message {
    /// A message.
    pub fn new(role: MessageRole, content: impl Into<Arc<str>>) -> Message {
        Message {
            role,
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
        }
    }

    /// A user message's content as OpenAI content parts, when it holds media (an image, audio
    /// or a file between DSPy's markers); `None` for plain text and other roles.
    pub fn content_parts(&self) -> Option<Vec<serde_json::Value>> {
        match self.role {
            MessageRole::User => super::content::split(&self.content),
            _ => None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<Arc<str>>) -> Message {
        Message::new(MessageRole::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<Arc<str>>) -> Message {
        Message::new(MessageRole::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<Arc<str>>) -> Message {
        Message::new(MessageRole::Assistant, content)
    }

    /// An assistant message that made these tool calls.
    pub fn assistant_calls(content: impl Into<Arc<str>>, calls: Vec<ToolCall>) -> Message {
        Message {
            tool_calls: Some(calls.into()),
            ..Message::new(MessageRole::Assistant, content)
        }
    }

    /// A tool's result for the call `id`.
    pub fn tool_result(id: impl Into<Arc<str>>, content: impl Into<Arc<str>>) -> Message {
        Message {
            tool_call_id: Some(id.into()),
            ..Message::new(MessageRole::Tool, content)
        }
    }
}

/// Sampling settings of a call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling: sample from the smallest token set whose probability reaches this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Most tokens to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Completions to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stop: Vec<String>,
    /// Seed for reproducible sampling, where supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `Some(false)` bypasses response caches for calls with these settings.
    #[serde(skip)]
    pub cache: Option<bool>,
    /// How hard a reasoning model thinks (`low`, `medium`, `high`; OpenAI's
    /// `reasoning_effort`, Anthropic's thinking budget). With a `Reasoning` output on a model
    /// that reasons natively it defaults to `low`, as in DSPy; `none` keeps the reasoning a
    /// text field the model writes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reasoning_effort: Option<String>,
}

impl LmConfig {
    /// This config with the reasoning effort set (`low`, `medium`, `high`, or `none`).
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> Self {
        self.reasoning_effort = Some(effort.into());
        self
    }

    /// This config with the sampling temperature set.
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }

    /// This config with nucleus sampling's `top_p` set.
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }

    /// This config with at most `n` tokens generated.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// This config asking for `n` completions.
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }

    /// This config with a stop sequence added.
    pub fn stop(mut self, s: impl Into<String>) -> Self {
        self.stop.push(s.into());
        self
    }

    /// This config with the sampling seed set.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// This config with the response cache on or off.
    pub fn cache(mut self, on: bool) -> Self {
        self.cache = Some(on);
        self
    }

    /// These settings, each unset one taken from `defaults` (an LM's own defaults).
    pub fn or_defaults(&self, defaults: &LmConfig) -> LmConfig {
        LmConfig {
            temperature: self.temperature.or(defaults.temperature),
            top_p: self.top_p.or(defaults.top_p),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            n: self.n.or(defaults.n),
            stop: if self.stop.is_empty() {
                defaults.stop.clone()
            } else {
                self.stop.clone()
            },
            seed: self.seed.or(defaults.seed),
            cache: self.cache.or(defaults.cache),
            reasoning_effort: self
                .reasoning_effort
                .clone()
                .or_else(|| defaults.reasoning_effort.clone()),
        }
    }
}

/// Structured output the model is asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object (`{"type": "json_object"}`).
    JsonObject,
    /// JSON matching a schema (`{"type": "json_schema", ...}`).
    JsonSchema {
        /// The schema's name.
        name: String,
        /// The schema.
        schema: Value,
        /// Whether the provider must follow it exactly.
        strict: bool,
    },
}

impl ResponseFormat {
    /// The OpenAI wire form.
    pub fn to_json(&self) -> Value {
        match self {
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => json!({
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": strict},
            }),
        }
    }
}

/// One request to an LM.
#[derive(Clone, Debug, Default)]
pub struct LmRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Sampling settings.
    pub config: Arc<LmConfig>,
    /// Structured output wanted, if any.
    pub response_format: Option<Arc<ResponseFormat>>,
    /// Distinguishes otherwise identical requests (bypasses caches).
    pub rollout_id: Option<u64>,
    /// Tools offered for native tool calling (OpenAI function definitions, as
    /// [`crate::Tool::to_openai`] gives them); `None` offers none.
    pub tools: Option<Arc<[Value]>>,
    /// Whether and which tool the LM must call (with `tools`).
    pub tool_choice: Option<ToolChoice>,
}

impl LmRequest {
    /// The OpenAI chat-completions body for `model`.
    pub fn openai_body(&self, model: &str) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), Value::String(model.into()));
        body.insert(
            "messages".into(),
            Value::Array(
                self.messages
                    .iter()
                    .map(super::openai::wire_message)
                    .collect(),
            ),
        );
        if let Ok(Value::Object(config)) = serde_json::to_value(&*self.config) {
            body.extend(config);
        }
        if let Some(rf) = &self.response_format {
            body.insert("response_format".into(), rf.to_json());
        }
        if let Some(tools) = &self.tools {
            body.insert("tools".into(), Value::Array(tools.to_vec()));
        }
        if let Some(choice) = &self.tool_choice {
            body.insert("tool_choice".into(), choice.to_openai());
        }
        Value::Object(body)
    }
}

/// Token counts of a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens + o.prompt_tokens,
            completion_tokens: self.completion_tokens + o.completion_tokens,
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        *self = *self + o;
    }
}

/// An LM's reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LmResponse {
    /// One text per completion (`n` of them).
    pub outputs: Vec<String>,
    /// Token counts (zero when the reply came from a cache).
    pub usage: Usage,
    /// Whether the reply came from a cache.
    pub cache_hit: bool,
    /// The tool calls of each completion (empty lists, or no lists, when it called none).
    pub tool_calls: Vec<Vec<ToolCall>>,
    /// The model's own reasoning for each completion, when it gives it natively (OpenAI-style
    /// `reasoning_content`, Anthropic thinking blocks); empty when it gave none.
    pub reasoning: Vec<Option<String>>,
}

/// What a model supports beyond plain chat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Accepts `response_format` (JSON mode).
    pub response_format: bool,
    /// Accepts a JSON schema in `response_format` (structured outputs).
    pub response_schema: bool,
    /// Accepts `tools` and answers with native tool calls.
    pub tool_calls: bool,
    /// Reasons natively and returns its reasoning (`reasoning_effort`), so a `Reasoning`
    /// output is filled from it rather than asked for as text.
    pub reasoning: bool,
}

impl Capabilities {
    /// JSON mode, structured outputs and tool calls, as OpenAI's and Anthropic's current
    /// models have.
    pub fn structured() -> Capabilities {
        Capabilities {
            response_format: true,
            response_schema: true,
            tool_calls: true,
            reasoning: false,
        }
    }

    /// The same capabilities, with native reasoning on or off (a reasoning model: OpenAI's o
    /// and gpt-5 series, DeepSeek-R1 or Qwen3 behind llama-server, Claude with thinking).
    pub fn with_reasoning(mut self, on: bool) -> Capabilities {
        self.reasoning = on;
        self
    }

    /// Native tool calling only (an OpenAI-compatible server such as `llama-server --jinja`
    /// or vLLM with a tool parser).
    pub fn tool_calls() -> Capabilities {
        Capabilities {
            tool_calls: true,
            ..Capabilities::default()
        }
    }
}
