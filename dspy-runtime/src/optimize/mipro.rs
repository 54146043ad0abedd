//! MIPROv2: bootstrapped demo sets and grounded instruction proposals per predictor, then a
//! Bayesian (TPE) search over which instruction and which demo set each predictor gets, scored
//! on minibatches of the validation set with a full evaluation of the most promising every few
//! trials (DSPy's `MIPROv2`, its prompts, defaults and `auto` budgets).

use super::Optimizer;
use super::bootstrap::BootstrapFewShot;
use super::propose::{Grounded, Row, Target};
use super::random_search::build_candidate;
use super::report::{Report, Split, Trial};
use super::spend::{Budget, Spend, tracked};
use super::steps::Steps;
use crate::context;
use crate::data::Example;
use crate::demo::Demo;
use crate::error::{Error, Result};
use crate::evaluate::metrics::{Metric, Score};
use crate::lm::Lm;
use crate::module::Module;
use crate::program::{Params, ParamsExt};
use futures_util::stream::{self, StreamExt};
use rand::SeedableRng;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Instant;

/// DSPy's `auto` run settings: how many candidates and how big a validation set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auto {
    /// 6 candidates, up to 100 validation examples.
    Light,
    /// 12 candidates, up to 300 validation examples.
    Medium,
    /// 18 candidates, up to 1000 validation examples.
    Heavy,
}

impl Auto {
    pub(crate) fn settings(self) -> (usize, usize) {
        match self {
            Auto::Light => (6, 100),
            Auto::Medium => (12, 300),
            Auto::Heavy => (18, 1000),
        }
    }
}

/// Bootstrapped demos shown to the proposer in zero-shot mode, and per proposal.
const BOOTSTRAPPED_IN_CONTEXT: usize = 3;
/// A validation set larger than this is scored in minibatches under `auto`.
const MIN_MINIBATCH_SIZE: usize = 50;
/// Trials sampled at random before TPE models the scores (Optuna's default).
const STARTUP_TRIALS: usize = 10;

/// DSPy's `MIPROv2`.
///
/// 1. **Demo sets** (skipped in zero-shot mode, `max_bootstrapped_demos(0)` and
///    `max_labeled_demos(0)`): `num_candidates` sets per predictor as `RandomSearch` builds
///    them (zero-shot, labelled, bootstrapped, shuffled bootstraps of 1..=max demos).
/// 2. **Instructions**: the grounded proposer on the prompt model writes candidates per
///    predictor from a summary of the training set, a description of the program and the
///    predictor, bootstrapped demos and a random tip; the predictor's own instruction is
///    candidate 0.
/// 3. **Search**: the program as given is scored on the whole validation set first; then each
///    trial TPE (the `tpe` crate, one estimator per choice: DSPy uses Optuna's multivariate
///    TPE) picks an instruction and a demo set per predictor, scored on a random minibatch of
///    `minibatch_size`; every `minibatch_full_eval_steps` trials the combination with the best
///    mean minibatch score is scored on the whole validation set. The best full score wins.
///
/// Without a valset, the last 80% of the training set is the valset (as in DSPy). `auto`
/// (default light) sets the number of candidates and trials and samples the valset down to
/// its size; `auto(None)` needs `num_candidates` and `num_trials`.
#[derive(Clone, Debug)]
pub struct MiproV2 {
    auto: Option<Auto>,
    num_candidates: Option<usize>,
    num_trials: Option<usize>,
    max_bootstrapped_demos: usize,
    max_labeled_demos: usize,
    metric_threshold: Option<f64>,
    seed: u64,
    init_temperature: f32,
    minibatch: bool,
    minibatch_size: usize,
    minibatch_full_eval_steps: usize,
    program_aware: bool,
    data_aware: bool,
    tip_aware: bool,
    fewshot_aware: bool,
    view_data_batch_size: usize,
    prompt_model: Option<Lm>,
    concurrency: usize,
    budget: Budget,
    progress: bool,
}

impl Default for MiproV2 {
    fn default() -> Self {
        Self::new()
    }
}

/// The run's sizes once `auto` is applied.
struct Plan {
    num_trials: usize,
    num_instruct: usize,
    num_fewshot: usize,
    minibatch: bool,
}

