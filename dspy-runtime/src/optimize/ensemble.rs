//! `Ensemble`: several programs answer the same input; a reduce function picks the answer
//! (DSPy's `Ensemble` with `dspy.majority`).

use crate::error::{Error, Result};
use crate::module::Module;
use crate::program::Params;
use serde::Serialize;
use std::collections::HashMap;

/// Picks one output from the programs' outputs (`None` only for none).
pub type Reduce<O> = Box<dyn Fn(Vec<O>) -> Option<O> + Send + Sync>;

/// Runs every program on the input (concurrently, on the calling task) and reduces the
/// successful outputs to one; fails only if every program fails (with the first error).
pub struct Ensemble<P: Module> {
    programs: Vec<P>,
    reduce: Reduce<P::Output>,
}

impl<P: Module> Ensemble<P> {
    /// An ensemble of `programs` reduced by `reduce` (e.g. [`majority`]).
    pub fn new(
        programs: Vec<P>,
        reduce: impl Fn(Vec<P::Output>) -> Option<P::Output> + Send + Sync + 'static,
    ) -> Self {
        Ensemble {
            programs,
            reduce: Box::new(reduce),
        }
    }

    /// The programs.
    pub fn programs(&self) -> &[P] {
        &self.programs
    }
}

/// DSPy's `majority`: the most common output, compared by `key` (first seen wins a tie).
pub fn majority_by<O, K: Eq + std::hash::Hash>(
    key: impl Fn(&O) -> K,
) -> impl Fn(Vec<O>) -> Option<O> {
    move |outputs: Vec<O>| {
        let mut counts: HashMap<K, (usize, usize)> = HashMap::new();
        for (i, o) in outputs.iter().enumerate() {
            counts.entry(key(o)).or_insert((0, i)).0 += 1;
        }
        let (_, best) = counts
            .into_values()
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
        outputs.into_iter().nth(best)
    }
}

/// [`majority_by`] the output's JSON (for a `Prediction`, its fields).
pub fn majority<O: Serialize>(outputs: Vec<O>) -> Option<O> {
    majority_by(|o: &O| serde_json::to_string(o).unwrap_or_default())(outputs)
}

impl<P> Module for Ensemble<P>
where
    P: Module,
    P::Input: Clone + Sync,
{
    type Input = P::Input;
    type Output = P::Output;
    async fn forward(&self, input: P::Input) -> Result<P::Output> {
        let results = crate::module::run_bounded(
            self.programs.iter(),
            self.programs.len(),
            |p| p.forward(input.clone()),
            |_, _| std::ops::ControlFlow::Continue(()),
        )
        .await;
        let mut outputs = Vec::new();
        let mut first_error = None;
        for r in results.into_iter().flatten() {
            match r {
                Ok(o) => outputs.push(o),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (self.reduce)(outputs) {
            Some(o) => Ok(o),
            None => Err(first_error.unwrap_or_else(|| Error::Demo("an empty ensemble".into()))),
        }
    }
}

crate::program::params_of_field!([P: Module + Params] Ensemble<P>, programs, "programs");
