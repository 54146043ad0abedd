//! GEPA: reflective prompt evolution. A pool of candidate programs (each a map of predictor
//! path → instruction) grows one child at a time: a parent drawn from the per-instance Pareto
//! frontier of validation scores runs a small training minibatch with traces; the reflection
//! LM reads what each predictor was given, what it said and the metric's feedback, and writes
//! a new instruction; the child joins the pool only if it beats its parent on that minibatch,
//! and is then scored on the whole valset. Descendants of a common ancestor that changed
//! different predictors are merged. DSPy 3.4.1's `dspy.GEPA` over the `gepa` 0.1 engine: its
//! defaults, reflection prompt and budget rules.

mod engine;
mod feedback;
mod merge;
mod pareto;
mod reflect;
mod report;
mod state;

pub use feedback::{pred_name, pred_trace, program_retrievals, program_trace};
pub use reflect::{InstructionProposer, ReflectiveDataset, ReflectiveExample};
pub use report::{GepaCandidate, GepaReport};
pub use state::Step;

use super::Optimizer;
use super::mipro::Auto;
use super::spend::{Budget, tracked};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::evaluate::metrics::{Metric, Score};
use crate::lm::Lm;
use crate::module::Module;
use crate::program::Params;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How GEPA picks the parent of the next child (DSPy's `candidate_selection_strategy`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Selection {
    /// Drawn from the non-dominated programs of the frontier, by how many fronts each is on
    /// (the default).
    Pareto,
    /// The program with the best mean validation score.
    CurrentBest,
    /// A random program with probability ε, else the best one.
    EpsilonGreedy(f64),
}

/// Which predictors one reflection rewrites (DSPy's `component_selector`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Components {
    /// One predictor per iteration, in turn (the default).
    RoundRobin,
    /// Every predictor at once.
    All,
}

/// What the frontier is kept over (GEPA's `frontier_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frontier {
    /// Each validation instance (the default).
    Instance,
    /// Each objective the metric names (mean over the valset).
    Objective,
    /// Both.
    Hybrid,
}

/// How long GEPA runs: exactly one of these (DSPy asserts the same).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Limit {
    Auto(Auto),
    FullEvals(usize),
    MetricCalls(u64),
}

/// DSPy's `GEPA`. Set exactly one of [`Gepa::auto`], [`Gepa::max_full_evals`],
/// [`Gepa::max_metric_calls`], and a [`Gepa::reflection_lm`] (or a custom
/// [`Gepa::instruction_proposer`]).
///
/// The metric may return `bool` or `f64`, or a [`Feedback`](crate::Feedback) with text saying
/// what went wrong: GEPA calls it once to score a run, and again per predictor it reflects on,
/// with [`pred_name`] and [`pred_trace`] saying which predictor (so feedback can blame a
/// stage). Without feedback the reflection LM is told the score alone, as in DSPy.
///
/// Candidates are scored on the valset (the training set when none is given, as DSPy does);
/// minibatches come from the training set. A [`Gepa::checkpoint`] file makes the run
/// resumable: the state is saved after every iteration, and a run started with the same
/// program, data and settings goes on from it and reaches the same result.
#[derive(Clone)]
pub struct Gepa {
    limit: Option<Limit>,
    limits_set: u8,
    minibatch: usize,
    selection: Selection,
    components: Components,
    frontier: Frontier,
    reflection_temperature: f32,
    proposer: Option<Arc<dyn InstructionProposer>>,
    skip_perfect_score: bool,
    perfect_score: f64,
    failure_score: f64,
    format_failures: bool,
    use_merge: bool,
    max_merges: usize,
    track_best_outputs: bool,
    checkpoint: Option<PathBuf>,
    no_improvement: Option<usize>,
    threshold: Option<f64>,
    timeout: Option<Duration>,
    max_reflection_cost: Option<f64>,
    prompt_model: Option<Lm>,
    concurrency: usize,
    seed: u64,
    budget: Budget,
    progress: bool,
}

