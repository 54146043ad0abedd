//! What BestOfN and Refine share: attempts at temperature 1.0 with their own rollout ids, each
//! traced and rewarded, the first at the threshold or the best kept, failures counted.

use crate::context::{self, Hints, Records, TraceEntry, traced_nested};
use crate::error::{Error, Result};
use crate::evaluate::metrics::Score;
use crate::lm::BoxFuture;
use crate::module::Module;
use std::sync::Arc;

/// A reward over a module's typed input and output.
pub(super) struct Reward<M: Module>(Arc<RewardFn<M>>);

type RewardFn<M> =
    dyn Fn(&<M as Module>::Input, &<M as Module>::Output) -> f64 + Send + Sync + 'static;

impl<M: Module> Reward<M> {
    pub fn new<S: Score>(f: impl Fn(&M::Input, &M::Output) -> S + Send + Sync + 'static) -> Self {
        Reward(Arc::new(move |i, o| f(i, o).into()))
    }
}

impl<M: Module> Clone for Reward<M> {
    fn clone(&self) -> Self {
        Reward(self.0.clone())
    }
}

/// One attempt that ran to an output and fell short of the threshold, with attempts left:
/// what Refine's advice is made from.
pub(super) struct ShortAttempt<'a, M: Module> {
    pub input: &'a M::Input,
    pub output: &'a M::Output,
    pub reward: f64,
    pub trace: &'a [TraceEntry],
}

/// How many attempts, scored how, stopping where.
pub(super) struct Attempts<M: Module> {
    pub n: usize,
    pub reward: Reward<M>,
    pub threshold: f64,
    pub fail_count: Option<usize>,
    /// `BestOfN` or `Refine`, for the warnings.
    pub name: &'static str,
}

impl<M: Module> Clone for Attempts<M> {
    fn clone(&self) -> Self {
        Attempts {
            n: self.n,
            reward: self.reward.clone(),
            threshold: self.threshold,
            fail_count: self.fail_count,
            name: self.name,
        }
    }
}

impl<M: Module> Attempts<M> {
    pub fn new(n: usize, reward: Reward<M>, threshold: f64, name: &'static str) -> Self {
        Attempts {
            n: n.max(1),
            reward,
            threshold,
            fail_count: None,
            name,
        }
    }
}

/// Advice for the next attempt from one that fell short (none for BestOfN).
pub(super) type Advise<'s, M> =
    dyn for<'a> Fn(ShortAttempt<'a, M>) -> BoxFuture<'s, Result<Option<Hints>>> + Send + Sync + 's;

impl<M: Module> Attempts<M>
where
    M::Input: Clone + Sync,
{
    /// Runs up to `n` attempts of `module` on `input`. After an attempt below the threshold
    /// with attempts left, `advise` gives the hints the next attempt's predictors see (none
    /// for BestOfN); an error there counts as a failed attempt, as in DSPy.
    pub async fn run(
        &self,
        module: &M,
        input: M::Input,
        advise: &Advise<'_, M>,
    ) -> Result<M::Output> {
        let start = context::rollout_id().unwrap_or(0);
        let allowed = self.fail_count.unwrap_or(self.n);
        let mut best: Option<(f64, M::Output, Records)> = None;
        let mut hints: Option<Arc<Hints>> = None;
        let (mut failures, mut last_error) = (0, None);
        for i in 0..self.n {
            let rollout = start + i as u64;
            let attempt = context::scope()
                .rollout(1.0, rollout)
                .hints(hints.clone())
                .run(module.forward(input.clone()));
            // On the heap: an attempt nests the module's whole future, which inside an
            // optimizer's own would otherwise grow the stack past a thread's.
            let (output, records) = Box::pin(traced_nested(attempt)).await;
            let step = async {
                let output = output?;
                let reward = (self.reward.0)(&input, &output);
                let last = i + 1 == self.n;
                // Advice comes from this attempt before it may become the best one kept.
                // (Its predictor calls that parsed: what DSPy's trace of an attempt holds.)
                let advice = if reward >= self.threshold || last {
                    Ok(None)
                } else {
                    let calls = &records.calls;
                    let parsed: std::borrow::Cow<'_, [TraceEntry]> =
                        if calls.iter().any(|e| e.failed_parse.is_some()) {
                            calls
                                .iter()
                                .filter(|e| e.failed_parse.is_none())
                                .cloned()
                                .collect()
                        } else {
                            calls.into()
                        };
                    advise(ShortAttempt {
                        input: &input,
                        output: &output,
                        reward,
                        trace: &parsed,
                    })
                    .await
                };
                let stop = reward >= self.threshold;
                if best.as_ref().is_none_or(|(b, _, _)| reward > *b) {
                    best = Some((reward, output, records));
                }
                advice.map(|a| (stop, a))
            };
            match step.await {
                Ok((true, _)) => break,
                Ok((false, advice)) => hints = advice.map(Arc::new),
                Err(e) => {
                    tracing::warn!(
                        module = self.name,
                        attempt = i + 1,
                        rollout_id = rollout,
                        error = %e,
                        "attempt failed"
                    );
                    failures += 1;
                    if failures > allowed {
                        return Err(e);
                    }
                    last_error = Some(e);
                }
            }
        }
        match best {
            Some((_, output, records)) => {
                context::extend_trace(records);
                Ok(output)
            }
            None => Err(last_error.unwrap_or_else(|| {
                Error::Module(format!("{}: no attempt produced an output", self.name))
            })),
        }
    }
}
