//! One call on the embedded model as the engine decodes it: its prompt tokens, grammar and
//! sampler, and the text of the completion being decoded (stop strings, streaming).

use super::local::{Job, TextSender};
use super::{LmConfig, LmError, LmRequest, LmResponse, MessageRole, ToolCall, ToolChoice, Usage};
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde_json::Value;
use std::sync::Arc;

pub(super) fn fail(what: &str, e: impl std::fmt::Display) -> LmError {
    LmError::Other(format!("llama.cpp {what}: {e}"))
}

/// A call being served: what it asks for and what it has produced so far.
pub(super) struct Call {
    pub job: Job,
    /// The rendered prompt's tokens.
    pub prompt: Vec<LlamaToken>,
    pub max_tokens: usize,
    grammar: Option<String>,
    /// The offered tools, when the reply may be a call.
    tools: Option<Arc<[Value]>>,
    /// Completions asked for (`n`) and the index of the one being decoded.
    n: u32,
    index: u32,
    outputs: Vec<String>,
    tool_calls: Vec<Vec<ToolCall>>,
    completion_tokens: u64,
    pub sampler: LlamaSampler,
    text: Text,
    /// The token sampled last step, to be decoded next (none while prefilling).
    pub next: Option<LlamaToken>,
    /// Waiting for another sequence to prefill a shared prefix: (its slot, tokens to share).
    pub follow: Option<(usize, usize)>,
}

/// What a sampled token did to a call.
pub(super) enum Sampled {
    /// Decode it and go on.
    More,
    /// A completion ended; another one of `n` starts from the prompt.
    Restart,
    /// The call is answered.
    Done(LmResponse),
}

impl Call {
    /// Renders and tokenizes `job`'s request and checks it fits; `None` when it cannot be
    /// served, the error sent to its caller.
    pub fn prepare(
        model: &'static LlamaModel,
        template: Option<&LlamaChatTemplate>,
        job: Job,
        n_ctx: usize,
    ) -> Option<Call> {
        let (prompt, grammar, sampler) = match Self::parts(model, template, &job.request, n_ctx) {
            Ok(parts) => parts,
            Err(e) => {
                let _ = job.reply.send(Err(e));
                return None;
            }
        };
        let request = &job.request;
        let tools = request
            .tools
            .clone()
            .filter(|t| !t.is_empty() && request.tool_choice != Some(ToolChoice::None));
        Some(Call {
            max_tokens: max_tokens(&request.config),
            n: request.config.n.unwrap_or(1).max(1),
            text: Text::new(&request.config.stop),
            job,
            prompt,
            grammar,
            tools,
            index: 0,
            outputs: Vec::new(),
            tool_calls: Vec::new(),
            completion_tokens: 0,
            sampler,
            next: None,
            follow: None,
        })
    }

    fn parts(
        model: &'static LlamaModel,
        template: Option<&LlamaChatTemplate>,
        request: &LmRequest,
        n_ctx: usize,
    ) -> Result<(Vec<LlamaToken>, Option<String>, LlamaSampler), LmError> {
        let text = render(model, template, request)?;
        let prompt = super::local_vocab::tokenize(model, &text, true)?;
        let max_tokens = max_tokens(&request.config);
        if prompt.is_empty() {
            return Err(LmError::BadRequest {
                status: 400,
                message: "empty prompt".into(),
            });
        }
        if prompt.len() + max_tokens > n_ctx {
            return Err(LmError::ContextWindowExceeded {
                message: format!(
                    "{} prompt tokens + {max_tokens} max_tokens exceed the {n_ctx}-token context",
                    prompt.len(),
                ),
            });
        }
        let grammar = grammar(request)?;
        let sampler = sampler(model, &request.config, grammar.as_deref(), seed(request, 0))?;
        Ok((prompt, grammar, sampler))
    }

    /// Whether the caller has gone away (its answer would be dropped).
    pub fn abandoned(&self) -> bool {
        self.job.reply.is_closed()
    }

