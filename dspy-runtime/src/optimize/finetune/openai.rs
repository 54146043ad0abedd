//! [`OpenAiFinetune`]: training through an OpenAI-compatible fine-tuning API. The
//! conversations go up as a JSONL file (`POST /files`), a job is created on it
//! (`POST /fine_tuning/jobs`) and polled (`GET /fine_tuning/jobs/{id}`) to its end, and the
//! fine-tuned model is then called like any hosted model.

use super::{FinetuneJob, Finetuned, Finetuner, to_jsonl};
use crate::error::{Error, Result};
use crate::lm::openai::{decode, error_message};
use crate::lm::secret::choose_key;
use crate::lm::transport::{describe, retry_after, status_error};
use crate::lm::{ApiKey, BoxFuture, HttpLm, Lm, LmError, RetryPolicy, shared_client};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// OpenAI's own API.
const OPENAI_BASE: &str = "https://api.openai.com/v1";
/// The key's variable.
const KEY_VAR: &str = "OPENAI_API_KEY";
/// The base URL's variables, in the order they are read (LiteLLM's, then the OpenAI SDK's).
const BASE_VARS: [&str; 2] = ["OPENAI_API_BASE", "OPENAI_BASE_URL"];
/// Per-request limit for the upload (a training file can be large).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Per-request limit for creating and polling the job.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest reply read (a job object is a few KiB).
const MAX_REPLY: usize = 16 << 20;
/// How much of an error reply is read for its message.
const MAX_ERROR_REPLY: usize = 64 << 10;
/// The largest seed the API takes (a 32-bit signed integer).
const MAX_SEED: u64 = i32::MAX as u64;

type MakeLm = Arc<dyn Fn(&str) -> Result<Lm> + Send + Sync>;

/// Fine-tunes a hosted model through an OpenAI-compatible API (OpenAI's, or any server with
/// its `/files` and `/fine_tuning/jobs` endpoints).
///
/// ```no_run
/// # use dspy_runtime::optimize::finetune::OpenAiFinetune;
/// let finetuner = OpenAiFinetune::new("gpt-4o-mini-2024-07-18")
///     .hyperparameters(serde_json::json!({"n_epochs": 3}))
///     .suffix("qa");
/// ```
#[derive(Clone)]
pub struct OpenAiFinetune {
    base_model: String,
    api_base: Option<String>,
    api_key: Option<ApiKey>,
    send_env_key: bool,
    hyperparameters: Option<Value>,
    suffix: Option<String>,
    poll_every: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    make_lm: Option<MakeLm>,
}

impl OpenAiFinetune {
    /// A finetuner of `base_model` (e.g. `gpt-4o-mini-2024-07-18`), on OpenAI's API unless
    /// [`api_base`](OpenAiFinetune::api_base) or `OPENAI_API_BASE`/`OPENAI_BASE_URL` says
    /// otherwise.
    pub fn new(base_model: impl Into<String>) -> OpenAiFinetune {
        OpenAiFinetune {
            base_model: base_model.into(),
            api_base: None,
            api_key: None,
            send_env_key: false,
            hyperparameters: None,
            suffix: None,
            poll_every: Duration::from_secs(10),
            timeout: Duration::from_secs(2 * 3600),
            retry: RetryPolicy::default(),
            make_lm: None,
        }
    }

    /// The API's base URL, up to and including `/v1` (default: `OPENAI_API_BASE` or
    /// `OPENAI_BASE_URL` if set, else `https://api.openai.com/v1`).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// The API key (default: `OPENAI_API_KEY`, sent only to OpenAI's API or to a base URL
    /// from the environment; see [`send_env_key`](OpenAiFinetune::send_env_key)).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Send `OPENAI_API_KEY` to a custom [`api_base`](OpenAiFinetune::api_base) too (off by
    /// default, so a key meant for OpenAI reaches no other server unless asked).
    pub fn send_env_key(mut self, send: bool) -> Self {
        self.send_env_key = send;
        self
    }

    /// The training hyperparameters, e.g. `{"n_epochs": 3, "batch_size": 8}`: sent as the
    /// supervised method's (`method.supervised.hyperparameters`).
    pub fn hyperparameters(mut self, hyperparameters: Value) -> Self {
        self.hyperparameters = Some(hyperparameters);
        self
    }

