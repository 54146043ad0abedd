//! `Parallel`: many (module, input) pairs at once, with a bound, an error limit and straggler
//! resubmission (DSPy's `dspy.Parallel`).

use crate::error::{Error, Result};
use crate::module::{DEFAULT_CONCURRENCY, Module};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// Runs (module, input) pairs concurrently on the calling task: at most `concurrency` at once,
/// results in input order, each with its own error.
///
/// As in DSPy: once `max_errors` items have failed the run stops with an error; once only
/// `straggler_limit` items are left, any that has run for `timeout` is started a second time
/// and whichever copy finishes first is kept. `item_timeout` (off by default; DSPy has none)
/// fails an item that runs longer.
#[derive(Clone, Debug)]
pub struct Parallel {
    concurrency: usize,
    max_errors: usize,
    timeout: Duration,
    straggler_limit: usize,
    item_timeout: Option<Duration>,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel {
            concurrency: DEFAULT_CONCURRENCY,
            max_errors: 10,
            timeout: Duration::from_secs(120),
            straggler_limit: 3,
            item_timeout: None,
        }
    }
}

impl Parallel {
    /// DSPy's defaults: 8 at once here (DSPy: its thread count), `max_errors` 10, stragglers
    /// restarted after 120 s when at most 3 items are left.
    pub fn new() -> Self {
        Self::default()
    }

    /// Items in flight at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Failed items that stop the run (at least 1).
    pub fn max_errors(mut self, n: usize) -> Self {
        self.max_errors = n.max(1);
        self
    }

    /// How long an item runs before it counts as a straggler (zero: never).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How few items must be left before stragglers are restarted.
    pub fn straggler_limit(mut self, n: usize) -> Self {
        self.straggler_limit = n;
        self
    }

    /// Fails an item (one copy of it) that runs longer than `timeout`.
    pub fn item_timeout(mut self, timeout: Duration) -> Self {
        self.item_timeout = Some(timeout);
        self
    }

