//! Which predictor a metric is asked about. GEPA calls the metric once to score a run and again
//! for each predictor it reflects on; inside the second call [`pred_name`] and [`pred_trace`]
//! say which predictor and what it saw and said (DSPy's `pred_name` and `pred_trace`), so the
//! metric can blame the stage that failed.

use crate::context::{RetrievalEntry, TraceEntry};
use std::sync::Arc;

/// The predictor a feedback call is about.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Its path, as `named_predictors` gives it.
    pub name: String,
    /// Its call in the run being reflected on.
    pub call: TraceEntry,
    /// Every predictor call of that run, by path, in order.
    pub program: Arc<[(String, TraceEntry)]>,
    /// Every retrieval of that run, in order.
    pub retrievals: Arc<[RetrievalEntry]>,
}

tokio::task_local! {
    static TARGET: Target;
}

/// Runs `f` (a metric call) as the feedback call about `target`.
pub(crate) fn about<R>(target: Target, f: impl FnOnce() -> R) -> R {
    TARGET.sync_scope(target, f)
}

/// The path of the predictor GEPA asks this metric call about (DSPy's `pred_name`); `None`
/// when the call only scores the run.
pub fn pred_name() -> Option<String> {
    TARGET.try_with(|t| t.name.clone()).ok()
}

/// The call of the predictor GEPA asks about: its inputs and outputs (DSPy's `pred_trace`).
pub fn pred_trace() -> Option<TraceEntry> {
    TARGET.try_with(|t| t.call.clone()).ok()
}

/// Every predictor call of the run GEPA reflects on, by path (DSPy's `trace` in a feedback
/// call).
pub fn program_trace() -> Option<Vec<(String, TraceEntry)>> {
    TARGET.try_with(|t| t.program.to_vec()).ok()
}

/// Every retrieval (`Retrieve` call) of the run GEPA reflects on, in order: so feedback can
/// say what was found (e.g. the recall of the gold documents) and blame the stage that wrote
/// the query.
pub fn program_retrievals() -> Option<Vec<RetrievalEntry>> {
    TARGET.try_with(|t| t.retrievals.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn the_target_is_seen_only_inside_a_feedback_call() {
        assert_eq!(pred_name(), None);
        let call = TraceEntry {
            predictor: 1,
            inputs: Map::new(),
            outputs: Map::new(),
            failed_parse: None,
        };
        let target = Target {
            name: "classify".into(),
            call: call.clone(),
            program: vec![("classify".into(), call)].into(),
            retrievals: Vec::new().into(),
        };
        let seen = about(target, || (pred_name(), pred_trace().map(|c| c.predictor)));
        assert_eq!(seen, (Some("classify".to_string()), Some(1)));
        assert!(program_trace().is_none());
    }
}
