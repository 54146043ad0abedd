//! The GEPA loop: score the seed on the valset, then per iteration either merge two frontier
//! programs (when one is due) or reflect on a parent's minibatch and keep the child only if it
//! beats the parent there; checkpoint before every iteration.

use super::feedback::{self, Target};
use super::merge::{Candidate, Pool, subsample};
use super::pareto::{self, Fronts};
use super::reflect::{Reflection, ReflectiveDataset, ReflectiveExample, score_only};
use super::state::{State, Step};
use super::{Components, Frontier, Gepa, Selection};
use crate::adapter::{Adapter, ChatAdapter};
use crate::context::{self, RetrievalEntry, TraceEntry};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::evaluate::metrics::{Feedback, Metric, Score};
use crate::module::Module;
use crate::optimize::propose::rollout_id;
use crate::optimize::report::{Report, Split, Trial};
use crate::optimize::spend::Spend;
use crate::optimize::steps::Steps;
use crate::optimize::traced_run;
use crate::program::{Params, ParamsExt};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

/// Validation instances two programs must share before they may merge (GEPA's
/// `val_overlap_floor`).
const VAL_OVERLAP_FLOOR: usize = 5;
/// Validation instances a merged program is first scored on.
const MERGE_SUBSAMPLE: usize = 5;

/// One program run on one example: its output (`None` when the run failed), its predictor
/// calls by path, and the metric's verdict.
struct Run<O> {
    output: Option<O>,
    trace: Arc<[(String, TraceEntry)]>,
    retrievals: Arc<[RetrievalEntry]>,
    feedback: Feedback,
}

/// A candidate scored on the whole valset.
struct ValEval {
    scores: Vec<f64>,
    objectives: BTreeMap<String, f64>,
    outputs: Option<Vec<Value>>,
}

/// `student` with `candidate`'s instructions.
fn build<P: Params + Clone>(student: &P, candidate: &Candidate) -> P {
    let mut p = student.clone();
    for (path, pred) in p.named_predictors_mut() {
        if let Some(text) = candidate.get(&path) {
            pred.set_instructions(text.clone());
        }
    }
    p
}

/// What one run needs, borrowed for the whole run.
struct Ctx<'a, P, I, L, F, S> {
    gepa: &'a Gepa,
    student: &'a P,
    paths: Vec<String>,
    train: &'a [Example<I, L>],
    val: &'a [Example<I, L>],
    metric: &'a F,
    reflect_spend: Arc<Spend>,
    score: PhantomData<fn() -> S>,
}

