//! `DynPredict`: Predict for a signature known only at run time; fields are JSON values.

use super::core::PredictCore;
use super::{Module, Prediction, Predictor, render_messages};
use crate::adapter::Adapter;
use crate::demo::Demo;
use crate::error::{Error, Result};
use crate::lm::{Lm, LmConfig, Message};
use crate::signature::{DynSignature, SignatureMeta};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Predict over a [`DynSignature`]: inputs and outputs are maps of field name to JSON value.
#[derive(Clone)]
pub struct DynPredict {
    core: PredictCore,
}

impl DynPredict {
    /// A predictor for `signature`.
    pub fn new(signature: DynSignature) -> Self {
        DynPredict {
            core: PredictCore::new(signature.meta_ref()),
        }
    }

    /// A predictor for a string signature, e.g. `"question -> answer: bool"`.
    pub fn parse(signature: &str) -> Result<Self> {
        Ok(Self::new(DynSignature::parse(signature)?))
    }

    /// Calls the LM; every input field must be present.
    pub async fn call(&self, inputs: Map<String, Value>) -> Result<Prediction<Map<String, Value>>> {
        if let Some(missing) = self
            .core
            .meta()
            .inputs()
            .iter()
            .find(|f| !inputs.contains_key(f.name()))
        {
            return Err(Error::Signature(format!(
                "input field `{}` is missing",
                missing.name()
            )));
        }
        let outcome = self.core.run(&inputs).await?;
        Ok(Prediction::new(
            outcome.parsed.fields,
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

    /// This predictor with its own LM.
    pub fn with_lm(mut self, lm: impl Into<Lm>) -> Self {
        self.core.lm = Some(lm.into());
        self
    }

    /// This predictor with its own adapter.
    pub fn with_adapter(mut self, adapter: impl Adapter) -> Self {
        self.core.adapter = Some(Arc::new(adapter));
        self
    }

    /// This predictor with these sampling settings.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        self.core.config = Arc::new(config);
        self
    }

    /// The messages a call with `inputs` would send.
    pub fn render(&self, inputs: &Map<String, Value>) -> Vec<Message> {
        self.core.render(&self.core.adapter(), inputs)
    }

    /// [`DynPredict::render`] as stable text.
    pub fn render_text(&self, inputs: &Map<String, Value>) -> String {
        render_messages(&self.render(inputs))
    }
}

impl Predictor for DynPredict {
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

impl Module for DynPredict {
    type Input = Map<String, Value>;
    type Output = Prediction<Map<String, Value>>;
    fn forward(
        &self,
        input: Self::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}
