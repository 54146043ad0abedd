//! A sentence-embedding model run in-process through llama.cpp: a GGUF encoder (BERT family,
//! e.g. all-MiniLM-L6-v2 from `scripts/fetch-models minilm`) with the pooling it was trained
//! with, its vectors scaled to unit length.
//!
//! One worker thread owns the llama.cpp context; each call's texts are packed several
//! sequences to a batch and encoded together.

use super::local::{backend, check_gguf, locate_in, model_dir};
use super::{BoxFuture, Embedder, LmError};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot, watch};

/// all-MiniLM-L6-v2 (384 dimensions, mean pooling) written as an F32 GGUF.
pub const MINILM_FILE: &str = "all-MiniLM-L6-v2.F32.gguf";

/// Sizes and threads of a local embedding model.
#[derive(Clone, Debug)]
pub struct LocalEmbedConfig {
    /// Tokens per text at most; longer texts are cut (keeping the closing separator). The
    /// default, 256, is all-MiniLM-L6-v2's `max_seq_length` in sentence-transformers.
    pub max_tokens: usize,
    /// Tokens encoded together in one batch (several texts share it).
    pub batch_tokens: u32,
    /// Threads (default: the machine's available parallelism, or `DSPY_THREADS`).
    pub threads: i32,
}

impl Default for LocalEmbedConfig {
    fn default() -> Self {
        LocalEmbedConfig {
            max_tokens: 256,
            batch_tokens: 1024,
            threads: super::local::LocalConfig::default().threads,
        }
    }
}

/// An in-process embedding model. Cheap to clone; clones share one worker.
#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Job>,
    ready: watch::Receiver<Option<Result<usize, String>>>,
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, LmError>>,
}

impl LocalEmbedder {
    /// all-MiniLM-L6-v2 from the model directory (`scripts/fetch-models minilm`).
    pub fn minilm() -> Result<LocalEmbedder, LmError> {
        Self::load(
            locate_in(&model_dir(), MINILM_FILE)?,
            LocalEmbedConfig::default(),
        )
    }

    /// Loads a GGUF embedding model, once per process (later loads of the same file share it
    /// and its first configuration). The file's header is checked now; the weights load on the
    /// worker thread (the first call, or [`LocalEmbedder::ready`], waits for them).
    pub fn load(
        path: impl AsRef<Path>,
        config: LocalEmbedConfig,
    ) -> Result<LocalEmbedder, LmError> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, LocalEmbedder>>> = OnceLock::new();
        if config.max_tokens < 2 || config.batch_tokens == 0 || config.batch_tokens > 1 << 16 {
            return Err(LmError::Config(format!(
                "LocalEmbedConfig: max_tokens must be at least 2 and batch_tokens 1 to 65536 \
                 (got {} and {})",
                config.max_tokens, config.batch_tokens
            )));
        }
        let path = path.as_ref().to_path_buf();
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        let registry = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
        let mut loaded = registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = loaded.get(&key) {
            return Ok(e.clone());
        }
        let embedder = Self::start(path, config)?;
        loaded.insert(key, embedder.clone());
        Ok(embedder)
    }

    fn start(path: PathBuf, config: LocalEmbedConfig) -> Result<LocalEmbedder, LmError> {
        check_gguf(&path)?;
        let backend = backend()?;
        let (tx, rx) = mpsc::channel(64);
        let (ready_tx, ready) = watch::channel(None);
        std::thread::Builder::new()
            .name("dspy-local-embed".into())
            .spawn(move || worker(backend, &path, config, rx, ready_tx))
            .map_err(|e| LmError::Config(format!("cannot start the embedding worker: {e}")))?;
        Ok(LocalEmbedder {
            inner: Arc::new(Inner { tx, ready }),
        })
    }

    /// Waits until the model is loaded and returns its vectors' length; the error says why it
    /// could not load.
    pub async fn ready(&self) -> Result<usize, LmError> {
        let mut ready = self.inner.ready.clone();
        let loaded = ready
            .wait_for(Option::is_some)
            .await
            .map_err(|_| LmError::Config("the embedding worker stopped while loading".into()))?;
        match loaded.as_ref() {
            Some(Ok(dim)) => Ok(*dim),
            Some(Err(e)) => Err(LmError::Config(e.clone())),
            None => Err(LmError::Config("the embedding model did not load".into())),
        }
    }
}

impl Embedder for LocalEmbedder {
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Vec<Vec<f32>>, LmError>> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            let (reply, rx) = oneshot::channel();
            let job = Job {
                texts: texts.to_vec(),
                reply,
            };
            self.inner
                .tx
                .send(job)
                .await
                .map_err(|_| LmError::Other("the embedding worker has stopped".into()))?;
            rx.await
                .map_err(|_| LmError::Other("the embedding worker dropped the call".into()))?
        })
    }
}

/// Most sequences in one batch (llama.cpp's own limit is 256).
const MAX_SEQS: usize = 64;

