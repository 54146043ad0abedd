//! `BootstrapFewShotWithRandomSearch`: DSPy's candidate set — zero-shot, labelled demos only,
//! an unshuffled bootstrap, then bootstraps of shuffled training sets with random demo counts —
//! each evaluated on the validation set; the best is kept.

use super::{BootstrapFewShot, LabeledFewShot};
use crate::data::Example;
use crate::demo::Demo;
use crate::error::Result;
use crate::evaluate::Evaluate;
use crate::evaluate::metrics::{Metric, Score};
use crate::module::Module;
use crate::program::{Params, ParamsExt};
use futures_util::StreamExt;
use serde::Serialize;
use std::time::{Duration, Instant};

/// DSPy's `BootstrapFewShotWithRandomSearch`. Candidates are built and evaluated in DSPy's
/// order; at most `concurrency` LM calls are in flight across all of them, the earliest
/// unfinished candidate's first, so its prompts (which share its demos) reach the server back
/// to back while later candidates fill only the places it leaves idle — never candidates ×
/// concurrency. The first of equal scores wins; with `stop_at_score`, the search stops at the
/// first candidate to reach it.
#[derive(Clone, Debug)]
pub struct RandomSearch {
    bootstrap: BootstrapFewShot,
    num_candidates: usize,
    concurrency: usize,
    stop_at_score: Option<f64>,
}

/// One candidate program and its validation score.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// `zero-shot`, `labeled`, `bootstrap`, or `bootstrap seed N (k demos)`.
    pub label: String,
    /// The validation score (percent, as Evaluate reports it).
    pub score: f64,
    /// LM calls spent compiling and evaluating it.
    pub lm_calls: u64,
}

/// What a random search did.
#[derive(Clone, Debug, Default)]
pub struct SearchReport {
    /// Every candidate, in the order tried.
    pub candidates: Vec<Candidate>,
    /// The index of the best one (the first of equal scores).
    pub best: usize,
    /// LM calls, tokens and cost in all.
    pub usage: crate::lm::UsageReport,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for SearchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.candidates.iter().enumerate() {
            let mark = if i == self.best { " ← best" } else { "" };
            writeln!(
                f,
                "  {:<34} {:>6.2}  ({} LM calls){mark}",
                c.label, c.score, c.lm_calls
            )?;
        }
        write!(
            f,
            "{} LM calls, {:.1} s",
            self.usage.calls,
            self.elapsed.as_secs_f64()
        )
    }
}

impl Default for RandomSearch {
    fn default() -> Self {
        Self::new(16)
    }
}

impl RandomSearch {
    /// `num_candidates` shuffled bootstraps after the three fixed candidates (DSPy's default is
    /// 16), with BootstrapFewShot's defaults and 8 calls in flight.
    pub fn new(num_candidates: usize) -> Self {
        RandomSearch {
            bootstrap: BootstrapFewShot::new(),
            num_candidates,
            concurrency: 8,
            stop_at_score: None,
        }
    }

    /// The bootstrapping settings (max demos, rounds, threshold, seed) the candidates use.
    pub fn bootstrap(mut self, b: BootstrapFewShot) -> Self {
        self.bootstrap = b;
        self
    }

    /// LM calls in flight while evaluating a candidate (candidates are evaluated one at a time).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Stop once a candidate scores at least this (percent).
    pub fn stop_at_score(mut self, score: f64) -> Self {
        self.stop_at_score = Some(score);
        self
    }

