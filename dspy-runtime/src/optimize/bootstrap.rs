//! `BootstrapFewShot`: run a teacher over the training set, keep the traces of runs the metric
//! accepts as demos for every stage, fill the rest with labelled examples (DSPy's algorithm and
//! defaults).

use super::LabeledFewShot;
use crate::context::{self, TraceEntry, traced};
use crate::data::Example;
use crate::demo::Demo;
use crate::error::Result;
use crate::evaluate::metrics::{Metric, Score};
use crate::module::Module;
use crate::program::{Params, ParamsExt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// DSPy's `BootstrapFewShot`: for each training example (in order, `max_rounds` passes), run the
/// teacher; when the metric accepts the prediction, every predictor call of that run becomes an
/// `augmented` demo for that predictor; stop once `max_bootstrapped_demos` examples passed.
/// Each predictor of the compiled program gets its bootstrapped demos, then labelled examples
/// (never the ones bootstrapped) up to `max_labeled_demos` in all.
///
/// Examples run `concurrency` at a time, yet the demos are those a sequential run with the same
/// seed would pick: results are taken in training-set order and the first `max_bootstrapped_demos`
/// successes win (at most `concurrency − 1` calls are spent past them).
#[derive(Clone, Debug)]
pub struct BootstrapFewShot {
    pub(super) max_bootstrapped_demos: usize,
    pub(super) max_labeled_demos: usize,
    max_rounds: usize,
    metric_threshold: Option<f64>,
    concurrency: usize,
    pub(super) seed: u64,
    progress: bool,
    teacher_lm: Option<crate::lm::Lm>,
}

impl Default for BootstrapFewShot {
    fn default() -> Self {
        Self::new()
    }
}

/// What a compilation did.
#[derive(Clone, Debug, Default)]
pub struct CompileReport {
    /// Training examples the teacher ran on (each once per round it was tried).
    pub tried: usize,
    /// Examples whose run the metric accepted (their traces became demos).
    pub bootstrapped: usize,
    /// Teacher runs that failed (LM or parse errors).
    pub errors: usize,
    /// Demos per predictor path in the compiled program: (bootstrapped, labelled).
    pub demos: BTreeMap<String, (usize, usize)>,
    /// LM calls, tokens and cost of the compilation.
    pub usage: crate::lm::UsageReport,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for CompileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} examples tried, {} bootstrapped, {} errors, {} LM calls, {} prompt + {} completion tokens, {:.1} s",
            self.tried,
            self.bootstrapped,
            self.errors,
            self.usage.calls,
            self.usage.usage.prompt_tokens,
            self.usage.usage.completion_tokens,
            self.elapsed.as_secs_f64()
        )?;
        for (path, (b, l)) in &self.demos {
            write!(f, "\n  {path}: {b} bootstrapped + {l} labelled demos")?;
        }
        Ok(())
    }
}

impl BootstrapFewShot {
    /// DSPy's defaults: 4 bootstrapped and 16 labelled demos, one round, any truthy metric value
    /// passes; 8 runs in flight; seed 0.
    pub fn new() -> Self {
        BootstrapFewShot {
            max_bootstrapped_demos: 4,
            max_labeled_demos: 16,
            max_rounds: 1,
            metric_threshold: None,
            concurrency: 8,
            seed: 0,
            progress: false,
            teacher_lm: None,
        }
    }

    /// At most `n` bootstrapped demos per predictor (and examples to bootstrap).
    pub fn max_bootstrapped_demos(mut self, n: usize) -> Self {
        self.max_bootstrapped_demos = n;
        self
    }

    /// At most `n` demos per predictor in all (labelled ones fill up after the bootstrapped).
    pub fn max_labeled_demos(mut self, n: usize) -> Self {
        self.max_labeled_demos = n;
        self
    }

    /// Passes over the training set; rounds after the first sample at temperature
    /// 0.7 + 0.001 × round with a fresh rollout id.
    pub fn max_rounds(mut self, n: usize) -> Self {
        self.max_rounds = n.max(1);
        self
    }

    /// A run passes when the metric is at least `t` (default: any value above 0).
    pub fn metric_threshold(mut self, t: f64) -> Self {
        self.metric_threshold = Some(t);
        self
    }

    /// Teacher runs in flight at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Whether to show progress on stderr (a bar on a terminal, else a line per tenth): the
    /// running count of accepted runs over runs tried.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Runs the teacher with this LM (DSPy's `teacher_settings=dict(lm=…)`): it serves every
    /// teacher predictor that has no LM of its own, e.g. a bigger model teaching a small one.
    pub fn teacher_lm(mut self, lm: impl Into<crate::lm::Lm>) -> Self {
        self.teacher_lm = Some(lm.into());
        self
    }

