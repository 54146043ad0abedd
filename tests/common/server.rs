//! A fake LM server on 127.0.0.1 for the HTTP tests: OpenAI chat completions (streaming too),
//! embeddings and Anthropic messages, with injectable faults. Raw HTTP/1.1 over tokio so every
//! fault (a reset mid-body, a truncated body, slow headers) is exactly what a client would see.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LEAN_REPLY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]"},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":8}}"#;

static LEAN_RESPONSE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        LEAN_REPLY.len()
    )
    .into_bytes();
    r.extend_from_slice(LEAN_REPLY.as_bytes());
    r
});

/// The `Content-Length` of a request head (0 if absent).
fn content_length(head: &[u8]) -> usize {
    let head = String::from_utf8_lossy(head);
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

/// What the server does wrong on one attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// An error status, with `Retry-After` seconds if given.
    Status(u16, Option<f64>),
    /// Headers and half the body, then the connection is dropped.
    ResetMidBody,
    /// A 200 whose JSON is cut short.
    TruncatedJson,
    /// Nothing for this long before the headers.
    SlowHeaders(Duration),
    /// A 200 whose body is not JSON.
    InvalidJson,
    /// A 200 with no choices.
    EmptyChoices,
    /// A 400 whose error message echoes the request's credentials.
    EchoCredentials,
    /// An error status with this exact `Retry-After` header value (hostile ones included).
    RetryAfterRaw(u16, String),
    /// A 200 whose body runs to this many bytes, with no `Content-Length` (it ends when the
    /// connection closes, or when the client hangs up).
    HugeBody(usize),
    /// A 200 event stream whose first event never ends (no blank line), up to this many
    /// bytes or until the client hangs up.
    EndlessEvent(usize),
}

type Plan = Box<dyn Fn(&Request, u32) -> Option<Fault> + Send + Sync>;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// A hash of the body: the same logical request on every attempt.
    pub id: u64,
}

/// Counters and the fault plan.
pub struct State {
    plan: Mutex<Option<Plan>>,
    attempts: Mutex<HashMap<u64, u32>>,
    /// Requests answered successfully, by body id.
    pub successes: Mutex<HashMap<u64, u32>>,
    /// Every request received.
    pub log: Mutex<Vec<Request>>,
    /// Faults injected.
    pub faults: AtomicU64,
    /// Requests received.
    pub requests: AtomicU64,
    /// Delay before each answer.
    pub latency: Mutex<Duration>,
    /// Requests being answered now (non-lean mode), and the most at once.
    pub in_flight: AtomicU64,
    /// The most requests in flight at once (non-lean mode).
    pub peak_in_flight: AtomicU64,
    /// Benchmark mode: a fixed answer, no logging, no faults.
    lean: bool,
}

/// A running fake server.
pub struct FakeLm {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl FakeLm {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub async fn start() -> FakeLm {
        Self::start_with(false).await
    }

    /// A server for benchmarks: every chat request gets the same valid ChatAdapter answer,
    /// nothing is logged or hashed, so the server costs as little as it can.
    pub async fn start_lean() -> FakeLm {
        Self::start_with(true).await
    }