    /// Runs every pair; one result per pair, in order. Fails as a whole only when
    /// `max_errors` items failed (the error says how many and the last one).
    pub async fn run<'m, M>(
        &self,
        pairs: impl IntoIterator<Item = (&'m M, M::Input)>,
    ) -> Result<Vec<Result<M::Output>>>
    where
        M: Module + 'm,
        M::Input: Clone,
    {
        let items: Vec<(&M, M::Input)> = pairs.into_iter().collect();
        let n = items.len();
        let mut results: Vec<Option<Result<M::Output>>> = (0..n).map(|_| None).collect();
        let item_timeout = self.item_timeout;
        let launch = |index: usize, copy: u64| {
            let (module, input) = &items[index];
            let call = module.forward(input.clone());
            async move {
                let out = match item_timeout {
                    Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
                        Err(Error::Module(format!(
                            "Parallel: item {index} ran longer than {limit:?}"
                        )))
                    }),
                    None => call.await,
                };
                (copy, index, out)
            }
        };
        let mut running = FuturesUnordered::new();
        let mut started: HashMap<u64, (usize, Instant)> = HashMap::new();
        let mut restarted: HashSet<usize> = HashSet::new();
        let (mut next, mut copies, mut finished, mut errors) = (0, 0u64, 0, 0);
        while finished < n {
            while running.len() < self.concurrency && next < n {
                started.insert(copies, (next, Instant::now()));
                running.push(launch(next, copies));
                (next, copies) = (next + 1, copies + 1);
            }
            let check = Duration::from_millis(250).min(self.timeout.max(Duration::from_millis(1)));
            // Wake at least every `check` to look for stragglers.
            if let Ok(done) = tokio::time::timeout(check, running.next()).await {
                let Some((copy, index, out)) = done else {
                    break;
                };
                started.remove(&copy);
                if results[index].is_some() {
                    continue; // the other copy of a restarted straggler finished first
                }
                if let Err(e) = &out {
                    errors += 1;
                    if errors >= self.max_errors {
                        return Err(Error::Module(format!(
                            "Parallel: cancelled after {errors} failed items (max_errors {}); the last: {e}",
                            self.max_errors
                        )));
                    }
                }
                results[index] = Some(out);
                finished += 1;
            }
            let left = n - finished;
            if next == n && !self.timeout.is_zero() && left <= self.straggler_limit {
                let slow: Vec<usize> = started
                    .values()
                    .filter(|(i, t)| {
                        results[*i].is_none()
                            && !restarted.contains(i)
                            && t.elapsed() >= self.timeout
                    })
                    .map(|(i, _)| *i)
                    .collect();
                for index in slow {
                    tracing::debug!(index, "Parallel: restarting a straggler");
                    restarted.insert(index);
                    started.insert(copies, (index, Instant::now()));
                    running.push(launch(index, copies));
                    copies += 1;
                }
            }
        }
        Ok(results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| {
                    Err(Error::Module(format!("Parallel: item {i} did not finish")))
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Sleeps as long as its input says, then echoes it; fails on negative inputs; records
    /// each start. The first run of `hang` never ends.
    struct Sleeper {
        starts: Mutex<Vec<i64>>,
        hang: Option<i64>,
    }

    impl Sleeper {
        fn new(hang: Option<i64>) -> Self {
            Sleeper {
                starts: Mutex::new(Vec::new()),
                hang,
            }
        }
        fn starts(&self) -> Vec<i64> {
            self.starts.lock().unwrap().clone()
        }
    }

    impl Module for Sleeper {
        type Input = i64;
        type Output = i64;
        async fn forward(&self, input: i64) -> Result<i64> {
            let first = {
                let mut s = self.starts.lock().unwrap();
                s.push(input);
                s.iter().filter(|&&x| x == input).count() == 1
            };
            if first && self.hang == Some(input) {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(input.unsigned_abs() * 10)).await;
            if input < 0 {
                return Err(Error::Module(format!("bad input {input}")));
            }
            Ok(input)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn results_keep_input_order_under_a_bound() {
        let m = Sleeper::new(None);
        let out = Parallel::new()
            .concurrency(2)
            .run([5, 1, 3, -2, 4].map(|i| (&m, i)))
            .await
            .unwrap();
        let ok: Vec<Option<i64>> = out.iter().map(|r| r.as_ref().ok().copied()).collect();
        assert_eq!(ok, [Some(5), Some(1), Some(3), None, Some(4)]);
        assert!(
            out[3]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("bad input -2")
        );
        // The bound: the third item starts only after one of the first two ends.
        assert_eq!(m.starts()[..2], [5, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn max_errors_stops_the_run() {
        let m = Sleeper::new(None);
        let e = Parallel::new()
            .concurrency(1)
            .max_errors(2)
            .run([-1, 2, -3, 4, 5].map(|i| (&m, i)))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("cancelled after 2 failed items"),
            "{e}"
        );
        assert_eq!(
            m.starts(),
            [-1, 2, -3],
            "nothing starts after the second failure"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_straggler_is_started_again_and_the_first_copy_to_finish_wins() {
        let m = Sleeper::new(Some(7));
        let out = Parallel::new()
            .timeout(Duration::from_secs(1))
            .run([1, 7, 2].map(|i| (&m, i)))
            .await
            .unwrap();
        let ok: Vec<i64> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(ok, [1, 7, 2]);
        assert_eq!(m.starts().iter().filter(|&&x| x == 7).count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_timeout_fails_the_item_not_the_run() {
        let m = Sleeper::new(Some(7));
        let out = Parallel::new()
            .timeout(Duration::ZERO)
            .item_timeout(Duration::from_secs(5))
            .run([1, 7].map(|i| (&m, i)))
            .await
            .unwrap();
        assert_eq!(*out[0].as_ref().unwrap(), 1);
        let e = out[1].as_ref().unwrap_err();
        assert!(e.to_string().contains("ran longer than 5s"), "{e}");
    }
}
