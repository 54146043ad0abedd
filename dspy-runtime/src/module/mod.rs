//! Modules: Predict, ChainOfThought, and the traits programs and optimizers build on.

mod chain_of_thought;
mod core;
mod dyn_predict;
mod predict;
mod prediction;

pub use chain_of_thought::{ChainOfThought, Reasoned, WithReasoning};
pub use dyn_predict::DynPredict;
pub use predict::Predict;
pub use prediction::Prediction;

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
