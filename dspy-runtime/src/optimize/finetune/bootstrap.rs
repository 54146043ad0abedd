//! `BootstrapFinetune`: run a teacher over the training set, keep the calls of runs the metric
//! accepts, train an LM on them and put it in the student's predictors (DSPy's algorithm).

use super::{Conversation, FinetuneJob, Finetuned, Finetuner};
use crate::context::{self, TraceEntry};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::evaluate::metrics::{Metric, Score};
use crate::evaluate::progress::Progress;
use crate::module::Module;
use crate::optimize::spend::Spend;
use crate::optimize::traced_run;
use crate::program::{Params, ParamsExt};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// DSPy's `BootstrapFinetune`: the teacher (the program itself unless given) runs on every
/// training example; each run the metric accepts gives, for every predictor call it made, one
/// conversation (the messages the student's predictor at that path would send, with its demos
/// unless [`exclude_demos`](Self::exclude_demos), and the teacher's outputs as the answer).
/// A [`Finetuner`] trains on them (when `multitask`, the default, one job on all conversations
/// per distinct LM among the predictors, as DSPy does; else one per predictor, on its own
/// calls), the conversations of a job shuffled with the seed, and the compiled program is the
/// student with the fine-tuned LM set on each trained predictor.
#[derive(Clone)]
pub struct BootstrapFinetune {
    finetuner: Arc<dyn Finetuner>,
    multitask: bool,
    exclude_demos: bool,
    metric_threshold: Option<f64>,
    teacher_lm: Option<crate::lm::Lm>,
    concurrency: usize,
    seed: u64,
    budget: crate::optimize::Budget,
    progress: bool,
}

impl std::fmt::Debug for BootstrapFinetune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapFinetune")
            .field("finetuner", &self.finetuner.name())
            .field("multitask", &self.multitask)
            .field("exclude_demos", &self.exclude_demos)
            .field("metric_threshold", &self.metric_threshold)
            .field("concurrency", &self.concurrency)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What one fine-tuning job did.
#[derive(Clone, Debug)]
pub struct JobReport {
    /// The predictors trained by this job (their paths).
    pub predictors: Vec<String>,
    /// Training conversations.
    pub conversations: usize,
    /// The fine-tuned model (a GGUF path, a hosted model's name).
    pub model: String,
    /// The finetuner's account of the run.
    pub details: Vec<String>,
    /// Wall time of the job.
    pub elapsed: Duration,
}

/// What a `BootstrapFinetune` compilation did.
#[derive(Clone, Debug, Default)]
pub struct FinetuneReport {
    /// Training examples the teacher ran on.
    pub tried: usize,
    /// Runs the metric accepted.
    pub accepted: usize,
    /// Teacher runs that failed (LM or parse errors).
    pub errors: usize,
    /// Why the teacher stopped before the end of the training set (its budget spent).
    pub stopped: Option<String>,
    /// The fine-tuning jobs, in order.
    pub jobs: Vec<JobReport>,
    /// The teacher's LM calls, tokens and cost.
    pub usage: crate::lm::UsageReport,
    /// Wall time of bootstrapping (the teacher's runs) and of training.
    pub bootstrap_time: Duration,
    pub train_time: Duration,
}

impl std::fmt::Display for FinetuneReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} examples tried, {} accepted, {} errors; teacher: {} LM calls, {:.1} s; training: {:.1} s",
            self.tried,
            self.accepted,
            self.errors,
            self.usage.calls,
            self.bootstrap_time.as_secs_f64(),
            self.train_time.as_secs_f64()
        )?;
        if let Some(why) = &self.stopped {
            write!(f, "\n  teacher stopped early: {why}")?;
        }
        for job in &self.jobs {
            write!(
                f,
                "\n  {} ({} conversations) -> {}",
                job.predictors.join(", "),
                job.conversations,
                job.model
            )?;
            for d in &job.details {
                write!(f, "\n    {d}")?;
            }
        }
        Ok(())
    }
}

impl BootstrapFinetune {
    /// Trains with `finetuner`; DSPy's defaults: multitask, demos kept in the prompts, a
    /// metric value other than 0 (`true`, a non-zero score; not NaN) accepts a run; 8 teacher
    /// runs in flight; seed 0.
    pub fn new(finetuner: impl Finetuner + 'static) -> Self {
        BootstrapFinetune {
            finetuner: Arc::new(finetuner),
            multitask: true,
            exclude_demos: false,
            metric_threshold: None,
            teacher_lm: None,
            concurrency: 8,
            seed: 0,
            budget: crate::optimize::Budget::default(),
            progress: false,
        }
    }

