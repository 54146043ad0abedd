//! The LM interface: requests, responses, the [`LanguageModel`] trait, and [`Lm`], a shared handle.

mod error;
mod request;
mod scripted;

pub use error::LmError;
pub use request::{
    Capabilities, LmConfig, LmRequest, LmResponse, Message, MessageRole, ResponseFormat, Usage,
};
pub use scripted::ScriptedLm;

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

    /// Sends one request.
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>>;
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
