//! One LM over several endpoints serving the same model (replicas of vLLM, SGLang or
//! llama-server). A call goes to the endpoint with the fewest calls in flight; an endpoint that
//! fails a call is ejected for a cool-down (doubling with each failure in a row) and then
//! re-probed by one call; the failed call moves to a healthy endpoint. The endpoints share the
//! model name, so they share the response cache's keys; the pool is one LM for usage, history
//! and budgets.

use super::{
    BoxFuture, Capabilities, HttpLm, HttpLmBuilder, LanguageModel, LmError, LmRequest, LmResponse,
    RetryPolicy, Usage,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An LM over several OpenAI-compatible endpoints of one model. Cheap to clone.
///
/// ```no_run
/// # fn main() -> Result<(), dspy_runtime::LmError> {
/// let lm = dspy_runtime::lm::PoolLm::builder("openai/qwen")
///     .endpoints(["http://10.0.0.1:8080/v1", "http://10.0.0.2:8080/v1"])
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PoolLm {
    inner: Arc<Pool>,
}

struct Pool {
    /// At least one (the builder refuses none); they share the model name.
    members: Vec<Member>,
    cooldown: Duration,
    max_cooldown: Duration,
    /// Endpoints tried per call before its last error is returned.
    attempts: usize,
    /// Ties between equally loaded endpoints go round.
    next: AtomicUsize,
    moved: AtomicU64,
    /// Woken when an endpoint's health changes (calls waiting for one to come back).
    changed: tokio::sync::Notify,
}

struct Member {
    lm: HttpLm,
    url: String,
    in_flight: AtomicUsize,
    calls: AtomicU64,
    failures: AtomicU64,
    ejections: AtomicU64,
    health: Mutex<Health>,
}

impl Health {
    /// In rotation, or out with its cool-down over and no probe under way.
    fn available(&self, now: Instant) -> bool {
        match self.ejected_until {
            None => true,
            Some(until) => until <= now && !self.probing,
        }
    }
}

#[derive(Default)]
struct Health {
    /// Out of rotation until then.
    ejected_until: Option<Instant>,
    /// Failures in a row.
    strikes: u32,
    /// A call is testing the endpoint after its cool-down.
    probing: bool,
}

/// One endpoint's share of a pool's work, from [`PoolLm::report`].
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointReport {
    /// Its base URL.
    pub url: String,
    /// Calls sent to it (attempts, so a moved call counts at each endpoint it reached).
    pub calls: u64,
    /// Calls it failed.
    pub failures: u64,
    /// Times it was taken out of rotation.
    pub ejections: u64,
    /// Calls on it now.
    pub in_flight: usize,
    /// Whether it is out of rotation now.
    pub ejected: bool,
}

/// What a pool has done: per endpoint, and the calls moved after a failure.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolReport {
    /// The endpoints, in the order given.
    pub endpoints: Vec<EndpointReport>,
    /// Calls that failed on one endpoint and were sent to another.
    pub moved: u64,
}

impl std::fmt::Display for PoolReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.endpoints {
            writeln!(
                f,
                "{}: {} calls, {} failed, {} ejections{}",
                e.url,
                e.calls,
                e.failures,
                e.ejections,
                if e.ejected { " (ejected now)" } else { "" }
            )?;
        }
        write!(f, "{} calls moved to another endpoint", self.moved)
    }
}

/// Builds a [`PoolLm`]: the model, its endpoints, and settings every endpoint shares.
pub struct PoolLmBuilder {
    member: HttpLmBuilder,
    urls: Vec<String>,
    cooldown: Duration,
    max_cooldown: Duration,
    attempts: Option<usize>,
}

impl PoolLm {
    /// A pool for `model` (as [`HttpLm::builder`] names it, e.g. `openai/qwen`).
    pub fn builder(model: impl Into<String>) -> PoolLmBuilder {
        PoolLmBuilder {
            member: HttpLm::builder(model),
            urls: Vec::new(),
            cooldown: Duration::from_secs(2),
            max_cooldown: Duration::from_secs(60),
            attempts: None,
        }
    }

    /// Calls, failures and ejections per endpoint so far.
    pub fn report(&self) -> PoolReport {
        let now = Instant::now();
        PoolReport {
            endpoints: self
                .inner
                .members
                .iter()
                .map(|m| EndpointReport {
                    url: m.url.clone(),
                    calls: m.calls.load(Ordering::Relaxed),
                    failures: m.failures.load(Ordering::Relaxed),
                    ejections: m.ejections.load(Ordering::Relaxed),
                    in_flight: m.in_flight.load(Ordering::Relaxed),
                    ejected: m.health().ejected_until.is_some_and(|t| t > now),
                })
                .collect(),
            moved: self.inner.moved.load(Ordering::Relaxed),
        }
    }

    /// The endpoints' LMs, in the order given (their own stats and history).
    pub fn endpoints(&self) -> impl Iterator<Item = &HttpLm> {
        self.inner.members.iter().map(|m| &m.lm)
    }
}

