//! SIMBA: stochastic introspective mini-batch ascent. Each step samples programs from a
//! softmax over their scores, runs them on a minibatch at temperature 1.0, finds the examples
//! whose outcomes vary most, and builds new programs from them by appending a demo (a good
//! trajectory) or a rule (the prompt model's advice from contrasting a better and a worse
//! trajectory). DSPy's `SIMBA`, its prompt and defaults.

use super::Optimizer;
use super::propose::{self, Target, inspect_modules, offer_feedback};
use super::report::{Report, Split, Trial};
use super::spend::{Budget, Spend, tracked};
use super::steps::Steps;
use super::traced_run;
use crate::context::{self, TraceEntry};
use crate::data::Example;
use crate::demo::Demo;
use crate::error::{Error, Result};
use crate::evaluate::metrics::{Metric, Score};
use crate::lm::Lm;
use crate::module::Module;
use crate::program::{Params, ParamsExt};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// DSPy's `SIMBA`. Needs a training set of at least `bsize` examples. The final choice among
/// the steps' winners is scored on the valset when one is given, else on the training set
/// (DSPy's choice).
#[derive(Clone, Debug)]
pub struct Simba {
    bsize: usize,
    num_candidates: usize,
    max_steps: usize,
    max_demos: usize,
    demo_input_field_maxlen: usize,
    temperature_for_sampling: f64,
    temperature_for_candidates: f64,
    prompt_model: Option<Lm>,
    seed: u64,
    concurrency: usize,
    budget: Budget,
    progress: bool,
}

impl Default for Simba {
    fn default() -> Self {
        Self::new()
    }
}

/// One run of a program on an example: what it answered, its trace by path, its score.
struct Outcome {
    example: usize,
    prediction: Option<Map<String, Value>>,
    trace: Vec<(String, TraceEntry)>,
    score: f64,
}

/// One example's runs, best first, with (max − min, max, max − mean) of their scores.
type Bucket<'a> = (Vec<&'a Outcome>, (f64, f64, f64));

/// How a candidate was built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Demo,
    Rule,
}

impl Simba {
    /// DSPy's defaults: minibatches of 32, 6 candidates, 8 steps, 4 demos at most, sampling
    /// temperatures 0.2; seed 0, 8 LM calls in flight, progress on.
    pub fn new() -> Self {
        Simba {
            bsize: 32,
            num_candidates: 6,
            max_steps: 8,
            max_demos: 4,
            demo_input_field_maxlen: 100_000,
            temperature_for_sampling: 0.2,
            temperature_for_candidates: 0.2,
            prompt_model: None,
            seed: 0,
            concurrency: 8,
            budget: Budget::default(),
            progress: true,
        }
    }

    /// Minibatch size.
    pub fn bsize(mut self, n: usize) -> Self {
        self.bsize = n.max(1);
        self
    }

    /// New candidate programs per step (and rollouts per example).
    pub fn num_candidates(mut self, n: usize) -> Self {
        self.num_candidates = n.max(1);
        self
    }

