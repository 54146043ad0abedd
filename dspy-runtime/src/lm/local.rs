//! The embedded local model: a GGUF model run in-process through llama.cpp (`llama-cpp-2`).
//!
//! One worker thread per model owns the llama.cpp context (contexts are not `Send`); calls
//! queue on a bounded channel and run one at a time. The KV cache keeps the last prompt: a new
//! prompt that shares its prefix (instructions, demos) decodes only the part that differs.

use super::{
    BoxFuture, Capabilities, LanguageModel, LmConfig, LmError, LmRequest, LmResponse, MessageRole,
    Usage,
};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot, watch};

/// The small model for tests and CI (SmolLM2-135M-Instruct Q4_1).
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The main job's model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M).
pub const QWEN_FILE: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
/// The prompt model of the instruction optimizers' runs, Qwen2.5-Coder-1.5B-Instruct
/// (`scripts/fetch-models qwen15`).
pub const QWEN15_FILE: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// Sizes and threads of a local model.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Context window in tokens (prompt plus completion).
    pub n_ctx: u32,
    /// Threads for prefill and decode (default: the machine's available parallelism).
    pub threads: i32,
    /// Calls waiting in the queue before callers wait to enqueue.
    pub queue: usize,
    /// Default sampling settings (a call's own settings win); max_tokens defaults to 512.
    pub defaults: LmConfig,
    /// Keep the last prompt in the KV cache and decode only what a new prompt adds (default
    /// on; off to measure what it saves).
    pub reuse_prefix: bool,
}

impl Default for LocalConfig {
    fn default() -> Self {
        let threads = std::env::var("DSPY_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() as i32)
                    .unwrap_or(2)
            });
        LocalConfig {
            n_ctx: 8192,
            threads,
            queue: 256,
            defaults: LmConfig {
                max_tokens: Some(512),
                ..LmConfig::default()
            },
            reuse_prefix: true,
        }
    }
}

/// An in-process GGUF model. Cheap to clone; every clone (and every `load` of the same file)
/// shares one loaded model and one worker.
#[derive(Clone)]
pub struct LocalLm {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    tx: mpsc::Sender<Job>,
    /// `None` while the worker loads the model, then whether it loaded.
    ready: watch::Receiver<Option<Result<(), String>>>,
    defaults: LmConfig,
    stats: Arc<LocalStats>,
}

/// Token counts of a local model's work, for measuring prefix reuse.
#[derive(Debug, Default)]
pub struct LocalStats {
    /// Prompt tokens of all calls.
    pub prompt_tokens: AtomicU64,
    /// Prompt tokens actually decoded (the rest came from the KV cache).
    pub prefilled_tokens: AtomicU64,
    /// Tokens generated.
    pub generated_tokens: AtomicU64,
}

impl LocalStats {
    /// The share of prompt tokens that came from the KV cache (0 to 1).
    pub fn reuse(&self) -> f64 {
        use std::sync::atomic::Ordering::Relaxed;
        let prompt = self.prompt_tokens.load(Relaxed);
        let prefilled = self.prefilled_tokens.load(Relaxed).min(prompt);
        (prompt - prefilled) as f64 / prompt.max(1) as f64
    }
}

struct Job {
    request: LmRequest,
    reply: oneshot::Sender<Result<LmResponse, LmError>>,
    /// Where the reply's text goes as it is decoded, when streaming.
    on_text: Option<TextSender>,
}

/// The channel a streamed call's text goes through, token by token.
type TextSender = tokio::sync::mpsc::UnboundedSender<String>;

pub(super) fn backend() -> Result<&'static LlamaBackend, LmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LmError::Config(format!("cannot start llama.cpp: {e}")))
}

