//! `Predict<S>`: one LM call for a typed signature.

use super::core::PredictCore;
use super::{Module, Prediction, render_messages};
use crate::demo::Demo;
use crate::error::Result;
use crate::lm::Message;
use crate::signature::{MetaRef, Signature};
use std::marker::PhantomData;

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
    super::predictor_builders!(core);

    /// A predictor with the signature's instructions and no demos.
    pub fn new() -> Self {
        Predict {
            core: PredictCore::new(MetaRef::Static(S::meta()), "Predict"),
            _sig: PhantomData,
        }
    }

    /// Calls the LM with `input`.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<S::Output>> {
        let outcome = self
            .core
            .run(&input, || crate::context::to_fields(&input))
            .await?;
        outcome.into_prediction()
    }

    /// Adds a complete demo from a typed input and output.
    pub fn push_demo(&mut self, input: &S::Input, output: &S::Output) -> Result<()> {
        let mut demos = self.core.demos().to_vec();
        demos.push(Demo::typed::<S>(input, output)?);
        self.core.set_demos(demos)
    }

    /// The messages a call with `input` would send, without calling an LM.
    pub fn render(&self, input: &S::Input) -> Result<Vec<Message>> {
        self.core.render(&self.core.adapter(), input)
    }

    /// [`Predict::render`] as stable text, for snapshots.
    pub fn render_text(&self, input: &S::Input) -> Result<String> {
        Ok(render_messages(&self.render(input)?))
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

super::impl_predictor!([S: Signature] Predict<S>, core);