    /// Steps.
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }

    /// Most demos a predictor holds before some are dropped (0: rules only).
    pub fn max_demos(mut self, n: usize) -> Self {
        self.max_demos = n;
        self
    }

    /// Characters kept of an input field in a new demo.
    pub fn demo_input_field_maxlen(mut self, n: usize) -> Self {
        self.demo_input_field_maxlen = n;
        self
    }

    /// Softmax temperatures for picking programs to run and programs to build from.
    pub fn temperatures(mut self, sampling: f64, candidates: f64) -> Self {
        self.temperature_for_sampling = sampling;
        self.temperature_for_candidates = candidates;
        self
    }

    super::search_builders!();

    fn strategies(&self) -> &'static [Strategy] {
        if self.max_demos > 0 {
            &[Strategy::Demo, Strategy::Rule]
        } else {
            &[Strategy::Rule]
        }
    }

    /// Runs `program` on example `index` (at temperature 1.0 with `rollout` when given).
    async fn outcome<P, I, L, F, S>(
        program: &P,
        set: &[Example<I, L>],
        index: usize,
        rollout: Option<u64>,
        metric: &F,
    ) -> Outcome
    where
        P: Module<Input = I> + Params,
        P::Output: Serialize,
        I: Clone + Send + Sync,
        L: Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let ex = &set[index];
        let run = traced_run::by_path(program, program.forward(ex.input.clone()), false);
        let (out, trace, _) = match rollout {
            Some(id) => context::with_rollout(1.0, id, run).await,
            None => run.await,
        };
        let (prediction, score) = match &out {
            Ok(o) => (crate::context::to_fields(o).ok(), metric(ex, o).into()),
            Err(e) => {
                tracing::warn!(error = %e, "SIMBA: a run failed (scored 0)");
                (None, 0.0)
            }
        };
        Outcome {
            example: index,
            prediction,
            trace,
            score,
        }
    }

    /// Runs every (program, example, rollout) concurrently; outcomes in order. `None` when
    /// the budget is spent. One program's jobs start back to back (in the order of each
    /// program's first job), so the prompts that share its instructions and demos reach the
    /// server together rather than interleaved with other programs' ones.
    async fn run_all<P, I, L, F, S>(
        &self,
        jobs: Vec<(&P, usize, Option<u64>)>,
        set: &[Example<I, L>],
        metric: &F,
        spend: &Spend,
    ) -> Option<Vec<Outcome>>
    where
        P: Module<Input = I> + Params,
        P::Output: Serialize,
        I: Clone + Send + Sync,
        L: Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        if spend.exceeded(&self.budget).is_some() {
            return None;
        }
        let order = grouped_by_program(&jobs);
        let runs = stream::iter(order.iter().map(|&k| jobs[k]))
            .map(|(p, i, r)| Self::outcome(p, set, i, r, metric))
            .buffered(self.concurrency)
            .collect::<Vec<_>>();
        let done = context::scope()
            .max_in_flight(self.concurrency)
            .run(runs)
            .await;
        let mut outcomes: Vec<Option<Outcome>> = (0..jobs.len()).map(|_| None).collect();
        for (k, o) in order.into_iter().zip(done) {
            outcomes[k] = Some(o);
        }
        Some(outcomes.into_iter().flatten().collect())
    }

    #[allow(clippy::too_many_arguments)]
    async fn run<P, I, L, F, S>(
        &self,
        student: &P,
        trainset: &[Example<I, L>],
        valset: Option<&[Example<I, L>]>,
        metric: &F,
        spend: &Spend,
        report: &mut Report,
    ) -> Result<P>
    where
        P: Module<Input = I> + Params + Clone,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        if trainset.len() < self.bsize {
            return Err(Error::Optimize(format!(
                "SIMBA: the training set is too small: {} < bsize {}",
                trainset.len(),
                self.bsize
            )));
        }
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let mut programs: Vec<P> = vec![student.clone()];
        let mut scores: Vec<Vec<f64>> = vec![Vec::new()];
        let mut winners: Vec<P> = vec![student.clone()];
        let mut order: Vec<usize> = (0..trainset.len()).collect();
        rng.shuffle(&mut order);
        let mut at = 0;
        let rollouts: Vec<u64> = (0..self.num_candidates as u64)
            .map(|i| propose::rollout_id(self.seed, 0, i))
            .collect();
        let mut steps = Steps::new(self.progress, "SIMBA", self.max_steps);
        let t = Instant::now();

        'steps: for step in 0..self.max_steps {
            if at + self.bsize > trainset.len() {
                rng.shuffle(&mut order);
                at = 0;
            }
            let batch: Vec<usize> = order[at..at + self.bsize].to_vec();
            at += self.bsize;

            // Trajectories: each rollout model runs each example on a program sampled from
            // the best ones.
            let top = top_k_plus_baseline(&scores, self.num_candidates);
            let mut jobs = Vec::with_capacity(rollouts.len() * batch.len());
            for &r in &rollouts {
                for &i in &batch {
                    let pick =
                        softmax_sample(&mut rng, &top, &scores, self.temperature_for_sampling);
                    jobs.push((&programs[pick], i, Some(r)));
                }
            }
            let Some(outputs) = self.run_all(jobs, trainset, metric, spend).await else {
                report.stopped = spend.exceeded(&self.budget);
                break;
            };
            let all: Vec<f64> = outputs.iter().map(|o| o.score).collect();
            let (p10, p90) = (percentile(&all, 10.0), percentile(&all, 90.0));

            // Buckets: the runs of each example, best first; the most variable first.
            let mut buckets: Vec<Bucket<'_>> = (0..batch.len())
                .map(|j| {
                    let mut b: Vec<&Outcome> =
                        outputs.iter().skip(j).step_by(batch.len()).collect();
                    b.sort_by(|x, y| y.score.total_cmp(&x.score));
                    let max = b.first().map_or(0.0, |o| o.score);
                    let min = b.last().map_or(0.0, |o| o.score);
                    let avg = b.iter().map(|o| o.score).sum::<f64>() / b.len().max(1) as f64;
                    (b, (max - min, max, max - avg))
                })
                .collect();
            buckets.sort_by(|a, b| {
                let (x, y) = (a.1, b.1);
                y.0.total_cmp(&x.0)
                    .then(y.1.total_cmp(&x.1))
                    .then(y.2.total_cmp(&x.2))
            });

            // Candidates: one per bucket, from a program sampled from the best ones.
            let mut candidates: Vec<P> = Vec::new();
            for (bucket, _) in &buckets {
                let top = top_k_plus_baseline(&scores, self.num_candidates);
                let src = softmax_sample(&mut rng, &top, &scores, self.temperature_for_candidates);
                let mut candidate = programs[src].clone();
                self.drop_demos(&mut candidate, &mut rng)?;
                let strategy = self.strategies()[rng.usize(..self.strategies().len())];
                let applied = match strategy {
                    Strategy::Demo => self.append_demo(bucket, &mut candidate, p10),
                    Strategy::Rule => {
                        self.append_rule(bucket, &mut candidate, trainset, p10, p90, report)
                            .await
                    }
                };
                match applied {
                    Ok(_) => candidates.push(candidate),
                    Err(e) => {
                        tracing::warn!(error = %e, "SIMBA: a strategy failed; skipping its candidate");
                        continue;
                    }
                }
                if candidates.len() > self.num_candidates {
                    break;
                }
            }

            // Each candidate on the minibatch, as the program runs (no rollout).
            let jobs: Vec<(&P, usize, Option<u64>)> = candidates
                .iter()
                .flat_map(|c| batch.iter().map(move |&i| (c, i, None)))
                .collect();
            let Some(outputs) = self.run_all(jobs, trainset, metric, spend).await else {
                report.stopped = spend.exceeded(&self.budget);
                break 'steps;
            };
            let mut best: Option<(f64, usize)> = None;
            for (k, chunk) in outputs.chunks(batch.len().max(1)).enumerate() {
                let s: Vec<f64> = chunk.iter().map(|o| o.score).collect();
                let avg = 100.0 * s.iter().sum::<f64>() / s.len().max(1) as f64;
                report.trials.push(Trial::of(
                    &candidates[k],
                    step,
                    avg,
                    Split::Minibatch,
                    batch.len(),
                ));
                if best.is_none_or(|(b, _)| avg > b) {
                    best = Some((avg, k));
                }
                scores.push(s);
            }
            if let Some((avg, k)) = best {
                winners.push(candidates[k].clone());
                steps.step(&format!(
                    "step {}: best {avg:.2} on the minibatch",
                    step + 1
                ));
            }
            programs.extend(candidates);
        }
        steps.finish();
        report.phase("steps", t.elapsed());

        // The final choice: evenly spaced winners (the student first), on the whole set.
        let t = Instant::now();
        let (set, split) = match valset {
            Some(v) if !v.is_empty() => (v, Split::Val),
            _ => (trainset, Split::Train),
        };
        let m = winners.len() - 1;
        let n = self.num_candidates + 1;
        let mut idxs: Vec<usize> = if m < 1 {
            vec![0]
        } else {
            (0..n)
                .map(|i| ((i * m) as f64 / (n - 1) as f64).round() as usize)
                .collect()
        };
        idxs.dedup();
        let mut best: Option<(f64, usize)> = None;
        for &w in &idxs {
            let jobs: Vec<(&P, usize, Option<u64>)> =
                (0..set.len()).map(|i| (&winners[w], i, None)).collect();
            let Some(out) = self.run_all(jobs, set, metric, spend).await else {
                report.stopped = spend.exceeded(&self.budget);
                break;
            };
            let avg = 100.0 * out.iter().map(|o| o.score).sum::<f64>() / out.len().max(1) as f64;
            report.trials.push(Trial::of(
                &winners[w],
                self.max_steps,
                avg,
                split,
                set.len(),
            ));
            if best.is_none_or(|(b, _)| avg > b) {
                best = Some((avg, w));
                report.best = Some(report.trials.len() - 1);
                report.best_score = Some(avg);
            }
        }
        report.phase("final", t.elapsed());
        // Without a final score (the budget ran out) the last step's winner is the best so far.
        let w = best.map_or(winners.len() - 1, |(_, w)| w);
        Ok(winners.swap_remove(w))
    }

    /// DSPy's demo dropping: a Poisson number (at least one once a predictor is full) of
    /// random demo positions, removed from every predictor.
    fn drop_demos<P: Params>(&self, program: &mut P, rng: &mut fastrand::Rng) -> Result<()> {
        let max = if self.max_demos > 0 {
            self.max_demos
        } else {
            3
        };
        let num = program
            .named_predictors()
            .iter()
            .map(|(_, p)| p.demos().len())
            .max()
            .unwrap_or(0);
        let drop = poisson(rng, num as f64 / max as f64)
            .max(usize::from(num >= max))
            .min(num);
        let gone: Vec<usize> = (0..drop).map(|_| rng.usize(..num)).collect();
        for (_, p) in program.named_predictors_mut() {
            let kept: Vec<Demo> = p
                .demos()
                .iter()
                .enumerate()
                .filter(|(i, _)| !gone.contains(i))
                .map(|(_, d)| d.clone())
                .collect();
            p.set_demos(kept)?;
        }
        Ok(())
    }

    /// DSPy's `append_a_demo`: the best run's last call of each predictor becomes a demo of
    /// it, unless that run is at or below the minibatch's 10th percentile.
    fn append_demo<P: Params>(
        &self,
        bucket: &[&Outcome],
        program: &mut P,
        p10: f64,
    ) -> Result<bool> {
        let Some(good) = bucket.first() else {
            return Ok(false);
        };
        if good.score <= p10 {
            return Ok(false);
        }
        let mut by_path: BTreeMap<&str, Demo> = BTreeMap::new();
        for (path, entry) in &good.trace {
            let mut fields = Map::new();
            fields.insert("augmented".into(), Value::Bool(true));
            for (k, v) in &entry.inputs {
                let text = propose::python_str(v);
                let v = if self.demo_input_field_maxlen > 0
                    && text.chars().count() > self.demo_input_field_maxlen
                {
                    let cut: String = text.chars().take(self.demo_input_field_maxlen).collect();
                    Value::String(format!("{cut}\n\t\t... <TRUNCATED FOR BREVITY>"))
                } else {
                    v.clone()
                };
                fields.insert(k.clone(), v);
            }
            fields.extend(entry.outputs.clone());
            by_path.insert(path, Demo::from_map(fields));
        }
        for (path, demo) in by_path {
            if let Some(p) = program.predictor_mut(path) {
                let mut demos = p.demos().to_vec();
                demos.push(demo);
                p.set_demos(demos)
                    .map_err(|e| Error::Demo(format!("predictor `{path}`: {e}")))?;
            }
        }
        Ok(true)
    }

    /// DSPy's `append_a_rule`: the prompt model contrasts the best and the worst run of the
    /// bucket and advises each predictor; the advice is appended to its instructions.
    async fn append_rule<P, I, L>(
        &self,
        bucket: &[&Outcome],
        program: &mut P,
        set: &[Example<I, L>],
        p10: f64,
        p90: f64,
        report: &mut Report,
    ) -> Result<bool>
    where
        P: Params,
        I: Serialize,
        L: Serialize,
    {
        let (Some(good), Some(bad)) = (bucket.first(), bucket.last()) else {
            return Ok(false);
        };
        if good.score <= p10 || bad.score >= p90 {
            return Ok(false);
        }
        let na = || json!({"N/A": "Prediction not available"});
        // When the two tie, the one with nothing to teach is shown as not available.
        let (mut good_score, mut bad_score) = (json!(good.score), json!(bad.score));
        let (mut good_trace, mut bad_trace) = (trajectory(&good.trace), trajectory(&bad.trace));
        let mut good_out = good
            .prediction
            .clone()
            .map(Value::Object)
            .ok_or_else(|| Error::Optimize("SIMBA: the better run has no prediction".into()))?;
        let mut bad_out = bad.prediction.clone().map_or(json!({}), Value::Object);
        if good.score <= bad.score {
            if good.score > p90 {
                (bad_trace, bad_score, bad_out) = (json!([]), json!("N/A"), na());
            } else {
                (good_trace, good_score, good_out) = (json!([]), json!("N/A"), na());
            }
        }
        let targets: Vec<Target<'_>> = program
            .named_predictors()
            .into_iter()
            .map(|(path, p)| Target {
                path,
                signature: p.signature(),
                instructions: p.instructions().to_string(),
            })
            .collect();
        let modules: Vec<(String, &crate::signature::SignatureMeta, String)> = targets
            .iter()
            .map(|t| (t.path.clone(), t.signature, t.instructions.clone()))
            .collect();
        let names: Vec<String> = targets.iter().map(|t| t.path.clone()).collect();
        let ex = &set[good.example];
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        let inputs = Map::from_iter([
            (
                "program_code".into(),
                json!(propose::program_code(&targets)),
            ),
            ("modules_defn".into(), json!(inspect_modules(&modules))),
            (
                "program_inputs".into(),
                json!(pretty(&Value::Object(crate::context::to_fields(
                    &ex.input
                )?))),
            ),
            (
                "oracle_metadata".into(),
                json!(pretty(&Value::Object(crate::context::to_fields(
                    &ex.label
                )?))),
            ),
            ("worse_program_trajectory".into(), json!(pretty(&bad_trace))),
            ("worse_program_outputs".into(), json!(pretty(&bad_out))),
            ("worse_reward_value".into(), json!(pretty(&bad_score))),
            ("worse_reward_info".into(), json!("{}")),
            (
                "better_program_trajectory".into(),
                json!(pretty(&good_trace)),
            ),
            ("better_program_outputs".into(), json!(pretty(&good_out))),
            ("better_reward_value".into(), json!(pretty(&good_score))),
            ("better_reward_info".into(), json!("{}")),
            ("module_names".into(), json!(pretty(&json!(names)))),
        ]);
        let mut scope = context::scope();
        if let Some(lm) = &self.prompt_model {
            scope = scope.lm(lm.clone());
        }
        let advice = match scope.run(offer_feedback().call(inputs)).await {
            Ok(p) => p.into_output(),
            Err(e) => {
                report.failed_proposals += 1;
                return Err(e);
            }
        };
        let Some(Value::Object(advice)) = advice.get("module_advice") else {
            report.failed_proposals += 1;
            return Err(Error::Optimize(
                "SIMBA: the prompt model's module_advice is not a dictionary".into(),
            ));
        };
        for (path, p) in program.named_predictors_mut() {
            if let Some(Value::String(tip)) = advice.get(&path) {
                let instructions = format!("{}\n\n{tip}", p.instructions());
                p.set_instructions(instructions);
            }
        }
        Ok(true)
    }
}

