//! Evaluation: run a program over a devset with bounded concurrency, score each prediction with
//! a metric, and keep every outcome (DSPy's `Evaluate`).
//!
//! The README's "Evaluate, batch, data, metrics" section has a complete example.

mod append;
mod coercions;
pub mod metrics;
pub(crate) mod progress;
mod result;

pub use result::{EvalResult, Outcome, compare};

use crate::context::{self, Call, CallKind, Emitter, EvaluateEnd, EvaluateStart};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::module::{Module, run_bounded};
use append::AppendFile;
use coercions::Coercions;
use metrics::{Metric, Score};
use progress::Progress;
use serde::Serialize;
use serde_json::Value;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// `serde_json::to_value` behind a trait object (inputs and labels of any type).
trait ErasedSerialize {
    fn to_json(&self) -> serde_json::Result<Value>;
}

impl<T: Serialize> ErasedSerialize for T {
    fn to_json(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
}

/// Runs a program over a devset and scores it. Built with [`Evaluate::new`], run with
/// [`Evaluate::run`].
#[derive(Clone, Debug)]
pub struct Evaluate<'a, I, L> {
    devset: &'a [Example<I, L>],
    concurrency: usize,
    max_errors: Option<usize>,
    failure_score: f64,
    progress: bool,
    append_to: Option<PathBuf>,
}

impl<'a, I, L> Evaluate<'a, I, L> {
    /// An evaluation over `devset`: 16 calls in flight, stop after more than 10 errors
    /// (DSPy's default `max_errors`), failure score 0, progress bar on a terminal.
    pub fn new(devset: &'a [Example<I, L>]) -> Self {
        Evaluate {
            devset,
            concurrency: 16,
            max_errors: Some(10),
            failure_score: 0.0,
            progress: true,
            append_to: None,
        }
    }

    /// At most `n` program calls in flight.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Stop starting new examples once more than `n` have failed (`None`: never stop).
    pub fn max_errors(mut self, n: impl Into<Option<usize>>) -> Self {
        self.max_errors = n.into();
        self
    }

    /// The score given to an example whose program call failed.
    pub fn failure_score(mut self, score: f64) -> Self {
        self.failure_score = score;
        self
    }

    /// Whether to show progress on stderr: a bar on a terminal, else a line per tenth done.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Appends each outcome to `path` as one JSON line as soon as it finishes, so a crash keeps
    /// what was done.
    pub fn append_to(mut self, path: impl AsRef<Path>) -> Self {
        self.append_to = Some(path.as_ref().to_path_buf());
        self
    }
}

