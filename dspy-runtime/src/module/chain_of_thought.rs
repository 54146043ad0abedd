//! `ChainOfThought<S>`: Predict with a `reasoning` output written before the others.

use super::{Module, Predict, Prediction};
use crate::error::Result;
use crate::lm::Message;
use crate::signature::{CotCompatible, FieldMeta, Role, Signature, SignatureMeta};
use serde::{Deserialize, Serialize};
use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

/// `S` with a `reasoning: str` output first (the signature ChainOfThought calls the LM with).
pub struct WithReasoning<S>(PhantomData<fn() -> S>);

/// An output with the LM's reasoning before it. Derefs to the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reasoned<O> {
    /// The step-by-step reasoning the LM wrote first.
    pub reasoning: String,
    /// The signature's own outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> std::ops::Deref for Reasoned<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

/// Extended metadata, built once per signature type and kept for the program's life.
fn extended_meta<S: Signature>() -> &'static SignatureMeta {
    static REGISTRY: OnceLock<Mutex<HashMap<TypeId, &'static SignatureMeta>>> = OnceLock::new();
    let registry = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = registry.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(TypeId::of::<S>()).or_insert_with(|| {
        let reasoning = FieldMeta::string("reasoning", Role::Output, None);
        Box::leak(Box::new(S::meta().with_leading_output(reasoning)))
    })
}

impl<S: Signature> Signature for WithReasoning<S> {
    type Input = S::Input;
    type Output = Reasoned<S::Output>;
    fn meta() -> &'static SignatureMeta {
        extended_meta::<S>()
    }
}

/// Asks the LM to reason step by step before answering: the output gains a `reasoning` field
/// ahead of `S`'s outputs, so swapping Predict for ChainOfThought is a type change.
pub struct ChainOfThought<S: Signature> {
    predict: Predict<WithReasoning<S>>,
}

impl<S: Signature> Clone for ChainOfThought<S> {
    fn clone(&self) -> Self {
        ChainOfThought {
            predict: self.predict.clone(),
        }
    }
}

impl<S: CotCompatible> Default for ChainOfThought<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Signature> std::fmt::Debug for ChainOfThought<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainOfThought")
            .field("predict", &self.predict)
            .finish()
    }
}

impl<S: Signature> ChainOfThought<S> {
    super::predictor_builders!(predict.core);

    /// A ChainOfThought with the signature's instructions and no demos.
    pub fn new() -> Self
    where
        S: CotCompatible,
    {
        let mut predict = Predict::new();
        predict.core.module = "ChainOfThought";
        ChainOfThought { predict }
    }

    /// Calls the LM with `input`.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<Reasoned<S::Output>>> {
        self.predict.call(input).await
    }

    /// The inner predictor (its signature has the `reasoning` field).
    pub fn predict(&self) -> &Predict<WithReasoning<S>> {
        &self.predict
    }

    /// The messages a call with `input` would send, without calling an LM.
    pub fn render(&self, input: &S::Input) -> Result<Vec<Message>> {
        self.predict.render(input)
    }

    /// [`ChainOfThought::render`] as stable text, for snapshots.
    pub fn render_text(&self, input: &S::Input) -> Result<String> {
        self.predict.render_text(input)
    }
}

impl<S: Signature> Module for ChainOfThought<S> {
    type Input = S::Input;
    type Output = Prediction<Reasoned<S::Output>>;
    fn forward(
        &self,
        input: S::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}

super::impl_predictor!([S: Signature] ChainOfThought<S>, predict.core);