impl PoolLmBuilder {
    /// Adds an endpoint (its base URL, up to and including `/v1`).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.urls.push(url.into());
        self
    }

    /// Adds endpoints.
    pub fn endpoints<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.urls.extend(urls.into_iter().map(Into::into));
        self
    }

    /// Changes the settings every endpoint's [`HttpLm`] is built with (key, timeout, cache,
    /// limits per endpoint, defaults, price…). Their retries are the pool's: a failed call
    /// moves to another endpoint instead of retrying the same one.
    pub fn each(mut self, f: impl FnOnce(HttpLmBuilder) -> HttpLmBuilder) -> Self {
        self.member = f(self.member);
        self
    }

    /// How long an endpoint stays out after its first failure in a row (default 2 s); each
    /// further failure doubles it, up to `max` (default 60 s).
    pub fn cooldown(mut self, first: Duration, max: Duration) -> Self {
        self.cooldown = first;
        self.max_cooldown = max.max(first);
        self
    }

    /// Endpoints tried per call before it fails (default: twice the number of endpoints).
    pub fn attempts(mut self, n: usize) -> Self {
        self.attempts = Some(n.max(1));
        self
    }

    /// Builds the pool; fails without endpoints or when an endpoint's LM cannot be built.
    pub fn build(self) -> Result<PoolLm, LmError> {
        if self.urls.is_empty() {
            return Err(LmError::Config(
                "a pool needs at least one endpoint: .endpoint(\"http://host:port/v1\")".into(),
            ));
        }
        let members = self
            .urls
            .iter()
            .map(|url| {
                let lm = self
                    .member
                    .clone()
                    .api_base(url.clone())
                    .retry(RetryPolicy::none())
                    .build()?;
                Ok(Member {
                    lm,
                    url: url.clone(),
                    in_flight: AtomicUsize::new(0),
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    ejections: AtomicU64::new(0),
                    health: Mutex::new(Health::default()),
                })
            })
            .collect::<Result<Vec<_>, LmError>>()?;
        Ok(PoolLm {
            inner: Arc::new(Pool {
                attempts: self.attempts.unwrap_or(2 * members.len()),
                members,
                cooldown: self.cooldown,
                max_cooldown: self.max_cooldown,
                next: AtomicUsize::new(0),
                moved: AtomicU64::new(0),
                changed: tokio::sync::Notify::new(),
            }),
        })
    }
}

impl Member {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An endpoint's slot for one call: counts it in flight until dropped. A probe given up on
/// (its call dropped) lets the next call probe.
struct Lease<'a> {
    member: &'a Member,
    probe: bool,
    /// The pool's health-change signal, for calls waiting on the probe.
    pool_changed: &'a tokio::sync::Notify,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.member.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.probe {
            let mut h = self.member.health();
            // A probe that ended without a verdict (its call dropped) lets the next call probe.
            if std::mem::take(&mut h.probing) {
                drop(h);
                self.pool_changed.notify_waiters();
            }
        }
    }
}

