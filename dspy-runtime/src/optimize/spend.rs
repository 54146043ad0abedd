//! What an optimizer spends: LM calls, tokens and cost per model, and the limit that stops a
//! compilation cleanly once it is spent.

use super::report::Report;
use crate::context::{Call, Callback, LmEnd};
use crate::data::Example;
use crate::evaluate::Evaluate;
use crate::evaluate::metrics::{Metric, Score};
use crate::lm::Usage;
use crate::module::Module;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// LM calls, cache hits, tokens and cost of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Calls made, cache hits and failures included.
    pub calls: u64,
    /// Calls answered from a cache.
    pub cache_hits: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Prompt tokens spent (cache hits spend none).
    pub prompt_tokens: u64,
    /// Completion tokens spent.
    pub completion_tokens: u64,
    /// Dollars, for models with a price.
    pub cost: f64,
}

/// A limit on what a compilation may spend. Optimizers check it before each trial, so a run
/// stops with the best program found so far, at most one trial past the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Budget {
    /// Most LM calls (every model, cache hits included).
    pub max_lm_calls: Option<u64>,
    /// Most dollars (for models with a price).
    pub max_cost: Option<f64>,
}

impl Budget {
    /// At most `n` LM calls.
    pub fn lm_calls(n: u64) -> Budget {
        Budget {
            max_lm_calls: Some(n),
            ..Budget::default()
        }
    }

    /// At most `dollars`.
    pub fn dollars(dollars: f64) -> Budget {
        Budget {
            max_cost: Some(dollars),
            ..Budget::default()
        }
    }
}

/// Counts LM calls per model while a compilation runs (a [`Callback`] on its scope).
#[derive(Debug, Default)]
pub(crate) struct Spend(Mutex<BTreeMap<String, ModelUsage>>);

impl Spend {
    pub(crate) fn new() -> Arc<Spend> {
        Arc::new(Spend::default())
    }

    /// Usage so far, by model.
    pub(crate) fn by_model(&self) -> BTreeMap<String, ModelUsage> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Counts `usage` as already spent (what a resumed run spent before it was stopped).
    pub(crate) fn preload(&self, usage: &BTreeMap<String, ModelUsage>) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (model, u) in usage {
            let e = m.entry(model.clone()).or_default();
            e.calls += u.calls;
            e.cache_hits += u.cache_hits;
            e.errors += u.errors;
            e.prompt_tokens += u.prompt_tokens;
            e.completion_tokens += u.completion_tokens;
            e.cost += u.cost;
        }
    }

    /// Calls and dollars so far, over every model.
    pub(crate) fn totals(&self) -> (u64, f64) {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.values()
            .fold((0, 0.0), |(n, c), u| (n + u.calls, c + u.cost))
    }

    /// Why `budget` is spent, if it is.
    pub(crate) fn exceeded(&self, budget: &Budget) -> Option<String> {
        let (calls, cost) = self.totals();
        if let Some(max) = budget.max_lm_calls
            && calls >= max
        {
            return Some(format!("budget spent: {calls} LM calls (limit {max})"));
        }
        if let Some(max) = budget.max_cost
            && cost >= max
        {
            return Some(format!("budget spent: ${cost:.4} (limit ${max:.4})"));
        }
        None
    }
}

impl Spend {
    /// `program`'s score on `set` (Evaluate's percent, `concurrency` calls in flight), or
    /// `None` when `budget` is already spent: how every search scores a candidate.
    pub(crate) async fn score<P, I, L, F, S>(
        &self,
        program: &P,
        set: &[Example<I, L>],
        metric: &F,
        concurrency: usize,
        budget: &Budget,
    ) -> crate::Result<Option<f64>>
    where
        P: Module<Input = I>,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync,
        L: Serialize + Sync,
        F: Metric<I, L, P::Output, S> + Sync,
        S: Score,
    {
        if self.exceeded(budget).is_some() {
            return Ok(None);
        }
        let result = Evaluate::new(set)
            .concurrency(concurrency)
            .max_errors(None)
            .progress(false)
            .run(program, metric)
            .await?;
        Ok(Some(result.score))
    }
}

/// Runs an optimizer's body with a [`Spend`] observing its LM calls, then completes its
/// [`Report`] (usage per model, wall time): what every instruction optimizer's `optimize` does.
pub(crate) async fn tracked<T>(
    optimizer: &'static str,
    body: impl AsyncFnOnce(&Spend, &mut Report) -> crate::Result<T>,
) -> crate::Result<(T, Report)> {
    let started = std::time::Instant::now();
    let spend = Spend::new();
    let mut report = Report::new(optimizer);
    let out = crate::context::scope()
        .callback_arc(spend.clone())
        .run(body(&spend, &mut report))
        .await?;
    report.usage = spend.by_model();
    report.elapsed = started.elapsed();
    Ok((out, report))
}

impl Callback for Spend {
    fn on_lm_end(&self, call: &Call<'_>, end: &LmEnd<'_>) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let u = m.entry(call.name.to_string()).or_default();
        u.calls += 1;
        match end.response {
            Ok(r) => {
                let Usage {
                    prompt_tokens,
                    completion_tokens,
                } = r.usage;
                u.prompt_tokens += prompt_tokens;
                u.completion_tokens += completion_tokens;
                u.cache_hits += u64::from(r.cache_hit);
            }
            Err(_) => u.errors += 1,
        }
        u.cost += end.cost.unwrap_or(0.0);
    }
}
