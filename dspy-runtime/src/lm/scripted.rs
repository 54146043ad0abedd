//! A test double: an LM that replies from a script and records what it was sent.

use super::{
    BoxFuture, Capabilities, LanguageModel, LmError, LmRequest, LmResponse, ToolCall, Usage,
};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

/// An LM for tests: returns queued replies in order and records every request.
///
/// Clones share the same script and record, so keep one to inspect after handing one to
/// `dspy::configure`. [`ScriptedLm::fixed`] repeats one reply forever and records nothing
/// (for benchmarks); [`ScriptedLm::keyed`] answers by what the last user message contains
/// (for concurrent callers: evaluations, bootstrapping). Usage is estimated as one token per
/// four bytes.
#[derive(Clone)]
pub struct ScriptedLm {
    inner: Arc<Inner>,
}

struct Inner {
    model: String,
    capabilities: Capabilities,
    fixed: Option<String>,
    keyed: Vec<(String, String)>,
    script: Mutex<VecDeque<Result<Reply, LmError>>>,
    /// Chars per piece when streaming (0: the whole reply at once).
    piece: std::sync::atomic::AtomicUsize,
    requests: Mutex<Vec<LmRequest>>,
}

/// A queued reply: its text and the tool calls made beside it.
type Reply = (String, Vec<ToolCall>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ScriptedLm {
    /// An LM that returns these replies, one per call, then fails.
    pub fn new<I, S>(replies: I) -> ScriptedLm
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScriptedLm::build(
            None,
            replies
                .into_iter()
                .map(|r| Ok((r.into(), Vec::new())))
                .collect(),
        )
    }

    /// An LM that always returns `reply` and records nothing.
    pub fn fixed(reply: impl Into<String>) -> ScriptedLm {
        ScriptedLm::build(Some(reply.into()), VecDeque::new())
    }

    /// An LM that answers each request with the reply of the first key (in the order given)
    /// that its last user message contains, in any order and as often as asked (DSPy's
    /// `DummyLM` with a dict); a request no key matches fails, naming the keys. Records every
    /// request.
    pub fn keyed<I, K, R>(replies: I) -> ScriptedLm
    where
        I: IntoIterator<Item = (K, R)>,
        K: Into<String>,
        R: Into<String>,
    {
        let mut lm = ScriptedLm::build(None, VecDeque::new());
        if let Some(inner) = Arc::get_mut(&mut lm.inner) {
            inner.keyed = replies
                .into_iter()
                .map(|(k, r)| (k.into(), r.into()))
                .collect();
        }
        lm
    }

    fn build(fixed: Option<String>, script: VecDeque<Result<Reply, LmError>>) -> ScriptedLm {
        ScriptedLm {
            inner: Arc::new(Inner {
                model: "scripted".into(),
                capabilities: Capabilities::default(),
                fixed,
                keyed: Vec::new(),
                script: Mutex::new(script),
                requests: Mutex::new(Vec::new()),
                piece: Default::default(),
            }),
        }
    }

    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> ScriptedLm {
        let mut inner = Inner {
            model: self.inner.model.clone(),
            capabilities: self.inner.capabilities,
            fixed: self.inner.fixed.clone(),
            keyed: self.inner.keyed.clone(),
            script: Mutex::new(std::mem::take(&mut *lock(&self.inner.script))),
            requests: Mutex::new(std::mem::take(&mut *lock(&self.inner.requests))),
            piece: self.inner.piece.load(Ordering::Relaxed).into(),
        };
        f(&mut inner);
        ScriptedLm {
            inner: Arc::new(inner),
        }
    }

    /// The same script under another model name (e.g. `gpt-4o-mini`).
    pub fn with_model(self, model: impl Into<String>) -> ScriptedLm {
        let model = model.into();
        self.rebuild(|i| i.model = model)
    }

    /// The same script with other capabilities (e.g. structured outputs).
    pub fn with_capabilities(self, capabilities: Capabilities) -> ScriptedLm {
        self.rebuild(|i| i.capabilities = capabilities)
    }

    /// The same script, streamed (`complete_streaming`) in pieces of `chars` characters, each
    /// after a yield to the scheduler, as a server's events arrive.
    pub fn streaming(self, chars: usize) -> ScriptedLm {
        self.inner.piece.store(chars, Ordering::Relaxed);
        self
    }

    /// Queues another reply.
    pub fn push(&self, reply: impl Into<String>) {
        lock(&self.inner.script).push_back(Ok((reply.into(), Vec::new())));
    }

    /// Queues a reply that makes these native tool calls beside its text.
    pub fn push_calls(&self, reply: impl Into<String>, calls: Vec<ToolCall>) {
        lock(&self.inner.script).push_back(Ok((reply.into(), calls)));
    }

    /// Queues a failure.
    pub fn push_error(&self, error: LmError) {
        lock(&self.inner.script).push_back(Err(error));
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LmRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Replies not yet used.
    pub fn remaining(&self) -> usize {
        lock(&self.inner.script).len()
    }
}

fn estimate_tokens(bytes: usize) -> u64 {
    bytes.div_ceil(4) as u64
}

impl LanguageModel for ScriptedLm {
    fn model(&self) -> &str {
        &self.inner.model
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let prompt_bytes: usize = request.messages.iter().map(|m| m.content.len()).sum();
        let reply = match &self.inner.fixed {
            Some(text) => Ok((text.clone(), Vec::new())),
            None if !self.inner.keyed.is_empty() => {
                let last = request
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role == super::MessageRole::User)
                    .map_or("", |m| &*m.content);
                let found = self
                    .inner
                    .keyed
                    .iter()
                    .find(|(k, _)| last.contains(k.as_str()))
                    .map(|(_, r)| (r.clone(), Vec::new()));
                lock(&self.inner.requests).push(request);
                found.ok_or_else(|| {
                    let keys: Vec<&str> = self.inner.keyed.iter().map(|(k, _)| k.as_str()).collect();
                    LmError::Other(format!(
                        "ScriptedLm::keyed: the last user message contains none of the keys {keys:?}"
                    ))
                })
            }
            None => {
                lock(&self.inner.requests).push(request);
                lock(&self.inner.script)
                    .pop_front()
                    .unwrap_or_else(|| Err(LmError::Other("ScriptedLm has no replies left".into())))
            }
        };
        Box::pin(async move {
            let (text, calls) = reply?;
            let usage = Usage {
                prompt_tokens: estimate_tokens(prompt_bytes),
                completion_tokens: estimate_tokens(text.len()),
            };
            Ok(LmResponse {
                outputs: vec![text],
                usage,
                cache_hit: false,
                tool_calls: if calls.is_empty() {
                    Vec::new()
                } else {
                    vec![calls]
                },
                reasoning: Vec::new(),
            })
        })
    }

    fn complete_streaming<'a>(
        &'a self,
        request: LmRequest,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<LmResponse, LmError>> {
        Box::pin(async move {
            let response = self.complete(request).await?;
            let text = response.outputs.first().map_or("", String::as_str);
            let piece = self.inner.piece.load(Ordering::Relaxed);
            if piece == 0 {
                on_text(text);
                return Ok(response);
            }
            let mut starts: Vec<usize> =
                text.char_indices().map(|(i, _)| i).step_by(piece).collect();
            starts.push(text.len());
            for w in starts.windows(2) {
                tokio::task::yield_now().await;
                on_text(&text[w[0]..w[1]]);
            }
            Ok(response)
        })
    }
}
