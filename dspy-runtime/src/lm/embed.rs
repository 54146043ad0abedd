//! Embeddings: the [`Embedder`] trait and an OpenAI-compatible `/embeddings` client.

use super::retry::RetryPolicy;
use super::secret::ApiKey;
use super::transport::{Auth, LmStats, Transport, shared_client};

/// The default limit on an embeddings reply: larger than a chat reply's, since a batch of
/// long vectors written as JSON runs to tens of megabytes.
const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 << 20;

const OPENAI_BASE: &str = "https://api.openai.com/v1";
use super::{BoxFuture, LmError};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Turns texts into vectors (for KNN few-shot and retrieval).
pub trait Embedder: Send + Sync + 'static {
    /// One vector per text, in order.
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Vec<Vec<f32>>, LmError>>;
}

/// An OpenAI-compatible embeddings endpoint (OpenAI, llama-server with `--embeddings`, vLLM...).
pub struct HttpEmbedder {
    model: String,
    transport: Transport,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct Reply {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

impl HttpEmbedder {
    /// An embedder for `model` at `api_base` (default OpenAI's). Without `api_key`, OpenAI's
    /// endpoint gets `OPENAI_API_KEY` from the environment; a custom `api_base` gets no key
    /// unless one is passed (so a provider's key never reaches another server by default).
    pub fn new(
        model: impl Into<String>,
        api_base: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<HttpEmbedder, LmError> {
        let model = model.into();
        let wire = model
            .split_once('/')
            .map(|(_, m)| m.to_string())
            .unwrap_or_else(|| model.clone());
        let to_openai = api_base.is_none_or(|b| b.trim_end_matches('/') == OPENAI_BASE);
        let env_key = || ApiKey::from_env("OPENAI_API_KEY");
        let (key, auth_hint) = match api_key {
            Some(k) => (Some(ApiKey::new(k)), None),
            None if to_openai => (env_key(), None),
            None => (
                None,
                env_key().map(|_| {
                    "OPENAI_API_KEY is set but is not sent to a custom api_base: pass the key as api_key".to_string()
                }),
            ),
        };
        if api_base.is_none() && key.is_none() {
            return Err(LmError::Config(
                "no API key for embeddings: set OPENAI_API_KEY or pass one".into(),
            ));
        }
        let base = api_base.unwrap_or(OPENAI_BASE).trim_end_matches('/');
        Ok(HttpEmbedder {
            model: wire,
            transport: Transport {
                url: format!("{base}/embeddings"),
                auth: Auth::Bearer,
                key,
                auth_hint,
                client: shared_client()?,
                timeout: Duration::from_secs(120),
                retry: RetryPolicy::default(),
                in_flight: Arc::new(Semaphore::new(16)),
                rate: None,
                stats: Arc::new(LmStats::default()),
                max_body: DEFAULT_MAX_RESPONSE_BYTES,
            },
        })
    }

    /// The same embedder with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.transport.retry = retry;
        self
    }

    /// The same embedder with another limit on a reply's size (default 256 MiB).
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.transport.max_body = limit;
        self
    }

    async fn embed_inner(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LmError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let body = serde_json::to_vec(&Body {
            model: &self.model,
            input: texts,
        })
        .map_err(|e| LmError::Other(format!("cannot encode the request: {e}")))?;
        let parse = |bytes: &[u8]| super::openai::decode::<Reply>("an embeddings reply", bytes);
        let mut reply = self.transport.post(Bytes::from(body), 0, parse).await?;
        if reply.data.len() != texts.len() {
            return Err(LmError::InvalidResponse(format!(
                "{} embeddings for {} texts",
                reply.data.len(),
                texts.len()
            )));
        }
        reply.data.sort_by_key(|d| d.index.unwrap_or(0));
        Ok(reply.data.into_iter().map(|d| d.embedding).collect())
    }
}

impl Embedder for HttpEmbedder {
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Vec<Vec<f32>>, LmError>> {
        Box::pin(self.embed_inner(texts))
    }
}
