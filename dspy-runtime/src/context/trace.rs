//! Traces: while a program runs inside [`traced`], every predictor call it makes is recorded
//! (which predictor, its inputs, its parsed outputs), so an optimizer can turn a successful run
//! into demos for every stage, and a metric can look at the intermediate steps ([`trace`]).
//! Retrievals are recorded beside them ([`retrievals`]): what each `Retrieve` was asked and
//! returned, so a metric can score retrieval too (recall, say) and GEPA's feedback can name it.

use super::callback::{Call, Callback, ModuleEnd};
use super::{scope, with_current};
use crate::error::Error;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

/// One predictor call.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    /// Identifies the predictor (see `Predictor::core_id`); map it to a path with
    /// `named_predictors`.
    pub predictor: usize,
    /// The inputs, by field name.
    pub inputs: Map<String, Value>,
    /// The parsed outputs, by field name (ChainOfThought's `reasoning` included).
    pub outputs: Map<String, Value>,
    /// The reply, when it could not be parsed; `outputs` is then empty. Only runs that ask
    /// for failed parses record such calls (DSPy's `capture_failed_parses`, which GEPA's
    /// `add_format_failure_as_feedback` uses).
    pub failed_parse: Option<String>,
}

/// One retrieval in a traced run: a `Retrieve` call's query, `k`, and the passages it returned
/// (as JSON: each with `id`, `text` and `score`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetrievalEntry {
    /// What was searched for.
    pub query: String,
    /// How many passages were asked for.
    pub k: usize,
    /// The passages, best first.
    pub passages: Vec<Value>,
}

/// The calls of one [`traced`] run: a callback on predictors' module ends, and the retrievals.
#[derive(Default)]
pub(crate) struct TraceLog {
    calls: Mutex<Vec<TraceEntry>>,
    retrievals: Mutex<Vec<RetrievalEntry>>,
    /// Whether calls whose reply failed to parse are recorded too.
    failed_parses: bool,
}

impl TraceLog {
    fn lock(&self) -> MutexGuard<'_, Vec<TraceEntry>> {
        lock(&self.calls)
    }
}

impl TraceLog {
    /// Whether this log is the innermost [`traced`] run's where the call is made: an inner
    /// run (one attempt of BestOfN) keeps its calls from the outer one, which gets only what
    /// is handed on with [`extend_trace`].
    fn is_innermost(&self) -> bool {
        with_current(|ctx| {
            ctx.trace
                .as_ref()
                .is_some_and(|t| std::ptr::eq(Arc::as_ptr(t), self))
        })
    }
}

impl Callback for TraceLog {
    fn on_module_end(&self, call: &Call<'_>, end: &ModuleEnd<'_>) {
        let Some(predictor) = call.predictor else {
            return;
        };
        let recorded = match &end.outputs {
            Ok(Some(outputs)) => Ok(*outputs),
            Err(Error::Parse(e)) if self.failed_parses => Err(e.full_response()),
            _ => return,
        };
        if !self.is_innermost() {
            return;
        }
        let (outputs, failed_parse) = match recorded {
            Ok(outputs) => (outputs.clone(), None),
            Err(reply) => (Map::new(), Some(reply.to_string())),
        };
        self.lock().push(TraceEntry {
            predictor,
            inputs: end.inputs.clone(),
            outputs,
            failed_parse,
        });
    }
}

/// Runs `fut`, recording every predictor call it makes in this task; returns its output and the
/// calls in order.
pub async fn traced<F: Future>(fut: F) -> (F::Output, Vec<TraceEntry>) {
    let (out, calls, _) = traced_with(fut, false).await;
    (out, calls)
}

/// [`traced`], also returning the retrievals, and recording the calls whose reply failed to
/// parse when `failed_parses` is set (their [`TraceEntry::failed_parse`] holds the reply).
pub(crate) async fn traced_with<F: Future>(
    fut: F,
    failed_parses: bool,
) -> (F::Output, Vec<TraceEntry>, Vec<RetrievalEntry>) {
    let log = Arc::new(TraceLog {
        failed_parses,
        ..TraceLog::default()
    });
    let out = scope().trace_into(log.clone()).run(fut).await;
    let calls = std::mem::take(&mut *log.lock());
    let retrievals = std::mem::take(&mut *lock(&log.retrievals));
    (out, calls, retrievals)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records a retrieval (made by `entry`, only when needed) in the enclosing [`traced`] run, if
/// there is one.
pub(crate) fn record_retrieval(entry: impl FnOnce() -> RetrievalEntry) {
    with_current(|ctx| {
        if let Some(t) = &ctx.trace {
            lock(&t.retrievals).push(entry());
        }
    });
}

/// The retrievals recorded so far by the enclosing [`traced`] run; `None` outside one.
pub fn retrievals() -> Option<Vec<RetrievalEntry>> {
    with_current(|ctx| ctx.trace.as_ref().map(|t| lock(&t.retrievals).clone()))
}

/// What one nested traced run recorded (an attempt of BestOfN), to hand on to the enclosing
/// run with [`extend_trace`].
pub(crate) struct Records {
    /// The predictor calls.
    pub calls: Vec<TraceEntry>,
    /// The retrievals.
    pub retrievals: Vec<RetrievalEntry>,
}

/// [`traced`] inside another traced run: records what the enclosing run records (failed
/// parses too when it does), kept apart until handed on.
pub(crate) async fn traced_nested<F: Future>(fut: F) -> (F::Output, Records) {
    let failed_parses = with_current(|ctx| ctx.trace.as_ref().is_some_and(|t| t.failed_parses));
    let (out, calls, retrievals) = traced_with(fut, failed_parses).await;
    (out, Records { calls, retrievals })
}

/// Adds `records` to the enclosing [`traced`] run's, if there is one (how BestOfN hands on its
/// chosen attempt's calls, as DSPy extends `settings.trace`).
pub(crate) fn extend_trace(records: Records) {
    with_current(|ctx| {
        if let Some(t) = &ctx.trace {
            t.lock().extend(records.calls);
            lock(&t.retrievals).extend(records.retrievals);
        }
    });
}

/// The calls recorded so far by the enclosing [`traced`] (what DSPy passes a metric as
/// `trace`); `None` outside one, e.g. in a plain evaluation.
pub fn trace() -> Option<Vec<TraceEntry>> {
    with_current(|ctx| ctx.trace.as_ref().map(|t| t.lock().clone()))
}