impl Default for Gepa {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Gepa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gepa")
            .field("limit", &self.limit)
            .field("minibatch", &self.minibatch)
            .field("selection", &self.selection)
            .field("components", &self.components)
            .field("use_merge", &self.use_merge)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Gepa {
    /// DSPy's defaults: reflection minibatches of 3, Pareto selection, round-robin components,
    /// merge on (at most 5), skip perfect minibatches (perfect = 1.0), failures score 0.0,
    /// seed 0, reflection sampled at temperature 1.0.
    pub fn new() -> Self {
        Gepa {
            limit: None,
            limits_set: 0,
            minibatch: 3,
            selection: Selection::Pareto,
            components: Components::RoundRobin,
            frontier: Frontier::Instance,
            reflection_temperature: 1.0,
            proposer: None,
            skip_perfect_score: true,
            perfect_score: 1.0,
            failure_score: 0.0,
            format_failures: false,
            use_merge: true,
            max_merges: 5,
            track_best_outputs: false,
            checkpoint: None,
            no_improvement: None,
            threshold: None,
            timeout: None,
            max_reflection_cost: None,
            prompt_model: None,
            concurrency: 8,
            seed: 0,
            budget: Budget::default(),
            progress: true,
        }
    }

    super::search_builders!();

    /// Sets the limit; setting the same kind again replaces it, another kind is an error at
    /// compile time (as DSPy refuses two).
    fn limit(mut self, limit: Limit) -> Self {
        self.limits_set |= match limit {
            Limit::Auto(_) => 1,
            Limit::FullEvals(_) => 2,
            Limit::MetricCalls(_) => 4,
        };
        self.limit = Some(limit);
        self
    }

    /// A budget in metric calls from DSPy's `auto_budget` (light, medium or heavy).
    pub fn auto(self, auto: Auto) -> Self {
        self.limit(Limit::Auto(auto))
    }

    /// A budget of `n` full evaluations of the training set and valset.
    pub fn max_full_evals(self, n: usize) -> Self {
        self.limit(Limit::FullEvals(n))
    }

    /// A budget of `n` metric calls (program runs scored).
    pub fn max_metric_calls(self, n: u64) -> Self {
        self.limit(Limit::MetricCalls(n))
    }

    /// The LM that reflects and proposes instructions (DSPy's `reflection_lm`; the same
    /// field as `prompt_model`).
    pub fn reflection_lm(self, lm: impl Into<Lm>) -> Self {
        self.prompt_model(lm)
    }

    /// The reflection LM's sampling temperature (1.0, as DSPy's documentation recommends).
    pub fn reflection_temperature(mut self, t: f32) -> Self {
        self.reflection_temperature = t;
        self
    }

    /// Training examples per reflection minibatch (3).
    pub fn reflection_minibatch_size(mut self, n: usize) -> Self {
        self.minibatch = n.max(1);
        self
    }

    /// How parents are picked.
    pub fn candidate_selection(mut self, s: Selection) -> Self {
        self.selection = s;
        self
    }

    /// Which predictors a reflection rewrites.
    pub fn component_selector(mut self, c: Components) -> Self {
        self.components = c;
        self
    }

    /// What the frontier is kept over.
    pub fn frontier(mut self, f: Frontier) -> Self {
        self.frontier = f;
        self
    }

    /// A custom proposer in place of the reflection prompt.
    pub fn instruction_proposer(mut self, p: impl InstructionProposer + 'static) -> Self {
        self.proposer = Some(Arc::new(p));
        self
    }

    /// Whether a minibatch on which the parent is already perfect is skipped (true).
    pub fn skip_perfect_score(mut self, on: bool) -> Self {
        self.skip_perfect_score = on;
        self
    }

    /// The score counted as perfect (1.0).
    pub fn perfect_score(mut self, s: f64) -> Self {
        self.perfect_score = s;
        self
    }

    /// The score of a run that failed (0.0).
    pub fn failure_score(mut self, s: f64) -> Self {
        self.failure_score = s;
        self
    }

    /// Whether a predictor call whose reply failed to parse goes into the reflective dataset
    /// (false, DSPy's `add_format_failure_as_feedback`): its reply, with the prompt structure
    /// the predictor should have followed as the feedback, so the reflection LM can fix the
    /// format. Such a call is chosen before the run's other calls of that predictor, also in a
    /// run that went on past it (ReAct ends an episode on a step it cannot parse).
    pub fn add_format_failure_as_feedback(mut self, on: bool) -> Self {
        self.format_failures = on;
        self
    }

    /// Whether frontier programs are merged (true), and at most how many merges (5).
    pub fn merge(mut self, on: bool, max: usize) -> Self {
        self.use_merge = on;
        self.max_merges = max;
        self
    }

    /// Keeps the best outputs per validation instance in the report.
    pub fn track_best_outputs(mut self, on: bool) -> Self {
        self.track_best_outputs = on;
        self
    }

    /// Saves the run state to `path` after every iteration and resumes from it when it
    /// exists (it must be of the same program, data and settings).
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// Stops after `n` iterations without a better mean validation score.
    pub fn stop_without_improvement(mut self, n: usize) -> Self {
        self.no_improvement = Some(n.max(1));
        self
    }

    /// Stops once the best mean validation score reaches `score`.
    pub fn stop_at_score(mut self, score: f64) -> Self {
        self.threshold = Some(score);
        self
    }

    /// Stops after `d` of wall time (this process's).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Stops once the reflection LM has cost `dollars`.
    pub fn max_reflection_cost(mut self, dollars: f64) -> Self {
        self.max_reflection_cost = Some(dollars);
        self
    }

    /// The metric-call budget for `preds` predictors, a training set of `train` and a valset
    /// of `val` (`None` when the training set doubles as one).
    fn metric_calls(&self, preds: usize, train: usize, val: Option<usize>) -> Result<u64> {
        if self.limits_set.count_ones() != 1 {
            return Err(Error::Optimize(format!(
                "GEPA: set exactly one of auto, max_full_evals and max_metric_calls ({} set)",
                self.limits_set.count_ones()
            )));
        }
        Ok(match self.limit {
            Some(Limit::Auto(a)) => auto_budget(preds.max(1), a.settings().0, val.unwrap_or(train)),
            Some(Limit::FullEvals(n)) => (n * (train + val.unwrap_or(0))) as u64,
            Some(Limit::MetricCalls(n)) => n,
            None => 0,
        })
    }
}

/// DSPy's `GEPA.auto_budget`: the metric calls of MIPROv2-like trials over `n` candidates
/// (minibatches of 35, a full evaluation every 5).
fn auto_budget(preds: usize, n: usize, val: usize) -> u64 {
    let trials = (2.0 * (preds as f64 * 2.0) * (n as f64).log2()).max(1.5 * n as f64) as usize;
    let (m, steps) = (35, 5);
    let mut total = val + n * 5 + trials * m;
    if trials == 0 {
        return total as u64;
    }
    let periodic = (trials + 1) / steps + 1;
    let extra = usize::from(trials < steps);
    total += (periodic + extra) * val;
    total as u64
}

impl Optimizer for Gepa {
    type Compiled<P> = P;
    type Report = GepaReport;

