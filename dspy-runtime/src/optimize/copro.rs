//! COPRO: coordinate-ascent instruction search. The prompt model proposes instructions for
//! each predictor; each is scored; later rounds see the earlier attempts, worst to best, and
//! propose again (DSPy's `COPRO`, its prompts and defaults).

use super::Optimizer;
use super::propose::{self, basic_generate_instruction, generate_instruction_given_attempts};
use super::report::{Report, Split, Trial};
use super::spend::{Budget, Spend, tracked};
use super::steps::Steps;
use crate::context;
use crate::data::Example;
use crate::error::{Error, Result};
use crate::evaluate::metrics::{Metric, Score};
use crate::lm::Lm;
use crate::module::Module;
use crate::program::{Params, ParamsExt};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// DSPy's `COPRO`. For each predictor the prompt model proposes `breadth − 1` instructions
/// from the current one (plus the current one); for `depth` rounds every new candidate is
/// scored with the other predictors at their best so far, the predictor keeps its best, and
/// the prompt model sees the best `breadth` attempts so far, sorted by score, to propose
/// `breadth` more. Returns the best-scoring program.
///
/// Candidates are scored on the valset when one is given, else on the training set (DSPy's
/// choice). Proposals are sampled at `init_temperature` with distinct rollout ids derived
/// from the seed, so they differ, are cached, and a rerun proposes the same ones. DSPy asks
/// for `n` completions in one request; here each is its own request (not every server
/// supports `n`). COPRO also proposes an output-field prefix, kept in the report; ChatAdapter
/// and JsonAdapter do not render prefixes (as in DSPy 3), so it does not change the prompt.
#[derive(Clone, Debug)]
pub struct Copro {
    breadth: usize,
    depth: usize,
    init_temperature: f32,
    prompt_model: Option<Lm>,
    concurrency: usize,
    seed: u64,
    budget: Budget,
    progress: bool,
}

impl Default for Copro {
    fn default() -> Self {
        Self::new()
    }
}

/// One scored (instruction, prefix) for a predictor.
#[derive(Clone)]
struct Scored<P> {
    instruction: String,
    prefix: String,
    score: f64,
    program: P,
    trial: usize,
}

impl Copro {
    /// DSPy's defaults: breadth 10, depth 3, init_temperature 1.4; 8 LM calls in flight, seed 0,
    /// no budget, progress on.
    pub fn new() -> Self {
        Copro {
            breadth: 10,
            depth: 3,
            init_temperature: 1.4,
            prompt_model: None,
            concurrency: 8,
            seed: 0,
            budget: Budget::default(),
            progress: true,
        }
    }

    /// Instructions proposed per round (at least 2, as DSPy requires).
    pub fn breadth(mut self, n: usize) -> Self {
        self.breadth = n.max(2);
        self
    }

    /// Rounds of proposing and scoring.
    pub fn depth(mut self, n: usize) -> Self {
        self.depth = n.max(1);
        self
    }

    /// The prompt model's sampling temperature.
    pub fn init_temperature(mut self, t: f32) -> Self {
        self.init_temperature = t;
        self
    }

    super::search_builders!();

    /// `k` proposals from `program` on `inputs` for step `step`; unusable ones are skipped with
    /// a warning and counted.
    async fn proposals(
        &self,
        program: &crate::module::DynPredict,
        inputs: &Map<String, Value>,
        step: u64,
        k: usize,
        report: &mut Report,
    ) -> Vec<(String, String)> {
        let pm = self.prompt_model.as_ref();
        let calls = (0..k as u64).map(|i| {
            let id = propose::rollout_id(self.seed, step, i);
            propose::propose(program, inputs.clone(), pm, self.init_temperature, id)
        });
        let replies: Vec<Result<Map<String, Value>>> = stream::iter(calls)
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut out = Vec::new();
        for reply in replies {
            let got = reply.and_then(|m| {
                Ok((
                    propose::text_field(&m, "proposed_instruction")?,
                    propose::text_field(&m, "proposed_prefix_for_output_field").unwrap_or_default(),
                ))
            });
            match got {
                Ok(c) => out.push(c),
                Err(e) => {
                    tracing::warn!(error = %e, "COPRO: skipping a proposal");
                    report.failed_proposals += 1;
                }
            }
        }
        out
    }

