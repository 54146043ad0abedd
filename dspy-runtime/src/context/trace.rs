//! Traces: while a program runs inside [`traced`], every predictor call it makes is recorded
//! (which predictor, its inputs, its parsed outputs), so an optimizer can turn a successful run
//! into demos for every stage, and a metric can look at the intermediate steps ([`trace`]).

use super::callback::{Call, Callback, ModuleEnd};
use super::{scope, with_current};
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
}

/// The calls of one [`traced`] run: a callback on predictors' module ends.
#[derive(Default)]
pub(crate) struct TraceLog(Mutex<Vec<TraceEntry>>);

impl TraceLog {
    fn lock(&self) -> MutexGuard<'_, Vec<TraceEntry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
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
        if let (Some(predictor), Ok(Some(outputs))) = (call.predictor, &end.outputs)
            && self.is_innermost()
        {
            self.lock().push(TraceEntry {
                predictor,
                inputs: end.inputs.clone(),
                outputs: (*outputs).clone(),
            });
        }
    }
}

/// Runs `fut`, recording every predictor call it makes in this task; returns its output and the
/// calls in order.
pub async fn traced<F: Future>(fut: F) -> (F::Output, Vec<TraceEntry>) {
    let log = Arc::new(TraceLog::default());
    let out = scope().trace_into(log.clone()).run(fut).await;
    let calls = std::mem::take(&mut *log.lock());
    (out, calls)
}

/// Adds `entries` to the enclosing [`traced`] run's calls, if there is one (how BestOfN hands
/// on its chosen attempt's calls, as DSPy extends `settings.trace`).
pub(crate) fn extend_trace(entries: Vec<TraceEntry>) {
    with_current(|ctx| {
        if let Some(t) = &ctx.trace {
            t.lock().extend(entries);
        }
    });
}

/// The calls recorded so far by the enclosing [`traced`] (what DSPy passes a metric as
/// `trace`); `None` outside one, e.g. in a plain evaluation.
pub fn trace() -> Option<Vec<TraceEntry>> {
    with_current(|ctx| ctx.trace.as_ref().map(|t| t.lock().clone()))
}