    /// Evolves `program`'s instructions: minibatches from `trainset`, the frontier and the
    /// final choice over `valset` (the training set when none is given).
    async fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: Option<&'a [Example<I, L>]>,
        metric: F,
    ) -> Result<(P, GepaReport)>
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        let ((compiled, state, best, resumed), mut summary) =
            tracked("GEPA", async |spend, report| {
                engine::run(self, program, trainset, valset, &metric, spend, report).await
            })
            .await?;
        let (trials, best_trial) = engine::trials(&state, best);
        summary.trials = trials;
        summary.best = best_trial;
        summary.best_score = state.mean_scores().get(best).copied();
        Ok((
            compiled,
            GepaReport::from_state(&state, best, summary, resumed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_budgets_are_dspys() {
        // dspy.GEPA(auto="light").auto_budget(num_preds=1, num_candidates=6, valset_size=100)
        assert_eq!(auto_budget(1, 6, 100), 780);
        // medium, 2 predictors, valset 50
        assert_eq!(auto_budget(2, 12, 50), 1390);
        // heavy, 1 predictor, valset 300
        assert_eq!(auto_budget(1, 18, 300), 3135);
    }

    #[test]
    fn exactly_one_limit() {
        let none = Gepa::new().metric_calls(1, 10, None);
        assert!(none.is_err_and(|e| e.to_string().contains("exactly one")));
        let two = Gepa::new().auto(Auto::Light).max_metric_calls(5);
        assert!(two.metric_calls(1, 10, None).is_err());
        let again = Gepa::new().max_metric_calls(5).max_metric_calls(7);
        assert_eq!(again.metric_calls(1, 10, None).ok(), Some(7));
        let full = Gepa::new().max_full_evals(2).metric_calls(1, 10, Some(5));
        assert_eq!(full.ok(), Some(30));
    }
}