    /// Searches for the best program; `valset` defaults to the training set (as in DSPy).
    pub(super) async fn search<P, I, L, F, S>(
        &self,
        student: &P,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: F,
    ) -> Result<(P, SearchReport)>
    where
        P: Module<Input = I> + Params + Clone,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let started = Instant::now();
        let valset = valset.unwrap_or(trainset);
        let metric = &metric;
        // One pipeline per candidate: build it, then evaluate it.
        let candidate = |seed: i64| async move {
            let (built, usage) = crate::context::track_usage(async {
                let (label, program) = self.build(seed, student, trainset, metric).await?;
                let eval = Evaluate::new(valset)
                    .concurrency(self.concurrency)
                    .max_errors(None)
                    .progress(false)
                    .run(&program, metric)
                    .await?;
                Ok::<_, crate::Error>((label, program, eval.score))
            })
            .await;
            built.map(|(label, program, score)| {
                tracing::info!(candidate = %label, score, "random search");
                let c = Candidate {
                    label,
                    score,
                    lm_calls: usage.calls,
                };
                (c, program)
            })
        };
        let mut report = SearchReport::default();
        let mut best: Option<(f64, P)> = None;
        // Candidates run concurrently, results taken in seed order (so `stop_at_score` stops
        // where a sequential search would); the scope bounds the LM calls in flight across all
        // of them to `concurrency`, and admits the earliest unfinished candidate's calls first
        // (its priority is its place), so each candidate's prompts reach the server back to
        // back and a later one only fills the places an earlier one leaves idle.
        let seeds = -3i64..self.num_candidates as i64;
        let width = seeds.clone().count().max(1);
        let search = async {
            let mut results = futures_util::stream::iter(seeds.enumerate())
                .map(|(place, seed)| {
                    crate::context::scope()
                        .priority(place as u64)
                        .run(candidate(seed))
                })
                .buffered(width);
            while let Some(result) = results.next().await {
                let (c, program) = result?;
                let score = c.score;
                report.candidates.push(c);
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    report.best = report.candidates.len() - 1;
                    best = Some((score, program));
                }
                if self.stop_at_score.is_some_and(|s| score >= s) {
                    break;
                }
            }
            Ok::<_, crate::Error>(())
        };
        let (searched, usage) = crate::context::track_usage(
            crate::context::scope()
                .max_in_flight(self.concurrency)
                .run(search),
        )
        .await;
        searched?;
        report.usage = usage;
        report.elapsed = started.elapsed();
        let (_, program) =
            best.ok_or_else(|| crate::Error::Demo("no candidate was tried".into()))?;
        Ok((program, report))
    }

    /// Candidate `seed` of DSPy's set: -3 zero-shot, -2 labelled only, -1 an unshuffled
    /// bootstrap, then bootstraps of the training set shuffled with `seed`, with 1 to
    /// `max_bootstrapped_demos` demos.
    async fn build<P, I, L, F, S>(
        &self,
        seed: i64,
        student: &P,
        trainset: &[Example<I, L>],
        metric: &F,
    ) -> Result<(String, P)>
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        build_candidate(&self.bootstrap, seed, student, trainset, metric).await
    }
}

/// Candidate `seed` of DSPy's few-shot candidate sets (`create_n_fewshot_demo_sets`), built with
/// `boot`'s settings: -3 zero-shot, -2 labelled only, -1 an unshuffled bootstrap, then
/// bootstraps of the training set shuffled with `seed`, with 1 to `max_bootstrapped_demos`
/// demos. Returns its label and the program with those demos.
pub(super) async fn build_candidate<P, I, L, F, S>(
    boot: &BootstrapFewShot,
    seed: i64,
    student: &P,
    trainset: &[Example<I, L>],
    metric: &F,
) -> Result<(String, P)>
where
    P: Module<Input = I> + Params + Clone,
    I: Clone + Serialize + Send + Sync,
    L: Clone + Serialize + Send + Sync,
    F: Metric<I, L, P::Output, S> + Sync,
    S: Score,
{
    Ok(match seed {
        -3 => {
            let mut p = student.clone();
            for (_, pred) in p.named_predictors_mut() {
                pred.set_demos(Vec::new())?;
            }
            ("zero-shot".to_string(), p)
        }
        -2 => {
            let demos: Vec<Demo> = trainset.iter().map(Example::demo).collect::<Result<_>>()?;
            let mut p = student.clone();
            for (_, pred) in p.named_predictors_mut() {
                LabeledFewShot::new(boot.max_labeled_demos)
                    .seed(boot.seed)
                    .fill(pred, &demos)?;
            }
            ("labeled".to_string(), p)
        }
        -1 => {
            let (p, _) = boot.bootstrap_compile(student, trainset, metric).await?;
            ("bootstrap".to_string(), p)
        }
        _ => {
            let mut shuffled = trainset.to_vec();
            fastrand::Rng::with_seed(seed as u64).shuffle(&mut shuffled);
            let max_k = boot.max_bootstrapped_demos.max(1);
            let k = fastrand::Rng::with_seed(seed as u64).usize(1..=max_k);
            let (p, _) = boot
                .clone()
                .max_bootstrapped_demos(k)
                .bootstrap_compile(student, &shuffled, metric)
                .await?;
            (format!("bootstrap seed {seed} ({k} demos)"), p)
        }
    })
}
