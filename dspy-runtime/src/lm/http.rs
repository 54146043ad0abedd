//! `HttpLm`: an LM behind an HTTP API, chosen by a DSPy-style model string
//! (`openai/gpt-4o-mini`, `anthropic/claude-…`, or any OpenAI-compatible server via an
//! `api_base`), with retries, limits, the response cache, usage, cost, budget and history.

use super::cache::{Cache, cache_key};
use super::history::{History, HistoryEntry};
use super::prefix_gate::PrefixGate;
use super::retry::RetryPolicy;
use super::secret::ApiKey;
use super::sse::SseBuffer;
use super::transport::{
    Auth, DEFAULT_MAX_RESPONSE_BYTES, LmStats, RateLimiter, Transport, shared_client,
};
use super::usage::{Budget, Price};
use super::{
    BoxFuture, Capabilities, LanguageModel, LmConfig, LmError, LmRequest, LmResponse, Usage,
    anthropic, openai,
};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// Which wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI chat completions (OpenAI, vLLM, SGLang, Ollama, llama-server, LiteLLM proxies).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

static CACHE_ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the response cache on or off for every LM (per LM: [`HttpLmBuilder::cache`]; per
/// call: `LmConfig::cache`).
pub fn set_cache_enabled(enabled: bool) {
    CACHE_ENABLED.store(enabled, Ordering::Relaxed);
}

/// An LM served over HTTP. Cheap to clone; clones share limits, cache, stats and history.
#[derive(Clone)]
pub struct HttpLm {
    inner: Arc<Inner>,
}

struct Inner {
    model: String,
    wire_model: String,
    provider: Provider,
    transport: Transport,
    capabilities: Capabilities,
    defaults: LmConfig,
    cache: CacheChoice,
    history: History,
    price: Option<Price>,
    budget: Option<Arc<Budget>>,
    prefix_gate: Option<PrefixGate>,
}

/// Builds an [`HttpLm`]: `HttpLm::builder("openai/gpt-4o-mini").build()?`.
#[derive(Clone)]
pub struct HttpLmBuilder {
    model: String,
    api_base: Option<String>,
    api_key: Option<ApiKey>,
    send_env_key: bool,
    capabilities: Option<Capabilities>,
    defaults: LmConfig,
    retry: RetryPolicy,
    timeout: Duration,
    max_in_flight: usize,
    rpm: Option<u32>,
    tpm: Option<u64>,
    cache: CacheChoice,
    history: usize,
    price: Option<Price>,
    budget: Option<Arc<Budget>>,
    max_response_bytes: usize,
    lead_new_prefixes: bool,
}

#[derive(Clone)]
enum CacheChoice {
    Global,
    Off,
    Custom(Arc<Cache>),
}

impl HttpLm {
    /// A builder for `model`, e.g. `openai/gpt-4o-mini`, `anthropic/claude-3-5-haiku-latest`,
    /// or `hosted_vllm/my-model` with [`HttpLmBuilder::api_base`].
    pub fn builder(model: impl Into<String>) -> HttpLmBuilder {
        HttpLmBuilder {
            model: model.into(),
            api_base: None,
            api_key: None,
            send_env_key: false,
            capabilities: None,
            defaults: LmConfig::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(120),
            max_in_flight: 64,
            rpm: None,
            tpm: None,
            cache: CacheChoice::Global,
            history: 1_000,
            price: None,
            budget: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            lead_new_prefixes: false,
        }
    }

    /// An LM from `DSPY_MODEL`, `DSPY_API_BASE` if set, and `DSPY_API_KEY` if set (the key
    /// for that base, sent to it). Without `DSPY_API_KEY` the provider's variable
    /// (`OPENAI_API_KEY`, ...) is used, but only for the provider's own endpoint.
    pub fn from_env() -> Result<HttpLm, LmError> {
        let model = std::env::var("DSPY_MODEL").map_err(|_| {
            LmError::Config("set DSPY_MODEL (e.g. openai/gpt-4o-mini) to choose an LM".into())
        })?;
        let mut b = HttpLm::builder(model);
        if let Ok(base) = std::env::var("DSPY_API_BASE") {
            b = b.api_base(base);
        }
        if let Some(key) = ApiKey::from_env("DSPY_API_KEY") {
            b.api_key = Some(key);
        }
        b.build()
    }

    /// The provider's wire format.
    pub fn provider(&self) -> Provider {
        self.inner.provider
    }

    /// Requests, retries, cache hits and failures so far.
    pub fn stats(&self) -> &LmStats {
        &self.inner.transport.stats
    }

    /// This LM's history of calls.
    pub fn history(&self) -> &History {
        &self.inner.history
    }

    /// The last `n` calls in DSPy's `inspect_history` layout.
    pub fn inspect_history(&self, n: usize) -> String {
        self.inner.history.render(n)
    }

    /// The response cache in use, if any (the process-wide one is opened here if it is not
    /// yet: prefer calling this off async threads).
    pub fn cache(&self) -> Option<Arc<Cache>> {
        match &self.inner.cache {
            CacheChoice::Off => None,
            CacheChoice::Global => Some(Cache::global()),
            CacheChoice::Custom(c) => Some(c.clone()),
        }
    }

    fn body(&self, request: &LmRequest, stream: bool) -> Result<Bytes, LmError> {
        let i = &self.inner;
        let config = request.config.or_defaults(&i.defaults);
        let bytes = match i.provider {
            Provider::OpenAi => {
                super::content::check_openai(&request.messages)?;
                serde_json::to_vec(&openai::ChatBody::new(
                    &i.wire_model,
                    request,
                    &config,
                    stream,
                ))
            }
            Provider::Anthropic => {
                if config.n.is_some_and(|n| n > 1) {
                    return Err(LmError::Config(
                        "Anthropic's Messages API returns one completion per call (n > 1)".into(),
                    ));
                }
                serde_json::to_vec(&anthropic::MessagesBody::new(
                    &i.wire_model,
                    request,
                    &config,
                    stream,
                )?)
            }
        };
        bytes
            .map(Bytes::from)
            .map_err(|e| LmError::Other(format!("cannot encode the request: {e}")))
    }

    async fn fetch(&self, body: Bytes) -> Result<LmResponse, LmError> {
        let est_tokens = body.len() as u64 / 4;
        let parse = match self.inner.provider {
            Provider::OpenAi => openai::parse_response,
            Provider::Anthropic => anthropic::parse_response,
        };
        self.inner.transport.post(body, est_tokens, parse).await
    }

    async fn complete_inner(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let i = &self.inner;
        if let Some(b) = &i.budget {
            b.check()?;
        }
        let started = Instant::now();
        let body = self.body(&request, false)?;
        let use_cache = CACHE_ENABLED.load(Ordering::Relaxed)
            && request.config.cache.or(i.defaults.cache) != Some(false);
        let cache = match (&i.cache, use_cache) {
            (CacheChoice::Custom(c), true) => Some(c.clone()),
            // Opened on first use, off the async threads, not when the LM is built.
            (CacheChoice::Global, true) => Some(Cache::global_async().await),
            _ => None,
        };
        // The key before the body moves into the request.
        let cache = cache.map(|c| (c, cache_key(&i.model, &body, request.rollout_id)));
        let fetch = async {
            let fetch = self.fetch(body);
            match &i.prefix_gate {
                Some(gate) => gate.run(&i.model, &request.messages, fetch).await,
                None => fetch.await,
            }
        };
        let (result, cache_hit) = match cache {
            Some((cache, key)) => cache.get_or_fetch(key, fetch).await,
            None => (fetch.await, false),
        };
        let mut response = result?;
        let span = tracing::Span::current();
        if cache_hit {
            response.usage = Usage::default();
            response.cache_hit = true;
            i.transport.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        let cost = i.price.map(|p| p.cost(response.usage));
        if let Some(b) = &i.budget {
            b.spend(response.usage, cost);
        }
        span.record("gen_ai.usage.input_tokens", response.usage.prompt_tokens);
        span.record(
            "gen_ai.usage.output_tokens",
            response.usage.completion_tokens,
        );
        span.record("dspy.cache_hit", cache_hit);
        span.record("dspy.latency_ms", started.elapsed().as_secs_f64() * 1e3);
        if i.history.capacity() > 0 {
            i.history.record(Arc::new(HistoryEntry {
                timestamp: SystemTime::now(),
                model: i.model.clone(),
                messages: request.messages,
                outputs: response.outputs.clone(),
                usage: response.usage,
                cost,
                cache_hit,
                latency: started.elapsed(),
            }));
        }
        Ok(response)
    }

    /// [`LanguageModel::complete_streaming`]: streams the reply (no cache, no retry after the
    /// first byte), with the budget, usage and history of a plain call.
    async fn complete_streaming_inner(
        &self,
        request: LmRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<LmResponse, LmError> {
        let i = &self.inner;
        let started = Instant::now();
        let mut stream = self.stream(request.clone()).await?;
        let mut text = String::new();
        let mut usage = Usage::default();
        let mut failed = None;
        while let Some(delta) = stream.next().await {
            let delta = match delta {
                Ok(d) => d,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            if !delta.text.is_empty() {
                on_text(&delta.text);
                text.push_str(&delta.text);
            }
            if let Some(u) = delta.usage {
                usage += u;
            }
        }
        let cost = i.price.map(|p| p.cost(usage));
        // What a stream used is spent, whether or not it ended well.
        if let Some(b) = &i.budget {
            b.spend(usage, cost);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if i.history.capacity() > 0 {
            i.history.record(Arc::new(HistoryEntry {
                timestamp: SystemTime::now(),
                model: i.model.clone(),
                messages: request.messages,
                outputs: vec![text.clone()],
                usage,
                cost,
                cache_hit: false,
                latency: started.elapsed(),
            }));
        }
        Ok(LmResponse {
            outputs: vec![text],
            usage,
            ..LmResponse::default()
        })
    }

    /// Streams one completion as text deltas (no cache, no retry after the first byte).
    pub async fn stream(&self, request: LmRequest) -> Result<TextStream, LmError> {
        if let Some(b) = &self.inner.budget {
            b.check()?;
        }
        let body = self.body(&request, true)?;
        let response = self.inner.transport.open_stream(body).await?;
        Ok(TextStream {
            response,
            provider: self.inner.provider,
            events: SseBuffer::new(self.inner.transport.max_body),
            pending: std::collections::VecDeque::new(),
            done: false,
            finished: false,
            lm: self.clone(),
        })
    }
}

impl LanguageModel for HttpLm {
    fn model(&self) -> &str {
        &self.inner.model
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    fn cost(&self, usage: Usage) -> Option<f64> {
        self.inner.price.map(|p| p.cost(usage))
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let span = tracing::info_span!(
            "chat",
            otel.name = format!("chat {}", self.inner.wire_model),
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = match self.inner.provider { Provider::OpenAi => "openai", Provider::Anthropic => "anthropic" },
            gen_ai.request.model = %self.inner.wire_model,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            dspy.cache_hit = tracing::field::Empty,
            dspy.latency_ms = tracing::field::Empty,
        );
        Box::pin(self.complete_inner(request).instrument(span))
    }

    fn complete_streaming<'a>(
        &'a self,
        request: LmRequest,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<LmResponse, LmError>> {
        let span = tracing::info_span!(
            "chat",
            otel.name = format!("chat {}", self.inner.wire_model),
            gen_ai.operation.name = "chat",
            gen_ai.request.model = %self.inner.wire_model,
            dspy.stream = true,
        );
        Box::pin(
            self.complete_streaming_inner(request, on_text)
                .instrument(span),
        )
    }
}

/// A streamed completion: call [`TextStream::next`] until it returns `None`.
pub struct TextStream {
    response: reqwest::Response,
    provider: Provider,
    events: SseBuffer,
    pending: std::collections::VecDeque<Delta>,
    /// The end marker came (`[DONE]`, `message_stop`): nothing more is read.
    done: bool,
    /// An event said why the reply finished (a finish reason), which tells a finished stream
    /// without an end marker from a cut one.
    finished: bool,
    lm: HttpLm,
}

/// One piece of a streamed completion.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    /// Text to append (may be empty when only usage came).
    pub text: String,
    /// Token counts, on the chunks that carry them.
    pub usage: Option<Usage>,
}

impl TextStream {
    /// The next delta, `None` at the end, or an error (a broken stream is an error, not an end).
    pub async fn next(&mut self) -> Option<Result<Delta, LmError>> {
        loop {
            if let Some(d) = self.pending.pop_front() {
                return Some(Ok(d));
            }
            if self.done {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    self.events.push(&chunk);
                    if let Err(e) = self.drain_events() {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Ok(None) => {
                    self.done = true;
                    if !self.events.rest_is_blank() {
                        return Some(Err(LmError::InvalidResponse(
                            "stream ended inside an event".into(),
                        )));
                    }
                    // The connection closed before the end marker: a reply cut short, unless
                    // its last chunk said why it finished (servers that send no `[DONE]`).
                    if !self.finished {
                        return Some(Err(LmError::Transport(
                            "the stream stopped before its end (no end marker, no finish reason)"
                                .into(),
                        )));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.lm.inner.transport.transport_error(e)));
                }
            }
        }
    }

    /// Reads the whole stream into one text and the usage reported.
    pub async fn collect(mut self) -> Result<(String, Usage), LmError> {
        let mut text = String::new();
        let mut usage = Usage::default();
        while let Some(d) = self.next().await {
            let d = d?;
            text.push_str(&d.text);
            if let Some(u) = d.usage {
                usage += u;
            }
        }
        Ok((text, usage))
    }

    /// Moves complete server-sent events from the buffer to `pending`.
    fn drain_events(&mut self) -> Result<(), LmError> {
        while let Some(event) = self.events.next_event()? {
            self.finished |= finished(self.provider, event);
            if read_event(self.provider, event, &mut self.done, &mut self.pending)? {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Whether `event` says the reply finished: a finish reason (OpenAI) or the message's end
/// (Anthropic). Parsed only when it names a finish reason that is not `null`.
fn finished(provider: Provider, event: &[u8]) -> bool {
    let text = String::from_utf8_lossy(event);
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .any(|data| match provider {
            Provider::OpenAi => {
                data.contains("finish_reason")
                    && !data.contains("\"finish_reason\":null")
                    && serde_json::from_str::<serde_json::Value>(data.trim())
                        .ok()
                        .and_then(|v| v.pointer("/choices/0/finish_reason").cloned())
                        .is_some_and(|r| !r.is_null())
            }
            Provider::Anthropic => {
                data.contains("\"message_stop\"") || data.contains("\"stop_reason\":\"")
            }
        })
}

/// Reads one server-sent event's `data:` lines into `pending`, setting `done` at the stream's
/// end marker; `true` at `[DONE]`, after which nothing more is read.
pub(crate) fn read_event(
    provider: Provider,
    event: &[u8],
    done: &mut bool,
    pending: &mut std::collections::VecDeque<Delta>,
) -> Result<bool, LmError> {
    let text = String::from_utf8_lossy(event);
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if data == "[DONE]" {
            *done = true;
            return Ok(true);
        }
        let delta = match provider {
            Provider::OpenAi => openai::stream_delta(data)?,
            Provider::Anthropic => {
                if data.contains("\"message_stop\"") {
                    *done = true;
                }
                anthropic::stream_delta(data)?
            }
        };
        if let Some((text, usage)) = delta {
            pending.push_back(Delta { text, usage });
        }
    }
    Ok(false)
}

impl HttpLmBuilder {
    /// The server's base URL (for OpenAI-compatible servers, up to and including `/v1`).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// The API key (default: `OPENAI_API_KEY` or `ANTHROPIC_API_KEY` from the environment,
    /// sent only to the provider's own endpoint; see [`HttpLmBuilder::send_env_key`]).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Send the provider's key from the environment (`OPENAI_API_KEY`, ...) to a custom
    /// [`api_base`](HttpLmBuilder::api_base) too. Off by default, so a key meant for the
    /// provider never reaches another server unless asked; an explicit
    /// [`api_key`](HttpLmBuilder::api_key) is always sent.
    pub fn send_env_key(mut self, send: bool) -> Self {
        self.send_env_key = send;
        self
    }

    /// What the model supports (default: structured outputs for OpenAI's and Anthropic's own
    /// APIs, none for other servers, as DSPy assumes for unknown models).
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }

    /// Default sampling settings for every call (a call's own settings win).
    pub fn defaults(mut self, config: LmConfig) -> Self {
        self.defaults = config;
        self
    }

    /// Default temperature.
    pub fn temperature(mut self, t: f32) -> Self {
        self.defaults.temperature = Some(t);
        self
    }

    /// Default `max_tokens`.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.defaults.max_tokens = Some(n);
        self
    }

    /// How failures are retried (default: 3 retries, 0.5 s doubling to 30 s, with jitter).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Per-request timeout (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether a (non-streaming) call whose prompt prefix (every message but the last) is new
    /// waits while the first call with that prefix is in flight (off): a server with a prompt cache
    /// (llama-server, vLLM, SGLang) then prefills a new prefix (instructions, demos) once,
    /// not once per concurrent call, which on a busy local server is faster overall. Costs
    /// one call's latency per new prefix.
    pub fn lead_new_prefixes(mut self, on: bool) -> Self {
        self.lead_new_prefixes = on;
        self
    }

    /// Most requests in flight at once (default 64).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Requests per minute at most.
    pub fn rpm(mut self, n: u32) -> Self {
        self.rpm = Some(n);
        self
    }

    /// Tokens per minute at most (estimated from the request size).
    pub fn tpm(mut self, n: u64) -> Self {
        self.tpm = Some(n);
        self
    }

    /// Use the process-wide cache (`true`, the default) or none (`false`).
    pub fn cache(mut self, enabled: bool) -> Self {
        self.cache = if enabled {
            CacheChoice::Global
        } else {
            CacheChoice::Off
        };
        self
    }

    /// Use this cache.
    pub fn with_cache(mut self, cache: Arc<Cache>) -> Self {
        self.cache = CacheChoice::Custom(cache);
        self
    }

    /// Calls kept in this LM's history (default 1,000; 0 keeps none).
    pub fn history(mut self, capacity: usize) -> Self {
        self.history = capacity;
        self
    }

    /// Dollars per million prompt and completion tokens, for cost and budgets.
    pub fn price(mut self, input_per_million: f64, output_per_million: f64) -> Self {
        self.price = Some(Price {
            input_per_million,
            output_per_million,
        });
        self
    }

    /// A price from a table, if it lists this model.
    pub fn prices(mut self, table: &super::usage::PriceTable) -> Self {
        if let Some(p) = table.get(&self.model) {
            self.price = Some(p);
        }
        self
    }

    /// A spending limit (shareable between LMs).
    pub fn budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The largest reply read, in bytes: a response body, or one event of a stream (default
    /// 32 MiB). A bigger one fails with [`LmError::ResponseTooLarge`].
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Builds the LM; fails if the provider needs a key or base URL it does not have.
    pub fn build(self) -> Result<HttpLm, LmError> {
        let (prefix, wire_model) = match self.model.split_once('/') {
            Some((p, m)) if !m.is_empty() => (p.to_string(), m.to_string()),
            _ => ("openai".to_string(), self.model.clone()),
        };
        let (provider, default_base, key_var) = match prefix.as_str() {
            "openai" => (
                Provider::OpenAi,
                Some("https://api.openai.com/v1"),
                "OPENAI_API_KEY",
            ),
            "anthropic" => (
                Provider::Anthropic,
                Some("https://api.anthropic.com"),
                "ANTHROPIC_API_KEY",
            ),
            _ => (Provider::OpenAi, None, "OPENAI_API_KEY"),
        };
        let custom_base = self.api_base.is_some();
        // The environment's key goes only where it was meant to: the provider's own endpoint.
        let to_provider = match (&self.api_base, default_base) {
            (None, _) => true,
            (Some(b), Some(d)) => b.trim_end_matches('/') == d,
            (Some(_), None) => false,
        };
        let base = match (self.api_base, default_base) {
            (Some(b), _) => b,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(LmError::Config(format!(
                    "model `{}` has no default endpoint: give its server's URL with .api_base(\"http://host:port/v1\")",
                    self.model
                )));
            }
        };
        let (key, auth_hint) = super::secret::choose_key(
            self.api_key,
            ApiKey::from_env(key_var),
            key_var,
            to_provider || self.send_env_key,
        );
        if key.is_none() && !custom_base {
            return Err(LmError::Config(format!(
                "no API key for `{}`: set {key_var} or call .api_key(...)",
                self.model
            )));
        }
        let base = base.trim_end_matches('/');
        let (url, auth) = match provider {
            Provider::OpenAi => (format!("{base}/chat/completions"), Auth::Bearer),
            Provider::Anthropic => (format!("{base}/v1/messages"), Auth::Anthropic),
        };
        let capabilities =
            self.capabilities
                .unwrap_or(if custom_base && provider == Provider::OpenAi {
                    Capabilities::default()
                } else {
                    Capabilities::structured()
                });
        let transport = Transport {
            url,
            auth,
            key,
            auth_hint,
            client: shared_client()?,
            timeout: self.timeout,
            retry: self.retry,
            in_flight: Arc::new(Semaphore::new(self.max_in_flight)),
            rate: RateLimiter::new(self.rpm, self.tpm),
            stats: Arc::new(LmStats::default()),
            max_body: self.max_response_bytes,
        };
        Ok(HttpLm {
            inner: Arc::new(Inner {
                model: self.model,
                wire_model,
                provider,
                transport,
                capabilities,
                defaults: self.defaults,
                cache: self.cache,
                history: History::new(self.history),
                price: self.price,
                budget: self.budget,
                prefix_gate: self.lead_new_prefixes.then(PrefixGate::default),
            }),
        })
    }
}

impl std::fmt::Debug for HttpLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpLm")
            .field("model", &self.inner.model)
            .field("provider", &self.inner.provider)
            .field("url", &self.inner.transport.url)
            .field("key", &self.inner.transport.key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_strings_choose_provider_and_endpoint() {
        let lm = HttpLm::builder("openai/gpt-4o-mini")
            .api_key("sk-test")
            .cache(false)
            .build()
            .unwrap();
        assert_eq!(lm.provider(), Provider::OpenAi);
        assert_eq!(
            lm.inner.transport.url,
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(lm.inner.wire_model, "gpt-4o-mini");
        let a = HttpLm::builder("anthropic/claude-x")
            .api_key("k")
            .cache(false)
            .build()
            .unwrap();
        assert_eq!(
            a.inner.transport.url,
            "https://api.anthropic.com/v1/messages"
        );
        let local = HttpLm::builder("hosted_vllm/qwen")
            .api_base("http://127.0.0.1:8000/v1/")
            .cache(false)
            .build()
            .unwrap();
        assert_eq!(
            local.inner.transport.url,
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(local.capabilities(), Capabilities::default());
        let e = HttpLm::builder("ollama_chat/llama3").build().unwrap_err();
        assert!(e.to_string().contains(".api_base("), "{e}");
    }

    #[test]
    fn keys_never_show_in_debug() {
        let lm = HttpLm::builder("openai/gpt-4o-mini")
            .api_key("sk-secret-123")
            .cache(false)
            .build()
            .unwrap();
        let dbg = format!("{lm:?}");
        assert!(
            !dbg.contains("sk-secret-123") && dbg.contains("ApiKey(***)"),
            "{dbg}"
        );
    }
}