impl<P, I, L, F, S> Ctx<'_, P, I, L, F, S>
where
    P: Module<Input = I> + Params + Clone,
    P::Output: Serialize,
    I: Clone + Serialize + Send + Sync,
    L: Serialize + Sync,
    F: Metric<I, L, P::Output, S> + Sync,
    S: Score,
{
    async fn run_one(&self, program: &P, ex: &Example<I, L>) -> Run<P::Output> {
        let (out, trace, retrievals) = traced_run::by_path(
            program,
            program.forward(ex.input.clone()),
            self.gepa.format_failures,
        )
        .await;
        let (trace, retrievals): (Arc<[_]>, Arc<[_]>) = (trace.into(), retrievals.into());
        match out {
            Ok(o) => {
                let feedback = (self.metric)(ex, &o).into_feedback();
                Run {
                    output: Some(o),
                    trace,
                    retrievals,
                    feedback,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "GEPA: a run failed (scored {})", self.gepa.failure_score);
                Run {
                    output: None,
                    trace,
                    retrievals,
                    feedback: Feedback::score(self.gepa.failure_score),
                }
            }
        }
    }

    /// Runs `program` on `set[ids]` concurrently; runs in order.
    async fn evaluate(
        &self,
        program: &P,
        set: &[Example<I, L>],
        ids: &[usize],
    ) -> Vec<Run<P::Output>> {
        let runs = stream::iter(ids.iter().copied())
            .map(|k| self.run_one(program, &set[k]))
            .buffered(self.gepa.concurrency)
            .collect::<Vec<_>>();
        context::scope()
            .max_in_flight(self.gepa.concurrency)
            .run(runs)
            .await
    }

    async fn full_eval(&self, program: &P, report: &mut Report) -> ValEval {
        let t = Instant::now();
        let ids: Vec<usize> = (0..self.val.len()).collect();
        let runs = self.evaluate(program, self.val, &ids).await;
        report.phase("validation", t.elapsed());
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for r in &runs {
            for (k, v) in &r.feedback.objectives {
                let e = sums.entry(k.clone()).or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
        let outputs = self.gepa.track_best_outputs.then(|| {
            runs.iter()
                .map(|r| {
                    r.output
                        .as_ref()
                        .and_then(|o| context::to_fields(o).ok())
                        .map(Value::Object)
                        .unwrap_or(Value::Null)
                })
                .collect()
        });
        ValEval {
            scores: runs.iter().map(|r| r.feedback.score).collect(),
            objectives: sums
                .into_iter()
                .map(|(k, (s, n))| (k, s / n as f64))
                .collect(),
            outputs,
        }
    }

    /// For each of `components`, each minibatch run that called it: its inputs, outputs and
    /// the metric's feedback asked about it (DSPy's `make_reflective_dataset`). Failed runs
    /// are left out; with `add_format_failure_as_feedback`, a call whose reply failed to parse
    /// is taken first, with the reply and the format it should have followed as feedback.
    fn reflective_dataset(
        &self,
        parent: &Candidate,
        runs: &[Run<P::Output>],
        batch: &[usize],
        components: &[String],
        rng: &mut fastrand::Rng,
    ) -> ReflectiveDataset {
        let mut out = ReflectiveDataset::new();
        for name in components {
            let mut items = Vec::new();
            // ChatAdapter's structure of this predictor, formatted once if a reply failed.
            let mut structure: Option<String> = None;
            for (run, &k) in runs.iter().zip(batch) {
                let calls: Vec<&TraceEntry> = run
                    .trace
                    .iter()
                    .filter(|(p, _)| p == name)
                    .map(|(_, e)| e)
                    .collect();
                if let Some(failed) = calls.iter().find(|e| e.failed_parse.is_some()) {
                    let structure = structure.get_or_insert_with(|| self.structure(name, parent));
                    items.push(format_failure(failed, structure));
                    continue;
                }
                let Some(output) = &run.output else { continue };
                let call = match calls.len() {
                    0 => continue,
                    1 => calls[0].clone(),
                    n => calls[rng.usize(..n)].clone(),
                };
                let target = Target {
                    name: name.clone(),
                    call: call.clone(),
                    program: run.trace.clone(),
                    retrievals: run.retrievals.clone(),
                };
                let fb = feedback::about(target, || (self.metric)(&self.train[k], output))
                    .into_feedback();
                items.push(ReflectiveExample {
                    inputs: call.inputs,
                    outputs: Value::Object(call.outputs),
                    feedback: fb.feedback.unwrap_or_else(|| score_only(fb.score)),
                });
            }
            if !items.is_empty() {
                out.insert(name.clone(), items);
            }
        }
        out
    }

    /// The prompt structure ChatAdapter gives the predictor at `name` under `parent`'s
    /// instruction, one `role: content` line per message (what DSPy shows after a failed
    /// parse).
    fn structure(&self, name: &str, parent: &Candidate) -> String {
        let mut structure = String::new();
        if let Some(pred) = self.student.predictor(name) {
            let instructions = parent
                .get(name)
                .map_or_else(|| pred.instructions(), String::as_str);
            let adapter = ChatAdapter::new();
            if let Ok(messages) = adapter.format(pred.signature(), instructions, &[], &Map::new()) {
                for m in messages {
                    structure.push_str(m.role.as_str());
                    structure.push_str(": ");
                    structure.push_str(m.content.as_ref());
                    structure.push('\n');
                }
            }
        }
        structure
    }

    async fn propose(
        &self,
        candidate: &Candidate,
        dataset: &ReflectiveDataset,
        components: &[String],
        iteration: usize,
    ) -> Result<Candidate> {
        let fut = async {
            match &self.gepa.proposer {
                Some(p) => p.propose(candidate, dataset, components).await,
                None => {
                    Reflection {
                        lm: self.gepa.prompt_model.clone(),
                        temperature: self.gepa.reflection_temperature,
                        rollout: rollout_id(self.gepa.seed, iteration as u64, 0),
                    }
                    .propose(candidate, dataset, components)
                    .await
                }
            }
        };
        context::scope()
            .callback_arc(self.reflect_spend.clone())
            .run(fut)
            .await
    }

    /// Adds a candidate scored on the whole valset.
    async fn accept(
        &self,
        state: &mut State,
        candidate: Candidate,
        parents: Vec<usize>,
        report: &mut Report,
    ) -> usize {
        let discovered = state.metric_calls;
        let ev = self
            .full_eval(&build(self.student, &candidate), report)
            .await;
        state.metric_calls += self.val.len() as u64;
        state.add(
            Some((candidate, parents)),
            ev.scores,
            ev.objectives,
            ev.outputs,
            discovered,
        )
    }

    /// A merge when one is due and found; whether it was tried.
    async fn merge(&self, state: &mut State, rng: &mut fastrand::Rng, report: &mut Report) -> bool {
        let means = state.mean_scores();
        let dominators = pareto::dominators(&fronts(state, self.gepa.frontier), &means);
        let mut merges = state.merges.clone();
        let enough = self.val.len() >= VAL_OVERLAP_FLOOR;
        let found = Pool {
            candidates: &state.candidates,
            parents: &state.parents,
            scores: &means,
        }
        .merge(rng, &dominators, &mut merges, |_, _| enough);
        state.merges = merges;
        let Some((merged, i, j, ancestor)) = found else {
            return false;
        };
        let ids = subsample(
            &state.val_scores[i],
            &state.val_scores[j],
            MERGE_SUBSAMPLE,
            rng,
        );
        if ids.is_empty() {
            return false;
        }
        let sum = |c: usize| ids.iter().map(|&k| state.val_scores[c][k]).sum::<f64>();
        let before = [sum(i), sum(j)];
        let t = Instant::now();
        let runs = self
            .evaluate(&build(self.student, &merged), self.val, &ids)
            .await;
        report.phase("minibatch", t.elapsed());
        state.metric_calls += ids.len() as u64;
        let after: Vec<f64> = runs.iter().map(|r| r.feedback.score).collect();
        let child = if after.iter().sum::<f64>() >= before[0].max(before[1]) {
            let idx = self.accept(state, merged.clone(), vec![i, j], report).await;
            state.merges.due = state.merges.due.saturating_sub(1);
            state.merges.tested += 1;
            Some(idx)
        } else {
            None
        };
        state.steps.push(Step::Merge {
            iteration: state.iteration,
            parents: [i, j],
            ancestor,
            candidate: merged,
            subsample: ids,
            before,
            after,
            child,
        });
        true
    }

    /// One reflective mutation.
    async fn reflect(&self, state: &mut State, rng: &mut fastrand::Rng, report: &mut Report) {
        let it = state.iteration;
        let means = state.mean_scores();
        let parent = match self.gepa.selection {
            Selection::Pareto => pareto::select(&fronts(state, self.gepa.frontier), &means, rng)
                .unwrap_or_else(|| pareto::argmax(&means)),
            Selection::CurrentBest => pareto::argmax(&means),
            Selection::EpsilonGreedy(e) => {
                if rng.f64() < e {
                    rng.usize(..state.candidates.len())
                } else {
                    pareto::argmax(&means)
                }
            }
        };
        let skip = |state: &mut State, reason: &str| {
            state.steps.push(Step::Skipped {
                iteration: it,
                parent: Some(parent),
                reason: reason.to_string(),
            })
        };
        let batch = state
            .sampler
            .next(it, self.gepa.minibatch, self.train.len(), rng);
        let t = Instant::now();
        let runs = self
            .evaluate(
                &build(self.student, &state.candidates[parent]),
                self.train,
                &batch,
            )
            .await;
        report.phase("minibatch", t.elapsed());
        state.metric_calls += batch.len() as u64;
        let before: Vec<f64> = runs.iter().map(|r| r.feedback.score).collect();
        if runs.iter().all(|r| r.output.is_none()) && !self.gepa.format_failures {
            return skip(state, "every minibatch run failed");
        }
        if self.gepa.skip_perfect_score && before.iter().all(|s| *s >= self.gepa.perfect_score) {
            return skip(state, "all minibatch scores perfect");
        }
        let components = match self.gepa.components {
            Components::RoundRobin => {
                let n = self.paths.len();
                let pid = state.next_component[parent] % n;
                state.next_component[parent] = (pid + 1) % n;
                vec![self.paths[pid].clone()]
            }
            Components::All => self.paths.clone(),
        };
        let dataset =
            self.reflective_dataset(&state.candidates[parent], &runs, &batch, &components, rng);
        if dataset.is_empty() {
            return skip(
                state,
                "no reflective examples (no successful run called the predictor)",
            );
        }
        let t = Instant::now();
        let proposed = self
            .propose(&state.candidates[parent], &dataset, &components, it)
            .await;
        report.phase("reflection", t.elapsed());
        let proposed = match proposed {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return skip(state, "the proposer returned no instruction"),
            Err(e) => {
                tracing::warn!(error = %e, "GEPA: a proposal failed");
                report.failed_proposals += 1;
                return skip(state, &format!("the proposal failed: {e}"));
            }
        };
        let mut child = state.candidates[parent].clone();
        for (k, v) in &proposed {
            if let Some(slot) = child.get_mut(k) {
                slot.clone_from(v);
            }
        }
        let t = Instant::now();
        let runs = self
            .evaluate(&build(self.student, &child), self.train, &batch)
            .await;
        report.phase("minibatch", t.elapsed());
        state.metric_calls += batch.len() as u64;
        let after: Vec<f64> = runs.iter().map(|r| r.feedback.score).collect();
        let child = if after.iter().sum::<f64>() > before.iter().sum::<f64>() {
            let idx = self.accept(state, child, vec![parent], report).await;
            if self.gepa.use_merge {
                state.merges.last_found_new = true;
                if state.merges.tested < self.gepa.max_merges {
                    state.merges.due += 1;
                }
            }
            Some(idx)
        } else {
            None
        };
        state.steps.push(Step::Reflection {
            iteration: it,
            parent,
            components,
            minibatch: batch,
            before,
            after,
            proposed,
            child,
        });
    }
}

/// The reflective example of a call whose reply failed to parse: the reply, and as feedback
/// the prompt structure it should have followed (DSPy's words and layout).
fn format_failure(call: &TraceEntry, structure: &str) -> ReflectiveExample {
    let reply = call.failed_parse.as_deref().unwrap_or_default();
    ReflectiveExample {
        inputs: call.inputs.clone(),
        outputs: Value::String(format!(
            "Couldn't parse the output as per the expected output format. The model's raw response was:\n```\n{reply}\n```\n\n"
        )),
        feedback: format!("Your output failed to parse. Follow this structure:\n{structure}"),
    }
}

/// The fronts the frontier is kept over.
fn fronts(state: &State, frontier: Frontier) -> Fronts {
    let objectives = state.objective_front.values().map(|(_, f)| f.clone());
    match frontier {
        Frontier::Instance => state.front_per_instance.clone(),
        Frontier::Objective => objectives.collect(),
        Frontier::Hybrid => state
            .front_per_instance
            .iter()
            .cloned()
            .chain(objectives)
            .collect(),
    }
}

/// Why the run stops now, if it does.
fn stop_reason(
    gepa: &Gepa,
    state: &State,
    max_calls: u64,
    spend: &Spend,
    started: Instant,
) -> Option<String> {
    if state.metric_calls >= max_calls {
        return Some(format!(
            "metric-call budget spent ({} of {max_calls})",
            state.metric_calls
        ));
    }
    if let Some(why) = spend.exceeded(&gepa.budget) {
        return Some(why);
    }
    let best = state
        .mean_scores()
        .into_iter()
        .fold(f64::NEG_INFINITY, f64::max);
    if let Some(t) = gepa.threshold
        && best >= t
    {
        return Some(format!("score {best:.3} reached the threshold {t}"));
    }
    if let Some(n) = gepa.no_improvement
        && state.since_improvement >= n
    {
        return Some(format!("no better candidate in {n} iterations"));
    }
    if let Some(d) = gepa.timeout
        && started.elapsed() >= d
    {
        return Some(format!("wall time {:.1} s reached", d.as_secs_f64()));
    }
    if let Some(c) = gepa.max_reflection_cost
        && state.reflection_cost >= c
    {
        return Some(format!(
            "reflection cost ${:.4} reached the limit ${c:.4}",
            state.reflection_cost
        ));
    }
    None
}

/// A short hash of what makes two runs the same run (settings, the seed candidate, the data),
/// so that a checkpoint is only resumed by its own run.
fn fingerprint<I: Serialize, L: Serialize>(
    gepa: &Gepa,
    seed: &Candidate,
    train: &[Example<I, L>],
    val: &[Example<I, L>],
    max_calls: u64,
) -> Result<String> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&format!(
        "{}|{}|{max_calls}|{:?}|{:?}|{:?}|{}|{}|{}|{}|{}|{}|{}|{}",
        gepa.seed,
        gepa.minibatch,
        gepa.selection,
        gepa.components,
        gepa.frontier,
        gepa.skip_perfect_score,
        gepa.perfect_score,
        gepa.failure_score,
        gepa.use_merge,
        gepa.max_merges,
        gepa.track_best_outputs,
        gepa.reflection_temperature,
        gepa.proposer.is_some(),
    ));
    if gepa.format_failures {
        feed("add_format_failure_as_feedback");
    }
    feed(&serde_json::to_string(seed)?);
    for (tag, set) in [("train", train), ("val", val)] {
        feed(tag);
        for ex in set {
            feed(&serde_json::to_string(&ex.input)?);
            feed(&serde_json::to_string(&ex.label)?);
        }
    }
    Ok(format!("{h:016x}"))
}

