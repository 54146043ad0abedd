//! `MultiChainComparison`: M earlier answers (with their reasoning) shown to the LM as student
//! attempts, compared into one corrected rationale and answer (DSPy's
//! `dspy.MultiChainComparison`).

use crate::context::to_fields;
use crate::error::{Error, Result};
use crate::format::python_str;
use crate::lm::Message;
use crate::module::core::PredictCore;
use crate::module::{Prediction, render_messages};
use crate::signature::{FieldMeta, MetaRef, Role, Signature, SignatureMeta, WithTextInputs};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::Arc;

/// The outputs of a [`MultiChainComparison`]: the corrected `rationale`, then the signature's
/// own outputs (which `Deref` reaches).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Compared<O> {
    /// The reasoning the LM settled on after reading the attempts.
    pub rationale: String,
    /// The signature's own outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> std::ops::Deref for Compared<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

/// Shows the LM `m` completions of `S` (each its reasoning's first line and its last output
/// field's first line, as `«I'm trying to … I'm not sure but my prediction is …»`) as the
/// input fields `reasoning_attempt_1..m`, and asks for a `rationale` and the outputs of `S`.
/// Runs at temperature 0.7 unless configured otherwise, as DSPy does.
pub struct MultiChainComparison<S: Signature> {
    core: PredictCore,
    m: usize,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for MultiChainComparison<S> {
    fn clone(&self) -> Self {
        MultiChainComparison {
            core: self.core.clone(),
            m: self.m,
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> MultiChainComparison<S> {
    crate::module::predictor_builders!(core);

    /// A comparison of `m` attempts (DSPy's default is 3).
    pub fn new(m: usize) -> Self {
        let meta = compared_meta(S::meta(), m);
        let mut core = PredictCore::new(MetaRef::Shared(Arc::new(meta)), "MultiChainComparison");
        core.config = Arc::new(crate::lm::LmConfig::default().temperature(0.7));
        MultiChainComparison {
            core,
            m,
            _sig: PhantomData,
        }
    }

    /// How many attempts a call takes.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Compares `completions` (exactly `m` of them: typically `m` runs of a ChainOfThought
    /// over `S`) for `input`.
    pub async fn call<C: Serialize>(
        &self,
        input: S::Input,
        completions: &[C],
    ) -> Result<Prediction<Compared<S::Output>>> {
        let attempts = self.attempts(completions)?;
        let inputs = WithTextInputs {
            inputs: &input,
            n: S::meta().inputs().len(),
            extra: &attempts,
        };
        let fields = || {
            let mut map = to_fields(&input)?;
            for (i, a) in attempts.iter().enumerate() {
                map.insert(
                    format!("reasoning_attempt_{}", i + 1),
                    Value::String(a.clone()),
                );
            }
            Ok(map)
        };
        let outcome = self.core.run(&inputs, fields).await?;
        outcome.into_prediction()
    }

    /// The messages a call would send, without calling an LM.
    pub fn render<C: Serialize>(
        &self,
        input: &S::Input,
        completions: &[C],
    ) -> Result<Vec<Message>> {
        let attempts = self.attempts(completions)?;
        let inputs = WithTextInputs {
            inputs: input,
            n: S::meta().inputs().len(),
            extra: &attempts,
        };
        self.core.render(&self.core.adapter(), &inputs)
    }

    /// [`MultiChainComparison::render`] as stable text, for snapshots.
    pub fn render_text<C: Serialize>(&self, input: &S::Input, completions: &[C]) -> Result<String> {
        Ok(render_messages(&self.render(input, completions)?))
    }

    /// Each completion as DSPy words a student attempt.
    fn attempts<C: Serialize>(&self, completions: &[C]) -> Result<Vec<String>> {
        if completions.len() != self.m {
            return Err(Error::Module(format!(
                "The number of attempts ({}) doesn't match the expected number M ({}). Please set the correct value for M when initializing MultiChainComparison.",
                completions.len(),
                self.m
            )));
        }
        let last = S::meta()
            .outputs()
            .last()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        completions
            .iter()
            .map(|c| {
                let fields = to_fields(c)?;
                let text = |key: &str| -> String {
                    let s = match fields.get(key) {
                        Some(v) => python_str(v),
                        None => String::new(),
                    };
                    first_line(&s)
                };
                let rationale = match fields.get("rationale") {
                    Some(_) => text("rationale"),
                    None => text("reasoning"),
                };
                Ok(format!(
                    "«I'm trying to {rationale} I'm not sure but my prediction is {}»",
                    text(&last)
                ))
            })
            .collect()
    }
}

/// Python's `s.strip().split("\n")[0].strip()`.
fn first_line(s: &str) -> String {
    let s = s.trim();
    s.split('\n').next().unwrap_or("").trim().to_string()
}

/// `S`'s signature with the attempts appended to its inputs and `rationale` leading its
/// outputs.
fn compared_meta(base: &SignatureMeta, m: usize) -> SignatureMeta {
    let attempts = (1..=m).map(|i| {
        FieldMeta::string(
            format!("reasoning_attempt_{i}"),
            Role::Input,
            Some("${reasoning attempt}".into()),
        )
    });
    let rationale = FieldMeta::string(
        "rationale",
        Role::Output,
        Some("${corrected reasoning}".into()),
    );
    base.with_appended_inputs(attempts)
        .with_leading_output(rationale)
}

impl<S: Signature> crate::module::Module for MultiChainComparison<S>
where
    S::Input: Sync,
{
    type Input = (S::Input, Vec<Value>);
    type Output = Prediction<Compared<S::Output>>;
    async fn forward(&self, (input, completions): Self::Input) -> Result<Self::Output> {
        self.call(input, &completions).await
    }
}

crate::module::impl_predictor!([S: Signature] MultiChainComparison<S>, core);

/// DSPy's MultiChainComparison holds its predictor in a field named `predict`.
impl<S: Signature> crate::program::Params for MultiChainComparison<S> {
    fn visit_params<'a>(
        &'a self,
        path: &str,
        f: &mut dyn FnMut(String, &'a dyn crate::module::Predictor),
    ) {
        f(crate::program::join_path(path, "predict"), self);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn crate::module::Predictor),
    ) {
        f(crate::program::join_path(path, "predict"), self);
    }
}
