//! Typed LM failures, and which of them are worth retrying.

use std::time::Duration;

/// Why an LM call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LmError {
    /// The provider refused for rate limits; retry after the given delay if known.
    #[error("rate limited by the provider{}", retry_hint(.retry_after))]
    RateLimited {
        /// The provider's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The credentials were refused.
    #[error("authentication failed (HTTP {status}): {message}")]
    Auth {
        /// HTTP status (401 or 403).
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The prompt does not fit the model's context window.
    #[error("context window exceeded: {message}")]
    ContextWindowExceeded {
        /// The provider's message.
        message: String,
    },
    /// The provider refused the request as malformed (a 4xx other than the above).
    #[error("request refused (HTTP {status}): {message}")]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// No reply in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider failed (a 5xx).
    #[error("server error (HTTP {status}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The connection failed or broke (refused, reset, closed mid-body).
    #[error("transport error: {0}")]
    Transport(String),
    /// The reply was not a valid completion (bad JSON, no choices, ...).
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The reply (a response body, or one event of a stream) outgrew the LM's limit; not
    /// retried, since the same request would bring the same reply.
    #[error(
        "{what} too large: the limit is {limit} bytes and {received} had come when reading stopped (raise it with max_response_bytes)"
    )]
    ResponseTooLarge {
        /// `response body` or `stream event`.
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
        /// Bytes received when reading stopped (more than `limit`).
        received: usize,
    },
    /// The budget is spent; no further calls are made.
    #[error("budget exhausted: {spent} spent of {limit} allowed")]
    BudgetExceeded {
        /// What has been spent (dollars or tokens, as the budget counts).
        spent: String,
        /// The limit.
        limit: String,
    },
    /// The request holds an input this model or provider cannot take (an image for a
    /// text-only model, audio for Anthropic, a content part of an unknown type); refused
    /// before any call.
    #[error("unsupported input: {0}")]
    UnsupportedInput(String),
    /// The LM could not be set up (unknown provider, missing key or base URL, bad cache dir).
    #[error("LM configuration: {0}")]
    Config(String),
    /// Anything else, e.g. a scripted LM with no replies left.
    #[error("{0}")]
    Other(String),
}

impl LmError {
    /// Whether trying the same request again may succeed (429, 5xx, timeouts, broken
    /// connections, garbled replies).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LmError::RateLimited { .. }
                | LmError::Timeout(_)
                | LmError::Server { .. }
                | LmError::Transport(_)
                | LmError::InvalidResponse(_)
        )
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LmError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

fn retry_hint(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {d:?})"),
        None => String::new(),
    }
}