    /// Takes a sampled token: ends the completion at an end-of-generation token, a stop
    /// string or `max_tokens`; else keeps it to decode next.
    pub fn sampled(
        &mut self,
        model: &'static LlamaModel,
        token: LlamaToken,
        tags: &mut u64,
    ) -> Result<Sampled, LmError> {
        // Only a lone completion without tools streams (a tool call is not text).
        let streams = self.n == 1 && self.tools.is_none();
        let on_text = self.job.on_text.as_ref().filter(|_| streams);
        let ended = self.max_tokens == 0 || model.is_eog_token(token) || {
            self.completion_tokens += 1;
            let piece = super::local_vocab::piece(model, token);
            self.text
                .push(&piece, &self.job.request.config.stop, on_text)
                || self.text.generated >= self.max_tokens
        };
        if !ended {
            self.next = Some(token);
            return Ok(Sampled::More);
        }
        self.next = None;
        let text = self.text.finish(on_text);
        match &self.tools {
            Some(tools) => {
                *tags += 1;
                let (content, calls) = super::local_tools::split_reply(&text, tools, *tags);
                self.outputs.push(content);
                self.tool_calls.push(calls);
            }
            None => self.outputs.push(text),
        }
        self.index += 1;
        if self.index < self.n {
            self.text = Text::new(&self.job.request.config.stop);
            let seed = seed(&self.job.request, self.index);
            self.sampler = sampler(
                model,
                &self.job.request.config,
                self.grammar.as_deref(),
                seed,
            )?;
            return Ok(Sampled::Restart);
        }
        let prompt_tokens = self.prompt.len() as u64 * u64::from(self.n);
        Ok(Sampled::Done(LmResponse {
            outputs: std::mem::take(&mut self.outputs),
            usage: Usage {
                prompt_tokens,
                completion_tokens: self.completion_tokens,
            },
            cache_hit: false,
            tool_calls: std::mem::take(&mut self.tool_calls),
            reasoning: Vec::new(),
        }))
    }

    /// Prompt and generated token counts, for the model's stats (a call given up on counts the
    /// completions it began).
    pub fn counts(&self) -> (u64, u64) {
        let begun = (self.index + 1).min(self.n);
        (
            self.prompt.len() as u64 * u64::from(begun),
            self.completion_tokens,
        )
    }
}

fn max_tokens(config: &LmConfig) -> usize {
    config.max_tokens.unwrap_or(512) as usize
}

/// A completion's seed: a rollout id gives a sampled call its own draw (as it gives it its own
/// cache entry), so that rollouts at temperature > 0 differ and a rerun repeats them.
fn seed(request: &LmRequest, completion: u32) -> u32 {
    let base = request.config.seed.unwrap_or(0) ^ request.rollout_id.map_or(0, mix);
    base.wrapping_add(u64::from(completion)) as u32
}

/// SplitMix64's finaliser: spreads a rollout id over the seed's bits.
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The prompt text: the model's chat template over the messages (tools added in the Hermes
/// form), or `role: content` lines for a model without one.
fn render(
    model: &'static LlamaModel,
    template: Option<&LlamaChatTemplate>,
    request: &LmRequest,
) -> Result<String, LmError> {
    let with_tools = super::local_tools::messages_with_tools(request);
    let messages = with_tools.as_deref().unwrap_or(&request.messages);
    render_chat(model, template, messages, true)
}

