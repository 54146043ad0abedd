//! `http_get(url)`: the one way code in the sandbox reaches the network, and only the hosts
//! its [`Access`] lists. The host makes the request; the code never holds a socket.

use super::HostFunction;
use super::access::Access;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The function's documentation, as the code sees it.
pub(crate) const HTTP_GET_DOC: &str =
    "Fetch url (http or https, a host the sandbox allows) and return the response body as text.";

/// Builds the `http_get` host function for `access`, or says why the HTTP client cannot be made.
pub(crate) fn http_get(access: &Access) -> Result<HostFunction, String> {
    let access = Arc::new(access.clone());
    let allowed = access.clone();
    crate::lm::transport::install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if allowed.allows_url(attempt.url()) {
                attempt.follow()
            } else {
                let to = attempt.url().to_string();
                attempt.error(format!(
                    "redirected to {to}, a host the sandbox does not allow"
                ))
            }
        }))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(Arc::new(move |args: Value| {
        let client = client.clone();
        let access = access.clone();
        Box::pin(async move {
            let raw = args
                .get("url")
                .and_then(Value::as_str)
                .ok_or_else(|| "http_get() needs url, a string".to_string())?;
            let url = reqwest::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
            if !access.allows_url(&url) {
                return Err(format!(
                    "{raw} is not allowed: the sandbox may fetch from {}",
                    if access.hosts.is_empty() {
                        "no host".to_string()
                    } else {
                        access.hosts.join(", ")
                    }
                ));
            }
            let mut response = client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("GET {raw} failed: {}", describe(e)))?;
            let status = response.status();
            let limit = access.max_response_bytes;
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("GET {raw}: the body broke off: {}", describe(e)))?
            {
                if body.len() + chunk.len() > limit {
                    return Err(format!("GET {raw}: the response is over {limit} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            if !status.is_success() {
                let head: String = text.chars().take(200).collect();
                return Err(format!("GET {raw}: HTTP {status}: {head}"));
            }
            Ok(Value::String(text))
        })
    }))
}

/// reqwest's message and its causes, without the URL it repeats (the caller names it once).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
