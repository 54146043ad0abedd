//! API keys: held privately, never printed.

use std::fmt;

/// An API key. Its `Debug` shows `ApiKey(***)`; it has no `Display`, and errors scrub it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The key from an environment variable, if set and non-empty.
    pub fn from_env(var: &str) -> Option<ApiKey> {
        std::env::var(var)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .map(ApiKey)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.len() >= 4 && text.contains(&self.0) {
            text.replace(&self.0, "***")
        } else {
            text.to_string()
        }
    }
}

/// The key a client sends: the one given, else the environment's (`env_key`, read from
/// `key_var`) when `env_key_fits` (the request goes where that variable's key is meant for).
/// A withheld environment key comes back as a hint for authentication errors.
pub(crate) fn choose_key(
    given: Option<ApiKey>,
    env_key: Option<ApiKey>,
    key_var: &str,
    env_key_fits: bool,
) -> (Option<ApiKey>, Option<String>) {
    match given {
        Some(k) => (Some(k), None),
        None if env_key_fits => (env_key, None),
        None => (
            None,
            env_key.map(|_| {
                format!(
                    "{key_var} is set but is not sent to a custom api_base: pass the key with .api_key(...), or call .send_env_key(true)"
                )
            }),
        ),
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}