/// `messages` through the model's chat template, ending with the assistant's turn opened when
/// `open_reply` (a prompt) or with the last message closed (a training conversation); without
/// a template, `role: content` lines.
pub(super) fn render_chat(
    model: &LlamaModel,
    template: Option<&LlamaChatTemplate>,
    messages: &[super::Message],
    open_reply: bool,
) -> Result<String, LmError> {
    let role = |r: MessageRole| r.as_str().to_string();
    match template {
        Some(t) => {
            let chat = messages
                .iter()
                .map(|m| LlamaChatMessage::new(role(m.role), m.content.to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LmError::BadRequest {
                    status: 400,
                    message: format!("message with a NUL byte: {e}"),
                })?;
            model
                .apply_chat_template(t, &chat, open_reply)
                .map_err(|e| fail("chat template", e))
        }
        None => {
            let mut p = String::new();
            for m in messages {
                p.push_str(&format!("{}: {}\n", m.role.as_str(), m.content));
            }
            if open_reply {
                p.push_str("assistant: ");
            }
            Ok(p)
        }
    }
}

/// The grammar a reply must follow: offered tools make the reply free unless a call is
/// required (then it is one of them); else the response format's JSON schema.
fn grammar(request: &LmRequest) -> Result<Option<String>, LmError> {
    let tools = request
        .tools
        .as_deref()
        .filter(|t| !t.is_empty() && request.tool_choice != Some(ToolChoice::None));
    let schema = match (tools, request.response_format.as_deref()) {
        (Some(_), _) => super::local_tools::required_call_schema(request).map(|s| s.to_string()),
        (None, Some(super::ResponseFormat::JsonSchema { schema, .. })) => Some(schema.to_string()),
        (None, Some(super::ResponseFormat::JsonObject)) => Some(r#"{"type": "object"}"#.into()),
        (None, None) => None,
    };
    schema
        .map(|s| {
            llama_cpp_2::json_schema_to_grammar(&s).map_err(|e| fail("JSON schema to grammar", e))
        })
        .transpose()
}

fn sampler(
    model: &'static LlamaModel,
    config: &LmConfig,
    grammar: Option<&str>,
    seed: u32,
) -> Result<LlamaSampler, LmError> {
    let mut chain = Vec::new();
    if let Some(g) = grammar {
        chain.push(LlamaSampler::grammar(model, g, "root").map_err(|e| fail("grammar", e))?);
    }
    match config.temperature {
        // llama-server's default chain (top-k 40, top-p 0.95, min-p 0.05, then the
        // temperature): at temperatures above 1 a small model sampled from its whole
        // vocabulary writes noise, and sorting the whole vocabulary per token is slow.
        Some(t) if t > 0.0 => {
            chain.push(LlamaSampler::top_k(40));
            chain.push(LlamaSampler::top_p(config.top_p.unwrap_or(0.95), 1));
            chain.push(LlamaSampler::min_p(0.05, 1));
            chain.push(LlamaSampler::temp(t));
            chain.push(LlamaSampler::dist(seed));
        }
        _ => chain.push(LlamaSampler::greedy()),
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// The bytes of one completion, cut at a stop string, streamed as they become safe to send.
struct Text {
    bytes: Vec<u8>,
    /// Bytes already streamed.
    sent: usize,
    generated: usize,
    /// The longest stop string's length less one: streamed text is held back by this much so
    /// that what is sent never holds the start of a stop string.
    hold: usize,
}

impl Text {
    fn new(stop: &[String]) -> Text {
        let longest = stop.iter().map(String::len).max().unwrap_or(1);
        Text {
            bytes: Vec::new(),
            sent: 0,
            generated: 0,
            hold: longest.saturating_sub(1),
        }
    }

    /// Adds a token's bytes; true when a stop string now ends the text (cut before it). Only
    /// the new bytes and the `hold` before them are searched, not the whole text again.
    fn push(&mut self, piece: &[u8], stop: &[String], on_text: Option<&TextSender>) -> bool {
        self.generated += 1;
        let from = self.bytes.len().saturating_sub(self.hold);
        self.bytes.extend_from_slice(piece);
        let cut = stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| find(&self.bytes[from..], s.as_bytes()).map(|at| from + at))
            .min();
        if let Some(cut) = cut {
            self.bytes.truncate(cut);
            return true;
        }
        if let Some(tx) = on_text {
            // Only the unsent bytes are checked (what was sent ends on a character boundary),
            // so streaming costs the new text, not the whole text again at every token.
            let unsent = &self.bytes[self.sent..];
            let valid = match std::str::from_utf8(unsent) {
                Ok(s) => s,
                Err(e) => std::str::from_utf8(&unsent[..e.valid_up_to()]).unwrap_or(""),
            };
            let mut safe = valid.len().saturating_sub(self.hold);
            while !valid.is_char_boundary(safe) {
                safe -= 1;
            }
            if let Some(piece) = valid.get(..safe).filter(|p| !p.is_empty()) {
                // A dropped receiver (the caller went away) loses nothing the call returns.
                let _ = tx.send(piece.to_string());
                self.sent += safe;
            }
        }
        false
    }

    /// The whole text, its unsent rest streamed.
    fn finish(&mut self, on_text: Option<&TextSender>) -> String {
        let text = String::from_utf8_lossy(&self.bytes).into_owned();
        if let Some(tx) = on_text
            && let Some(piece) = text.get(self.sent..).filter(|p| !p.is_empty())
        {
            // A dropped receiver (the caller went away) loses nothing the call returns.
            let _ = tx.send(piece.to_string());
            self.sent = text.len();
        }
        text
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_stop_string_split_across_tokens_cuts_the_text() {
        let stop = stops(&["[[ ## completed"]);
        let mut text = Text::new(&stop);
        let mut ended = false;
        for piece in ["answer: 4\n\n[[", " ## comp", "leted ## ]]"] {
            ended = text.push(piece.as_bytes(), &stop, None);
            if ended {
                break;
            }
        }
        assert!(ended);
        assert_eq!(text.finish(None), "answer: 4\n\n");
    }

    #[test]
    fn the_earliest_stop_string_wins_and_streaming_holds_back_its_start() {
        let stop = stops(&["END", "ST"]);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut text = Text::new(&stop);
        assert!(!text.push(b"abc S", &stop, Some(&tx)));
        // The last two bytes may start a stop string: held back.
        assert_eq!(rx.try_recv().ok().as_deref(), Some("abc"));
        assert!(text.push(b"TEND", &stop, Some(&tx)));
        assert_eq!(text.finish(Some(&tx)), "abc ");
        assert_eq!(rx.try_recv().ok().as_deref(), Some(" "));
    }

    #[test]
    fn multibyte_text_streams_whole_characters() {
        let stop = Vec::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut text = Text::new(&stop);
        let e = "é".as_bytes();
        text.push(&e[..1], &stop, Some(&tx));
        assert!(rx.try_recv().is_err());
        text.push(&e[1..], &stop, Some(&tx));
        assert_eq!(rx.try_recv().ok().as_deref(), Some("é"));
    }
}