/// The directory models are looked for in: `DSPY_MODEL_DIR`, else `./models`.
pub fn model_dir() -> PathBuf {
    std::env::var_os("DSPY_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// The path of model `file` in `dir`, or an error naming the command that fetches it.
pub fn locate_in(dir: &Path, file: &str) -> Result<PathBuf, LmError> {
    let path = dir.join(file);
    if path.exists() {
        return Ok(path);
    }
    let which = match file {
        QWEN_FILE => "qwen",
        QWEN15_FILE => "qwen15",
        super::local_embed::MINILM_FILE => "minilm",
        _ => "smollm2",
    };
    Err(LmError::Config(format!(
        "local model {} not found: run `scripts/fetch-models {which}` (or set DSPY_MODEL_DIR)",
        path.display()
    )))
}

impl LocalLm {
    /// The small test model from the model directory.
    pub fn smollm2() -> Result<LocalLm, LmError> {
        Self::named(SMOLLM2_FILE)
    }

    /// The main job's model from the model directory.
    pub fn qwen() -> Result<LocalLm, LmError> {
        Self::named(QWEN_FILE)
    }

    /// The default local model: Qwen if fetched, else SmolLM2.
    pub fn default_model() -> Result<LocalLm, LmError> {
        if model_dir().join(QWEN_FILE).exists() {
            Self::qwen()
        } else {
            Self::smollm2()
        }
    }

    fn named(file: &str) -> Result<LocalLm, LmError> {
        Self::load(locate_in(&model_dir(), file)?, LocalConfig::default())
    }

    /// Loads a GGUF file (once per process: later loads of the same file share it).
    pub fn load(path: impl AsRef<Path>, config: LocalConfig) -> Result<LocalLm, LmError> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, LocalLm>>> = OnceLock::new();
        let path = path.as_ref().to_path_buf();
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        let registry = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
        let mut loaded = registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lm) = loaded.get(&key) {
            return Ok(lm.clone());
        }
        let lm = Self::start(&path, config)?;
        loaded.insert(key, lm.clone());
        Ok(lm)
    }

    /// Loads a separate copy of a GGUF file: its own worker and KV cache (e.g. to compare
    /// configurations side by side).
    pub fn load_separate(path: impl AsRef<Path>, config: LocalConfig) -> Result<LocalLm, LmError> {
        Self::start(path.as_ref(), config)
    }

    fn start(path: &Path, config: LocalConfig) -> Result<LocalLm, LmError> {
        check_gguf(path)?;
        let backend = backend()?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let (ready_tx, ready) = watch::channel(None);
        let stats = Arc::new(LocalStats::default());
        let worker_stats = stats.clone();
        let worker_config = config.clone();
        let worker_path = path.to_path_buf();
        // The model loads on the worker thread, so neither the caller nor an async thread
        // waits for it; the first call (or `ready`) does.
        std::thread::Builder::new()
            .name("dspy-local-lm".into())
            .spawn(move || {
                worker(
                    backend,
                    &worker_path,
                    worker_config,
                    rx,
                    ready_tx,
                    worker_stats,
                )
            })
            .map_err(|e| LmError::Config(format!("cannot start the model worker: {e}")))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
        Ok(LocalLm {
            inner: Arc::new(Inner {
                name: format!("local/{stem}"),
                tx,
                ready,
                defaults: config.defaults,
                stats,
            }),
        })
    }

    /// Waits until the model is loaded; the error says why it could not be. Calls wait for
    /// this themselves: use it to load before the first call, or to report a bad file early.
    pub async fn ready(&self) -> Result<(), LmError> {
        let mut ready = self.inner.ready.clone();
        let loaded = ready
            .wait_for(Option::is_some)
            .await
            .map_err(|_| LmError::Config("the model worker stopped while loading".into()))?;
        match loaded.as_ref() {
            Some(Err(e)) => Err(LmError::Config(e.clone())),
            _ => Ok(()),
        }
    }

    /// Prompt, prefilled and generated token counts so far.
    pub fn stats(&self) -> &LocalStats {
        &self.inner.stats
    }
}

