//! `DynPredict`: Predict for a signature known only at run time; fields are JSON values.

use super::core::PredictCore;
use super::{Module, Prediction, render_messages};
use crate::error::{Error, Result};
use crate::lm::Message;
use crate::signature::DynSignature;
use serde_json::{Map, Value};

/// Predict over a [`DynSignature`]: inputs and outputs are maps of field name to JSON value.
#[derive(Clone)]
pub struct DynPredict {
    pub(crate) core: PredictCore,
}

impl DynPredict {
    super::predictor_builders!(core);

    /// A predictor for `signature`.
    pub fn new(signature: DynSignature) -> Self {
        DynPredict {
            core: PredictCore::new(signature.meta_ref(), "DynPredict"),
        }
    }

    /// A predictor for `meta`, named `module` in events (modules that build signatures).
    pub(crate) fn from_meta(meta: crate::signature::SignatureMeta, module: &'static str) -> Self {
        DynPredict {
            core: PredictCore::new(
                crate::signature::MetaRef::Shared(std::sync::Arc::new(meta)),
                module,
            ),
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
        let outcome = self.core.run(&inputs, || Ok(inputs.clone())).await?;
        Ok(Prediction::new(
            outcome.parsed.fields,
            outcome.usage,
            outcome.raw,
            outcome.parsed.coercions,
            outcome.adapter,
        ))
    }

    /// The messages a call with `inputs` would send.
    pub fn render(&self, inputs: &Map<String, Value>) -> Result<Vec<Message>> {
        self.core.render(&self.core.adapter(), inputs)
    }

    /// [`DynPredict::render`] as stable text.
    pub fn render_text(&self, inputs: &Map<String, Value>) -> Result<String> {
        Ok(render_messages(&self.render(inputs)?))
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

super::impl_predictor!([] DynPredict, core);
