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
use std::time::{Duration, SystemTime};
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
    /// Added to an authentication failure when an environment key was withheld from a
    /// custom base: how to send it.
    pub auth_hint: Option<String>,
    pub client: reqwest::Client,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub in_flight: Arc<Semaphore>,
    pub rate: Option<RateLimiter>,
    pub stats: Arc<LmStats>,
    /// The largest response body read (and, when streaming, the largest single event).
    pub max_body: usize,
}

/// The default limit on a response body: far above any completion, low enough that a broken
/// or hostile server cannot exhaust memory.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// How much of an error reply is read for its message; the rest is dropped.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Installs rustls' crypto provider (ring, which builds without cmake) for every HTTP client
/// of the process; a provider already set is kept.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client all LMs share (one connection pool per process).
pub(crate) fn shared_client() -> Result<reqwest::Client, LmError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            install_crypto_provider();
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
                let bytes = self.read_error_body(resp).await?;
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
        if status.is_success() {
            self.read_body(resp).await
        } else {
            let retry_after = retry_after(resp.headers());
            let bytes = self.read_error_body(resp).await?;
            Err(self.status_error(status, retry_after, &bytes))
        }
    }

    /// The whole body, chunk by chunk, failing once it is over [`Transport::max_body`]
    /// (whatever `Content-Length` claimed).
    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Bytes, LmError> {
        let hint = resp.content_length().unwrap_or(0).min(64 << 10) as usize;
        let mut body = Vec::with_capacity(hint);
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
            let received = body.len() + chunk.len();
            if received > self.max_body {
                return Err(LmError::ResponseTooLarge {
                    what: "response body",
                    limit: self.max_body,
                    received,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    /// The start of an error reply (enough for its message); the rest is not read.
    async fn read_error_body(&self, mut resp: reqwest::Response) -> Result<Bytes, LmError> {
        let cap = MAX_ERROR_BODY.min(self.max_body);
        let mut body = Vec::new();
        while body.len() < cap {
            match resp.chunk().await.map_err(|e| self.transport_error(e))? {
                Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(cap - body.len())]),
                None => break,
            }
        }
        Ok(Bytes::from(body))
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
        LmError::Transport(self.scrub(describe(e)))
    }

    fn status_error(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> LmError {
        let message = self.scrub(error_message(body));
        status_error(
            status,
            retry_after,
            message,
            self.auth_hint.as_deref(),
            Some(self.timeout),
        )
    }
}

/// A reqwest error as text, without its URL, with the chain of causes.
pub(crate) fn describe(e: reqwest::Error) -> String {
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
    msg
}

/// The typed error for an unsuccessful HTTP status, `message` being the server's (scrubbed):
/// 429 rate limited, 401/403 authentication (with `auth_hint`), 408 a timeout when the
/// caller has one, a context-window complaint, 5xx a server error, anything else a bad request.
pub(crate) fn status_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    message: String,
    auth_hint: Option<&str>,
    timeout: Option<Duration>,
) -> LmError {
    let code = status.as_u16();
    match (code, timeout) {
        (429, _) => LmError::RateLimited { retry_after },
        (401 | 403, _) => LmError::Auth {
            status: code,
            message: match auth_hint {
                Some(hint) => format!("{message} ({hint})"),
                None => message,
            },
        },
        (408, Some(t)) => LmError::Timeout(t),
        (400 | 413 | 422, _) if is_context_window(&message) => {
            LmError::ContextWindowExceeded { message }
        }
        (500..=599, _) => LmError::Server {
            status: code,
            message,
        },
        _ => LmError::BadRequest {
            status: code,
            message,
        },
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

/// The longest `Retry-After` taken from a provider (the retry policy's `max_backoff` caps it
/// again): a hostile or broken header cannot stall a caller for hours.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// `Retry-After` as a wait, at most [`MAX_RETRY_AFTER`]; `None` (so backoff applies) when it is
/// missing or not a wait.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v: &HeaderValue = headers.get(RETRY_AFTER)?;
    parse_retry_after(v.to_str().ok()?, SystemTime::now())
}

/// Delay-seconds (fractions accepted, as some servers send them) or an HTTP-date
/// (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`; a date past is no wait). Negative,
/// infinite or NaN seconds and anything else are not a wait; huge ones are capped.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        let capped = secs.min(MAX_RETRY_AFTER.as_secs_f64());
        return Duration::try_from_secs_f64(capped).ok();
    }
    let at = parse_http_date(value)?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// An IMF-fixdate (RFC 9110 §5.6.7), the HTTP-date form servers must send.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    if !weekday.ends_with(',') || day.len() != 2 || year.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let num = |t: &str| -> Option<i64> {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let (day, year) = (num(day)?, num(year)?);
    let hms: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 || year < 1970 {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar (Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3_600 + m * 60 + sec).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
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

    #[test]
    fn hostile_retry_after_values_never_panic_and_are_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = |s| parse_retry_after(s, now);
        assert_eq!(p("2"), Some(Duration::from_secs(2)));
        assert_eq!(p(" 0.25 "), Some(Duration::from_millis(250)));
        assert_eq!(p("0"), Some(Duration::ZERO));
        for huge in [
            "1e20",
            "1e308",
            "99999999999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(p(huge), Some(MAX_RETRY_AFTER), "{huge}");
        }
        for bad in [
            "inf", "-inf", "infinity", "NaN", "-1", "-0.5", "", "soon", "1e400x",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        // 2023-11-14 22:13:20 GMT is `now`.
        assert_eq!(
            p("Tue, 14 Nov 2023 22:13:30 GMT"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(p("Tue, 14 Nov 2023 22:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(p("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_RETRY_AFTER));
        for bad_date in [
            "Tue, 14 Nov 2023 22:13:30 UTC",
            "Tuesday, 14-Nov-23 22:13:30 GMT",
            "Tue Nov 14 22:13:30 2023",
            "Tue, 14 Foo 2023 22:13:30 GMT",
            "Tue, 99 Nov 2023 22:13:30 GMT",
            "Tue, 14 Nov 2023 25:13:30 GMT",
            "Tue, 14 Nov +023 22:13:30 GMT",
        ] {
            assert_eq!(p(bad_date), None, "{bad_date}");
        }
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
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