    async fn start_with(lean: bool) -> FakeLm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            plan: Mutex::new(None),
            attempts: Mutex::new(HashMap::new()),
            successes: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            faults: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            latency: Mutex::new(Duration::ZERO),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            lean,
        });
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, s).await;
                });
            }
        });
        FakeLm { addr, state }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT` (Anthropic's base has no `/v1`).
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Decides the fault (if any) of each attempt (0-based) of each logical request.
    pub fn set_plan(&self, plan: impl Fn(&Request, u32) -> Option<Fault> + Send + Sync + 'static) {
        *self.state.plan.lock().unwrap() = Some(Box::new(plan));
    }

    /// Waits this long before answering each request.
    pub fn set_latency(&self, d: Duration) {
        *self.state.latency.lock().unwrap() = d;
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn faults(&self) -> u64 {
        self.state.faults.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<Request> {
        self.state.log.lock().unwrap().clone()
    }
}

/// Reads from `sock` into `buf` until it holds a request head; its length (up to the blank
/// line), or `None` when the client hung up first.
pub async fn read_head(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(i));
        }
        if !read_more(sock, buf).await? {
            return Ok(None);
        }
    }
}

/// Reads from `sock` into `buf` until it holds `len` bytes; `false` when the client hung up
/// first.
pub async fn read_to(sock: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> std::io::Result<bool> {
    while buf.len() < len {
        if !read_more(sock, buf).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    let n = sock.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// A request head's method, path and headers (names lowercased).
pub fn parse_head(head: &[u8]) -> (String, String, HashMap<String, String>) {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let path = request_line.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (method, path, headers)
}

async fn serve(mut sock: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_head(&mut sock, &mut buf).await? else {
            return Ok(());
        };
        if state.lean {
            let len = content_length(&buf[..head_end]);
            if !read_to(&mut sock, &mut buf, head_end + 4 + len).await? {
                return Ok(());
            }
            buf.drain(..head_end + 4 + len);
            state.requests.fetch_add(1, Ordering::Relaxed);
            let latency = *state.latency.lock().unwrap();
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            sock.write_all(&LEAN_RESPONSE).await?;
            continue;
        }
        let (_, path, headers) = parse_head(&buf[..head_end]);
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        if !read_to(&mut sock, &mut buf, body_start + len).await? {
            return Ok(());
        }
        let body_bytes: Vec<u8> = buf[body_start..body_start + len].to_vec();
        buf.drain(..body_start + len);
        let body: Value = serde_json::from_slice(&body_bytes).unwrap_or(Value::Null);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        body_bytes.hash(&mut h);
        let req = Request {
            path,
            headers,
            body,
            id: h.finish(),
        };
        state.requests.fetch_add(1, Ordering::SeqCst);
        state.log.lock().unwrap().push(req.clone());
        let attempt = {
            let mut a = state.attempts.lock().unwrap();
            let n = a.entry(req.id).or_insert(0);
            *n += 1;
            *n - 1
        };
        let fault = state
            .plan
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|p| p(&req, attempt));
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        let latency = *state.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(f) = fault {
            state.faults.fetch_add(1, Ordering::SeqCst);
            match f {
                Fault::Status(code, retry_after) => {
                    let extra = retry_after
                        .map(|s| format!("Retry-After: {s}\r\n"))
                        .unwrap_or_default();
                    write(
                        &mut sock,
                        code,
                        &extra,
                        br#"{"error":{"message":"injected"}}"#,
                    )
                    .await?;
                }
                Fault::ResetMidBody => {
                    let body = reply(&req).to_string();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    sock.write_all(head.as_bytes()).await?;
                    sock.write_all(&body.as_bytes()[..body.len() / 2]).await?;
                    sock.flush().await?;
                    return Ok(());
                }
                Fault::TruncatedJson => {
                    let body = reply(&req).to_string();
                    write(&mut sock, 200, "", &body.as_bytes()[..body.len() / 2]).await?;
                }
                Fault::SlowHeaders(d) => {
                    tokio::time::sleep(d).await;
                    write(&mut sock, 200, "", reply(&req).to_string().as_bytes()).await?;
                }
                Fault::RetryAfterRaw(code, value) => {
                    let extra = format!("Retry-After: {value}\r\n");
                    write(
                        &mut sock,
                        code,
                        &extra,
                        br#"{"error":{"message":"injected"}}"#,
                    )
                    .await?;
                }
                Fault::HugeBody(len) => {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                    sock.write_all(head.as_bytes()).await?;
                    sock.write_all(br#"{"choices":["#).await?;
                    write_filler(&mut sock, len).await;
                    return Ok(());
                }
                Fault::EndlessEvent(len) => {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
                    sock.write_all(head.as_bytes()).await?;
                    sock.write_all(b"data: ").await?;
                    write_filler(&mut sock, len).await;
                    return Ok(());
                }
                Fault::InvalidJson => write(&mut sock, 200, "", b"<html>oops</html>").await?,
                Fault::EmptyChoices => {
                    write(&mut sock, 200, "", br#"{"choices":[],"usage":{}}"#).await?
                }
                Fault::EchoCredentials => {
                    let cred = req
                        .headers
                        .get("authorization")
                        .or(req.headers.get("x-api-key"))
                        .cloned()
                        .unwrap_or_default();
                    let body = json!({"error": {"message": format!("bad request from {cred}")}})
                        .to_string();
                    write(&mut sock, 400, "", body.as_bytes()).await?;
                }
            }
            continue;
        }
        *state.successes.lock().unwrap().entry(req.id).or_insert(0) += 1;
        if req.body.get("stream") == Some(&Value::Bool(true)) {
            stream(&mut sock, &req).await?;
            return Ok(());
        }
        write(&mut sock, 200, "", reply(&req).to_string().as_bytes()).await?;
    }
}

/// Up to `len` spaces in 8 KiB writes, stopping early when the client hangs up.
async fn write_filler(sock: &mut TcpStream, len: usize) {
    let chunk = [b' '; 8192];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        if sock.write_all(&chunk[..n]).await.is_err() {
            return;
        }
        sent += n;
    }
    let _ = sock.shutdown().await;
}

async fn write(sock: &mut TcpStream, code: u16, extra: &str, body: &[u8]) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    sock.write_all(&out).await?;
    sock.flush().await
}

/// The answer text for a request: `echo: <question>` in the format the request asks for.
pub fn answer_text(body: &Value) -> String {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let last = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let question = last
        .split("[[ ## question ## ]]\n")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or(last)
        .to_string();
    let answer = format!("echo: {question}");
    let wants_json =
        body.get("response_format").is_some() || last.contains("Respond with a JSON object");
    let mut text = if wants_json {
        json!({ "answer": answer }).to_string()
    } else {
        format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]")
    };
    let stops: Vec<String> = match body.get("stop").or(body.get("stop_sequences")) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    for s in stops {
        if let Some(i) = text.find(&s) {
            text.truncate(i);
        }
    }
    text
}

fn reply(req: &Request) -> Value {
    let body = &req.body;
    let prompt_tokens = body.to_string().len() as u64 / 4;
    if req.path.ends_with("/embeddings") {
        let inputs = body["input"].as_array().cloned().unwrap_or_default();
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let s = t.as_str().unwrap_or("");
                json!({"index": i, "embedding": [s.len() as f32, s.bytes().next().unwrap_or(0) as f32, 1.0]})
            })
            .collect();
        return json!({"data": data, "usage": {"prompt_tokens": prompt_tokens}});
    }
    if body
        .get("tools")
        .is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()))
    {
        return tool_reply(body, req.path.ends_with("/messages"), prompt_tokens);
    }
    let text = answer_text(body);
    let completion_tokens = text.len() as u64 / 4;
    if req.path.ends_with("/messages") {
        return json!({
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
        });
    }
    let n = body.get("n").and_then(Value::as_u64).unwrap_or(1);
    let choices: Vec<Value> = (0..n).map(|i| json!({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})).collect();
    json!({"choices": choices, "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}})
}

async fn stream(sock: &mut TcpStream, req: &Request) -> std::io::Result<()> {
    let text = answer_text(&req.body);
    let third = text.len() / 3;
    let mut cut = vec![0];
    for target in [third, 2 * third] {
        let mut i = target;
        while !text.is_char_boundary(i) {
            i += 1;
        }
        cut.push(i);
    }
    cut.push(text.len());
    let pieces: Vec<&str> = cut.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    let mut out = String::new();
    if req.path.ends_with("/messages") {
        out.push_str(&format!(
            "event: message_start\ndata: {}\n\n",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 7}}})
        ));
        for p in pieces {
            out.push_str(&format!(
                "event: content_block_delta\ndata: {}\n\n",
                json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": p}})
            ));
        }
        out.push_str(&format!(
            "event: message_delta\ndata: {}\n\n",
            json!({"type": "message_delta", "usage": {"output_tokens": 3}})
        ));
        out.push_str("event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n");
    } else {
        for p in pieces {
            out.push_str(&format!(
                "data: {}\n\n",
                json!({"choices": [{"delta": {"content": p}}]})
            ));
        }
        out.push_str(&format!(
            "data: {}\n\n",
            json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
        ));
        out.push_str("data: [DONE]\n\n");
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    sock.write_all(head.as_bytes()).await?;
    // In two writes, so the client sees events split across chunks.
    let mid = out.len() / 2;
    let mut mid_b = mid;
    while !out.is_char_boundary(mid_b) {
        mid_b += 1;
    }
    sock.write_all(&out.as_bytes()[..mid_b]).await?;
    sock.flush().await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    sock.write_all(&out.as_bytes()[mid_b..]).await?;
    sock.flush().await?;
    sock.shutdown().await
}

/// The lean server on its own thread and single-threaded runtime (so it gets a core of its own
/// in benchmarks); returns its base URL.
pub fn lean_on_thread(latency: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let server = FakeLm::start_lean().await;
            server.set_latency(latency);
            let _ = tx.send(server.base());
            std::future::pending::<()>().await
        })
    });
    rx.recv().expect("the server thread starts")
}

/// A reply to a request that offers tools: with no tool result in the conversation yet, a
/// call of the first tool with `{"a": 2, "b": 3}`; after one, a call of `submit` (when
/// offered) whose `answer` is the last result read as a number. OpenAI's `tool_calls` (with
/// `arguments` a JSON string) or Anthropic's `tool_use` blocks.
fn tool_reply(body: &Value, anthropic: bool, prompt_tokens: u64) -> Value {
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let name_of = |t: &Value| {
        t.get("name")
            .or_else(|| t["function"].get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let results: Vec<String> = messages
        .iter()
        .flat_map(|m| {
            if m["role"] == "tool" {
                vec![m["content"].as_str().unwrap_or("").to_string()]
            } else {
                m["content"]
                    .as_array()
                    .map(|blocks| {
                        blocks
                            .iter()
                            .filter(|b| b["type"] == "tool_result")
                            .map(|b| b["content"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            }
        })
        .collect();
    let submit = tools.iter().any(|t| name_of(t) == "submit");
    let (name, args) = match results.last() {
        Some(last) if submit => {
            let answer: i64 = last.trim().parse().unwrap_or(-1);
            ("submit".to_string(), json!({ "answer": answer }))
        }
        _ => (
            tools.first().map(name_of).unwrap_or_default(),
            json!({"a": 2, "b": 3}),
        ),
    };
    let id = format!("call_fake_{}", results.len());
    let thought = "[[ ## next_thought ## ]]\nCalling a tool.\n\n[[ ## completed ## ]]";
    let usage_out = 20;
    if anthropic {
        return json!({
            "content": [
                {"type": "text", "text": thought},
                {"type": "tool_use", "id": id, "name": name, "input": args},
            ],
            "usage": {"input_tokens": prompt_tokens, "output_tokens": usage_out},
        });
    }
    json!({
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant",
            "content": thought,
            "tool_calls": [{"id": id, "type": "function",
                "function": {"name": name, "arguments": args.to_string()}}],
        }}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": usage_out},
    })
}