    /// The seed of the labelled-demo draws.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Compiles `student` against `trainset`, the teacher being a copy of the student with
    /// `max_labeled_demos` labelled demos (DSPy's default teacher). Returns the compiled copy.
    pub(super) async fn bootstrap_compile<P, I, L, F, S>(
        &self,
        student: &P,
        trainset: &[Example<I, L>],
        metric: F,
    ) -> Result<(P, CompileReport)>
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let labeled: Vec<Demo> = trainset.iter().map(Example::demo).collect::<Result<_>>()?;
        let mut teacher = student.clone();
        for (path, p) in teacher.named_predictors_mut() {
            LabeledFewShot::new(self.max_labeled_demos)
                .seed(self.seed)
                .fill(p, &labeled)
                .map_err(|e| demo_error(&path, "the teacher's labelled demos", e))?;
        }
        self.compile_with_teacher(student, &teacher, trainset, metric)
            .await
    }

    /// [`Optimizer::compile`](super::Optimizer::compile) with a given teacher program of the same type (a bigger
    /// LM, say); its demos are used as they are.
    pub async fn compile_with_teacher<P, I, L, F, S>(
        &self,
        student: &P,
        teacher: &P,
        trainset: &[Example<I, L>],
        metric: F,
    ) -> Result<(P, CompileReport)>
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let started = Instant::now();
        let (result, usage) =
            context::track_usage(self.bootstrap(teacher, trainset, &metric)).await;
        let (traces, bootstrapped, tried, errors) = result?;

        let mut by_path: HashMap<String, Vec<Demo>> = HashMap::new();
        for (path, entry) in traces.into_iter().flatten().flatten() {
            by_path.entry(path).or_default().push(augmented(entry));
        }

        // The examples not bootstrapped, shuffled, are the labelled demos' pool.
        let mut pool: Vec<Demo> = trainset
            .iter()
            .enumerate()
            .filter(|(i, _)| !bootstrapped.contains(i))
            .map(|(_, ex)| ex.demo())
            .collect::<Result<_>>()?;
        let mut rng = fastrand::Rng::with_seed(self.seed);
        rng.shuffle(&mut pool);

        let mut compiled = student.clone();
        let mut report = CompileReport {
            tried,
            bootstrapped: bootstrapped.len(),
            errors,
            usage,
            ..Default::default()
        };
        for (path, p) in compiled.named_predictors_mut() {
            let mut demos: Vec<Demo> = by_path.remove(&path).unwrap_or_default();
            demos.truncate(self.max_bootstrapped_demos);
            let n_boot = demos.len();
            let room = self
                .max_labeled_demos
                .saturating_sub(n_boot)
                .min(pool.len());
            let mut picks: Vec<usize> = (0..pool.len()).collect();
            rng.shuffle(&mut picks);
            demos.extend(picks.into_iter().take(room).map(|i| pool[i].clone()));
            p.set_demos(demos).map_err(|e| {
                demo_error(
                    &path,
                    &format!("{n_boot} bootstrapped and {room} labelled demos"),
                    e,
                )
            })?;
            report.demos.insert(path, (n_boot, room));
        }
        report.elapsed = started.elapsed();
        Ok((compiled, report))
    }

    /// Runs the teacher over the training set; returns, per example in order, the trace of an
    /// accepted run, the indices bootstrapped, how many runs were made, and how many failed.
    #[allow(clippy::type_complexity)]
    async fn bootstrap<P, I, L, F, S>(
        &self,
        teacher: &P,
        trainset: &[Example<I, L>],
        metric: &F,
    ) -> Result<(
        Vec<Option<Vec<(String, TraceEntry)>>>,
        Vec<usize>,
        usize,
        usize,
    )>
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let threshold = self.metric_threshold;
        let passes = move |v: f64| threshold.map_or(v > 0.0, |t| v >= t);
        // A teacher per example whose own labelled demo it holds, without that demo (DSPy
        // removes the example from the teacher's demos while bootstrapping it).
        let mut own_demo: HashMap<usize, P> = HashMap::new();
        for (i, ex) in trainset.iter().enumerate() {
            let demo = ex.demo()?;
            let holds = teacher
                .named_predictors()
                .iter()
                .any(|(_, p)| p.demos().contains(&demo));
            if holds {
                let mut t = teacher.clone();
                for (_, p) in t.named_predictors_mut() {
                    let kept: Vec<Demo> =
                        p.demos().iter().filter(|d| **d != demo).cloned().collect();
                    p.set_demos(kept)?;
                }
                own_demo.insert(i, t);
            }
        }

        let mut accepted: Vec<Option<Vec<(String, TraceEntry)>>> = vec![None; trainset.len()];
        let mut bootstrapped: Vec<usize> = Vec::new();
        let (mut tried, mut errors) = (0usize, 0usize);
        for round in 0..self.max_rounds {
            if bootstrapped.len() >= self.max_bootstrapped_demos {
                break;
            }
            let todo: Vec<usize> = (0..trainset.len())
                .filter(|i| accepted[*i].is_none())
                .collect();
            // Results arrive in any order; walk them in training-set order and stop once the
            // sequential run would have.
            let mut done: Vec<Option<(bool, Option<Vec<(String, TraceEntry)>>)>> =
                vec![None; todo.len()];
            let mut next = 0usize;
            let mut passed = bootstrapped.len();
            let mut cut: Option<usize> = None;
            let own_demo = &own_demo;
            // A sliding window over the training set: nothing starts more than `concurrency`
            // places past the first unresolved example, so at most `concurrency - 1` runs are
            // spent past the point where a sequential run stops.
            let call = |i| {
                let t = own_demo.get(&i).unwrap_or(teacher);
                let ex = &trainset[i];
                async move {
                    let run = traced(async {
                        let out = t.forward(ex.input.clone()).await;
                        let ok = out.as_ref().map(|p| passes(metric(ex, p).into()));
                        (out.is_err(), ok.unwrap_or(false))
                    });
                    let run = async {
                        if round == 0 {
                            run.await
                        } else {
                            let t = 0.7 + 0.001 * round as f32;
                            context::with_rollout(t, round as u64, run).await
                        }
                    };
                    let (result, trace) = match &self.teacher_lm {
                        Some(lm) => context::with_lm(lm.clone(), run).await,
                        None => run.await,
                    };
                    // Name each call by its path in the teacher that made it.
                    let paths: HashMap<usize, String> = t
                        .named_predictors()
                        .into_iter()
                        .map(|(path, p)| (p.core_id(), path))
                        .collect();
                    let trace: Vec<(String, TraceEntry)> = trace
                        .into_iter()
                        .filter_map(|e| paths.get(&e.predictor).map(|p| (p.clone(), e)))
                        .collect();
                    (result, trace)
                }
            };
            let mut progress = crate::evaluate::progress::Progress::new(self.progress, todo.len());
            let mut in_flight = FuturesUnordered::new();
            let mut started = 0usize;
            let mut stopped = false;
            loop {
                while !stopped
                    && started < todo.len()
                    && in_flight.len() < self.concurrency
                    && started < next + self.concurrency
                {
                    let k = started;
                    let fut = call(todo[k]);
                    in_flight.push(async move { (k, fut.await) });
                    started += 1;
                }
                let Some((k, ((failed, ok), trace))) = in_flight.next().await else {
                    break;
                };
                tried += 1;
                errors += usize::from(failed);
                done[k] = Some((ok, ok.then_some(trace)));
                // Walk the results in training-set order; stop where a sequential run would.
                while next < done.len() && cut.is_none() {
                    let Some((ok, _)) = &done[next] else { break };
                    if *ok {
                        passed += 1;
                        if passed >= self.max_bootstrapped_demos {
                            cut = Some(next);
                        }
                    }
                    next += 1;
                }
                stopped = cut.is_some();
                progress.step(tried, passed as f64);
            }
            progress.finish();
            let last = cut.unwrap_or(todo.len().saturating_sub(1));
            for (k, slot) in done.into_iter().enumerate().take(last + 1) {
                if let Some((true, trace)) = slot {
                    accepted[todo[k]] = trace;
                    bootstrapped.push(todo[k]);
                }
            }
        }
        bootstrapped.sort_unstable();
        Ok((accepted, bootstrapped, tried, errors))
    }
}

/// A demo error naming the predictor and where its demos came from.
fn demo_error(path: &str, source: &str, e: crate::Error) -> crate::Error {
    match e {
        crate::Error::Demo(msg) => {
            crate::Error::Demo(format!("predictor `{path}` ({source}): {msg}"))
        }
        other => other,
    }
}

/// A trace entry as a DSPy demo: inputs, outputs, `augmented: true`.
fn augmented(entry: TraceEntry) -> Demo {
    let mut fields = entry.inputs;
    fields.extend(entry.outputs);
    fields.insert("augmented".into(), Value::Bool(true));
    Demo::from_map(fields)
}
