//! Admission to a scope's `max_in_flight`: a counting limit whose waiters are admitted by
//! priority (lower first), then in arrival order. With one priority it is a fair semaphore.
//!
//! Optimizers give each candidate its index as its priority, so the calls of the earliest
//! unfinished candidate — which share its instructions and demos as a prompt prefix — take the
//! free places first, and a server's prompt cache (llama-server's slots, the embedded engine's
//! KV sequences) sees one prefix back to back instead of several interleaved. A call that
//! finishes and is followed at once by the next call of its candidate (as an evaluation loop
//! does, in the same poll) keeps the place: a woken waiter of a later candidate only takes a
//! place while fewer better-ranked callers than free places are waiting.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A limit on calls in flight, shared by every call of a scope.
#[derive(Debug)]
pub(crate) struct Admission {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    free: usize,
    arrivals: u64,
    /// Waiters by (priority, arrival).
    waiting: BTreeMap<(u64, u64), Waker>,
}

impl State {
    /// How many waiters rank before `key`.
    fn rank(&self, key: (u64, u64)) -> usize {
        self.waiting.range(..key).count()
    }

    /// The wakers of the waiters that may now take a free place (woken once the lock is
    /// released).
    fn eligible(&self) -> Vec<Waker> {
        self.waiting.values().take(self.free).cloned().collect()
    }
}

impl Admission {
    /// A limit of `n` calls in flight (at least 1).
    pub(crate) fn new(n: usize) -> Self {
        Admission {
            state: Mutex::new(State {
                free: n.max(1),
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while it was held (every change is one
        // field at a time), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a place, ranked by `priority` (lower first) then arrival.
    pub(crate) fn acquire(self: &Arc<Self>, priority: u64) -> Acquire {
        Acquire {
            admission: self.clone(),
            priority,
            key: None,
            done: false,
        }
    }
}

/// The future of [`Admission::acquire`].
pub(crate) struct Acquire {
    admission: Arc<Admission>,
    priority: u64,
    /// Its place in the queue once it waits.
    key: Option<(u64, u64)>,
    done: bool,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        assert!(!this.done, "an admission polled after it was granted");
        let mut state = this.admission.lock();
        let key = match this.key {
            Some(k) => k,
            None => {
                // A newcomer ranks after every waiter of its priority or better.
                let k = (this.priority, state.arrivals);
                state.arrivals += 1;
                k
            }
        };
        if state.rank(key) < state.free {
            state.free -= 1;
            if this.key.take().is_some() {
                state.waiting.remove(&key);
            }
            this.done = true;
            drop(state);
            return Poll::Ready(Permit {
                admission: this.admission.clone(),
            });
        }
        state.waiting.insert(key, cx.waker().clone());
        this.key = Some(key);
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let (Some(key), false) = (self.key, self.done) {
            let wake = {
                let mut state = self.admission.lock();
                state.waiting.remove(&key);
                // Its turn, if it had one, passes to the next waiter.
                state.eligible()
            };
            wake.into_iter().for_each(Waker::wake);
        }
    }
}

/// A place in flight, given back when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    admission: Arc<Admission>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let wake = {
            let mut state = self.admission.lock();
            state.free += 1;
            state.eligible()
        };
        wake.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    /// Runs `calls` (priority, id) concurrently on one task through a limit of `n`, each call
    /// holding its place for 10 ms; returns the ids in admission order.
    async fn order(n: usize, calls: &[(u64, u32)]) -> Vec<u32> {
        let adm = Arc::new(Admission::new(n));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let futs = calls.iter().map(|&(p, id)| {
            let (adm, seen) = (adm.clone(), seen.clone());
            async move {
                let _permit = adm.acquire(p).await;
                seen.borrow_mut().push(id);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        futures_util::future::join_all(futs).await;
        Rc::try_unwrap(seen)
            .map(RefCell::into_inner)
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn one_priority_is_first_come_first_served() {
        let calls: Vec<(u64, u32)> = (0..6).map(|i| (0, i)).collect();
        assert_eq!(order(2, &calls).await, vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn lower_priorities_are_admitted_first() {
        // The first two take the free places as they arrive; then the waiters go by priority.
        let calls = [(5, 0), (5, 1), (5, 2), (1, 3), (3, 4), (1, 5)];
        assert_eq!(order(2, &calls).await, vec![0, 1, 3, 5, 4, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_follow_up_call_keeps_its_place() {
        // Candidate 0 runs 6 calls one after another with 2 in flight (as an evaluation loop
        // does); candidate 1's calls wait meanwhile, then run.
        let adm = Arc::new(Admission::new(2));
        let log = Rc::new(RefCell::new(Vec::new()));
        let candidate = |c: u64| {
            let (adm, log) = (adm.clone(), log.clone());
            async move {
                let calls = (0..6).map(|_| {
                    let (adm, log) = (adm.clone(), log.clone());
                    async move {
                        let _permit = adm.acquire(c).await;
                        log.borrow_mut().push(c);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                });
                futures_util::stream::iter(calls)
                    .buffer_unordered(2)
                    .for_each(|()| async {})
                    .await;
            }
        };
        use futures_util::StreamExt;
        futures_util::future::join(candidate(1), candidate(0)).await;
        assert_eq!(*log.borrow(), vec![1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    }

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_dropped_waiter_passes_its_turn_on() {
        let adm = Arc::new(Admission::new(1));
        let held = {
            let mut first = Box::pin(adm.acquire(0));
            let waker = futures_util::task::noop_waker();
            match first.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Ready(p) => p,
                Poll::Pending => panic!("a free place was not taken"),
            }
        };
        // Two waiters queue: the better-ranked one is dropped once the place frees up.
        let (w1, w2) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        let (k1, k2) = (Waker::from(w1.clone()), Waker::from(w2.clone()));
        let mut first = Box::pin(adm.acquire(0));
        let mut second = Box::pin(adm.acquire(1));
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(&k1))
                .is_pending()
        );
        assert!(
            second
                .as_mut()
                .poll(&mut Context::from_waker(&k2))
                .is_pending()
        );
        drop(held);
        let count = |w: &Wakes| w.0.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            (count(&w1), count(&w2)),
            (1, 0),
            "the first in line is woken"
        );
        drop(first);
        assert_eq!(count(&w2), 1, "its turn passed to the second");
        assert!(
            second
                .as_mut()
                .poll(&mut Context::from_waker(&k2))
                .is_ready()
        );
    }
}
