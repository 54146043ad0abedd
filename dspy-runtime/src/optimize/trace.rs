//! Traces: while a program runs inside [`traced`], every predictor call it makes is recorded
//! (which predictor, its inputs, its parsed outputs), so an optimizer can turn a successful run
//! into demos for every stage, and a metric can look at the intermediate steps ([`trace`]).

use serde_json::{Map, Value};
use std::future::Future;
use std::sync::{Arc, Mutex};

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

tokio::task_local! {
    static TRACE: Arc<Mutex<Vec<TraceEntry>>>;
}

fn lock(m: &Mutex<Vec<TraceEntry>>) -> std::sync::MutexGuard<'_, Vec<TraceEntry>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `fut`, recording every predictor call it makes in this task; returns its output and the
/// calls in order.
pub async fn traced<F: Future>(fut: F) -> (F::Output, Vec<TraceEntry>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let out = TRACE.scope(calls.clone(), fut).await;
    let calls = std::mem::take(&mut *lock(&calls));
    (out, calls)
}

/// The calls recorded so far by the enclosing [`traced`] (what DSPy passes a metric as
/// `trace`); `None` outside one, e.g. in a plain evaluation.
pub fn trace() -> Option<Vec<TraceEntry>> {
    TRACE.try_with(|t| lock(t).clone()).ok()
}

/// Whether calls are being recorded (so predictors only copy their inputs when they are).
pub(crate) fn active() -> bool {
    TRACE.try_with(|_| ()).is_ok()
}

/// Records one call, if inside [`traced`].
pub(crate) fn record(predictor: usize, inputs: Value, outputs: Map<String, Value>) {
    let inputs = match inputs {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let _ = TRACE.try_with(|t| {
        lock(t).push(TraceEntry {
            predictor,
            inputs,
            outputs,
        })
    });
}
