//! Modules: Predict, ChainOfThought, and the traits programs and optimizers build on.

/// Builder methods shared by every predictor; the argument is the path to its `PredictCore`.
macro_rules! predictor_builders {
    ($($core:ident).+) => {
        /// This module with other instructions.
        pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
            self.$($core).+.set_instructions(instructions.into());
            self
        }

        /// This module with these demos (each checked against the signature; a demo may be
        /// partial, e.g. without ChainOfThought's `reasoning`).
        pub fn with_demos(
            mut self,
            demos: impl IntoIterator<Item = $crate::demo::Demo>,
        ) -> $crate::error::Result<Self> {
            self.$($core).+.set_demos(demos.into_iter().collect())?;
            Ok(self)
        }

        /// This module with its own LM (over the scoped and global ones).
        pub fn with_lm(mut self, lm: impl Into<$crate::lm::Lm>) -> Self {
            self.$($core).+.lm = Some(lm.into());
            self
        }

        /// This module with its own adapter (over the scoped and global ones).
        pub fn with_adapter(mut self, adapter: impl $crate::adapter::Adapter) -> Self {
            self.$($core).+.adapter = Some(std::sync::Arc::new(adapter));
            self
        }

        /// This module with `callback` observing its calls (with the scoped and process-wide
        /// callbacks).
        pub fn with_callback(mut self, callback: impl $crate::context::Callback) -> Self {
            let mut all: Vec<std::sync::Arc<dyn $crate::context::Callback>> = self
                .$($core).+
                .callbacks
                .as_deref()
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            all.push(std::sync::Arc::new(callback));
            self.$($core).+.callbacks = Some(all.into());
            self
        }

        /// This module with these sampling settings.
        pub fn with_config(mut self, config: $crate::lm::LmConfig) -> Self {
            self.$($core).+.config = std::sync::Arc::new(config);
            self
        }
    };
}
pub(crate) use predictor_builders;

/// `Predictor` (the parameter slots) for a type holding a `PredictCore` at the given path.
macro_rules! impl_predictor {
    ([$($generics:tt)*] $ty:ty, $($core:ident).+) => {
        impl<$($generics)*> $crate::module::Predictor for $ty {
            fn signature(&self) -> &$crate::signature::SignatureMeta {
                self.$($core).+.meta()
            }
            fn instructions(&self) -> &str {
                self.$($core).+.instructions()
            }
            fn set_instructions(&mut self, instructions: String) {
                self.$($core).+.set_instructions(instructions)
            }
            fn demos(&self) -> &[$crate::demo::Demo] {
                self.$($core).+.demos()
            }
            fn set_demos(&mut self, demos: Vec<$crate::demo::Demo>) -> $crate::error::Result<()> {
                self.$($core).+.set_demos(demos)
            }
            fn core_id(&self) -> usize {
                self.$($core).+.id()
            }
            fn lm(&self) -> Option<&$crate::lm::Lm> {
                self.$($core).+.lm.as_ref()
            }
            fn set_lm(&mut self, lm: Option<$crate::lm::Lm>) {
                self.$($core).+.lm = lm;
            }
            fn finetune_messages(
                &self,
                inputs: &serde_json::Map<String, serde_json::Value>,
                outputs: &serde_json::Map<String, serde_json::Value>,
                without_demos: bool,
            ) -> $crate::error::Result<Vec<$crate::lm::Message>> {
                self.$($core).+.finetune_messages(inputs, outputs, without_demos)
            }
        }
    };
}
pub(crate) use impl_predictor;

mod batch;
mod chain_of_thought;
#[cfg(target_os = "linux")]
pub mod code_act;
pub(crate) mod core;
mod dyn_predict;
#[cfg(target_os = "linux")]
mod host_tools;
mod predict;
mod prediction;
#[cfg(target_os = "linux")]
mod program_of_thought;
pub mod react;
#[cfg(target_os = "linux")]
pub mod rlm;
mod stream_feed;

