//! Exponential backoff with jitter, honouring `Retry-After`.

use super::LmError;
use std::time::Duration;

/// How failed requests are retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (DSPy's default is 3).
    pub max_retries: u32,
    /// Wait before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Longest wait between attempts (a `Retry-After` is honoured up to this too).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `attempt` (1-based) after `error`: the provider's
    /// `Retry-After` if given, else exponential backoff with full jitter.
    pub fn delay(&self, attempt: u32, error: &LmError) -> Duration {
        if let Some(after) = error.retry_after() {
            return after.min(self.max_backoff);
        }
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        // Full jitter in [exp/2, exp]: spreads retries without ever waiting near zero.
        let half = exp / 2;
        half + exp.saturating_sub(half).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        let e = LmError::Server {
            status: 503,
            message: String::new(),
        };
        for _ in 0..50 {
            let d1 = p.delay(1, &e);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d3 = p.delay(3, &e);
            assert!(
                d3 >= Duration::from_millis(175) && d3 <= Duration::from_millis(350),
                "{d3:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy::default();
        let e = LmError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(p.delay(1, &e), Duration::from_secs(2));
        let long = LmError::RateLimited {
            retry_after: Some(Duration::from_secs(600)),
        };
        assert_eq!(p.delay(1, &long), p.max_backoff);
    }
}