/// A run's calls as DSPy lists them for the rule proposer.
fn trajectory(trace: &[(String, TraceEntry)]) -> Value {
    Value::Array(
        trace
            .iter()
            .map(|(path, e)| json!({"module_name": path, "inputs": e.inputs, "outputs": e.outputs}))
            .collect(),
    )
}

/// The mean score of program `i` (0 before it has any).
fn average(scores: &[Vec<f64>], i: usize) -> f64 {
    match scores.get(i) {
        Some(s) if !s.is_empty() => s.iter().sum::<f64>() / s.len() as f64,
        _ => 0.0,
    }
}

/// DSPy's `top_k_plus_baseline`: the `k` best programs, the student always among them.
fn top_k_plus_baseline(scores: &[Vec<f64>], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| average(scores, *b).total_cmp(&average(scores, *a)));
    idx.truncate(k);
    if !idx.contains(&0)
        && let Some(last) = idx.last_mut()
    {
        *last = 0;
    }
    let mut seen = Vec::new();
    idx.retain(|i| {
        let new = !seen.contains(i);
        seen.push(*i);
        new
    });
    idx
}

/// DSPy's `softmax_sample`: a program drawn with probability ∝ exp(mean score / t).
fn softmax_sample(rng: &mut fastrand::Rng, idxs: &[usize], scores: &[Vec<f64>], t: f64) -> usize {
    let weights: Vec<f64> = idxs
        .iter()
        .map(|&i| (average(scores, i) / t.max(1e-9)).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    if !(sum.is_finite() && sum > 0.0) {
        return idxs
            .get(rng.usize(..idxs.len().max(1)))
            .copied()
            .unwrap_or(0);
    }
    let mut x = rng.f64() * sum;
    for (i, w) in idxs.iter().zip(&weights) {
        if x < *w {
            return *i;
        }
        x -= w;
    }
    idxs.last().copied().unwrap_or(0)
}

/// numpy's default (linear) percentile.
fn percentile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// A Poisson draw with mean `lambda` (Knuth's method; `lambda` is small here).
fn poisson(rng: &mut fastrand::Rng, lambda: f64) -> usize {
    if lambda <= 0.0 {
        return 0;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = rng.f64();
    while p > limit && k < 1000 {
        k += 1;
        p *= rng.f64();
    }
    k
}

impl Optimizer for Simba {
    type Compiled<P> = P;
    type Report = Report;

    /// Steps on minibatches of `trainset`; picks among the steps' winners on `valset` (the
    /// training set when none is given).
    async fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: Option<&'a [Example<I, L>]>,
        metric: F,
    ) -> Result<(P, Report)>
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        tracked("SIMBA", async |spend, report| {
            self.run(program, trainset, valset, &metric, spend, report)
                .await
        })
        .await
    }
}

