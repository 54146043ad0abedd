//! The embedded local model: a GGUF model run in-process through llama.cpp (`llama-cpp-2`).
//!
//! One worker thread per model owns the llama.cpp context (contexts are not `Send`); calls
//! queue on a bounded channel and up to `LocalConfig::sequences` of them are decoded together
//! (`local_engine`). The KV cache keeps prompts: a new prompt that shares a prefix
//! (instructions, demos) with one already there decodes only the part that differs.

use super::local_engine::{Engine, EngineConfig, kv_sequences};
use super::{BoxFuture, Capabilities, LanguageModel, LmConfig, LmError, LmRequest, LmResponse};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
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
    /// Context window in tokens (prompt plus completion) of each call.
    pub n_ctx: u32,
    /// Threads for prefill and decode (default: the machine's available parallelism).
    pub threads: i32,
    /// Calls waiting in the queue before callers wait to enqueue.
    pub queue: usize,
    /// Default sampling settings (a call's own settings win); max_tokens defaults to 512.
    pub defaults: LmConfig,
    /// Keep prompts in the KV cache and decode only what a new prompt adds (default on; off
    /// to measure what it saves).
    pub reuse_prefix: bool,
    /// Concurrent calls decoded together in one batch per step (default 4, or
    /// `DSPY_SEQUENCES`); more wait their turn. Each sequence, plus one kept for a finished
    /// call's prompt, has a KV-cache stream of `n_ctx` cells: the cache takes
    /// `(sequences + 1) × n_ctx` cells (for Qwen2.5-0.5B at 8,192, about 12 KB a cell, 0.5 GB).
    pub sequences: usize,
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
            sequences: std::env::var("DSPY_SEQUENCES")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .unwrap_or(4),
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

pub(super) struct Job {
    pub request: LmRequest,
    pub reply: oneshot::Sender<Result<LmResponse, LmError>>,
    /// Where the reply's text goes as it is decoded, when streaming.
    pub on_text: Option<TextSender>,
}

/// The channel a streamed call's text goes through, token by token.
pub(super) type TextSender = tokio::sync::mpsc::UnboundedSender<String>;

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

    /// Qwen2.5-Coder-1.5B from the model directory (`scripts/fetch-models qwen15`).
    pub fn qwen15() -> Result<LocalLm, LmError> {
        Self::named(QWEN15_FILE)
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
            let seqs = kv_sequences(config.sequences) as u32;
            let params = LlamaContextParams::default()
                // A cache stream of `n_ctx` cells per sequence (see `local_engine`).
                .with_n_ctx(NonZeroU32::new(config.n_ctx.saturating_mul(seqs)))
                .with_n_seq_max(seqs)
                .with_kv_unified(false)
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
    let (model, ctx) = match loaded {
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
    let engine = EngineConfig {
        n_ctx: config.n_ctx as usize,
        sequences: config.sequences.max(1),
        reuse_prefix: config.reuse_prefix,
    };
    Engine::new(model, ctx, engine, stats).run(&mut rx);
}
