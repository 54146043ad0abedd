//! `Predict<S>`: one LM call for a typed signature.

use super::core::PredictCore;
use super::{Module, Prediction, Predictor, render_messages};
use crate::adapter::Adapter;
use crate::demo::Demo;
use crate::error::{ParseError, ParseErrorKind, Result};
use crate::lm::{Lm, LmConfig, Message};
use crate::signature::{MetaRef, Signature, SignatureMeta};
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::Arc;

/// Calls the LM once for signature `S`: formats the inputs with the adapter, parses and
/// validates the reply into `S::Output`.
///
/// Parameter slots: instructions (default: the signature's) and demos. The formatted system
/// message and demos are cached and reused by every call until a slot changes.
pub struct Predict<S: Signature> {
    pub(crate) core: PredictCore,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for Predict<S> {
    fn clone(&self) -> Self {
        Predict {
            core: self.core.clone(),
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> Default for Predict<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Signature> std::fmt::Debug for Predict<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predict")
            .field("signature", &self.core.meta().name())
            .field("instructions", &self.core.instructions())
            .field("demos", &self.core.demos().len())
            .finish()
    }
}

impl<S: Signature> Predict<S> {
    /// A predictor with the signature's instructions and no demos.
    pub fn new() -> Self {
        Predict {
            core: PredictCore::new(MetaRef::Static(S::meta())),
            _sig: PhantomData,
        }
    }

    /// Calls the LM with `input`.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<S::Output>> {
        let outcome = self.core.run(&input).await?;
        let output: S::Output = serde_json::from_value(Value::Object(outcome.parsed.fields))
            .map_err(|e| {
                ParseError::new(
                    outcome.adapter,
                    ParseErrorKind::Deserialize {
                        message: e.to_string(),
                    },
                    &outcome.raw,
                )
            })?;
        Ok(Prediction::new(
            output,
            outcome.usage,
            outcome.raw,
            outcome.parsed.coercions,
            outcome.adapter,
        ))
    }

    /// This predictor with other instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.core.set_instructions(instructions.into());
        self
    }

    /// This predictor with these demos (each checked against the signature).
    pub fn with_demos(mut self, demos: impl IntoIterator<Item = Demo>) -> Result<Self> {
        self.core.set_demos(demos.into_iter().collect())?;
        Ok(self)
    }

    /// Adds a complete demo from a typed input and output.
    pub fn push_demo(&mut self, input: &S::Input, output: &S::Output) -> Result<()> {
        let mut demos = self.core.demos().to_vec();
        demos.push(Demo::typed::<S>(input, output)?);
        self.core.set_demos(demos)
    }

    /// This predictor with its own LM (over the scoped and global ones).
    pub fn with_lm(mut self, lm: impl Into<Lm>) -> Self {
        self.core.lm = Some(lm.into());
        self
    }

    /// This predictor with its own adapter (over the scoped and global ones).
    pub fn with_adapter(mut self, adapter: impl Adapter) -> Self {
        self.core.adapter = Some(Arc::new(adapter));
        self
    }

    /// This predictor with these sampling settings.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        self.core.config = Arc::new(config);
        self
    }

    /// The messages a call with `input` would send, without calling an LM.
    pub fn render(&self, input: &S::Input) -> Vec<Message> {
        self.core.render(&self.core.adapter(), input)
    }

    /// [`Predict::render`] as stable text, for snapshots.
    pub fn render_text(&self, input: &S::Input) -> String {
        render_messages(&self.render(input))
    }
}

impl<S: Signature> Predictor for Predict<S> {
    fn signature(&self) -> &SignatureMeta {
        self.core.meta()
    }
    fn instructions(&self) -> &str {
        self.core.instructions()
    }
    fn set_instructions(&mut self, instructions: String) {
        self.core.set_instructions(instructions)
    }
    fn demos(&self) -> &[Demo] {
        self.core.demos()
    }
    fn set_demos(&mut self, demos: Vec<Demo>) -> Result<()> {
        self.core.set_demos(demos)
    }
}

impl<S: Signature> Module for Predict<S> {
    type Input = S::Input;
    type Output = Prediction<S::Output>;
    fn forward(
        &self,
        input: S::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}