impl<I, L> Evaluate<'_, I, L>
where
    I: Clone + Serialize + Send + Sync,
    L: Serialize + Sync,
{
    /// Runs `program` on every example (input order kept in the result) and scores each
    /// prediction with `metric`, which returns a `bool` or an `f64`. A failed call scores the
    /// failure score and keeps its error text. The result's `score` is DSPy's: the mean over
    /// the whole devset, in percent, rounded to two decimals.
    ///
    /// Fails if an input or label does not serialize (before any call), or if the append file
    /// cannot be opened or written (the evaluation then stops starting examples; a write
    /// error that comes later is returned at the end).
    pub async fn run<M, F, S>(&self, program: &M, metric: F) -> Result<EvalResult<M::Output>>
    where
        M: Module<Input = I>,
        M::Output: Serialize,
        F: Metric<I, L, M::Output, S> + Sync,
        S: Score,
    {
        let Some((emitter, ctx)) =
            context::with_current(|c| Emitter::new(c, None).map(|e| (e, c.clone())))
        else {
            return self.run_inner(program, metric).await;
        };
        let call = Call {
            id: context::next_id(),
            parent: ctx.parent,
            kind: CallKind::Evaluate,
            name: "Evaluate",
            predictor: None,
        };
        let start = EvaluateStart {
            examples: self.devset.len(),
        };
        emitter.each(|c| c.on_evaluate_start(&call, &start));
        let child = context::Context {
            parent: Some(call.id),
            ..ctx
        };
        let result: Result<EvalResult<M::Output>> =
            child.run(self.run_inner(program, metric)).await;
        if let Ok(r) = &result {
            let end = EvaluateEnd {
                score: r.score,
                evaluated: r.outcomes.len(),
                errors: r.errors,
            };
            emitter.each(|c| c.on_evaluate_end(&call, &end));
        }
        result
    }

    async fn run_inner<M, F, S>(&self, program: &M, metric: F) -> Result<EvalResult<M::Output>>
    where
        M: Module<Input = I>,
        M::Output: Serialize,
        F: Metric<I, L, M::Output, S> + Sync,
        S: Score,
    {
        let started = Instant::now();
        let total = self.devset.len();
        // Every input and label as JSON up front: one that does not serialize is an error
        // before any call is spent.
        let values: Vec<(Value, Value)> = self
            .devset
            .iter()
            .enumerate()
            .map(|(i, ex)| {
                let json = |v: &dyn ErasedSerialize, what: &str| {
                    v.to_json()
                        .map_err(|e| Error::Serialize(format!("example {i}'s {what}: {e}")))
                };
                Ok((json(&ex.input, "input")?, json(&ex.label, "label")?))
            })
            .collect::<Result<_>>()?;
        let writer = match &self.append_to {
            Some(path) => Some(AppendFile::open(path).await?),
            None => None,
        };
        let mut progress = Progress::new(self.progress, total);
        let mut sum = 0.0;
        let mut done = 0usize;
        let mut errors = 0usize;
        let mut stopped = None;
        let mut scores = vec![0.0; total];
        let counters: Vec<Arc<Coercions>> = (0..total).map(|_| Arc::default()).collect();
        let (results, usage) = crate::context::track_usage(run_bounded(
            self.devset.iter().zip(&counters),
            self.concurrency,
            |(ex, counter)| {
                context::scope()
                    .callback_arc(counter.clone())
                    .run(program.forward(ex.input.clone()))
            },
            |i, result| {
                let ex = &self.devset[i];
                let score = match result {
                    Ok(pred) => metric(ex, pred).into(),
                    Err(e) => {
                        errors += 1;
                        tracing::warn!(example = i, error = %e, "evaluation: program call failed");
                        self.failure_score
                    }
                };
                scores[i] = score;
                sum += score;
                done += 1;
                if let Some(w) = &writer {
                    let (input, label) = &values[i];
                    let prediction = result.as_ref().map_err(|e| e as &dyn std::fmt::Display);
                    w.send(result::record(i, input, label, prediction, score).to_string());
                }
                progress.step(done, sum);
                if let Some(e) = writer.as_ref().and_then(AppendFile::failed) {
                    stopped.get_or_insert(format!("stopped: the output file failed ({e})"));
                    return ControlFlow::Break(());
                }
                match self.max_errors {
                    Some(max) if errors > max && stopped.is_none() => {
                        stopped = Some(format!(
                            "stopped after {errors} errors (max_errors = {max}); last: {}",
                            result
                                .as_ref()
                                .err()
                                .map(ToString::to_string)
                                .unwrap_or_default()
                        ));
                        ControlFlow::Break(())
                    }
                    _ => ControlFlow::Continue(()),
                }
            },
        ))
        .await;
        progress.finish();
        if let Some(w) = writer {
            w.finish().await?;
        }
        let outcomes = results
            .into_iter()
            .enumerate()
            .zip(values)
            .filter_map(|((i, r), (input, label))| {
                let r = r?;
                Some(Outcome {
                    index: i,
                    input,
                    label,
                    prediction: r.map_err(Arc::new),
                    score: scores[i],
                    coercions: counters[i].count(),
                })
            })
            .collect();
        Ok(EvalResult::new(
            outcomes,
            total,
            sum,
            errors,
            stopped,
            usage,
            started.elapsed(),
        ))
    }
}
