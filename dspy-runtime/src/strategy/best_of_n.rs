//! `BestOfN`: run a module up to N times at temperature 1.0, each attempt with its own rollout
//! id, and keep the first output whose reward reaches the threshold, else the best (DSPy's
//! `dspy.BestOfN`).

use super::attempts::{Advise, Attempts, Reward};
use crate::context::run_module;
use crate::error::Result;
use crate::evaluate::metrics::Score;
use crate::lm::BoxFuture;
use crate::module::Module;
use crate::program::Params;
use serde::Serialize;

/// Runs `module` up to `n` times and returns the first output whose reward is at or above
/// `threshold`, else the one with the highest reward.
///
/// Attempt `i` runs at temperature 1.0 with rollout id `start + i` (`start` is the enclosing
/// scope's rollout id, else 0), so each attempt is a fresh sample that the cache keeps apart.
/// The reward sees the typed input and output. Inside a traced run (an optimizer's), only the
/// chosen attempt's predictor calls join the trace, as in DSPy. The README's "Inference-time
/// strategies" section has a runnable example.
pub struct BestOfN<M: Module> {
    module: M,
    attempts: Attempts<M>,
}

impl<M: Module> BestOfN<M> {
    /// Up to `n` attempts of `module`, scored by `reward` (a `bool` or a number), stopping at
    /// the first that reaches `threshold`.
    pub fn new<S: Score>(
        module: M,
        n: usize,
        reward: impl Fn(&M::Input, &M::Output) -> S + Send + Sync + 'static,
        threshold: f64,
    ) -> Self {
        BestOfN {
            module,
            attempts: Attempts::new(n, Reward::new(reward), threshold, "BestOfN"),
        }
    }

    /// How many failed attempts (errors, not low rewards) are tolerated before the call fails
    /// with the last error (default: `n`).
    pub fn fail_count(mut self, n: usize) -> Self {
        self.attempts.fail_count = Some(n);
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
    {
        self.forward(input).await
    }
}

impl<M: Module + Clone> Clone for BestOfN<M> {
    fn clone(&self) -> Self {
        BestOfN {
            module: self.module.clone(),
            attempts: self.attempts.clone(),
        }
    }
}

impl<M> Module for BestOfN<M>
where
    M: Module,
    M::Input: Clone + Sync + Serialize,
{
    type Input = M::Input;
    type Output = M::Output;

    async fn forward(&self, input: M::Input) -> Result<M::Output> {
        let advise: &Advise<'_, M> = &|_| -> BoxFuture<'static, _> { Box::pin(async { Ok(None) }) };
        let attempts = |input| async move { self.attempts.run(&self.module, input, advise).await };
        run_module("BestOfN", input, attempts, |_| None).await
    }
}

crate::program::params_of_field!([M: Module + Params] BestOfN<M>, module, "module");