/// Runs GEPA; returns the best program, the final state, the best candidate's index and
/// whether the run went on from a checkpoint.
pub(super) async fn run<P, I, L, F, S>(
    gepa: &Gepa,
    student: &P,
    trainset: &[Example<I, L>],
    valset: Option<&[Example<I, L>]>,
    metric: &F,
    spend: &Spend,
    report: &mut Report,
) -> Result<(P, State, usize, bool)>
where
    P: Module<Input = I> + Params + Clone,
    P::Output: Serialize,
    I: Clone + Serialize + Send + Sync,
    L: Serialize + Sync,
    F: Metric<I, L, P::Output, S> + Sync,
    S: Score,
{
    if trainset.is_empty() {
        return Err(Error::Optimize("GEPA: the training set is empty".into()));
    }
    if gepa.prompt_model.is_none() && gepa.proposer.is_none() {
        return Err(Error::Optimize(
            "GEPA needs a reflection LM (`.reflection_lm(lm)`) or a custom `.instruction_proposer(…)`"
                .into(),
        ));
    }
    let seed_candidate: Candidate = student
        .named_predictors()
        .into_iter()
        .map(|(p, pred)| (p, pred.instructions().to_string()))
        .collect();
    let paths: Vec<String> = student
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    if paths.is_empty() {
        return Err(Error::Optimize(
            "GEPA: the program has no predictors to optimize".into(),
        ));
    }
    let max_calls = gepa.metric_calls(paths.len(), trainset.len(), valset.map(<[_]>::len))?;
    let val = valset.unwrap_or(trainset);
    if val.is_empty() {
        return Err(Error::Optimize("GEPA: the valset is empty".into()));
    }
    let ctx = Ctx {
        gepa,
        student,
        paths,
        train: trainset,
        val,
        metric,
        reflect_spend: Spend::new(),
        score: PhantomData,
    };
    let fingerprint = fingerprint(gepa, &seed_candidate, trainset, val, max_calls)?;
    let started = Instant::now();
    let loaded = match &gepa.checkpoint {
        Some(path) => State::load(path, &fingerprint, trainset.len(), val.len())?,
        None => None,
    };
    let resumed = loaded.is_some();
    let mut state = match loaded {
        Some(s) => {
            spend.preload(&s.usage);
            s
        }
        None => {
            let mut s = State::new(fingerprint, seed_candidate, gepa.seed);
            if gepa.track_best_outputs {
                s.best_outputs = Some(vec![Vec::new(); val.len()]);
            }
            let ev = ctx.full_eval(student, report).await;
            s.metric_calls += val.len() as u64;
            s.add(None, ev.scores, ev.objectives, ev.outputs, 0);
            s
        }
    };
    if gepa.frontier != Frontier::Instance && state.objective_front.is_empty() {
        return Err(Error::Optimize(
            "GEPA: a frontier over objectives needs a metric that returns `Feedback` with objectives"
                .into(),
        ));
    }
    let mut steps = Steps::new(gepa.progress, "GEPA", max_calls as usize);
    steps.advance(state.metric_calls as usize, "seed scored on the valset");
    let mut rng = fastrand::Rng::with_seed(state.rng);
    let cost_before = state.reflection_cost;
    loop {
        if let Some(why) = stop_reason(gepa, &state, max_calls, spend, started) {
            report.stopped = Some(why);
            break;
        }
        state.rng = rng.get_seed();
        if let Some(path) = &gepa.checkpoint {
            state.usage = spend.by_model();
            state.save(path)?;
        }
        state.iteration += 1;
        state.since_improvement += 1;
        let calls_before = state.metric_calls;
        let merged = if gepa.use_merge && state.merges.due > 0 && state.merges.last_found_new {
            state.merges.last_found_new = false;
            ctx.merge(&mut state, &mut rng, report).await
        } else {
            false
        };
        if !merged {
            if gepa.use_merge {
                state.merges.last_found_new = false;
            }
            ctx.reflect(&mut state, &mut rng, report).await;
        }
        state.reflection_cost = cost_before + ctx.reflect_spend.totals().1;
        let best = state
            .mean_scores()
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        steps.advance(
            (state.metric_calls - calls_before) as usize,
            &format!(
                "iteration {}: {} candidates, best {best:.3}",
                state.iteration,
                state.candidates.len()
            ),
        );
    }
    state.rng = rng.get_seed();
    if let Some(path) = &gepa.checkpoint {
        state.usage = spend.by_model();
        state.save(path)?;
    }
    steps.finish();
    let best = pareto::argmax(&state.mean_scores());
    let compiled = build(student, &state.candidates[best]);
    Ok((compiled, state, best, resumed))
}

