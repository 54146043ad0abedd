//! The LM layer: requests and responses, the [`LanguageModel`] trait and [`Lm`] handle, HTTP
//! clients (OpenAI-compatible, Anthropic) with retries, limits, a persistent response cache,
//! usage, cost, budgets and history, embeddings, and a scripted test double.

pub(crate) mod anthropic;
pub mod cache;
#[cfg(feature = "redis")]
mod cache_redis;
pub mod content;
mod embed;
mod error;
pub mod history;
pub(crate) mod http;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "local")]
mod local_call;
#[cfg(feature = "local")]
mod local_embed;
#[cfg(feature = "local")]
mod local_engine;
#[cfg(feature = "local")]
mod local_tools;
#[cfg(feature = "local")]
pub mod local_train;
#[cfg(feature = "local")]
mod local_train_check;
#[cfg(feature = "local")]
mod local_train_ffi;
#[cfg(feature = "local")]
mod local_train_graph;
#[cfg(feature = "local")]
mod local_vocab;
pub(crate) mod openai;
mod pool;
mod prefix_gate;
mod request;
mod retry;
mod scripted;
pub(crate) mod secret;
pub(crate) mod sse;
mod tool_call;
pub(crate) mod transport;
pub mod usage;

pub use cache::{Cache, CacheConfig};
pub use embed::{Embedder, HttpEmbedder};
pub use error::LmError;
pub use history::{History, HistoryEntry, inspect_history};
pub use http::{Delta, HttpLm, HttpLmBuilder, Provider, TextStream, set_cache_enabled};
#[cfg(feature = "local")]
pub use local::{LocalConfig, LocalLm};
#[cfg(feature = "local")]
pub use local_embed::{LocalEmbedConfig, LocalEmbedder, MINILM_FILE};
pub use pool::{EndpointReport, PoolLm, PoolLmBuilder, PoolReport};
pub use request::{
    Capabilities, LmConfig, LmRequest, LmResponse, Message, MessageRole, ResponseFormat, ToolCall,
    ToolChoice, Usage,
};
pub use retry::RetryPolicy;
pub use scripted::ScriptedLm;
pub use secret::ApiKey;
pub use transport::LmStats;
pub(crate) use transport::shared_client;
pub use usage::{Budget, Price, PriceTable, UsageReport};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future (what [`LanguageModel::complete`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A language model: anything that turns a chat request into completions.
pub trait LanguageModel: Send + Sync + 'static {
    /// The model's name, e.g. `openai/gpt-4o-mini`.
    fn model(&self) -> &str;

    /// What the model supports beyond plain chat (structured outputs).
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Sends one request. Modules call it through [`Lm::complete`], which adds the context's
    /// events, usage totals and history, so an implementation need not record anything.
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>>;

    /// Sends one request, handing the reply's text to `on_text` piece by piece as it arrives
    /// (what `dspy::stream` uses), and returns the whole response as [`complete`] does. The
    /// default calls [`complete`] and hands over the whole text at once; [`HttpLm`] streams
    /// server-sent events and the embedded `LocalLm` its tokens.
    ///
    /// [`complete`]: LanguageModel::complete
    fn complete_streaming<'a>(
        &'a self,
        request: LmRequest,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<LmResponse, LmError>> {
        Box::pin(async move {
            let response = self.complete(request).await?;
            if let Some(text) = response.outputs.first() {
                on_text(text);
            }
            Ok(response)
        })
    }

    /// What `usage` costs in dollars on this model, if it has a price.
    fn cost(&self, _usage: Usage) -> Option<f64> {
        None
    }
}

/// A shared handle to a language model; cheap to clone.
#[derive(Clone)]
pub struct Lm(Arc<dyn LanguageModel>);

impl Lm {
    /// Wraps a model.
    pub fn new(model: impl LanguageModel) -> Lm {
        Lm(Arc::new(model))
    }

    /// Wraps an already shared model.
    pub fn from_arc(model: Arc<dyn LanguageModel>) -> Lm {
        Lm(model)
    }
}

impl<T: LanguageModel> From<T> for Lm {
    fn from(model: T) -> Lm {
        Lm::new(model)
    }
}

impl std::ops::Deref for Lm {
    type Target = dyn LanguageModel;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for Lm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lm").field(&self.0.model()).finish()
    }
}