    async fn run<P, I, L, F, S>(
        &self,
        program: &P,
        set: &[Example<I, L>],
        split: Split,
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
        let paths = program.paths();
        if paths.is_empty() {
            return Err(Error::Optimize(
                "COPRO: the program has no predictors".into(),
            ));
        }
        let multi = paths.len() > 1;
        let mut steps = Steps::new(
            self.progress,
            "COPRO",
            paths.len() * self.breadth * self.depth,
        );

        // Round 0's candidates: breadth − 1 proposals from each predictor's instruction, then
        // the instruction itself.
        let t = Instant::now();
        let basic = basic_generate_instruction();
        let mut all: Vec<Vec<(String, String)>> = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let Some(p) = program.predictor(path) else {
                continue;
            };
            let instruction = p.instructions().to_string();
            let prefix = p
                .signature()
                .outputs()
                .last()
                .map(|f| dspy_grammar::infer_prefix(f.name()))
                .unwrap_or_default();
            let inputs = Map::from_iter([("basic_instruction".into(), json!(instruction))]);
            let mut c = self
                .proposals(&basic, &inputs, i as u64, self.breadth - 1, report)
                .await;
            c.push((instruction, prefix));
            all.push(c);
        }
        report.phase("propose", t.elapsed());
        let mut latest: Vec<Vec<(String, String)>> = all.clone();

        let mut evaluated: Vec<Vec<Scored<P>>> = vec![Vec::new(); paths.len()];
        let mut current = program.clone();
        let attempts_program = generate_instruction_given_attempts();
        'rounds: for d in 0..self.depth {
            for (i, path) in paths.iter().enumerate() {
                let candidates = if multi { &all[i] } else { &latest[i] };
                let t = Instant::now();
                // Each candidate is the current program with this predictor's instruction
                // replaced; they are scored concurrently (the scope bounds the LM calls and
                // admits the earlier candidates' first, so each one's prompts run back to
                // back), taken in order.
                let builds: Vec<P> = candidates
                    .iter()
                    .map(|(instruction, _)| {
                        let mut p = current.clone();
                        if let Some(pred) = p.predictor_mut(path) {
                            pred.set_instructions(instruction.clone());
                        }
                        p
                    })
                    .collect();
                let scores = stream::iter(builds.iter().enumerate())
                    .map(|(place, p)| {
                        context::scope().priority(place as u64).run(spend.score(
                            p,
                            set,
                            metric,
                            self.concurrency,
                            &self.budget,
                        ))
                    })
                    .buffered(self.concurrency)
                    .collect::<Vec<_>>();
                let scores = context::scope()
                    .max_in_flight(self.concurrency)
                    .run(scores)
                    .await;
                report.phase("evaluate", t.elapsed());
                for (((instruction, prefix), built), score) in
                    candidates.iter().zip(builds).zip(scores)
                {
                    let Some(score) = score? else {
                        report.stopped = spend.exceeded(&self.budget);
                        break 'rounds;
                    };
                    steps.step(&format!("{path}: {score:.2}"));
                    report
                        .trials
                        .push(trial(&built, d, path, prefix, score, split, set.len()));
                    let trial = report.trials.len() - 1;
                    let entry = Scored {
                        instruction: instruction.clone(),
                        prefix: prefix.clone(),
                        score,
                        program: built,
                        trial,
                    };
                    // DSPy keeps the first score of a repeated (instruction, prefix) unless a
                    // later one beats it.
                    let seen = &mut evaluated[i];
                    match seen
                        .iter_mut()
                        .find(|s| s.instruction == entry.instruction && s.prefix == entry.prefix)
                    {
                        Some(old) if old.score >= score => {}
                        Some(old) => *old = entry,
                        None => seen.push(entry),
                    }
                }
                // The predictor keeps its best (the first of equal scores).
                if let Some(best) = first_best(&evaluated[i])
                    && let Some(pred) = current.predictor_mut(path)
                {
                    pred.set_instructions(best.instruction.clone());
                }
            }
            if d + 1 == self.depth {
                break;
            }
            let t = Instant::now();
            for (i, _) in paths.iter().enumerate() {
                let inputs = Map::from_iter([(
                    "attempted_instructions".into(),
                    json!(attempts(&evaluated[i], self.breadth)),
                )]);
                let step = ((d as u64 + 1) << 32) | i as u64;
                let c = self
                    .proposals(&attempts_program, &inputs, step, self.breadth, report)
                    .await;
                all[i].extend(c.iter().cloned());
                latest[i] = c;
            }
            report.phase("propose", t.elapsed());
        }
        steps.finish();

        let mut ranked: Vec<&Scored<P>> = evaluated.iter().flatten().collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        match ranked.first() {
            Some(best) => {
                report.best = Some(best.trial);
                report.best_score = Some(best.score);
                Ok(best.program.clone())
            }
            None => Ok(program.clone()),
        }
    }
}

