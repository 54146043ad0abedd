//! A fake OpenAI fine-tuning API on 127.0.0.1 for the `OpenAiFinetune` tests: file uploads
//! (multipart, parsed and kept), jobs that go `validating_files` → `running` → an end set by
//! the test, and chat completions for the fine-tuned models. Raw HTTP/1.1 over tokio, like
//! `server.rs`.

use super::server::{parse_head, read_head, read_to};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// How the server's jobs end.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// `succeeded`, with `fine_tuned_model` `ft:<model>:<suffix>:123` and trained tokens.
    Succeed,
    /// `failed` with this error code and message; `{authorization}` in the message is
    /// replaced by the request's `Authorization` header (a server that echoes credentials).
    Fail { code: String, message: String },
    /// `running` forever.
    Never,
}

/// One uploaded file, as the multipart body gave it.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The `purpose` field.
    pub purpose: String,
    /// The `file` part's filename.
    pub filename: String,
    /// The `file` part's content.
    pub content: String,
}

/// One request as received (method, path, `Authorization` header, body as text).
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: String,
}

struct Job {
    model: String,
    suffix: Option<String>,
    polls: u32,
}

/// What the server holds and how it behaves.
pub struct State {
    ending: Mutex<Ending>,
    /// Upload attempts answered 503 before one is accepted.
    upload_503s: AtomicU32,
    /// Files uploaded, by id.
    pub files: Mutex<HashMap<String, Upload>>,
    /// Job requests' bodies, in order.
    pub job_requests: Mutex<Vec<Value>>,
    /// Chat requests' bodies, in order.
    pub chats: Mutex<Vec<Value>>,
    /// Every request.
    pub log: Mutex<Vec<Seen>>,
    jobs: Mutex<HashMap<String, Job>>,
    /// Models the succeeded jobs made.
    models: Mutex<Vec<String>>,
}

/// A running fake fine-tuning API.
pub struct FakeFinetune {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl FakeFinetune {
    /// Starts a server whose jobs end as `ending` says.
    pub async fn start(ending: Ending) -> FakeFinetune {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            ending: Mutex::new(ending),
            upload_503s: AtomicU32::new(0),
            files: Mutex::new(HashMap::new()),
            job_requests: Mutex::new(Vec::new()),
            chats: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            jobs: Mutex::new(HashMap::new()),
            models: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, s).await;
                });
            }
        });
        FakeFinetune { addr, state }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Answers the next `n` uploads with 503.
    pub fn fail_uploads(&self, n: u32) {
        self.state.upload_503s.store(n, Ordering::SeqCst);
    }

    /// The files uploaded (in no particular order).
    pub fn uploads(&self) -> Vec<Upload> {
        self.state.files.lock().unwrap().values().cloned().collect()
    }

    /// Job requests' bodies.
    pub fn job_requests(&self) -> Vec<Value> {
        self.state.job_requests.lock().unwrap().clone()
    }

    /// Chat requests' bodies.
    pub fn chats(&self) -> Vec<Value> {
        self.state.chats.lock().unwrap().clone()
    }

    /// Every request received.
    pub fn log(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests whose method and path are these.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.log()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(path_prefix))
            .count()
    }
}

async fn serve(mut sock: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_head(&mut sock, &mut buf).await? else {
            return Ok(());
        };
        let (method, path, headers) = parse_head(&buf[..head_end]);
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        if !read_to(&mut sock, &mut buf, body_start + len).await? {
            return Ok(());
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).to_string();
        buf.drain(..body_start + len);
        let authorization = headers.get("authorization").cloned();
        state.log.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            authorization: authorization.clone(),
            body: body.clone(),
        });
        let (code, reply) = answer(&state, &method, &path, &headers, &body);
        write(&mut sock, code, reply.to_string().as_bytes()).await?;
    }
}

fn error(code: u16, message: &str) -> (u16, Value) {
    (code, json!({"error": {"message": message}}))
}