fn worker(
    backend: &'static llama_cpp_2::llama_backend::LlamaBackend,
    path: &Path,
    config: LocalEmbedConfig,
    rx: mpsc::Receiver<Job>,
    ready: watch::Sender<Option<Result<usize, String>>>,
) {
    let model = match LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()) {
        Ok(model) => model,
        Err(e) => return refuse(rx, ready, format!("cannot load {}: {e}", path.display())),
    };
    // Texts are cut to what the model was trained on; a batch holds at least one whole text.
    let max_tokens = config.max_tokens.min(model.n_ctx_train().max(2) as usize);
    let batch_tokens = config.batch_tokens.max(max_tokens as u32);
    let params = LlamaContextParams::default()
        .with_embeddings(true)
        .with_n_ctx(NonZeroU32::new(batch_tokens))
        .with_n_batch(batch_tokens)
        .with_n_ubatch(batch_tokens)
        .with_n_seq_max(MAX_SEQS as u32)
        .with_n_threads(config.threads)
        .with_n_threads_batch(config.threads);
    let ctx = match model.new_context(backend, params) {
        Ok(ctx) => ctx,
        Err(e) => {
            let e = format!("cannot create a llama.cpp embedding context: {e}");
            return refuse(rx, ready, e);
        }
    };
    let dim = usize::try_from(model.n_embd()).unwrap_or(0);
    ready.send_replace(Some(Ok(dim)));
    serve(&model, ctx, rx, max_tokens, batch_tokens as usize);
}

/// Answers calls in order until every handle is dropped.
fn serve(
    model: &LlamaModel,
    mut ctx: LlamaContext<'_>,
    mut rx: mpsc::Receiver<Job>,
    max_tokens: usize,
    batch_tokens: usize,
) {
    while let Some(job) = rx.blocking_recv() {
        // A panic inside llama-cpp-2 fails this call, not the worker.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            embed_all(model, &mut ctx, &job.texts, max_tokens, batch_tokens)
        }))
        .unwrap_or_else(|_| Err(LmError::Other("the embedding model panicked".into())));
        let _ = job.reply.send(result);
    }
}

/// Reports a model that could not load, to the waiters and to every call.
fn refuse(
    mut rx: mpsc::Receiver<Job>,
    ready: watch::Sender<Option<Result<usize, String>>>,
    e: String,
) {
    ready.send_replace(Some(Err(e.clone())));
    while let Some(job) = rx.blocking_recv() {
        let _ = job.reply.send(Err(LmError::Config(e.clone())));
    }
}

/// Bytes of a text tokenized at most per token kept: enough for any real text (a WordPiece
/// token is rarely longer than 16 bytes), and a bound on the work a huge input costs.
const BYTES_PER_TOKEN: usize = 64;

/// `text` cut to at most `max` bytes, at a character boundary.
fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Tokenizes every text (cut to `max_tokens`), encodes them in batches of up to
/// `batch_tokens` tokens, and returns one unit-length vector per text.
fn embed_all(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    texts: &[String],
    max_tokens: usize,
    batch_tokens: usize,
) -> Result<Vec<Vec<f32>>, LmError> {
    let tokenized = texts
        .iter()
        .map(|t| {
            let t = head(t, max_tokens.saturating_mul(BYTES_PER_TOKEN));
            // llama.cpp takes C strings: a NUL in a text is dropped rather than failing it.
            let without_nul;
            let t = if t.contains('\0') {
                without_nul = t.replace('\0', "");
                without_nul.as_str()
            } else {
                t
            };
            let mut tokens = super::local_vocab::tokenize(model, t, true)?;
            if tokens.len() > max_tokens {
                // Keep the closing separator the model saw in training.
                let last = tokens[tokens.len() - 1];
                tokens.truncate(max_tokens - 1);
                tokens.push(last);
            }
            Ok(tokens)
        })
        .collect::<Result<Vec<_>, LmError>>()?;
    if let Some(i) = tokenized.iter().position(Vec::is_empty) {
        return Err(LmError::Other(format!(
            "text {i} gives no tokens, so it has no embedding (a model without [CLS]/[SEP])"
        )));
    }
    let mut out = Vec::with_capacity(texts.len());
    let mut batch = LlamaBatch::new(batch_tokens, 1);
    let mut start = 0;
    while start < tokenized.len() {
        batch.clear();
        let mut end = start;
        let mut used = 0;
        while end < tokenized.len()
            && end - start < MAX_SEQS
            && (end == start || used + tokenized[end].len() <= batch_tokens)
        {
            let seq = (end - start) as i32;
            batch
                .add_sequence(&tokenized[end], seq, true)
                .map_err(|e| fail("cannot fill the batch", e))?;
            used += tokenized[end].len();
            end += 1;
        }
        ctx.encode(&mut batch)
            .map_err(|e| fail("llama.cpp could not encode the batch", e))?;
        for seq in 0..(end - start) {
            let v = ctx
                .embeddings_seq_ith(seq as i32)
                .map_err(|e| fail("llama.cpp gave no pooled embedding", e))?;
            out.push(unit(v));
        }
        start = end;
    }
    Ok(out)
}

fn fail(what: &str, e: impl std::fmt::Display) -> LmError {
    LmError::Other(format!("{what}: {e}"))
}

/// `v` scaled to unit length (a zero vector stays zero).
fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}
