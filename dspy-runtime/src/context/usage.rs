//! Usage totals over a scope, gathered by a callback on every LM call in it.

use super::callback::{Call, Callback, LmEnd};
use super::scope;
use crate::lm::UsageReport;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Adds up the LM calls it sees.
#[derive(Default)]
struct Tracker(Mutex<UsageReport>);

impl Callback for Tracker {
    fn on_lm_end(&self, _call: &Call<'_>, end: &LmEnd<'_>) {
        let Ok(response) = end.response else { return };
        let mut r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        r.calls += 1;
        if response.cache_hit {
            r.cache_hits += 1;
        } else {
            r.usage += response.usage;
            r.cost += end.cost.unwrap_or(0.0);
        }
    }
}

/// Runs `fut` and returns its output with the usage of every LM call it made (in this task,
/// whatever the LM). Scopes nest: a call counts in every enclosing scope.
pub async fn track_usage<F: Future>(fut: F) -> (F::Output, UsageReport) {
    let tracker = Arc::new(Tracker::default());
    let out = scope().callback_arc(tracker.clone()).run(fut).await;
    let totals = tracker.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (out, totals)
}