impl LocalLm {
    /// Sends `request` to the worker, with its text to `on_text` as it is decoded.
    async fn run(
        &self,
        mut request: LmRequest,
        on_text: Option<TextSender>,
    ) -> Result<LmResponse, LmError> {
        // An image, audio or file input cannot reach a text model: refused before any
        // decoding.
        super::content::refuse_media(&self.inner.name, &request.messages)?;
        request.config = Arc::new(request.config.or_defaults(&self.inner.defaults));
        let (reply, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Job {
                request,
                reply,
                on_text,
            })
            .await
            .map_err(|_| LmError::Other("the local model's worker has stopped".into()))?;
        rx.await
            .map_err(|_| LmError::Other("the local model's worker dropped the call".into()))?
    }
}

impl LanguageModel for LocalLm {
    fn model(&self) -> &str {
        &self.inner.name
    }

    fn capabilities(&self) -> Capabilities {
        // JSON schemas become grammars, so structured output is exact; tools go in the
        // Hermes form of ChatML models, a required call constrained by a grammar.
        Capabilities::structured()
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        Box::pin(self.run(request, None))
    }

    /// Streams the tokens of a single completion without tools (with `n` > 1 or tools, the
    /// whole text comes at the end).
    fn complete_streaming<'a>(
        &'a self,
        request: LmRequest,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<LmResponse, LmError>> {
        Box::pin(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let mut sent = 0;
            // The text ends when the worker drops the sender, with the call done.
            let drain = async {
                while let Some(text) = rx.recv().await {
                    sent += text.len();
                    on_text(&text);
                }
            };
            let (response, ()) =
                futures_util::future::join(self.run(request, Some(tx)), drain).await;
            let response = response?;
            // What was not streamed (a reply with tools or n > 1) comes whole.
            if let Some(rest) = response.outputs.first().and_then(|t| t.get(sent..))
                && !rest.is_empty()
            {
                on_text(rest);
            }
            Ok(response)
        })
    }
}

/// Checks that `path` is a readable GGUF file (its magic number), before any loading.
pub(super) fn check_gguf(path: &Path) -> Result<(), LmError> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    match read {
        Ok(()) if &magic == b"GGUF" => Ok(()),
        Ok(()) => Err(LmError::Config(format!(
            "cannot load {}: not a GGUF model file (its first bytes are {magic:02x?})",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LmError::Config(format!(
            "cannot load {}: no such model file (scripts/fetch-models fetches the known ones)",
            path.display()
        ))),
        Err(e) => Err(LmError::Config(format!(
            "cannot load {}: {e}",
            path.display()
        ))),
    }
}

/// The worker thread: loads the model, owns the context, answers jobs in order. If the model
/// cannot be loaded, every job gets that error.
fn worker(
    backend: &'static LlamaBackend,
    path: &Path,
    config: LocalConfig,
    mut rx: mpsc::Receiver<Job>,
    ready: watch::Sender<Option<Result<(), String>>>,
    stats: Arc<LocalStats>,
) {
    let loaded = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
        .map_err(|e| format!("cannot load {}: {e}", path.display()))
        .and_then(|model| {
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(config.n_ctx))
                .with_n_seq_max(SLOTS as u32)
                .with_kv_unified(true)
                .with_n_batch(512)
                .with_n_threads(config.threads)
                .with_n_threads_batch(config.threads);
            // The worker lives as long as the process; so does its model.
            let model: &'static LlamaModel = Box::leak(Box::new(model));
            model
                .new_context(backend, params)
                .map(|ctx| (model, ctx))
                .map_err(|e| format!("cannot create a llama.cpp context: {e}"))
        });
    let (model, mut ctx) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            ready.send_replace(Some(Err(e.clone())));
            while let Some(job) = rx.blocking_recv() {
                let _ = job.reply.send(Err(LmError::Config(e.clone())));
            }
            return;
        }
    };
    ready.send_replace(Some(Ok(())));
    let mut session = Session {
        model,
        template: model.chat_template(None).ok(),
        slots: (0..SLOTS)
            .map(|seq| Slot {
                seq: seq as i32,
                tokens: Vec::new(),
                used: 0,
            })
            .collect(),
        clock: 0,
        n_ctx: config.n_ctx as usize,
        reuse_prefix: config.reuse_prefix,
        stats,
        calls: 0,
    };
    while let Some(job) = rx.blocking_recv() {
        let result = session.complete(&mut ctx, &job.request, job.on_text.as_ref());
        if result.is_err() {
            // After a failure the cache contents are unknown: start the next call afresh.
            ctx.clear_kv_cache();
            session.slots.iter_mut().for_each(|s| s.tokens.clear());
        }
        let _ = job.reply.send(result);
    }
}