/// One scored choice of (instruction, demo set) per predictor.
type Choice = Vec<(usize, Option<usize>)>;

impl MiproV2 {
    /// DSPy's defaults: auto light, 4 bootstrapped and 4 labelled demos, seed 9,
    /// init_temperature 1.0, minibatches of 35 with a full evaluation every 5 trials, every
    /// proposer aid on; 8 LM calls in flight, progress on.
    pub fn new() -> Self {
        MiproV2 {
            auto: Some(Auto::Light),
            num_candidates: None,
            num_trials: None,
            max_bootstrapped_demos: 4,
            max_labeled_demos: 4,
            metric_threshold: None,
            seed: 9,
            init_temperature: 1.0,
            minibatch: true,
            minibatch_size: 35,
            minibatch_full_eval_steps: 5,
            program_aware: true,
            data_aware: true,
            tip_aware: true,
            fewshot_aware: true,
            view_data_batch_size: 10,
            prompt_model: None,
            concurrency: 8,
            budget: Budget::default(),
            progress: true,
        }
    }

    /// The run size (`None` to set `num_candidates` and `num_trials` yourself).
    pub fn auto(mut self, auto: Option<Auto>) -> Self {
        self.auto = auto;
        self
    }

    /// Instruction and demo-set candidates per predictor (with `auto(None)`).
    pub fn num_candidates(mut self, n: usize) -> Self {
        self.num_candidates = Some(n.max(1));
        self
    }

    /// Search trials (with `auto(None)`).
    pub fn num_trials(mut self, n: usize) -> Self {
        self.num_trials = Some(n);
        self
    }

