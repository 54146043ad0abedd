//! `BetterTogether`: prompt and weight optimizers chained by a strategy string such as
//! `"p -> w -> p"` (DSPy 3.2+'s meta-optimizer).

use crate::data::Example;
use crate::error::{Error, Result};
use crate::evaluate::Evaluate;
use crate::module::Module;
use crate::optimize::Optimizer;
use crate::program::Params;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// The metric every step receives, erased to one type.
pub type DynMetric<'m, I, L, O> = dyn Fn(&Example<I, L>, &O) -> f64 + Sync + 'm;

/// A step's compilation in progress.
pub type StepFuture<'a, P> = Pin<Box<dyn Future<Output = Result<P>> + 'a>>;

/// One optimizer of a strategy, over programs of type `P` and examples `Example<I, L>`.
/// Every [`Optimizer`] whose compiled program has the program's own type is one.
pub trait Step<P: Module, I, L>: Send + Sync {
    /// Compiles `program`, scoring with `metric` (on `valset` where the optimizer uses one).
    fn run<'a>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: Option<&'a [Example<I, L>]>,
        metric: &'a DynMetric<'a, I, L, P::Output>,
    ) -> StepFuture<'a, P>;
}

impl<O, P, I, L> Step<P, I, L> for O
where
    O: Optimizer<Compiled<P> = P> + Send + Sync,
    P: Module<Input = I> + Params + Clone,
    P::Output: Serialize,
    I: Clone + Serialize + Send + Sync,
    L: Clone + Serialize + Send + Sync,
{
    fn run<'a>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: Option<&'a [Example<I, L>]>,
        metric: &'a DynMetric<'a, I, L, P::Output>,
    ) -> StepFuture<'a, P> {
        Box::pin(async move {
            let scored = move |ex: &Example<I, L>, out: &P::Output| -> f64 { metric(ex, out) };
            let (compiled, _report) = self.optimize(program, trainset, valset, scored).await?;
            Ok(compiled)
        })
    }
}

/// DSPy's `BetterTogether`: optimizers registered by name run in the order a strategy string
/// gives (`"p -> w -> p"`), each compiling the previous step's program. The original program
/// and each step's result are scored on the validation set (the one given, or the first
/// `valset_ratio` of the training set, held out from the steps); the best is returned (the
/// earliest among equals), or the last when there is no validation set. The training set is
/// shuffled before each step (seeded). A step that fails ends the run with the best program so
/// far and the error in the report; a program whose scoring fails (too many failed calls)
/// scores 0 and the run goes on, as in DSPy.
pub struct BetterTogether<P: Module, I, L> {
    optimizers: BTreeMap<String, Box<dyn Step<P, I, L>>>,
    strategy: String,
    valset_ratio: f64,
    shuffle: bool,
    seed: u64,
    concurrency: usize,
    max_errors: Option<usize>,
    progress: bool,
}

/// One program BetterTogether scored.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The steps that made it (`""` for the original program, then `"p"`, `"p -> w"`, …).
    pub strategy: String,
    /// Its validation score in percent (`None` without a validation set).
    pub score: Option<f64>,
    /// Time to compile it (zero for the original).
    pub elapsed: Duration,
    /// Why scoring it failed, if it did (it then scores 0).
    pub error: Option<String>,
}

/// What a BetterTogether run did.
#[derive(Clone, Debug, Default)]
pub struct BetterTogetherReport {
    /// Every program scored, in run order (the original first).
    pub candidates: Vec<StepReport>,
    /// Which of them was returned.
    pub best: usize,
    /// The error that ended the run early, if one did.
    pub error: Option<String>,
}

impl std::fmt::Display for BetterTogetherReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.candidates.iter().enumerate() {
            let name = if c.strategy.is_empty() {
                "original"
            } else {
                &c.strategy
            };
            let score = c.score.map_or("-".to_string(), |s| format!("{s:.1}"));
            let mark = if i == self.best { " (returned)" } else { "" };
            writeln!(
                f,
                "{name}: {score} ({:.0} s){mark}",
                c.elapsed.as_secs_f64()
            )?;
            if let Some(e) = &c.error {
                writeln!(f, "  scoring failed: {e}")?;
            }
        }
        if let Some(e) = &self.error {
            writeln!(f, "stopped early: {e}")?;
        }
        Ok(())
    }
}