impl Pool {
    /// The endpoint for the next attempt: the least loaded one in rotation, or one whose
    /// cool-down is over (one probing call at a time). `None` when all are out.
    fn pick(&self) -> Option<Lease<'_>> {
        let n = self.members.len();
        // The choice reads each endpoint's health in turn, then checks it again under its lock;
        // an endpoint that changed meanwhile (ejected, or its probe taken) means choosing again.
        for _ in 0..n {
            let now = Instant::now();
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let mut best: Option<(usize, usize)> = None;
            for k in 0..n {
                let i = (start + k) % n;
                let m = &self.members[i];
                let load = m.in_flight.load(Ordering::Relaxed);
                if m.health().available(now) && best.is_none_or(|(_, l)| load < l) {
                    best = Some((i, load));
                }
            }
            let m = &self.members[best?.0];
            let probe = {
                let mut h = m.health();
                if !h.available(now) {
                    continue;
                }
                h.probing = h.ejected_until.is_some();
                h.probing
            };
            m.in_flight.fetch_add(1, Ordering::Relaxed);
            m.calls.fetch_add(1, Ordering::Relaxed);
            return Some(Lease {
                member: m,
                probe,
                pool_changed: &self.changed,
            });
        }
        None
    }

    /// Waits, when every endpoint is out, until one may be probed or any endpoint's health
    /// changes. An error once the call has waited longer than the longest cool-down.
    async fn wait(
        &self,
        since: &mut Option<Instant>,
        changed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    ) -> Result<(), LmError> {
        let started = *since.get_or_insert_with(Instant::now);
        if started.elapsed() > self.max_cooldown {
            return Err(LmError::Transport(format!(
                "every endpoint of the pool has been out of rotation for {:?}",
                started.elapsed()
            )));
        }
        let now = Instant::now();
        let next = self
            .members
            .iter()
            .filter_map(|m| m.health().ejected_until)
            .map(|t| t.saturating_duration_since(now))
            .filter(|d| !d.is_zero())
            .min()
            .unwrap_or(self.cooldown);
        // Woken by a change, or at the next cool-down's end.
        let _ = tokio::time::timeout(next, changed).await;
        Ok(())
    }

    fn succeeded(&self, m: &Member) {
        let mut h = m.health();
        if h.ejected_until.is_some() || h.strikes > 0 {
            *h = Health::default();
            drop(h);
            self.changed.notify_waiters();
            tracing::info!(endpoint = %m.url, "LM endpoint back in rotation");
        }
    }

    /// Takes a failing endpoint out of rotation. Calls that were in flight when it was ejected
    /// fail too; they count as failures, not as further ejections.
    fn failed(&self, m: &Member, e: &LmError) {
        m.failures.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut h = m.health();
        let probe = std::mem::take(&mut h.probing);
        if h.ejected_until.is_some_and(|t| t > now) && !probe {
            return;
        }
        h.strikes += 1;
        let factor = 1u32 << (h.strikes - 1).min(16);
        let wait = self.cooldown.saturating_mul(factor).min(self.max_cooldown);
        h.ejected_until = Some(now + wait);
        m.ejections.fetch_add(1, Ordering::Relaxed);
        drop(h);
        self.changed.notify_waiters();
        tracing::warn!(endpoint = %m.url, error = %e, cooldown_ms = wait.as_millis() as u64, "LM endpoint ejected");
    }

    /// The endpoint of a call's next attempt: waits while every endpoint is out; `None` once
    /// the call has had its attempts.
    async fn next_endpoint(&self, call: &mut Attempts) -> Result<Option<Lease<'_>>, LmError> {
        while call.tried < self.attempts {
            let lease = match self.pick() {
                Some(lease) => lease,
                None => {
                    // Every endpoint is out: listen for a change before looking once more (a
                    // change in between is not missed), then wait for one to come back (or fail
                    // after a while).
                    let mut changed = std::pin::pin!(self.changed.notified());
                    changed.as_mut().enable();
                    match self.pick() {
                        Some(lease) => lease,
                        None => {
                            self.wait(&mut call.waiting, changed)
                                .await
                                .map_err(|e| call.last.take().unwrap_or(e))?;
                            continue;
                        }
                    }
                }
            };
            call.waiting = None;
            call.tried += 1;
            if call.tried > 1 {
                self.moved.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(Some(lease));
        }
        Ok(None)
    }

    /// What an attempt's result means for the call: `Some` ends it; `None` moves it on.
    /// `may_move` is false once part of the reply was streamed.
    fn settle(
        &self,
        m: &Member,
        result: Result<LmResponse, LmError>,
        may_move: bool,
        call: &mut Attempts,
    ) -> Option<Result<LmResponse, LmError>> {
        match result {
            Ok(response) => {
                self.succeeded(m);
                Some(Ok(response))
            }
            Err(e) if e.is_retryable() => {
                self.failed(m, &e);
                if !may_move {
                    return Some(Err(e));
                }
                call.last = Some(e);
                None
            }
            Err(e) => {
                // The request's own fault (a bad request, a context overflow): another
                // endpoint would say the same. The endpoint answered, so it is healthy.
                self.succeeded(m);
                Some(Err(e))
            }
        }
    }

    async fn complete(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let mut call = Attempts::default();
        while let Some(lease) = self.next_endpoint(&mut call).await? {
            let result = lease.member.lm.complete(request.clone()).await;
            if let Some(done) = self.settle(lease.member, result, true, &mut call) {
                return done;
            }
        }
        Err(call.failed())
    }

    /// Streams from one endpoint; a failure before any text moves to another.
    async fn complete_streaming(
        &self,
        request: LmRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<LmResponse, LmError> {
        let mut call = Attempts::default();
        while let Some(lease) = self.next_endpoint(&mut call).await? {
            let mut sent = false;
            let mut forward = |text: &str| {
                sent = true;
                on_text(text);
            };
            let result = lease
                .member
                .lm
                .complete_streaming(request.clone(), &mut forward)
                .await;
            if let Some(done) = self.settle(lease.member, result, !sent, &mut call) {
                return done;
            }
        }
        Err(call.failed())
    }
}

/// One call's way through the pool.
#[derive(Default)]
struct Attempts {
    tried: usize,
    last: Option<LmError>,
    /// Since when every endpoint has been out, while the call waits.
    waiting: Option<Instant>,
}

impl Attempts {
    /// The error of a call that had all its attempts.
    fn failed(self) -> LmError {
        self.last
            .unwrap_or_else(|| LmError::Other("no endpoint was tried".into()))
    }
}

impl LanguageModel for PoolLm {
    fn model(&self) -> &str {
        self.inner.members[0].lm.model()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.members[0].lm.capabilities()
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        Box::pin(self.inner.complete(request))
    }

    fn complete_streaming<'a>(
        &'a self,
        request: LmRequest,
        on_text: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<LmResponse, LmError>> {
        Box::pin(self.inner.complete_streaming(request, on_text))
    }

    fn cost(&self, usage: Usage) -> Option<f64> {
        self.inner.members[0].lm.cost(usage)
    }
}
