//! `Refine`: BestOfN that, after an attempt below the threshold, asks the LM for advice to each
//! predictor and gives it to them as a `hint_` input on the next attempt (DSPy's `dspy.Refine`).

use super::attempts::{Advise, Attempts, Reward, ShortAttempt};
use super::offer_feedback::{inspect_modules, offer_feedback};
use crate::context::{Hints, run_module};
use crate::error::{Error, Result};
use crate::evaluate::metrics::Score;
use crate::lm::{BoxFuture, Lm, LmConfig};
use crate::module::Module;
use crate::program::{Params, ParamsExt};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Runs `module` up to `n` times like [`BestOfN`](super::BestOfN); after each attempt whose
/// reward falls short of `threshold` (with attempts left), an LM call with DSPy's
/// `OfferFeedback` prompt reads the program, the attempt's trajectory and its reward, and
/// writes advice per predictor. On the next attempt every predictor gets its advice (or
/// `N/A`) as an extra input field `hint_`.
///
/// DSPy shows the advice LM the source of the module's class and of the reward function;
/// Rust has no source at run time, so give them with [`Refine::program_code`] and
/// [`Refine::reward_code`] (`include_str!` of the file works); by default they are the
/// module's type name and a line saying the code is not given.
pub struct Refine<M: Module> {
    module: M,
    attempts: Attempts<M>,
    program_code: Arc<str>,
    reward_code: Arc<str>,
    advice_lm: Option<Lm>,
    advice_config: Option<LmConfig>,
}

impl<M: Module + Params> Refine<M> {
    /// Up to `n` attempts of `module`, scored by `reward` (a `bool` or a number), stopping at
    /// the first that reaches `threshold`.
    pub fn new<S: Score>(
        module: M,
        n: usize,
        reward: impl Fn(&M::Input, &M::Output) -> S + Send + Sync + 'static,
        threshold: f64,
    ) -> Self {
        Refine {
            module,
            attempts: Attempts::new(n, Reward::new(reward), threshold, "Refine"),
            program_code: std::any::type_name::<M>().into(),
            reward_code: "(the reward function's code is not given)".into(),
            advice_lm: None,
            advice_config: None,
        }
    }

    /// How many failed attempts (errors, not low rewards; a failed advice call counts) are
    /// tolerated before the call fails with the last error (default: `n`).
    pub fn fail_count(mut self, n: usize) -> Self {
        self.attempts.fail_count = Some(n);
        self
    }

    /// The program's code as the advice LM sees it (DSPy: the module class's source).
    pub fn program_code(mut self, code: impl Into<String>) -> Self {
        self.program_code = code.into().into();
        self
    }

    /// The reward function's code as the advice LM sees it (DSPy: its source).
    pub fn reward_code(mut self, code: impl Into<String>) -> Self {
        self.reward_code = code.into().into();
        self
    }

    /// The LM that writes the advice (default: the one in effect where `Refine` is called).
    pub fn advice_lm(mut self, lm: impl Into<Lm>) -> Self {
        self.advice_lm = Some(lm.into());
        self
    }

    /// Sampling settings of the advice call (e.g. a `max_tokens` for a small local model).
    pub fn advice_config(mut self, config: LmConfig) -> Self {
        self.advice_config = Some(config);
        self
    }

    /// The module it runs.
    pub fn module(&self) -> &M {
        &self.module
    }

    /// Runs the attempts (the same as [`Module::forward`]).
    pub async fn call(&self, input: M::Input) -> Result<M::Output>
    where
        M::Input: Clone + Sync + Serialize,
        M::Output: Serialize,
    {
        self.forward(input).await
    }