impl<P, I, L> Default for BetterTogether<P, I, L>
where
    P: Module<Input = I> + Params + Clone,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<P, I, L> BetterTogether<P, I, L>
where
    P: Module<Input = I> + Params + Clone,
{
    /// No optimizers yet (add them with [`optimizer`](Self::optimizer)); DSPy's defaults:
    /// strategy `p -> w -> p`, a tenth of the training set held out when no valset is given,
    /// shuffled between steps; seed 0; 8 evaluation calls in flight.
    pub fn new() -> Self {
        BetterTogether {
            optimizers: BTreeMap::new(),
            strategy: "p -> w -> p".into(),
            valset_ratio: 0.1,
            shuffle: true,
            seed: 0,
            concurrency: 8,
            max_errors: None,
            progress: false,
        }
    }

    /// Registers `optimizer` under `name` for the strategy string (`"p"`, `"w"`, `"mipro"`).
    pub fn optimizer(
        mut self,
        name: impl Into<String>,
        optimizer: impl Step<P, I, L> + 'static,
    ) -> Self {
        self.optimizers.insert(name.into(), Box::new(optimizer));
        self
    }

    /// The steps, names separated by `" -> "`.
    pub fn strategy(mut self, strategy: impl Into<String>) -> Self {
        self.strategy = strategy.into();
        self
    }

    /// The share of the training set held out for validation when no valset is given
    /// (in `[0, 1)`; 0 for none).
    pub fn valset_ratio(mut self, ratio: f64) -> Self {
        self.valset_ratio = ratio;
        self
    }

    /// Whether to shuffle the training set before each step (default on).
    pub fn shuffle_between_steps(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }

    /// The seed of the shuffles.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Evaluation calls in flight at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Failed calls that end a program's scoring (it then scores 0); default: `Evaluate`'s.
    pub fn max_errors(mut self, n: usize) -> Self {
        self.max_errors = Some(n);
        self
    }

    /// Evaluation progress on stderr.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The strategy as optimizer names; an unknown name, an empty step (`"p -> -> w"`) or an
    /// empty strategy is an error.
    fn parse_strategy(&self) -> Result<Vec<String>> {
        if self.strategy.trim().is_empty() {
            return Err(Error::Optimize(format!(
                "BetterTogether: the strategy {:?} names no step",
                self.strategy
            )));
        }
        let steps: Vec<String> = self
            .strategy
            .split("->")
            .map(|s| s.trim().to_string())
            .collect();
        if steps.iter().any(String::is_empty) {
            return Err(Error::Optimize(format!(
                "BetterTogether: the strategy {:?} has an empty step; write optimizer names separated by \" -> \"",
                self.strategy
            )));
        }
        if let Some(bad) = steps.iter().find(|s| !self.optimizers.contains_key(*s)) {
            let known: Vec<&str> = self.optimizers.keys().map(String::as_str).collect();
            return Err(Error::Optimize(format!(
                "BetterTogether: the strategy {:?} names `{bad}`, which is not one of its optimizers ({})",
                self.strategy,
                if known.is_empty() {
                    "none registered".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        Ok(steps)
    }

    /// Compiles `program`, holding out `valset_ratio` of `trainset` for validation.
    pub async fn compile<F, S>(
        &self,
        program: &P,
        trainset: &[Example<I, L>],
        metric: F,
    ) -> Result<(P, BetterTogetherReport)>
    where
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        P::Output: Serialize,
        F: Fn(&Example<I, L>, &P::Output) -> S + Sync,
        S: crate::evaluate::metrics::Score,
    {
        if !(0.0..1.0).contains(&self.valset_ratio) {
            return Err(Error::Optimize(format!(
                "BetterTogether: valset_ratio must be in [0, 1), got {}",
                self.valset_ratio
            )));
        }
        let n_val = (self.valset_ratio * trainset.len() as f64) as usize;
        let (val, train) = trainset.split_at(n_val);
        let val = (!val.is_empty()).then_some(val);
        self.run(program, train, val, &metric).await
    }

    /// Compiles `program`, scoring every step's result on `valset` (an empty one holds out
    /// `valset_ratio` of the training set instead, as DSPy does).
    pub async fn compile_with_valset<F, S>(
        &self,
        program: &P,
        trainset: &[Example<I, L>],
        valset: &[Example<I, L>],
        metric: F,
    ) -> Result<(P, BetterTogetherReport)>
    where
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        P::Output: Serialize,
        F: Fn(&Example<I, L>, &P::Output) -> S + Sync,
        S: crate::evaluate::metrics::Score,
    {
        if valset.is_empty() {
            return self.compile(program, trainset, metric).await;
        }
        self.run(program, trainset, Some(valset), &metric).await
    }

    async fn run<F, S>(
        &self,
        program: &P,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: &F,
    ) -> Result<(P, BetterTogetherReport)>
    where
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        P::Output: Serialize,
        F: Fn(&Example<I, L>, &P::Output) -> S + Sync,
        S: crate::evaluate::metrics::Score,
    {
        if trainset.is_empty() {
            return Err(Error::Optimize(
                "BetterTogether: the training set is empty".into(),
            ));
        }
        let steps = self.parse_strategy()?;
        let scored = |ex: &Example<I, L>, out: &P::Output| -> f64 { metric(ex, out).into() };
        let dyn_metric: &DynMetric<'_, I, L, P::Output> = &scored;
        // A scoring that fails (too many failed calls) scores 0, as DSPy's
        // `eval_candidate_program` does, and says why.
        let evaluate = |p: &P| {
            let p = p.clone();
            async move {
                let Some(val) = valset else {
                    return (None, None);
                };
                let mut evaluate = Evaluate::new(val)
                    .concurrency(self.concurrency)
                    .progress(self.progress);
                if let Some(n) = self.max_errors {
                    evaluate = evaluate.max_errors(n);
                }
                match evaluate.run(&p, dyn_metric).await {
                    Ok(r) => match r.stopped {
                        None => (Some(r.score), None),
                        Some(why) => (Some(0.0), Some(why)),
                    },
                    Err(e) => (Some(0.0), Some(e.to_string())),
                }
            }
        };

        let mut report = BetterTogetherReport::default();
        let mut programs: Vec<P> = vec![program.clone()];
        let (score, error) = evaluate(program).await;
        report.candidates.push(StepReport {
            strategy: String::new(),
            score,
            elapsed: Duration::ZERO,
            error,
        });
        let mut train: Vec<Example<I, L>> = trainset.to_vec();
        let mut rng = fastrand::Rng::with_seed(self.seed);
        for (i, name) in steps.iter().enumerate() {
            if self.shuffle {
                rng.shuffle(&mut train);
            }
            let started = Instant::now();
            let Some(step) = self.optimizers.get(name) else {
                break;
            };
            let current = programs.last().unwrap_or(program);
            let compiled = match step.run(current, &train, valset, dyn_metric).await {
                Ok(p) => p,
                Err(e) => {
                    report.error = Some(format!("step `{name}` failed: {e}"));
                    break;
                }
            };
            let elapsed = started.elapsed();
            let (score, error) = evaluate(&compiled).await;
            report.candidates.push(StepReport {
                strategy: steps[..=i].join(" -> "),
                score,
                elapsed,
                error,
            });
            programs.push(compiled);
        }
        report.best = if valset.is_some() {
            let mut best = 0;
            for (i, c) in report.candidates.iter().enumerate() {
                if c.score.unwrap_or(f64::NEG_INFINITY)
                    > report.candidates[best].score.unwrap_or(f64::NEG_INFINITY)
                {
                    best = i;
                }
            }
            best
        } else {
            report.candidates.len() - 1
        };
        let best = programs.swap_remove(report.best);
        Ok((best, report))
    }
}
