//! Typed LM failures.

use std::time::Duration;

/// Why an LM call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LmError {
    /// The provider refused for rate limits; retry after the given delay if known.
    #[error("rate limited by the provider{}", retry_hint(.retry_after))]
    RateLimited {
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The credentials were refused.
    #[error("authentication failed: {message}")]
    Auth {
        /// The provider's message.
        message: String,
    },
    /// The prompt does not fit the model's context window.
    #[error("context window exceeded: {message}")]
    ContextWindowExceeded {
        /// The provider's message.
        message: String,
    },
    /// No reply in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider failed (a 5xx).
    #[error("server error {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The reply was not a valid completion (bad JSON, no choices, ...).
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// Anything else, e.g. a scripted LM with no replies left.
    #[error("{0}")]
    Other(String),
}

fn retry_hint(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {d:?})"),
        None => String::new(),
    }
}