/// Prompt prefixes kept in the KV cache at once (e.g. ChatAdapter's and its JSON fallback's).
const SLOTS: usize = 2;

/// One KV-cache sequence and the tokens it holds, in order.
struct Slot {
    seq: i32,
    tokens: Vec<LlamaToken>,
    used: u64,
}

struct Session {
    model: &'static LlamaModel,
    template: Option<LlamaChatTemplate>,
    slots: Vec<Slot>,
    clock: u64,
    n_ctx: usize,
    reuse_prefix: bool,
    stats: Arc<LocalStats>,
    /// Completions that offered tools so far (tags their call ids).
    calls: u64,
}

fn fail(what: &str, e: impl std::fmt::Display) -> LmError {
    LmError::Other(format!("llama.cpp {what}: {e}"))
}

impl Session {
    fn prompt(&self, request: &LmRequest) -> Result<String, LmError> {
        let role = |r: MessageRole| r.as_str().to_string();
        let with_tools = super::local_tools::messages_with_tools(request);
        let messages = with_tools.as_deref().unwrap_or(&request.messages);
        match &self.template {
            Some(t) => {
                let chat = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(role(m.role), m.content.to_string()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| LmError::BadRequest {
                        status: 400,
                        message: format!("message with a NUL byte: {e}"),
                    })?;
                self.model
                    .apply_chat_template(t, &chat, true)
                    .map_err(|e| fail("chat template", e))
            }
            None => {
                let mut p = String::new();
                for m in messages {
                    p.push_str(&format!("{}: {}\n", m.role.as_str(), m.content));
                }
                p.push_str("assistant: ");
                Ok(p)
            }
        }
    }