fn answer(
    state: &State,
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &str,
) -> (u16, Value) {
    match (method, path) {
        ("POST", "/v1/files") => {
            if state
                .upload_503s
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return error(503, "overloaded, try again");
            }
            let Some(upload) = headers
                .get("content-type")
                .and_then(|ct| ct.split_once("boundary="))
                .and_then(|(_, b)| parse_multipart(body, b.trim_matches('"')))
            else {
                return error(400, "expected a multipart body with purpose and file");
            };
            let mut files = state.files.lock().unwrap();
            let id = format!("file-{}", files.len() + 1);
            let bytes = upload.content.len();
            let filename = upload.filename.clone();
            files.insert(id.clone(), upload);
            (
                200,
                json!({"id": id, "object": "file", "bytes": bytes, "filename": filename, "purpose": "fine-tune"}),
            )
        }
        ("POST", "/v1/fine_tuning/jobs") => {
            let Ok(req) = serde_json::from_str::<Value>(body) else {
                return error(400, "expected JSON");
            };
            state.job_requests.lock().unwrap().push(req.clone());
            let file = req["training_file"].as_str().unwrap_or("");
            if !state.files.lock().unwrap().contains_key(file) {
                return error(400, &format!("no file {file}"));
            }
            let mut jobs = state.jobs.lock().unwrap();
            let id = format!("ftjob-{}", jobs.len() + 1);
            let job = Job {
                model: req["model"].as_str().unwrap_or("").to_string(),
                suffix: req["suffix"].as_str().map(str::to_string),
                polls: 0,
            };
            let reply = job_object(&id, &job, "validating_files", None, None);
            jobs.insert(id, job);
            (200, reply)
        }
        ("GET", p) if p.starts_with("/v1/fine_tuning/jobs/") => {
            let id = &p["/v1/fine_tuning/jobs/".len()..];
            let mut jobs = state.jobs.lock().unwrap();
            let Some(job) = jobs.get_mut(id) else {
                return error(404, &format!("no job {id}"));
            };
            job.polls += 1;
            let ending = state.ending.lock().unwrap().clone();
            let reply = match (job.polls, ending) {
                (1, _) => job_object(id, job, "validating_files", None, None),
                (2, _) | (_, Ending::Never) => job_object(id, job, "running", None, None),
                (_, Ending::Succeed) => {
                    let model = format!(
                        "ft:{}:{}:123",
                        job.model,
                        job.suffix.as_deref().unwrap_or("none")
                    );
                    state.models.lock().unwrap().push(model.clone());
                    job_object(id, job, "succeeded", Some(&model), None)
                }
                (_, Ending::Fail { code, message }) => {
                    let auth = headers.get("authorization").cloned().unwrap_or_default();
                    let message = message.replace("{authorization}", &auth);
                    let error = json!({"code": code, "message": message, "param": null});
                    job_object(id, job, "failed", None, Some(error))
                }
            };
            (200, reply)
        }
        ("POST", "/v1/chat/completions") => {
            let Ok(req) = serde_json::from_str::<Value>(body) else {
                return error(400, "expected JSON");
            };
            state.chats.lock().unwrap().push(req.clone());
            let model = req["model"].as_str().unwrap_or("").to_string();
            if !state.models.lock().unwrap().contains(&model) {
                return error(404, &format!("The model `{model}` does not exist"));
            }
            let text = format!("hello from {model}");
            (
                200,
                json!({
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 4},
                }),
            )
        }
        _ => error(404, &format!("no route {method} {path}")),
    }
}

fn job_object(
    id: &str,
    job: &Job,
    status: &str,
    fine_tuned_model: Option<&str>,
    error: Option<Value>,
) -> Value {
    json!({
        "object": "fine_tuning.job",
        "id": id,
        "model": job.model,
        "status": status,
        "fine_tuned_model": fine_tuned_model,
        "trained_tokens": fine_tuned_model.map(|_| 4242),
        "error": error,
    })
}

/// The `purpose` and `file` fields of a multipart body, or `None` if it is malformed.
fn parse_multipart(body: &str, boundary: &str) -> Option<Upload> {
    let delimiter = format!("--{boundary}");
    let rest = body.strip_prefix(&delimiter)?;
    let (parts, epilogue) = rest.split_once(&format!("\r\n{delimiter}--"))?;
    if !epilogue.trim().is_empty() {
        return None;
    }
    let (mut purpose, mut file) = (None, None);
    for part in parts.split(&format!("\r\n{delimiter}")) {
        let part = part.strip_prefix("\r\n")?;
        let (head, content) = part.split_once("\r\n\r\n")?;
        let disposition = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Disposition: form-data; "))?;
        let field = |key: &str| {
            disposition.split("; ").find_map(|kv| {
                kv.strip_prefix(&format!("{key}=\""))
                    .and_then(|v| v.strip_suffix('"'))
                    .map(str::to_string)
            })
        };
        match field("name")?.as_str() {
            "purpose" => purpose = Some(content.to_string()),
            "file" => file = Some((field("filename")?, content.to_string())),
            _ => return None,
        }
    }
    let (filename, content) = file?;
    Some(Upload {
        purpose: purpose?,
        filename,
        content,
    })
}

async fn write(sock: &mut TcpStream, code: u16, body: &[u8]) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    sock.write_all(&out).await?;
    sock.flush().await
}