    /// Most bootstrapped demos per set (0, with `max_labeled_demos(0)`, is zero-shot mode).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// Most demos per set in all.
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled_demos = n;
        self
    }

    /// Zero-shot mode: instructions only, no demos (bootstrapped demos still inform the
    /// proposer).
    pub fn zero_shot(self) -> Self {
        self.max_bootstrapped_demos(0).max_labeled_demos(0)
    }

    /// The score a bootstrapped run must reach to become a demo.
    pub fn metric_threshold(mut self, t: f64) -> Self {
        self.metric_threshold = Some(t);
        self
    }

    /// The prompt model's sampling temperature for proposals.
    pub fn init_temperature(mut self, t: f32) -> Self {
        self.init_temperature = t;
        self
    }

    /// Score trials on minibatches (on by default; `auto` turns it off for a valset of 50 or
    /// fewer).
    pub fn minibatch(mut self, on: bool) -> Self {
        self.minibatch = on;
        self
    }

    /// Minibatch size (DSPy: 35).
    pub fn minibatch_size(mut self, n: usize) -> Self {
        self.minibatch_size = n.max(1);
        self
    }

    /// Trials between full evaluations (DSPy: 5).
    pub fn minibatch_full_eval_steps(mut self, n: usize) -> Self {
        self.minibatch_full_eval_steps = n.max(1);
        self
    }

    /// Which aids the proposer gets: the program's description, the dataset summary, a random
    /// tip, bootstrapped demos (all on by default).
    pub fn proposer(mut self, program: bool, data: bool, tip: bool, demos: bool) -> Self {
        self.program_aware = program;
        self.data_aware = data;
        self.tip_aware = tip;
        self.fewshot_aware = demos;
        self
    }

    /// Training examples per dataset-summary call (DSPy: 10).
    pub fn view_data_batch_size(mut self, n: usize) -> Self {
        self.view_data_batch_size = n.max(1);
        self
    }

    super::search_builders!();

    fn zero_shot_mode(&self) -> bool {
        self.max_bootstrapped_demos == 0 && self.max_labeled_demos == 0
    }

    /// DSPy's `_set_num_trials_from_num_candidates`.
    fn trials_for(&self, predictors: usize, n: usize) -> usize {
        let vars = predictors * if self.zero_shot_mode() { 1 } else { 2 };
        let by_vars = 2.0 * vars as f64 * (n as f64).log2();
        by_vars.max(1.5 * n as f64) as usize
    }

    /// The run's sizes, sampling `valset` down under `auto`; DSPy's checks and messages.
    fn plan<T: Clone>(
        &self,
        predictors: usize,
        valset: &mut Vec<T>,
        rng: &mut fastrand::Rng,
    ) -> Result<Plan> {
        match (self.auto, self.num_candidates, self.num_trials) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::Optimize(
                "MIPROv2: with auto set, num_candidates and num_trials cannot be set (they would be overridden); use auto(None) to set them".into(),
            )),
            (None, Some(n), None) => Err(Error::Optimize(format!(
                "MIPROv2: with auto(None), num_trials must be set too; about {} suits num_candidates = {n}",
                self.trials_for(predictors, n)
            ))),
            (None, None, _) => Err(Error::Optimize(
                "MIPROv2: with auto(None), num_candidates must be set".into(),
            )),
            (None, Some(n), Some(trials)) => Ok(Plan {
                num_trials: trials,
                num_instruct: n,
                num_fewshot: n,
                minibatch: self.minibatch,
            }),
            (Some(auto), None, None) => {
                let (n, val_size) = auto.settings();
                let mut picks: Vec<usize> = (0..valset.len()).collect();
                rng.shuffle(&mut picks);
                picks.truncate(val_size.min(valset.len()));
                let sampled: Vec<T> = picks.iter().map(|&i| valset[i].clone()).collect();
                *valset = sampled;
                Ok(Plan {
                    num_trials: self.trials_for(predictors, n),
                    num_instruct: if self.zero_shot_mode() { n } else { n / 2 },
                    num_fewshot: n,
                    minibatch: valset.len() > MIN_MINIBATCH_SIZE,
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run<P, I, L, F, S>(
        &self,
        program: &P,
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
        let paths = program.paths();
        if paths.is_empty() {
            return Err(Error::Optimize(
                "MIPROv2: the program has no predictors".into(),
            ));
        }
        if trainset.is_empty() {
            return Err(Error::Optimize("MIPROv2: the training set is empty".into()));
        }
        let (train, mut val) = match valset {
            Some([]) => {
                return Err(Error::Optimize(
                    "MIPROv2: the validation set must have at least 1 example".into(),
                ));
            }
            Some(v) => (trainset.to_vec(), v.to_vec()),
            None if trainset.len() < 2 => {
                return Err(Error::Optimize(
                    "MIPROv2: the training set must have at least 2 examples when no valset is given".into(),
                ));
            }
            None => {
                let size = 1000.min(((trainset.len() as f64 * 0.8) as usize).max(1));
                let cut = trainset.len() - size;
                (trainset[..cut].to_vec(), trainset[cut..].to_vec())
            }
        };
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let plan = self.plan(paths.len(), &mut val, &mut rng)?;
        if plan.minibatch && self.minibatch_size > val.len() {
            return Err(Error::Optimize(format!(
                "MIPROv2: the minibatch size ({}) cannot exceed the valset's ({})",
                self.minibatch_size,
                val.len()
            )));
        }
        tracing::info!(
            trials = plan.num_trials,
            minibatch = plan.minibatch,
            fewshot_candidates = plan.num_fewshot,
            instruct_candidates = plan.num_instruct,
            valset = val.len(),
            "MIPROv2 run settings"
        );

        // 1. Demo sets: demo_sets[i][j] is predictor i's demos in set j.
        let t = Instant::now();
        let demo_sets = self
            .demo_sets(program, &train, metric, plan.num_fewshot, &paths)
            .await?;
        report.phase("bootstrap", t.elapsed());

        // 2. Instructions.
        let t = Instant::now();
        let rows = rows_of(&train)?;
        let targets: Vec<Target<'_>> = program
            .named_predictors()
            .into_iter()
            .map(|(path, p)| Target {
                path,
                signature: p.signature(),
                instructions: p.instructions().to_string(),
            })
            .collect();
        let grounded = Grounded {
            prompt_model: self.prompt_model.as_ref(),
            temperature: self.init_temperature,
            data_aware: self.data_aware,
            program_aware: self.program_aware,
            tip_aware: self.tip_aware,
            fewshot_aware: self.fewshot_aware,
            view_data_batch_size: self.view_data_batch_size,
            demos_in_context: BOOTSTRAPPED_IN_CONTEXT,
            concurrency: self.concurrency,
        };
        let proposed = context::scope()
            .max_in_flight(self.concurrency)
            .run(grounded.propose_all(&targets, &rows, &demo_sets, plan.num_instruct, &mut rng))
            .await;
        report.failed_proposals += proposed.failed;
        let instructions = proposed.instructions;
        report.phase("propose", t.elapsed());
        for (path, candidates) in paths.iter().zip(&instructions) {
            tracing::info!(predictor = %path, candidates = candidates.len(), "MIPROv2 instruction candidates");
            report.proposals.insert(path.clone(), candidates.clone());
        }
        let demo_sets = (!self.zero_shot_mode()).then_some(demo_sets);

        // 3. Search.
        let t = Instant::now();
        let best = self
            .search(
                program,
                &paths,
                &instructions,
                demo_sets.as_deref(),
                &val,
                &plan,
                metric,
                spend,
                &mut rng,
                report,
            )
            .await;
        report.phase("search", t.elapsed());
        best
    }

    /// `num` demo sets per predictor, built concurrently (results in seed order).
    async fn demo_sets<P, I, L, F, S>(
        &self,
        program: &P,
        train: &[Example<I, L>],
        metric: &F,
        num: usize,
        paths: &[String],
    ) -> Result<Vec<Vec<Vec<Demo>>>>
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Clone + Serialize + Send + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let zero = self.zero_shot_mode();
        let mut boot = BootstrapFewShot::new()
            .max_bootstrapped_demos(if zero {
                BOOTSTRAPPED_IN_CONTEXT
            } else {
                self.max_bootstrapped_demos
            })
            .max_labeled_demos(if zero { 0 } else { self.max_labeled_demos })
            .seed(self.seed)
            .progress(false);
        if let Some(t) = self.metric_threshold {
            boot = boot.metric_threshold(t);
        }
        let boot = &boot;
        let seeds = -3i64..num as i64 - 3;
        let built: Vec<Result<(String, P)>> = context::scope()
            .max_in_flight(self.concurrency)
            .run(
                stream::iter(seeds.enumerate())
                    .map(|(place, s)| {
                        context::scope()
                            .priority(place as u64)
                            .run(build_candidate(boot, s, program, train, metric))
                    })
                    .buffered(self.concurrency)
                    .collect(),
            )
            .await;
        let mut sets: Vec<Vec<Vec<Demo>>> = vec![Vec::new(); paths.len()];
        for b in built {
            let (_, p) = b?;
            for (i, (_, pred)) in p.named_predictors().into_iter().enumerate() {
                if let Some(s) = sets.get_mut(i) {
                    s.push(pred.demos().to_vec());
                }
            }
        }
        Ok(sets)
    }

    #[allow(clippy::too_many_arguments)]
    async fn search<P, I, L, F, S>(
        &self,
        program: &P,
        paths: &[String],
        instructions: &[Vec<String>],
        demo_sets: Option<&[Vec<Vec<Demo>>]>,
        val: &[Example<I, L>],
        plan: &Plan,
        metric: &F,
        spend: &Spend,
        rng: &mut fastrand::Rng,
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
        let steps_per_full = self.minibatch_full_eval_steps;
        let minibatch = plan.minibatch;
        let extra_full = usize::from(!plan.num_trials.is_multiple_of(steps_per_full));
        let adjusted = if minibatch {
            plan.num_trials + plan.num_trials / steps_per_full + 1 + extra_full
        } else {
            plan.num_trials
        };
        let mut steps = Steps::new(self.progress, "MIPROv2", adjusted);

        // The program as given, on the whole valset.
        let Some(default_score) = spend
            .score(program, val, metric, self.concurrency, &self.budget)
            .await?
        else {
            report.stopped = spend.exceeded(&self.budget);
            return Ok(program.clone());
        };
        let default_choice: Choice = paths.iter().map(|_| (0, demo_sets.map(|_| 0))).collect();
        report.trials.push(trial(
            program,
            0,
            &default_choice,
            paths,
            default_score,
            Split::Val,
            val.len(),
        ));
        report.best = Some(0);
        report.best_score = Some(default_score);
        steps.step(&format!("default program: {default_score:.2}"));
        let mut best = (default_score, program.clone());

        let mut search = Tpe::new(self.seed, paths.len(), instructions, demo_sets);
        search.tell(&default_choice, default_score);
        // Minibatch scores per choice (in first-seen order), and the choices fully scored.
        let mut by_choice: Vec<(Choice, Vec<f64>)> = Vec::new();
        let mut full: HashSet<Choice> = HashSet::new();
        full.insert(default_choice);
        let mut study_len = 1;

        for _ in 0..plan.num_trials {
            let trial_num = study_len + 1;
            let choice = search.ask(study_len);
            let candidate = apply(program, &choice, instructions, demo_sets)?;
            let (set, split) = if minibatch && self.minibatch_size < val.len() {
                let mut picks: Vec<usize> = (0..val.len()).collect();
                rng.shuffle(&mut picks);
                picks.truncate(self.minibatch_size);
                (
                    picks.iter().map(|&i| val[i].clone()).collect::<Vec<_>>(),
                    Split::Minibatch,
                )
            } else {
                (val.to_vec(), Split::Val)
            };
            let Some(score) = spend
                .score(&candidate, &set, metric, self.concurrency, &self.budget)
                .await?
            else {
                report.stopped = spend.exceeded(&self.budget);
                break;
            };
            steps.step(&format!("trial {trial_num}: {score:.2} on {split}"));
            report.trials.push(trial(
                &candidate,
                trial_num - 1,
                &choice,
                paths,
                score,
                split,
                set.len(),
            ));
            if split == Split::Val {
                full.insert(choice.clone());
                if score > best.0 {
                    best = (score, candidate);
                    report.best = Some(report.trials.len() - 1);
                    report.best_score = Some(score);
                }
            }
            search.tell(&choice, score);
            study_len += 1;
            match by_choice.iter_mut().find(|(c, _)| *c == choice) {
                Some((_, scores)) => scores.push(score),
                None => by_choice.push((choice, vec![score])),
            }
            if minibatch && (trial_num % (steps_per_full + 1) == 0 || trial_num == adjusted - 1) {
                // The choice with the best mean minibatch score not yet fully scored.
                let mut ranked: Vec<(f64, &Choice)> = by_choice
                    .iter()
                    .map(|(c, s)| (s.iter().sum::<f64>() / s.len() as f64, c))
                    .collect();
                ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
                let Some(pick) = ranked
                    .into_iter()
                    .find(|(_, c)| !full.contains(*c))
                    .map(|(_, c)| c.clone())
                else {
                    continue;
                };
                let candidate = apply(program, &pick, instructions, demo_sets)?;
                let Some(score) = spend
                    .score(&candidate, val, metric, self.concurrency, &self.budget)
                    .await?
                else {
                    report.stopped = spend.exceeded(&self.budget);
                    break;
                };
                steps.step(&format!("full evaluation: {score:.2}"));
                report.trials.push(trial(
                    &candidate,
                    trial_num,
                    &pick,
                    paths,
                    score,
                    Split::Val,
                    val.len(),
                ));
                search.tell(&pick, score);
                study_len += 1;
                full.insert(pick);
                if score > best.0 {
                    best = (score, candidate);
                    report.best = Some(report.trials.len() - 1);
                    report.best_score = Some(score);
                }
            }
        }
        steps.finish();
        Ok(best.1)
    }
}

/// Each training example as the dataset summary reads it: its fields (inputs, then labels)
/// and the names of its inputs.
fn rows_of<I: Serialize, L: Serialize>(train: &[Example<I, L>]) -> Result<Vec<Row>> {
    train
        .iter()
        .map(|ex| {
            let inputs = crate::context::to_fields(&ex.input)?;
            let labels = crate::context::to_fields(&ex.label)?;
            let names: Vec<String> = inputs.keys().cloned().collect();
            let mut fields = inputs;
            fields.extend(labels);
            Ok((fields, names))
        })
        .collect()
}

/// `program` with `choice`'s instruction and demo set in each predictor.
fn apply<P: Params + Clone>(
    program: &P,
    choice: &Choice,
    instructions: &[Vec<String>],
    demo_sets: Option<&[Vec<Vec<Demo>>]>,
) -> Result<P> {
    let mut p = program.clone();
    for (i, ((path, pred), (instr, demos))) in
        p.named_predictors_mut().into_iter().zip(choice).enumerate()
    {
        if let Some(text) = instructions.get(i).and_then(|c| c.get(*instr)) {
            pred.set_instructions(text.clone());
        }
        if let (Some(d), Some(sets)) = (demos, demo_sets)
            && let Some(set) = sets.get(i).and_then(|s| s.get(*d))
        {
            pred.set_demos(set.clone())
                .map_err(|e| Error::Demo(format!("predictor `{path}`, demo set {d}: {e}")))?;
        }
    }
    Ok(p)
}

fn trial<P: Params>(
    program: &P,
    round: usize,
    choice: &Choice,
    paths: &[String],
    score: f64,
    split: Split,
    examples: usize,
) -> Trial {
    let demo_sets = paths
        .iter()
        .zip(choice)
        .filter_map(|(p, (_, d))| d.map(|d| (p.clone(), d)))
        .collect();
    let instruction_choices = paths
        .iter()
        .zip(choice)
        .map(|(p, (i, _))| (p.clone(), *i))
        .collect();
    Trial {
        demo_sets,
        instruction_choices,
        ..Trial::of(program, round, score, split, examples)
    }
}

/// The search over choices: one categorical TPE per predictor's instruction and demo set,
/// random for the first [`STARTUP_TRIALS`] trials of the study (as Optuna's sampler).
struct Tpe {
    rng: rand::rngs::StdRng,
    pick: fastrand::Rng,
    instr: Vec<tpe::TpeOptimizer>,
    demos: Vec<Option<tpe::TpeOptimizer>>,
    sizes: Vec<(usize, Option<usize>)>,
}

impl Tpe {
    fn new(
        seed: u64,
        predictors: usize,
        instructions: &[Vec<String>],
        demo_sets: Option<&[Vec<Vec<Demo>>]>,
    ) -> Tpe {
        let categorical = |n: usize| {
            tpe::categorical_range(n.max(1))
                .map(|r| tpe::TpeOptimizer::new(tpe::histogram_estimator(), r))
        };
        let sizes: Vec<(usize, Option<usize>)> = (0..predictors)
            .map(|i| {
                (
                    instructions.get(i).map_or(1, Vec::len).max(1),
                    demo_sets.map(|s| s.get(i).map_or(1, Vec::len).max(1)),
                )
            })
            .collect();
        Tpe {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            pick: fastrand::Rng::with_seed(seed ^ 0x5EED),
            instr: sizes
                .iter()
                .filter_map(|(n, _)| categorical(*n).ok())
                .collect(),
            demos: sizes
                .iter()
                .map(|(_, d)| d.and_then(|d| categorical(d).ok()))
                .collect(),
            sizes,
        }
    }

    fn ask(&mut self, study_len: usize) -> Choice {
        let random = study_len < STARTUP_TRIALS;
        let mut choice = Vec::with_capacity(self.sizes.len());
        for (i, &(n, d)) in self.sizes.iter().enumerate() {
            let mut draw = |opt: Option<&mut tpe::TpeOptimizer>, n: usize| -> usize {
                if random {
                    return self.pick.usize(..n);
                }
                match opt.map(|o| o.ask(&mut self.rng)) {
                    Some(Ok(v)) if v.is_finite() => (v as usize).min(n - 1),
                    _ => self.pick.usize(..n),
                }
            };
            let instr = draw(self.instr.get_mut(i), n);
            let demos = d.map(|d| draw(self.demos.get_mut(i).and_then(Option::as_mut), d));
            choice.push((instr, demos));
        }
        choice
    }

    /// Records `score` for `choice` (TPE minimises, so it is told the negated score).
    fn tell(&mut self, choice: &Choice, score: f64) {
        for (i, (instr, demos)) in choice.iter().enumerate() {
            if let Some(o) = self.instr.get_mut(i) {
                let _ = o.tell(*instr as f64, -score);
            }
            if let (Some(d), Some(Some(o))) = (demos, self.demos.get_mut(i)) {
                let _ = o.tell(*d as f64, -score);
            }
        }
    }
}

impl Optimizer for MiproV2 {
    type Compiled<P> = P;
    type Report = Report;

    /// Proposes from `trainset`, searches on `valset` (the last 80% of `trainset` when none
    /// is given, as in DSPy).
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
        tracked("MIPROv2", async |spend, report| {
            self.run(program, trainset, valset, &metric, spend, report)
                .await
        })
        .await
    }
}