/// The first entry of the highest score (Python's `max`).
fn first_best<P>(entries: &[Scored<P>]) -> Option<&Scored<P>> {
    let mut best: Option<&Scored<P>> = None;
    for e in entries {
        if best.is_none_or(|b| e.score > b.score) {
            best = Some(e);
        }
    }
    best
}

/// DSPy's attempt list: the best `breadth` entries so far, listed worst to best, three lines
/// each (instruction, prefix, score).
fn attempts<P>(entries: &[Scored<P>], breadth: usize) -> Vec<String> {
    let mut sorted: Vec<&Scored<P>> = entries.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let n = breadth.min(sorted.len());
    let mut out = Vec::with_capacity(3 * n);
    for i in (0..n).rev() {
        let e = sorted[i];
        let k = n - i;
        out.push(format!("Instruction #{k}: {}", e.instruction));
        out.push(format!("Prefix #{k}: {}", e.prefix));
        out.push(format!("Resulting Score #{k}: {}", python_float(e.score)));
    }
    out
}

/// A float as Python's `str` prints it (`70.0`, `67.5`).
fn python_float(x: f64) -> String {
    format!("{x:?}")
}

fn trial<P: Params>(
    program: &P,
    round: usize,
    path: &str,
    prefix: &str,
    score: f64,
    split: Split,
    examples: usize,
) -> Trial {
    Trial {
        predictor: Some(path.to_string()),
        prefix: Some(prefix.to_string()),
        ..Trial::of(program, round, score, split, examples)
    }
}

impl Optimizer for Copro {
    type Compiled<P> = P;
    type Report = Report;

    /// Searches instructions, scoring on `valset` when given, else on `trainset`.
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
        let (set, split) = match valset {
            Some(v) => (v, Split::Val),
            None => (trainset, Split::Train),
        };
        tracked("COPRO", async |spend, report| {
            self.run(program, set, split, &metric, spend, report).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(instruction: &str, score: f64) -> Scored<()> {
        Scored {
            instruction: instruction.into(),
            prefix: "Answer:".into(),
            score,
            program: (),
            trial: 0,
        }
    }

    #[test]
    fn attempts_list_the_best_worst_first() {
        let e = [
            entry("a", 50.0),
            entry("b", 70.0),
            entry("c", 60.0),
            entry("d", 10.0),
        ];
        let got = attempts(&e, 3);
        assert_eq!(
            got,
            [
                "Instruction #1: a",
                "Prefix #1: Answer:",
                "Resulting Score #1: 50.0",
                "Instruction #2: c",
                "Prefix #2: Answer:",
                "Resulting Score #2: 60.0",
                "Instruction #3: b",
                "Prefix #3: Answer:",
                "Resulting Score #3: 70.0",
            ]
        );
    }

    #[test]
    fn the_first_of_equal_scores_is_best() {
        let e = [entry("a", 50.0), entry("b", 70.0), entry("c", 70.0)];
        assert_eq!(first_best(&e).map(|s| s.instruction.as_str()), Some("b"));
    }
}
