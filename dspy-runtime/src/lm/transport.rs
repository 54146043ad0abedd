//! One HTTP endpoint with retries, an in-flight bound, optional request/token rate limits and
//! typed errors. Shared by the chat clients and the embeddings client.

use super::LmError;
use super::openai::error_message;
use super::retry::RetryPolicy;
use super::secret::ApiKey;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How requests authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <key>` (OpenAI-compatible).
    Bearer,
    /// `x-api-key: <key>` and `anthropic-version` (Anthropic).
    Anthropic,
}

/// Counters of what an LM did, for tests and reports.
#[derive(Debug, Default)]
pub struct LmStats {
    /// HTTP requests sent (retries included).
    pub requests: AtomicU64,
    /// Retries after a retryable failure.
    pub retries: AtomicU64,
    /// Calls answered from the cache.
    pub cache_hits: AtomicU64,
    /// Calls that failed for good.
    pub failures: AtomicU64,
}

impl LmStats {
    /// (requests, retries, cache hits, failures) as plain numbers.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
            self.cache_hits.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }
}

/// Requests- and tokens-per-minute limits over a sliding minute.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rpm: Option<u32>,
    tpm: Option<u64>,
    window: Mutex<VecDeque<(Instant, u64)>>,
}

impl RateLimiter {
    pub fn new(rpm: Option<u32>, tpm: Option<u64>) -> Option<RateLimiter> {
        (rpm.is_some() || tpm.is_some()).then(|| RateLimiter {
            rpm,
            tpm,
            window: Mutex::new(VecDeque::new()),
        })
    }

    /// Waits until one more request of about `tokens` tokens fits the limits, and counts it.
    pub async fn acquire(&self, tokens: u64) {
        loop {
            let wait = {
                let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while w
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    w.pop_front();
                }
                let used: u64 = w.iter().map(|(_, t)| t).sum();
                let rpm_ok = self.rpm.is_none_or(|r| w.len() < r as usize);
                let tpm_ok = self.tpm.is_none_or(|t| w.is_empty() || used + tokens <= t);
                if rpm_ok && tpm_ok {
                    w.push_back((now, tokens));
                    return;
                }
                w.front()
                    .map(|(t, _)| Duration::from_secs(60).saturating_sub(now.duration_since(*t)))
            };
            tokio::time::sleep(
                wait.unwrap_or(Duration::from_millis(10))
                    .max(Duration::from_millis(1)),
            )
            .await;
        }
    }
}

/// An endpoint: URL, credentials, client, limits and retry policy.
pub(crate) struct Transport {
    pub url: String,
    pub auth: Auth,
    pub key: Option<ApiKey>,
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub in_flight: Arc<Semaphore>,
    pub rate: Option<RateLimiter>,
    pub stats: Arc<LmStats>,
}

/// The HTTP client all LMs share (one connection pool per process).
pub(crate) fn shared_client() -> Result<reqwest::Client, LmError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // rustls needs a crypto provider; ring builds without cmake. Ignore "already set".
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| LmError::Config(format!("cannot build the HTTP client: {e}")))
}

impl Transport {
    /// Sends `body` and reads the reply with `parse`, retrying retryable failures (a garbled
    /// reply included).
    pub async fn post<T>(
        &self,
        body: Bytes,
        est_tokens: u64,
        parse: impl Fn(&[u8]) -> Result<T, LmError>,
    ) -> Result<T, LmError> {
        let mut attempt = 0;
        loop {
            let result = match self.post_once(body.clone(), est_tokens).await {
                Ok(bytes) => parse(&bytes),
                Err(e) => Err(e),
            };
            match result {
                Ok(b) => return Ok(b),
                Err(e) if e.is_retryable() && attempt < self.retry.max_retries => {
                    attempt += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let delay = self.retry.delay(attempt, &e);
                    tracing::debug!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "retrying LM request");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
    }

    /// Opens a streaming response (retrying failures before the first byte).
    pub async fn open_stream(&self, body: Bytes) -> Result<reqwest::Response, LmError> {
        let mut attempt = 0;
        loop {
            let result = async {
                let _permit = self
                    .in_flight
                    .acquire()
                    .await
                    .map_err(|_| LmError::Other("LM closed".into()))?;
                let resp = self
                    .request(body.clone())
                    .send()
                    .await
                    .map_err(|e| self.transport_error(e))?;
                let status = resp.status();
                if status.is_success() {
                    return Ok(resp);
                }
                let retry_after = retry_after(resp.headers());
                let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
                Err(self.status_error(status, retry_after, &bytes))
            }
            .await;
            match result {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retryable() && attempt < self.retry.max_retries => {
                    attempt += 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.retry.delay(attempt, &e)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn request(&self, body: Bytes) -> reqwest::RequestBuilder {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = &self.key {
            req = match self.auth {
                Auth::Bearer => req.bearer_auth(key.expose()),
                Auth::Anthropic => req.header("x-api-key", key.expose()),
            };
        }
        if self.auth == Auth::Anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        req
    }

    async fn post_once(&self, body: Bytes, est_tokens: u64) -> Result<Bytes, LmError> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| LmError::Other("LM closed".into()))?;
        if let Some(rate) = &self.rate {
            rate.acquire(est_tokens).await;
        }
        let resp = self
            .request(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(self.status_error(status, retry_after, &bytes))
        }
    }

    fn scrub(&self, text: String) -> String {
        match &self.key {
            Some(k) => k.scrub(&text),
            None => text,
        }
    }

    pub fn transport_error(&self, e: reqwest::Error) -> LmError {
        if e.is_timeout() {
            return LmError::Timeout(self.timeout);
        }
        let mut chain = Vec::new();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
        let mut msg = e.without_url().to_string();
        for cause in chain {
            msg.push_str(": ");
            msg.push_str(&cause);
        }
        LmError::Transport(self.scrub(msg))
    }

    fn status_error(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> LmError {
        let message = self.scrub(error_message(body));
        let code = status.as_u16();
        match code {
            429 => LmError::RateLimited { retry_after },
            401 | 403 => LmError::Auth {
                status: code,
                message,
            },
            408 => LmError::Timeout(self.timeout),
            400 | 413 | 422 if is_context_window(&message) => {
                LmError::ContextWindowExceeded { message }
            }
            500..=599 => LmError::Server {
                status: code,
                message,
            },
            _ => LmError::BadRequest {
                status: code,
                message,
            },
        }
    }
}

fn is_context_window(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "context_length",
        "context length",
        "context window",
        "maximum context",
        "too long",
        "too many tokens",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// `Retry-After` in seconds (an HTTP date is not parsed; backoff applies then).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v: &HeaderValue = headers.get(RETRY_AFTER)?;
    let s = v.to_str().ok()?.trim();
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_window_messages() {
        assert!(is_context_window(
            "This model's maximum context length is 8192 tokens"
        ));
        assert!(!is_context_window("invalid temperature"));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_waits_for_the_window() {
        let r = RateLimiter::new(Some(2), None).unwrap();
        let t = tokio::time::Instant::now();
        r.acquire(1).await;
        r.acquire(1).await;
        r.acquire(1).await;
        assert!(t.elapsed() >= Duration::from_secs(59), "{:?}", t.elapsed());
    }
}