    /// One job on all conversations per distinct LM of the predictors (`true`, DSPy's default;
    /// every predictor then gets its LM's model, also one that no accepted run called), or
    /// one per predictor that made calls in the accepted runs, on its own calls.
    pub fn multitask(mut self, on: bool) -> Self {
        self.multitask = on;
        self
    }

    /// Leave the predictors' demos out of the training prompts (DSPy's `exclude_demos`); the
    /// compiled predictors then lose their demos too, as they were trained without them.
    pub fn exclude_demos(mut self, on: bool) -> Self {
        self.exclude_demos = on;
        self
    }

    /// A run is kept when the metric is at least `t` (default: any value other than 0, as DSPy).
    pub fn metric_threshold(mut self, t: f64) -> Self {
        self.metric_threshold = Some(t);
        self
    }

    /// Runs the teacher with this LM (over the context's) for every predictor without its own:
    /// a bigger model distilled into the student's.
    pub fn teacher_lm(mut self, lm: impl Into<crate::lm::Lm>) -> Self {
        self.teacher_lm = Some(lm.into());
        self
    }

    /// Teacher runs in flight at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The seed handed to the finetuner.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A limit on the teacher's LM calls or dollars: once spent, no further teacher run
    /// starts and training goes on with the runs accepted so far.
    pub fn budget(mut self, budget: crate::optimize::Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Progress of the teacher's runs on stderr.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Compiles `student` with `teacher` (a program of the same type: another LM, other
    /// demos) making the training data.
    pub async fn compile_with_teacher<P, I, L, F, S>(
        &self,
        student: &P,
        teacher: &P,
        trainset: &[Example<I, L>],
        metric: F,
    ) -> Result<(P, FinetuneReport)>
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let started = Instant::now();
        let ((runs, stopped), usage) =
            context::track_usage(self.run_teacher(teacher, trainset, &metric)).await;
        let mut report = FinetuneReport {
            tried: runs.iter().filter(|r| !matches!(r, Run::Skipped)).count(),
            stopped,
            usage,
            bootstrap_time: started.elapsed(),
            ..FinetuneReport::default()
        };
        // Conversations per predictor path, in training-set order.
        let mut by_path: BTreeMap<String, Vec<Conversation>> = BTreeMap::new();
        let mut first_error = None;
        for run in runs {
            match run {
                Run::Failed(e) => {
                    report.errors += 1;
                    first_error.get_or_insert(e);
                }
                Run::Rejected | Run::Skipped => {}
                Run::Accepted(trace) => {
                    report.accepted += 1;
                    for (path, entry) in trace {
                        let Some(p) = student.predictor(&path) else {
                            continue;
                        };
                        let messages =
                            p.finetune_messages(&entry.inputs, &entry.outputs, self.exclude_demos)?;
                        by_path
                            .entry(path)
                            .or_default()
                            .push(Conversation { messages });
                    }
                }
            }
        }
        if by_path.is_empty() {
            return Err(Error::Optimize(format!(
                "BootstrapFinetune: none of the teacher's {} runs passed the metric ({} failed{}), so there is nothing to train on",
                report.tried,
                report.errors,
                first_error
                    .map(|e| format!("; the first: {e}"))
                    .unwrap_or_default()
            )));
        }

        let mut jobs: Vec<(String, Vec<String>, Vec<Conversation>)> = if self.multitask {
            // As DSPy: one job per distinct LM of the predictors (by model name; the
            // context's LM for those without one), each on every conversation, and every
            // predictor gets its LM's model, also one whose calls no accepted run made.
            let mut groups: Vec<(Option<String>, Vec<String>)> = Vec::new();
            for (path, p) in student.named_predictors() {
                let key = p.lm().map(|lm| lm.model().to_string());
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, paths)) => paths.push(path),
                    None => groups.push((key, vec![path])),
                }
            }
            let mut all: Vec<Conversation> = by_path.into_values().flatten().collect();
            let last = groups.len().saturating_sub(1);
            let mut jobs = Vec::with_capacity(groups.len());
            for (i, (key, paths)) in groups.into_iter().enumerate() {
                let name = match (last > 0, key) {
                    (true, Some(model)) => format!("multitask-{model}"),
                    _ => "multitask".to_string(),
                };
                // Each job shuffles its own copy; the last takes the original.
                let convs = if i == last {
                    std::mem::take(&mut all)
                } else {
                    all.clone()
                };
                jobs.push((name, paths, convs));
            }
            jobs
        } else {
            by_path
                .into_iter()
                .map(|(path, convs)| (path.clone(), vec![path], convs))
                .collect()
        };

        // DSPy shuffles each job's data (with `random.Random(0)`); here with the seed.
        let mut rng = fastrand::Rng::with_seed(self.seed);
        for (_, _, convs) in &mut jobs {
            rng.shuffle(convs);
        }

        let train_started = Instant::now();
        // Jobs run at once where the finetuner allows (hosted APIs, as DSPy's threads), else
        // one after another (the embedded model trains on every core).
        let results: Vec<(Finetuned, Duration)> = if self.finetuner.concurrent_jobs() {
            futures_util::future::try_join_all(jobs.iter().map(|j| self.run_job(student, j)))
                .await?
        } else {
            let mut results = Vec::with_capacity(jobs.len());
            for job in &jobs {
                results.push(self.run_job(student, job).await?);
            }
            results
        };
        let mut compiled = student.clone();
        for ((_, paths, convs), (Finetuned { lm, model, details }, elapsed)) in
            jobs.into_iter().zip(results)
        {
            for path in &paths {
                if let Some(p) = compiled.predictor_mut(path) {
                    p.set_lm(Some(lm.clone()));
                    if self.exclude_demos {
                        p.set_demos(Vec::new())?;
                    }
                }
            }
            report.jobs.push(JobReport {
                predictors: paths,
                conversations: convs.len(),
                model,
                details,
                elapsed,
            });
        }
        report.train_time = train_started.elapsed();
        Ok((compiled, report))
    }

    /// One fine-tuning job (name, predictor paths, conversations), from the LM its predictors
    /// call now; the result and its wall time.
    async fn run_job<P: Params>(
        &self,
        student: &P,
        (name, paths, convs): &(String, Vec<String>, Vec<Conversation>),
    ) -> Result<(Finetuned, Duration)> {
        let current = paths
            .iter()
            .find_map(|path| student.predictor(path).and_then(|p| p.lm()));
        let started = Instant::now();
        let done = self
            .finetuner
            .finetune(FinetuneJob {
                name,
                train: convs,
                seed: self.seed,
                lm: current,
            })
            .await?;
        Ok((done, started.elapsed()))
    }

    /// Runs the teacher on every example, `concurrency` at a time, until the budget is spent;
    /// results in order, and why it stopped early if it did.
    async fn run_teacher<P, I, L, F, S>(
        &self,
        teacher: &P,
        trainset: &[Example<I, L>],
        metric: &F,
    ) -> (Vec<Run>, Option<String>)
    where
        P: Module<Input = I> + Params + Clone,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        let threshold = self.metric_threshold;
        let passes = move |v: f64| threshold.map_or(v != 0.0 && !v.is_nan(), |t| v >= t);
        let mut progress = Progress::new(self.progress, trainset.len());
        let mut accepted = 0usize;
        let mut runs: Vec<Run> = Vec::with_capacity(trainset.len());
        let spend = Spend::new();
        let budget = &self.budget;
        let spent = &spend;
        let results = stream::iter(trainset.iter().map(|ex| async move {
            if spent.exceeded(budget).is_some() {
                return Run::Skipped;
            }
            let run = traced_run::by_path(teacher, teacher.forward(ex.input.clone()), false);
            let (out, trace, _) = match &self.teacher_lm {
                Some(lm) => context::with_lm(lm.clone(), run).await,
                None => run.await,
            };
            match out {
                Err(e) => Run::Failed(e.to_string()),
                Ok(pred) if passes(metric(ex, &pred).into()) => Run::Accepted(trace),
                Ok(_) => Run::Rejected,
            }
        }))
        .buffered(self.concurrency);
        context::scope()
            .callback_arc(spend.clone())
            .run(async {
                let mut results = std::pin::pin!(results);
                while let Some(run) = results.next().await {
                    accepted += usize::from(matches!(run, Run::Accepted(_)));
                    runs.push(run);
                    progress.step(runs.len(), accepted as f64);
                }
            })
            .await;
        progress.finish();
        let skipped = runs.iter().filter(|r| matches!(r, Run::Skipped)).count();
        let stopped = (skipped > 0).then(|| {
            format!(
                "{}; {skipped} of {} examples not run",
                spend.exceeded(budget).unwrap_or_default(),
                trainset.len()
            )
        });
        (runs, stopped)
    }
}

/// One teacher run.
enum Run {
    /// Not run: the budget was spent.
    Skipped,
    /// The run's error.
    Failed(String),
    Rejected,
    Accepted(Vec<(String, TraceEntry)>),
}

impl crate::optimize::Optimizer for BootstrapFinetune {
    type Compiled<P> = P;
    type Report = FinetuneReport;

    /// The program is its own teacher (DSPy's default); the valset is not used.
    fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        _valset: Option<&'a [Example<I, L>]>,
        metric: F,
    ) -> impl std::future::Future<Output = Result<(P, FinetuneReport)>> + 'a
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        self.compile_with_teacher(program, program, trainset, metric)
    }
}