pub use batch::DEFAULT_CONCURRENCY;
pub(crate) use batch::run_bounded;
pub use chain_of_thought::{ChainOfThought, Reasoned, WithReasoning};
#[cfg(target_os = "linux")]
pub use code_act::{CodeAct, CodeActOutput};
pub use dyn_predict::DynPredict;
pub use predict::Predict;
pub use prediction::Prediction;
#[cfg(target_os = "linux")]
pub use program_of_thought::{CodeStep, ProgramOfThought};
pub use react::{ReAct, ReActOutput};
#[cfg(target_os = "linux")]
pub use rlm::{ReplEntry, Rlm, RlmOutput};

use crate::demo::Demo;
use crate::error::Result;
use crate::lm::Message;
use crate::signature::SignatureMeta;
use std::future::Future;

/// Anything that can be called with an input and produce an output (an LM call, a program).
pub trait Module: Send + Sync {
    /// What a call takes.
    type Input: Send;
    /// What a call returns.
    type Output: Send;
    /// Runs the module once.
    fn forward(&self, input: Self::Input) -> impl Future<Output = Result<Self::Output>> + Send;

    /// Runs the module over many inputs, [`DEFAULT_CONCURRENCY`] calls in flight at once;
    /// results in input order, each with its own error (DSPy 3's `batch`).
    fn batch(
        &self,
        inputs: impl IntoIterator<Item = Self::Input, IntoIter: Send> + Send,
    ) -> impl Future<Output = Vec<Result<Self::Output>>> + Send
    where
        Self: Sized,
    {
        self.batch_with(inputs, DEFAULT_CONCURRENCY)
    }

    /// [`Module::batch`] with at most `concurrency` calls in flight.
    fn batch_with(
        &self,
        inputs: impl IntoIterator<Item = Self::Input, IntoIter: Send> + Send,
        concurrency: usize,
    ) -> impl Future<Output = Vec<Result<Self::Output>>> + Send
    where
        Self: Sized,
    {
        async move {
            let results = run_bounded(
                inputs,
                concurrency,
                |input| self.forward(input),
                |_, _| std::ops::ControlFlow::Continue(()),
            )
            .await;
            // Nothing stops a batch early, so every item ran.
            results.into_iter().flatten().collect()
        }
    }
}

/// A predictor's parameter slots (instructions and demos): all an optimizer reads and writes.
pub trait Predictor: Send + Sync {
    /// The signature the predictor calls the LM with.
    fn signature(&self) -> &SignatureMeta;
    /// The instructions in effect (the signature's unless overridden).
    fn instructions(&self) -> &str;
    /// Replaces the instructions.
    fn set_instructions(&mut self, instructions: String);
    /// The demos.
    fn demos(&self) -> &[Demo];
    /// Replaces the demos; each must fit the signature.
    fn set_demos(&mut self, demos: Vec<Demo>) -> Result<()>;
    /// Identifies the predictor's state across borrows (for dry runs and traces).
    #[doc(hidden)]
    fn core_id(&self) -> usize;
    /// The predictor's own LM, if it has one (else calls use the scoped or global LM).
    fn lm(&self) -> Option<&crate::lm::Lm>;
    /// Gives the predictor its own LM (a fine-tuned one, say), or removes it with `None`.
    fn set_lm(&mut self, lm: Option<crate::lm::Lm>);
    /// One fine-tuning conversation (DSPy's `format_finetune_data`): the messages a call with
    /// `inputs` sends through the predictor's adapter (with its demos unless `without_demos`),
    /// then the assistant message answering with `outputs`.
    fn finetune_messages(
        &self,
        inputs: &serde_json::Map<String, serde_json::Value>,
        outputs: &serde_json::Map<String, serde_json::Value>,
        without_demos: bool,
    ) -> Result<Vec<crate::lm::Message>>;
}

/// Renders messages as stable text: `===== role: system =====` then the content, per message
/// (the layout of DSPy's reference renderings, and what prompt snapshots store).
pub fn render_messages(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str("===== role: ");
        out.push_str(m.role.as_str());
        out.push_str(" =====\n");
        out.push_str(&m.content);
        out.push('\n');
    }
    out
}