    fn complete(
        &mut self,
        ctx: &mut LlamaContext<'static>,
        request: &LmRequest,
        on_text: Option<&TextSender>,
    ) -> Result<LmResponse, LmError> {
        let prompt = self.prompt(request)?;
        let tokens = self.model.vocab().tokenize(prompt.as_bytes(), true, true);
        let config = &request.config;
        let max_tokens = config.max_tokens.unwrap_or(512) as usize;
        if tokens.is_empty() {
            return Err(LmError::BadRequest {
                status: 400,
                message: "empty prompt".into(),
            });
        }
        if tokens.len() + max_tokens > self.n_ctx {
            return Err(LmError::ContextWindowExceeded {
                message: format!(
                    "{} prompt tokens + {max_tokens} max_tokens exceed the {}-token context",
                    tokens.len(),
                    self.n_ctx
                ),
            });
        }
        // Offered tools: a required call is constrained to one of them; otherwise the reply
        // is free (it may be a call), so the response format's grammar does not apply.
        let tools = request
            .tools
            .as_deref()
            .filter(|t| !t.is_empty() && request.tool_choice != Some(super::ToolChoice::None));
        let grammar = match (tools, request.response_format.as_deref()) {
            (Some(_), _) => {
                super::local_tools::required_call_schema(request).map(|s| s.to_string())
            }
            (None, Some(super::ResponseFormat::JsonSchema { schema, .. })) => {
                Some(schema.to_string())
            }
            (None, Some(super::ResponseFormat::JsonObject)) => {
                Some(r#"{"type": "object"}"#.to_string())
            }
            (None, None) => None,
        }
        .map(|schema| {
            llama_cpp_2::json_schema_to_grammar(&schema)
                .map_err(|e| fail("JSON schema to grammar", e))
        })
        .transpose()?;
        let n = config.n.unwrap_or(1).max(1);
        let mut outputs = Vec::with_capacity(n as usize);
        let mut tool_calls = Vec::new();
        let mut completion_tokens = 0u64;
        for i in 0..n {
            let slot = self.prefill(ctx, &tokens, max_tokens)?;
            // A rollout id gives a sampled call its own draw (as it gives it its own cache
            // entry), so that rollouts at temperature > 0 differ and a rerun repeats them.
            let base = config.seed.unwrap_or(0) ^ request.rollout_id.map_or(0, mix);
            let seed = base.wrapping_add(u64::from(i)) as u32;
            let mut sampler = self.sampler(config, grammar.as_deref(), seed)?;
            // Only a lone completion without tools streams (a tool call is not text).
            let on_text = on_text.filter(|_| n == 1 && tools.is_none());
            let (text, generated) = self.generate(
                ctx,
                slot,
                &mut sampler,
                (&tokens, max_tokens),
                &config.stop,
                on_text,
            )?;
            completion_tokens += generated;
            match tools {
                Some(tools) => {
                    self.calls += 1;
                    let (content, calls) =
                        super::local_tools::split_reply(&text, tools, self.calls);
                    outputs.push(content);
                    tool_calls.push(calls);
                }
                None => outputs.push(text),
            }
        }
        self.stats
            .prompt_tokens
            .fetch_add(tokens.len() as u64 * u64::from(n), Ordering::Relaxed);
        self.stats
            .generated_tokens
            .fetch_add(completion_tokens, Ordering::Relaxed);
        Ok(LmResponse {
            outputs,
            usage: Usage {
                prompt_tokens: tokens.len() as u64 * u64::from(n),
                completion_tokens,
            },
            cache_hit: false,
            tool_calls,
            reasoning: Vec::new(),
        })
    }

    /// Brings a KV-cache slot to hold `tokens` (the last token's logits ready): the slot sharing
    /// the longest prefix keeps it and decodes the rest (at least the last token); with nothing
    /// shared, the least recently used slot is reused. Returns the slot.
    fn prefill(
        &mut self,
        ctx: &mut LlamaContext<'static>,
        tokens: &[LlamaToken],
        max_tokens: usize,
    ) -> Result<usize, LmError> {
        let reuse = self.reuse_prefix;
        let shared = |slot: &Slot| {
            if reuse {
                slot.tokens
                    .iter()
                    .zip(tokens)
                    .take_while(|(a, b)| a == b)
                    .count()
            } else {
                0
            }
        };
        let best = (0..self.slots.len())
            .max_by_key(|&i| (shared(&self.slots[i]), self.slots[i].used))
            .unwrap_or(0);
        let common = shared(&self.slots[best]);
        // Reusing a slot that would lose most of what it holds (another prompt that merely
        // starts alike, e.g. the JSON fallback's) would evict a prefix worth keeping: take the
        // least recently used slot instead.
        let worth = common > 0 && 2 * common >= self.slots[best].tokens.len();
        let i = if worth {
            best
        } else {
            (0..self.slots.len())
                .min_by_key(|&i| self.slots[i].used)
                .unwrap_or(0)
        };
        self.clock += 1;
        self.slots[i].used = self.clock;
        let keep = if i == best {
            common.min(tokens.len() - 1)
        } else {
            shared(&self.slots[i]).min(tokens.len() - 1)
        };
        let seq = self.slots[i].seq;
        if keep < self.slots[i].tokens.len() {
            ctx.clear_kv_cache_seq(Some(seq as u32), Some(keep as u32), None)
                .map_err(|e| fail("KV cache", e))?;
            self.slots[i].tokens.truncate(keep);
        }
        // The slots share one context: make room by emptying the others if needed.
        let others: usize = (0..self.slots.len())
            .filter(|&j| j != i)
            .map(|j| self.slots[j].tokens.len())
            .sum();
        if others + tokens.len() + max_tokens > self.n_ctx {
            for j in (0..self.slots.len()).filter(|&j| j != i) {
                ctx.clear_kv_cache_seq(Some(self.slots[j].seq as u32), None, None)
                    .map_err(|e| fail("KV cache", e))?;
                self.slots[j].tokens.clear();
            }
        }
        let rest = &tokens[keep..];
        let chunk = ctx.n_batch() as usize;
        let mut batch = LlamaBatch::new(chunk, 1);
        for (c, piece) in rest.chunks(chunk).enumerate() {
            batch.clear();
            let last_chunk = (c + 1) * chunk >= rest.len();
            for (j, t) in piece.iter().enumerate() {
                let pos = (keep + c * chunk + j) as i32;
                let logits = last_chunk && j == piece.len() - 1;
                batch
                    .add(*t, pos, &[seq], logits)
                    .map_err(|e| fail("batch", e))?;
            }
            ctx.decode(&mut batch).map_err(|e| fail("decode", e))?;
        }
        self.slots[i].tokens.extend_from_slice(rest);
        self.stats
            .prefilled_tokens
            .fetch_add(rest.len() as u64, Ordering::Relaxed);
        Ok(i)
    }

    fn sampler(
        &self,
        config: &LmConfig,
        grammar: Option<&str>,
        seed: u32,
    ) -> Result<LlamaSampler, LmError> {
        let mut chain = Vec::new();
        if let Some(g) = grammar {
            chain.push(
                LlamaSampler::grammar(self.model, g, "root").map_err(|e| fail("grammar", e))?,
            );
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

    /// Samples up to `max_tokens` tokens after the prefilled prompt.
    fn generate(
        &mut self,
        ctx: &mut LlamaContext<'static>,
        slot: usize,
        sampler: &mut LlamaSampler,
        (prompt, max_tokens): (&[LlamaToken], usize),
        stop: &[String],
        on_text: Option<&TextSender>,
    ) -> Result<(String, u64), LmError> {
        let vocab = self.model.vocab();
        let mut bytes = Vec::new();
        // Streamed text is held back by a stop string's length less one, so that what is
        // sent never holds the start of a stop string.
        let hold = stop
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        let mut sent = 0;
        let mut batch = LlamaBatch::new(1, 1);
        let mut generated = 0u64;
        for pos in prompt.len()..prompt.len() + max_tokens {
            let token = sampler.sample(ctx, -1);
            if vocab.is_eog(token) {
                break;
            }
            generated += 1;
            bytes.extend_from_slice(&vocab.token_to_piece(token, false, None));
            if !stop.is_empty() {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(cut) = stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                    let text = text[..cut].to_string();
                    send_text(on_text, &text, &mut sent, text.len());
                    return Ok((text, generated));
                }
            }
            if let Some(tx) = on_text {
                let valid = match std::str::from_utf8(&bytes) {
                    Ok(s) => s,
                    Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
                };
                let mut safe = valid.len().saturating_sub(hold);
                while !valid.is_char_boundary(safe) {
                    safe -= 1;
                }
                send_text(Some(tx), valid, &mut sent, safe);
            }
            batch.clear();
            batch
                .add(token, pos as i32, &[self.slots[slot].seq], true)
                .map_err(|e| fail("batch", e))?;
            ctx.decode(&mut batch).map_err(|e| fail("decode", e))?;
            self.slots[slot].tokens.push(token);
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        send_text(on_text, &text, &mut sent, text.len());
        Ok((text, generated))
    }
}

/// Sends `text[sent..upto]` when there is any, and moves `sent` on.
fn send_text(on_text: Option<&TextSender>, text: &str, sent: &mut usize, upto: usize) {
    if let Some(tx) = on_text
        && upto > *sent
        && let Some(piece) = text.get(*sent..upto)
    {
        // A dropped receiver (the caller went away) loses nothing the call returns.
        let _ = tx.send(piece.to_string());
        *sent = upto;
    }
}

/// SplitMix64's finaliser: spreads a rollout id over the seed's bits.
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