    /// Advice for each predictor from one attempt that fell short.
    fn advise<'a>(&'a self, short: ShortAttempt<'_, M>) -> BoxFuture<'a, Result<Option<Hints>>>
    where
        M::Input: Serialize,
        M::Output: Serialize,
    {
        // Everything is read from the attempt here, so the future holds none of it.
        let prepared = self.advice_inputs(short);
        Box::pin(async move {
            let (inputs, predictors) = prepared?;
            let mut predict = offer_feedback()?;
            if let Some(lm) = &self.advice_lm {
                predict = predict.with_lm(lm.clone());
            }
            if let Some(config) = &self.advice_config {
                predict = predict.with_config(config.clone());
            }
            let pred = predict.call(inputs).await?;
            let advice = match pred.output().get("advice") {
                Some(Value::Object(m)) => m,
                other => {
                    return Err(Error::Module(format!(
                        "Refine: the advice is not a map of module name to text: {other:?}"
                    )));
                }
            };
            let by_id = predictors
                .into_iter()
                .map(|(path, id)| {
                    let text = match advice.get(path.as_str()) {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                        None => "N/A".to_string(),
                    };
                    (id, text)
                })
                .collect();
            Ok(Some(Hints::new(by_id)))
        })
    }

    /// The advice call's inputs (DSPy's, each a string: JSON values pretty-printed as orjson
    /// does), and each predictor's path and id.
    fn advice_inputs(
        &self,
        short: ShortAttempt<'_, M>,
    ) -> Result<(Map<String, Value>, PredictorIds)>
    where
        M::Input: Serialize,
        M::Output: Serialize,
    {
        let named = self.module.named_predictors();
        let name_of: HashMap<usize, &str> = named
            .iter()
            .map(|(path, p)| (p.core_id(), path.as_str()))
            .collect();
        let module_names: Vec<&str> = named.iter().map(|(path, _)| path.as_str()).collect();
        let trajectory: Vec<Value> = short
            .trace
            .iter()
            .map(|t| {
                json!({
                    "module_name": name_of.get(&t.predictor).copied().unwrap_or("unknown"),
                    "inputs": t.inputs,
                    "outputs": t.outputs,
                })
            })
            .collect();
        let mut inputs = Map::new();
        let mut put = |k: &str, v: String| {
            inputs.insert(k.to_string(), Value::String(v));
        };
        put("program_code", self.program_code.to_string());
        put("modules_defn", inspect_modules(&named));
        put("program_inputs", pretty(short.input)?);
        put("program_trajectory", pretty(&trajectory)?);
        put("program_outputs", pretty(short.output)?);
        put("reward_code", self.reward_code.to_string());
        put("target_threshold", float(self.attempts.threshold));
        put("reward_value", float(short.reward));
        put("module_names", pretty(&module_names)?);
        let ids = named
            .iter()
            .map(|(path, p)| (path.clone(), p.core_id()))
            .collect();
        Ok((inputs, ids))
    }
}

/// Each predictor's path and id.
type PredictorIds = Vec<(String, usize)>;

/// orjson's `OPT_INDENT_2` form of a value, as DSPy dumps the advice inputs.
fn pretty(v: &impl Serialize) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Serialize(e.to_string()))
}

/// A float as orjson writes it (`1.0`, `0.5`).
fn float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

impl<M: Module + Params + Clone> Clone for Refine<M> {
    fn clone(&self) -> Self {
        Refine {
            module: self.module.clone(),
            attempts: self.attempts.clone(),
            program_code: self.program_code.clone(),
            reward_code: self.reward_code.clone(),
            advice_lm: self.advice_lm.clone(),
            advice_config: self.advice_config.clone(),
        }
    }
}

impl<M> Module for Refine<M>
where
    M: Module + Params,
    M::Input: Clone + Sync + Serialize,
    M::Output: Serialize,
{
    type Input = M::Input;
    type Output = M::Output;

    async fn forward(&self, input: M::Input) -> Result<M::Output> {
        let advise: &Advise<'_, M> = &|short| self.advise(short);
        let attempts = |input| async move { self.attempts.run(&self.module, input, advise).await };
        run_module("Refine", input, attempts, |_| None).await
    }
}

crate::program::params_of_field!([M: Module + Params] Refine<M>, module, "module");
