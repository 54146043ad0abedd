//! Bounded concurrency: many calls of one module in flight at once, results in input order.

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::ops::ControlFlow;

/// How many calls [`Module::batch`](super::Module::batch) keeps in flight (DSPy's default
/// `num_threads`).
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Runs `call` on every item with at most `limit` calls in flight (at least 1), all on the
/// calling task. `on_done(index, &result)` sees each result as it finishes; once it breaks, no
/// further item is started (those in flight still finish). Results come back in input order;
/// an item never started is `None`.
pub(crate) async fn run_bounded<T, R, Fut>(
    items: impl IntoIterator<Item = T>,
    limit: usize,
    mut call: impl FnMut(T) -> Fut,
    mut on_done: impl FnMut(usize, &R) -> ControlFlow<()>,
) -> Vec<Option<R>>
where
    Fut: Future<Output = R>,
{
    let mut items = items.into_iter().enumerate();
    let mut results: Vec<Option<R>> = Vec::with_capacity(items.size_hint().0);
    let mut in_flight = FuturesUnordered::new();
    let mut stopped = false;
    let limit = limit.max(1);
    loop {
        while !stopped && in_flight.len() < limit {
            let Some((i, item)) = items.next() else { break };
            let fut = call(item);
            in_flight.push(async move { (i, fut.await) });
        }
        let Some((i, result)) = in_flight.next().await else {
            break;
        };
        if on_done(i, &result).is_break() {
            stopped = true;
        }
        if results.len() <= i {
            results.resize_with(i + 1, || None);
        }
        results[i] = Some(result);
    }
    let total = results.len() + items.count();
    results.resize_with(total, || None);
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn keeps_order_and_bound_and_stops_on_break() {
        let live = std::cell::Cell::new(0usize);
        let peak = std::cell::Cell::new(0usize);
        let out = run_bounded(
            0..20u64,
            4,
            |i| {
                let (live, peak) = (&live, &peak);
                async move {
                    live.set(live.get() + 1);
                    peak.set(peak.get().max(live.get()));
                    tokio::time::sleep(Duration::from_millis(20 - i)).await;
                    live.set(live.get() - 1);
                    i * 10
                }
            },
            |_, _| ControlFlow::Continue(()),
        )
        .await;
        assert_eq!(peak.get(), 4);
        let got: Vec<u64> = out.into_iter().map(Option::unwrap).collect();
        assert_eq!(got, (0..20).map(|i| i * 10).collect::<Vec<_>>());

        let mut seen = 0;
        let out = run_bounded(
            0..20u64,
            2,
            |i| async move { i },
            |_, _| {
                seen += 1;
                if seen == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .await;
        assert_eq!(out.len(), 20);
        let done = out.iter().filter(|r| r.is_some()).count();
        assert!((3..=4).contains(&done), "{done} finished");
        assert!(out[10..].iter().all(Option::is_none));
    }
}