/// The jobs' indices with each program's jobs together, programs in the order of their first
/// job and jobs in their own order within a program.
fn grouped_by_program<P>(jobs: &[(&P, usize, Option<u64>)]) -> Vec<usize> {
    let first = |k: usize| {
        jobs.iter()
            .position(|(p, _, _)| std::ptr::eq(*p, jobs[k].0))
            .unwrap_or(k)
    };
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_cached_key(|&k| first(k));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_grouped_by_program_in_first_seen_order() {
        let (a, b, c) = (1u8, 1u8, 2u8);
        let jobs = [
            (&b, 0, None),
            (&a, 1, None),
            (&b, 2, Some(1)),
            (&c, 3, None),
            (&a, 4, None),
            (&b, 5, None),
        ];
        // `a` and `b` are equal values but different programs.
        assert_eq!(grouped_by_program(&jobs), vec![0, 2, 5, 1, 4, 3]);
    }

    #[test]
    fn percentiles_are_numpys() {
        let v = [0.0, 1.0, 1.0, 0.0, 1.0];
        assert_eq!(percentile(&v, 10.0), 0.0);
        assert_eq!(percentile(&v, 90.0), 1.0);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 10.0) - 1.3).abs() < 1e-12);
    }

    #[test]
    fn the_baseline_is_always_a_top_program() {
        let scores = vec![vec![0.0], vec![1.0], vec![0.5], vec![0.9]];
        assert_eq!(top_k_plus_baseline(&scores, 2), [1, 0]);
        assert_eq!(top_k_plus_baseline(&scores, 4), [1, 3, 2, 0]);
    }

    #[test]
    fn softmax_prefers_higher_scores() {
        let scores = vec![vec![0.0], vec![1.0]];
        let mut rng = fastrand::Rng::with_seed(1);
        let ones = (0..1000)
            .filter(|_| softmax_sample(&mut rng, &[0, 1], &scores, 0.2) == 1)
            .count();
        // exp(5) / (1 + exp(5)) ≈ 0.993.
        assert!(ones > 970, "{ones}");
    }
}