/// The report's trials, rebuilt from the state: the seed's validation score, then each
/// minibatch score and each accepted candidate's validation score in order; and the trial of
/// the best candidate.
pub(super) fn trials(state: &State, best: usize) -> (Vec<Trial>, Option<usize>) {
    let means = state.mean_scores();
    let trial = |round, instructions: Candidate, score, split, examples| Trial {
        round,
        predictor: None,
        instructions,
        prefix: None,
        demos: BTreeMap::new(),
        demo_sets: BTreeMap::new(),
        instruction_choices: BTreeMap::new(),
        score,
        split,
        examples,
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mut out = Vec::new();
    let mut of_candidate = HashMap::new();
    let val = |out: &mut Vec<Trial>, of: &mut HashMap<usize, usize>, c: usize| {
        of.insert(c, out.len());
        out.push(trial(
            state.found_in.get(c).copied().unwrap_or(0),
            state.candidates[c].clone(),
            means[c],
            Split::Val,
            state.val_scores[c].len(),
        ));
    };
    if !state.val_scores.is_empty() {
        val(&mut out, &mut of_candidate, 0);
    }
    for step in &state.steps {
        match step {
            Step::Reflection {
                iteration,
                parent,
                components,
                after,
                proposed,
                child,
                ..
            } => {
                let mut instructions = state.candidates[*parent].clone();
                instructions.extend(proposed.iter().map(|(k, v)| (k.clone(), v.clone())));
                let mut t = trial(
                    *iteration,
                    instructions,
                    mean(after),
                    Split::Minibatch,
                    after.len(),
                );
                if let [one] = components.as_slice() {
                    t.predictor = Some(one.clone());
                }
                out.push(t);
                if let Some(c) = child {
                    val(&mut out, &mut of_candidate, *c);
                }
            }
            Step::Merge {
                iteration,
                candidate,
                after,
                child,
                ..
            } => {
                out.push(trial(
                    *iteration,
                    candidate.clone(),
                    mean(after),
                    Split::Minibatch,
                    after.len(),
                ));
                if let Some(c) = child {
                    val(&mut out, &mut of_candidate, *c);
                }
            }
            Step::Skipped { .. } => {}
        }
    }
    (out, of_candidate.get(&best).copied())
}
