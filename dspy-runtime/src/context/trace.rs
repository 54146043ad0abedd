//! Traces: while a program runs inside [`traced`], every predictor call it makes is recorded
//! (which predictor, its inputs, its parsed outputs), so an optimizer can turn a successful run
//! into demos for every stage, and a metric can look at the intermediate steps ([`trace`]).

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
    /// The reply, when it could not be parsed (cut as parse errors cut it); `outputs` is then
    /// empty. Only runs that ask for failed parses record such calls (DSPy's
    /// `capture_failed_parses`, which GEPA's `add_format_failure_as_feedback` uses).
    pub failed_parse: Option<String>,
}

/// The calls of one [`traced`] run: a callback on predictors' module ends.
#[derive(Default)]
pub(crate) struct TraceLog {
    calls: Mutex<Vec<TraceEntry>>,
    /// Whether calls whose reply failed to parse are recorded too.
    failed_parses: bool,
}

impl TraceLog {
    fn lock(&self) -> MutexGuard<'_, Vec<TraceEntry>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
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
            Err(Error::Parse(e)) if self.failed_parses => Err(&e.response),
            _ => return,
        };
        if !self.is_innermost() {
            return;
        }
        let (outputs, failed_parse) = match recorded {
            Ok(outputs) => (outputs.clone(), None),
            Err(reply) => (Map::new(), Some(reply.clone())),
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
    traced_with(fut, false).await
}

/// [`traced`], also recording the calls whose reply failed to parse when `failed_parses` is
/// set (their [`TraceEntry::failed_parse`] holds the reply).
pub(crate) async fn traced_with<F: Future>(
    fut: F,
    failed_parses: bool,
) -> (F::Output, Vec<TraceEntry>) {
    let log = Arc::new(TraceLog {
        calls: Mutex::default(),
        failed_parses,
    });
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