    /// A suffix for the fine-tuned model's name (`ft:<base>:<org>:<suffix>:<id>`).
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// How often the job is checked (default 10 s; at least every 10 ms).
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every.max(MIN_POLL);
        self
    }

    /// The longest a [`finetune`](Finetuner::finetune) call waits, counted from its start
    /// (default 2 h). A job still unfinished then is an error; it keeps running on the server.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How a request that met a rate limit or a server error (429, 5xx) is retried (default:
    /// 3 retries, 0.5 s doubling to 30 s, with jitter).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How the fine-tuned model is called: `make` gets its name and gives the LM (default: an
    /// [`HttpLm`] on the same base URL and key).
    pub fn lm(mut self, make: impl Fn(&str) -> Result<Lm> + Send + Sync + 'static) -> Self {
        self.make_lm = Some(Arc::new(make));
        self
    }

    /// The base URL and key to use, with `env` for the environment.
    fn endpoint(&self, env: impl Fn(&str) -> Option<String>) -> Result<Api, LmError> {
        let set = |var: &str| env(var).filter(|v| !v.trim().is_empty());
        let env_base = BASE_VARS.iter().find_map(|v| set(v));
        // The environment's key goes where it was meant to: OpenAI's API, or the base URL the
        // environment names beside it.
        let (base, env_key_fits) = match (&self.api_base, env_base) {
            (Some(b), _) => (
                b.clone(),
                self.send_env_key || b.trim_end_matches('/') == OPENAI_BASE,
            ),
            (None, Some(b)) => (b, true),
            (None, None) => (OPENAI_BASE.to_string(), true),
        };
        let base = base.trim().trim_end_matches('/').to_string();
        let env_key = set(KEY_VAR).map(ApiKey::new);
        let (key, auth_hint) = choose_key(self.api_key.clone(), env_key, KEY_VAR, env_key_fits);
        if key.is_none() && base == OPENAI_BASE {
            return Err(LmError::Config(format!(
                "no API key for OpenAI's fine-tuning API: set {KEY_VAR} or call .api_key(...)"
            )));
        }
        Ok(Api {
            base,
            key,
            auth_hint,
            client: shared_client()?,
            retry: self.retry.clone(),
        })
    }

    /// The model a job trains: the predictors' current model when it is already a fine-tuned
    /// one (`ft:…`, from an earlier job), as DSPy trains `pred.lm`; else the base model.
    fn start_model<'a>(&'a self, current: Option<&'a Lm>) -> &'a str {
        current
            .map(|lm| lm.model())
            .map(|m| m.strip_prefix("openai/").unwrap_or(m))
            .filter(|m| m.starts_with("ft:"))
            .unwrap_or(&self.base_model)
    }

    /// The job's request: the file, the model to train, the seed, the suffix and
    /// hyperparameters.
    fn job_body(&self, training_file: &str, model: &str, seed: u64) -> Result<Value> {
        let mut body = json!({
            "training_file": training_file,
            "model": model,
            // The API takes 0..=2^31-1; a larger seed is folded into that range.
            "seed": seed % (MAX_SEED + 1),
        });
        if let Some(s) = &self.suffix {
            body["suffix"] = json!(s);
        }
        if let Some(h) = &self.hyperparameters {
            if !h.is_object() {
                return Err(Error::Optimize(format!(
                    "fine-tuning hyperparameters must be a JSON object (like {{\"n_epochs\": 3}}), got {h}"
                )));
            }
            body["method"] = json!({"type": "supervised", "supervised": {"hyperparameters": h}});
        }
        Ok(body)
    }

    async fn run(&self, job: FinetuneJob<'_>) -> Result<Finetuned> {
        let started = Instant::now();
        if job.train.is_empty() {
            return Err(Error::Optimize(format!(
                "fine-tuning job `{}` has no training conversations",
                job.name
            )));
        }
        // Checked before anything is uploaded.
        let mut job_body = self.job_body("", self.start_model(job.lm), job.seed)?;
        let api = self.endpoint(|v| std::env::var(v).ok())?;

        // 1. The training file.
        let jsonl = to_jsonl(job.train);
        let filename = file_name(job.name);
        let boundary = boundary_for(jsonl.as_bytes(), random_boundary);
        let upload = Bytes::from(multipart(&boundary, &filename, jsonl.as_bytes()));
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let url = format!("{}/files", api.base);
        let reply = api
            .call("uploading the training file", true, || {
                api.client
                    .post(&url)
                    .timeout(UPLOAD_TIMEOUT)
                    .header(CONTENT_TYPE, &content_type)
                    .body(upload.clone())
            })
            .await?;
        let file: FileReply =
            api.decode("a file object with an `id` (the upload's reply)", &reply)?;
        tracing::info!(file = %file.id, bytes = jsonl.len(), conversations = job.train.len(), "uploaded the fine-tuning file");

        // 2. The job.
        job_body["training_file"] = json!(file.id);
        let body = Bytes::from(job_body.to_string());
        let url = format!("{}/fine_tuning/jobs", api.base);
        let reply = api
            .call("creating the fine-tuning job", false, || {
                api.client
                    .post(&url)
                    .timeout(REQUEST_TIMEOUT)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        let mut state: JobReply = api.decode(JOB_OBJECT, &reply)?;
        let job_id = state.id.clone();
        tracing::info!(job = %job_id, status = %state.status, "created the fine-tuning job");

        // 3. Its end.
        // A timeout too long to add (`Duration::MAX`) waits without end.
        let deadline = started.checked_add(self.timeout);
        let url = format!("{}/fine_tuning/jobs/{job_id}", api.base);
        let mut last_error: Option<LmError> = None;
        let model = loop {
            match state.outcome().map_err(|e| api.scrub_error(e))? {
                Outcome::Succeeded(model) => break model,
                Outcome::Failed(why) => {
                    return Err(Error::Optimize(format!(
                        "fine-tuning job {job_id} failed: {}",
                        api.scrub(&why)
                    )));
                }
                Outcome::Cancelled => {
                    return Err(Error::Optimize(format!(
                        "fine-tuning job {job_id} was cancelled"
                    )));
                }
                Outcome::Pending => {}
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                let last = last_error
                    .map(|e| format!("; the last check failed: {e}"))
                    .unwrap_or_default();
                return Err(Error::Optimize(format!(
                    "fine-tuning job {job_id} did not finish within {:?}: its last status was `{}`{last} (it goes on on the server: cancel it there, or allow more time with .timeout(...))",
                    self.timeout,
                    api.scrub(&state.status),
                )));
            }
            let wait = deadline.map_or(self.poll_every, |d| self.poll_every.min(d - now));
            tokio::time::sleep(wait).await;
            let reply = api
                .call("checking the fine-tuning job", true, || {
                    api.client.get(&url).timeout(REQUEST_TIMEOUT)
                })
                .await;
            match reply {
                Ok(bytes) => {
                    let next: JobReply = api.decode(JOB_OBJECT, &bytes)?;
                    if next.status != state.status {
                        tracing::info!(job = %job_id, status = %next.status, "fine-tuning job");
                    }
                    state = next;
                    last_error = None;
                }
                // A job runs for hours: a check that failed for a while (after its retries) is
                // not its end. Checking goes on until the deadline.
                Err(e) if is_transient(&e) => {
                    tracing::warn!(job = %job_id, error = %e, "checking the fine-tuning job failed; trying again");
                    last_error = Some(e);
                }
                Err(e) => return Err(e.into()),
            }
        };

        let lm = match &self.make_lm {
            Some(make) => make(&model)?,
            None => {
                let mut b = HttpLm::builder(format!("openai/{model}")).api_base(api.base.clone());
                if let Some(k) = &api.key {
                    b = b.api_key(k.expose());
                }
                Lm::new(b.build()?)
            }
        };
        let mut details = vec![
            format!("file id: {}", file.id),
            format!("job id: {job_id}"),
            format!("status: {}", state.status),
        ];
        if let Some(t) = state.trained_tokens() {
            details.push(format!("trained tokens: {t}"));
        }
        details.push(format!("elapsed: {:.1} s", started.elapsed().as_secs_f64()));
        Ok(Finetuned { lm, model, details })
    }
}

impl Finetuner for OpenAiFinetune {
    fn name(&self) -> &str {
        "openai"
    }

    fn finetune<'a>(&'a self, job: FinetuneJob<'a>) -> BoxFuture<'a, Result<Finetuned>> {
        Box::pin(self.run(job))
    }

    /// Jobs wait on the server, so they run at once.
    fn concurrent_jobs(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for OpenAiFinetune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiFinetune")
            .field("base_model", &self.base_model)
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key)
            .field("send_env_key", &self.send_env_key)
            .field("hyperparameters", &self.hyperparameters)
            .field("suffix", &self.suffix)
            .field("poll_every", &self.poll_every)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("lm", &self.make_lm.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// The shortest wait between checks of a job.
const MIN_POLL: Duration = Duration::from_millis(10);

/// What a job reply is expected to be.
const JOB_OBJECT: &str = "a fine-tuning job object with `id` and `status`";

/// The upload's reply (OpenAI's file object; only its id is used).
#[derive(Debug, Deserialize)]
struct FileReply {
    id: String,
}

/// A fine-tuning job object, as far as it is read.
#[derive(Debug, Clone, Deserialize)]
struct JobReply {
    id: String,
    status: String,
    #[serde(default)]
    fine_tuned_model: Option<String>,
    #[serde(default)]
    trained_tokens: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Validating, queued, running (or any state not known to be final).
    Pending,
    /// Done: the fine-tuned model's name.
    Succeeded(String),
    /// Failed: why, from the job's `error`.
    Failed(String),
    /// Cancelled.
    Cancelled,
}

impl JobReply {
    fn outcome(&self) -> Result<Outcome, LmError> {
        Ok(match self.status.as_str() {
            "succeeded" => match self.fine_tuned_model.as_deref().map(str::trim) {
                Some(m) if !m.is_empty() => Outcome::Succeeded(m.to_string()),
                _ => {
                    return Err(LmError::InvalidResponse(format!(
                        "expected the name of the fine-tuned model (`fine_tuned_model`) in succeeded job {}, got {}",
                        self.id,
                        self.fine_tuned_model
                            .as_deref()
                            .map_or("none".to_string(), |m| format!("{m:?}")),
                    )));
                }
            },
            "failed" => Outcome::Failed(self.failure()),
            "cancelled" => Outcome::Cancelled,
            _ => Outcome::Pending,
        })
    }

    /// The job's `error` as one line: the message, then the code and parameter if given.
    fn failure(&self) -> String {
        let field = |k: &str| {
            self.error
                .as_ref()
                .and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let message = match &self.error {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
            _ => field("message"),
        };
        let mut out = message
            .unwrap_or("the job gives no error message")
            .to_string();
        let extra: Vec<String> = [("code", field("code")), ("param", field("param"))]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
            .collect();
        if !extra.is_empty() {
            out.push_str(&format!(" ({})", extra.join(", ")));
        }
        crate::error::excerpt(&out)
    }

    fn trained_tokens(&self) -> Option<u64> {
        let t = self.trained_tokens.as_ref()?;
        t.as_u64()
            .or_else(|| t.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    }
}

/// An endpoint: base URL, key and retries.
struct Api {
    base: String,
    key: Option<ApiKey>,
    /// Added to an authentication failure when the environment's key was withheld.
    auth_hint: Option<String>,
    client: reqwest::Client,
    retry: RetryPolicy,
}

/// Whether a failure may pass if the same request is sent again.
fn is_transient(e: &LmError) -> bool {
    matches!(
        e,
        LmError::RateLimited { .. }
            | LmError::Server { .. }
            | LmError::Transport(_)
            | LmError::Timeout(_)
    )
}

impl Api {
    /// Sends the request `build` makes, retrying 429s and 5xx, and broken connections when
    /// repeating the request is harmless (`idempotent`) or it never reached the server.
    async fn call(
        &self,
        what: &str,
        idempotent: bool,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Bytes, LmError> {
        let mut attempt = 0;
        loop {
            let (e, reached) = match self.once(what, build()).await {
                Ok(bytes) => return Ok(bytes),
                Err(failure) => failure,
            };
            let retry = match &e {
                LmError::RateLimited { .. } | LmError::Server { .. } => true,
                LmError::Transport(_) | LmError::Timeout(_) => idempotent || !reached,
                _ => false,
            };
            if !retry || attempt >= self.retry.max_retries {
                return Err(e);
            }
            attempt += 1;
            let delay = self.retry.delay(attempt, &e);
            tracing::debug!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "retrying a fine-tuning API request ({what})");
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt; a failure says whether the request may have reached the server.
    async fn once(
        &self,
        what: &str,
        mut req: reqwest::RequestBuilder,
    ) -> Result<Bytes, (LmError, bool)> {
        if let Some(key) = &self.key {
            req = req.bearer_auth(key.expose());
        }
        let resp = req.send().await.map_err(|e| {
            let reached = !e.is_connect();
            (self.transport_error(e), reached)
        })?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let limit = if status.is_success() {
            MAX_REPLY
        } else {
            MAX_ERROR_REPLY
        };
        let body = self
            .read(resp, limit, status.is_success())
            .await
            .map_err(|e| (e, true))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err((self.status_error(what, status, retry_after, &body), true))
        }
    }

    /// The body, up to `limit` bytes: past it, an error (`strict`) or the start only.
    async fn read(
        &self,
        mut resp: reqwest::Response,
        limit: usize,
        strict: bool,
    ) -> Result<Bytes, LmError> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
            let received = body.len() + chunk.len();
            if received > limit {
                if strict {
                    return Err(LmError::ResponseTooLarge {
                        what: "response body",
                        limit,
                        received,
                    });
                }
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    fn status_error(
        &self,
        what: &str,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> LmError {
        let message = format!("{} (while {what})", self.scrub(&error_message(body)));
        status_error(
            status,
            retry_after,
            message,
            self.auth_hint.as_deref(),
            None,
        )
    }

    fn transport_error(&self, e: reqwest::Error) -> LmError {
        let timed_out = e.is_timeout();
        let msg = self.scrub(&describe(e));
        if timed_out {
            return LmError::Transport(format!("no reply in time: {msg}"));
        }
        LmError::Transport(msg)
    }

    /// `bytes` as a `T`, or an invalid-response error saying what was expected and what came.
    fn decode<T: serde::de::DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T> {
        decode(what, bytes).map_err(|e| self.scrub_error(e).into())
    }

    fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.scrub(text),
            None => text.to_string(),
        }
    }

    fn scrub_error(&self, e: LmError) -> LmError {
        match e {
            LmError::InvalidResponse(m) => LmError::InvalidResponse(self.scrub(&m)),
            other => other,
        }
    }
}

/// The uploaded file's name: the job's, kept to letters, digits, `.`, `_` and `-`.
fn file_name(job: &str) -> String {
    let stem: String = job
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_matches('.');
    if stem.is_empty() {
        "train.jsonl".to_string()
    } else {
        format!("{stem}.jsonl")
    }
}

/// A boundary from a 128-bit random number.
fn random_boundary() -> String {
    format!("dspy-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The first boundary from `candidate` that does not occur in `data`.
fn boundary_for(data: &[u8], mut candidate: impl FnMut() -> String) -> String {
    loop {
        let b = candidate();
        if !b.is_empty() && !data.windows(b.len()).any(|w| w == b.as_bytes()) {
            return b;
        }
    }
}

/// The upload as `multipart/form-data`: `purpose=fine-tune`, then `file` holding `data`.
fn multipart(boundary: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 320);
    out.extend_from_slice(
        format!(
            "--{boundary}\r\n\
             Content-Disposition: form-data; name=\"purpose\"\r\n\
             \r\n\
             fine-tune\r\n\
             --{boundary}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\
             \r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(data);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_body_holds_the_purpose_then_the_file() {
        let body = multipart("BND", "qa.jsonl", b"{\"a\":1}\n{\"b\":2}\n");
        let expected = "--BND\r\n\
            Content-Disposition: form-data; name=\"purpose\"\r\n\
            \r\n\
            fine-tune\r\n\
            --BND\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"qa.jsonl\"\r\n\
            Content-Type: application/octet-stream\r\n\
            \r\n\
            {\"a\":1}\n{\"b\":2}\n\r\n\
            --BND--\r\n";
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn the_boundary_never_occurs_in_the_data() {
        let data = b"line with dspy-1 inside";
        let mut candidates = ["dspy-1", "dspy-2"].into_iter();
        let b = boundary_for(data, || candidates.next().unwrap().to_string());
        assert_eq!(b, "dspy-2");
        let r = random_boundary();
        assert!(r.starts_with("dspy-") && r.len() == 37, "{r}");
        assert!(r.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }

    #[test]
    fn file_names_keep_safe_characters() {
        assert_eq!(file_name("multitask"), "multitask.jsonl");
        assert_eq!(file_name("qa.predict"), "qa.predict.jsonl");
        assert_eq!(file_name("a \"b\"\r\n/c"), "a__b____c.jsonl");
        assert_eq!(file_name(""), "train.jsonl");
        assert_eq!(file_name(".."), "train.jsonl");
    }

    fn job(json: &str) -> JobReply {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn job_replies_give_their_outcome() {
        let running = job(r#"{"id":"ftjob-1","status":"running","fine_tuned_model":null}"#);
        assert_eq!(running.outcome().unwrap(), Outcome::Pending);
        let queued = job(r#"{"id":"ftjob-1","status":"validating_files","error":null}"#);
        assert_eq!(queued.outcome().unwrap(), Outcome::Pending);
        let done = job(
            r#"{"object":"fine_tuning.job","id":"ftjob-1","status":"succeeded","fine_tuned_model":"ft:gpt-4o-mini:org:qa:abc","trained_tokens":5120,"error":{}}"#,
        );
        assert_eq!(
            done.outcome().unwrap(),
            Outcome::Succeeded("ft:gpt-4o-mini:org:qa:abc".into())
        );
        assert_eq!(done.trained_tokens(), Some(5120));
        let failed = job(
            r#"{"id":"ftjob-1","status":"failed","error":{"code":"invalid_training_file","message":"line 3 has no assistant message","param":"training_file"}}"#,
        );
        assert_eq!(
            failed.outcome().unwrap(),
            Outcome::Failed(
                "line 3 has no assistant message (code invalid_training_file, param training_file)"
                    .into()
            )
        );
        assert_eq!(failed.trained_tokens(), None);
        let bare = job(r#"{"id":"ftjob-1","status":"failed"}"#);
        assert_eq!(
            bare.outcome().unwrap(),
            Outcome::Failed("the job gives no error message".into())
        );
        let text = job(r#"{"id":"ftjob-1","status":"failed","error":"out of quota"}"#);
        assert_eq!(
            text.outcome().unwrap(),
            Outcome::Failed("out of quota".into())
        );
        let cancelled = job(r#"{"id":"ftjob-1","status":"cancelled"}"#);
        assert_eq!(cancelled.outcome().unwrap(), Outcome::Cancelled);
    }

    #[test]
    fn a_success_without_a_model_or_a_reply_without_status_is_an_error() {
        let e = job(r#"{"id":"ftjob-9","status":"succeeded","fine_tuned_model":null}"#)
            .outcome()
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("fine_tuned_model") && msg.contains("ftjob-9"),
            "{msg}"
        );
        let e =
            decode::<JobReply>(JOB_OBJECT, br#"{"id":"ftjob-9","state":"running"}"#).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("expected a fine-tuning job object")
                && msg.contains(r#""state":"running""#),
            "{msg}"
        );
        let long = format!("<html>{}</html>", "x".repeat(5000));
        let msg = decode::<JobReply>(JOB_OBJECT, long.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 700, "{}", msg.len());
    }

    #[test]
    fn the_job_request_carries_model_seed_suffix_and_method() {
        let f = OpenAiFinetune::new("gpt-4o-mini")
            .suffix("qa")
            .hyperparameters(json!({"n_epochs": 3}));
        assert_eq!(
            f.job_body("file-1", "gpt-4o-mini", 7).unwrap(),
            json!({
                "training_file": "file-1",
                "model": "gpt-4o-mini",
                "seed": 7,
                "suffix": "qa",
                "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
            })
        );
        let plain = OpenAiFinetune::new("m")
            .job_body("f", "m", u64::MAX)
            .unwrap();
        assert_eq!(plain["seed"], json!(u64::MAX % (MAX_SEED + 1)));
        assert!(plain.get("method").is_none() && plain.get("suffix").is_none());
        let bad = OpenAiFinetune::new("m").hyperparameters(json!(3));
        assert!(bad.job_body("f", "m", 0).is_err());
    }

    #[test]
    fn a_zero_poll_interval_is_raised_to_the_least() {
        let f = OpenAiFinetune::new("m").poll_every(Duration::ZERO);
        assert_eq!(f.poll_every, MIN_POLL);
        let f = OpenAiFinetune::new("m").poll_every(Duration::from_secs(3));
        assert_eq!(f.poll_every, Duration::from_secs(3));
    }

    /// A job whose predictors already call a fine-tuned model trains on from it; any other
    /// model (the base, or one of another provider) leaves the base model.
    #[test]
    fn a_fine_tuned_model_is_trained_on_from() {
        let f = OpenAiFinetune::new("gpt-4o-mini");
        let lm = |m: &str| Lm::new(crate::lm::ScriptedLm::new(Vec::<String>::new()).with_model(m));
        assert_eq!(f.start_model(None), "gpt-4o-mini");
        let tuned = lm("openai/ft:gpt-4o-mini:org:qa:abc");
        assert_eq!(f.start_model(Some(&tuned)), "ft:gpt-4o-mini:org:qa:abc");
        let bare = lm("ft:gpt-4o-mini:org:qa:def");
        assert_eq!(f.start_model(Some(&bare)), "ft:gpt-4o-mini:org:qa:def");
        let other = lm("openai/gpt-4o");
        assert_eq!(f.start_model(Some(&other)), "gpt-4o-mini");
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_key_goes_only_where_it_belongs() {
        let key = |api: &Api| api.key.as_ref().map(|k| k.expose().to_string());
        let f = OpenAiFinetune::new("m");
        let api = f.endpoint(env(&[("OPENAI_API_KEY", "sk-env")])).unwrap();
        assert_eq!(
            (api.base.as_str(), key(&api)),
            (OPENAI_BASE, Some("sk-env".into()))
        );
        let e = f.endpoint(env(&[])).err().unwrap();
        assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");

        let api = f
            .endpoint(env(&[
                ("OPENAI_API_KEY", "sk-env"),
                ("OPENAI_BASE_URL", "http://proxy:4000/v1/"),
            ]))
            .unwrap();
        assert_eq!(
            (api.base.as_str(), key(&api)),
            ("http://proxy:4000/v1", Some("sk-env".into()))
        );

        let custom = OpenAiFinetune::new("m").api_base("http://127.0.0.1:9/v1");
        let api = custom
            .endpoint(env(&[
                ("OPENAI_API_KEY", "sk-env"),
                ("OPENAI_API_BASE", "http://x/v1"),
            ]))
            .unwrap();
        assert_eq!(
            (api.base.as_str(), key(&api)),
            ("http://127.0.0.1:9/v1", None)
        );
        assert!(api.auth_hint.unwrap().contains("send_env_key"));
        let api = custom
            .clone()
            .send_env_key(true)
            .endpoint(env(&[("OPENAI_API_KEY", "sk-env")]))
            .unwrap();
        assert_eq!(key(&api), Some("sk-env".into()));
        let api = custom
            .api_key("sk-mine")
            .endpoint(env(&[("OPENAI_API_KEY", "sk-env")]))
            .unwrap();
        assert_eq!(key(&api), Some("sk-mine".into()));
    }

    #[test]
    fn debug_hides_the_key() {
        let f = OpenAiFinetune::new("m").api_key("sk-very-secret");
        let dbg = format!("{f:?}");
        assert!(
            !dbg.contains("sk-very-secret") && dbg.contains("ApiKey(***)"),
            "{dbg}"
        );
    }
}
