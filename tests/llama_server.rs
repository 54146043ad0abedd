//! Our OpenAI-compatible client against a real llama-server (built by
//! `scripts/build-llama-server`) serving SmolLM2 on 127.0.0.1: plain chat, json_schema output,
//! streaming, n, stop, usage; the same Predict at temperature 0 in-process and through the
//! server; a pool of replicas; and native tool calls parsed by the server (Qwen 0.5B).
#![cfg(feature = "local")]

use crate::common;

use common::{Qa, QaInput};
use dspy::lm::{Capabilities, HttpLm, LmRequest, LocalLm, Message, ResponseFormat};
use dspy::prelude::*;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn server() -> Server {
    server_with_threads(2).await
}

async fn server_with_threads(threads: u32) -> Server {
    server_with(dspy::lm::local::SMOLLM2_FILE, threads, &[]).await
}

/// llama-server on the model file `file` with `threads` threads, 2 slots and `extra` arguments.
async fn server_with(file: &str, threads: u32, extra: &[&str]) -> Server {
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = std::env::var("DSPY_TOOLS_DIR")
        .map(|d| format!("{d}/llama-server"))
        .unwrap_or_else(|_| format!("{root}/tools/llama-server"));
    assert!(
        std::path::Path::new(&bin).exists(),
        "{bin} is missing: run scripts/build-llama-server (scripts/test does)"
    );
    let model = dspy::lm::local::locate_in(&dspy::lm::local::model_dir(), file)
        .unwrap_or_else(|e| panic!("{e}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args([
            "-m",
            model.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "-c",
            "4096",
            "-t",
            &threads.to_string(),
            "--jinja",
            "--parallel",
            "2",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let server = Server { child, port };
    for _ in 0..300 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s.write_all(b"GET /health HTTP/1.0\r\n\r\n").await;
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            if String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200") {
                return server;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("llama-server did not become healthy on port {port}");
}

fn client(s: &Server) -> HttpLm {
    HttpLm::builder("openai/smollm2")
        .api_base(format!("http://127.0.0.1:{}/v1", s.port))
        .capabilities(Capabilities::structured())
        .cache(false)
        .build()
        .unwrap()
}

fn ask(user: &str, max_tokens: u32) -> LmRequest {
    common::greedy_chat("You are a helpful assistant.", user, max_tokens)
}

#[tokio::test]
async fn llama_server_end_to_end() {
    let s = server().await;
    let lm = client(&s);

    // Plain chat with usage.
    let r = lm
        .complete(ask("What is the capital of France?", 24))
        .await
        .unwrap();
    assert!(!r.outputs[0].trim().is_empty());
    assert!(
        r.usage.prompt_tokens > 5 && r.usage.completion_tokens > 0,
        "{:?}",
        r.usage
    );

    // json_schema output.
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string", "maxLength": 40}}, "required": ["answer"], "additionalProperties": false});
    let mut req = ask("Is the sky blue? Reply in JSON.", 96);
    req.response_format = Some(Arc::new(ResponseFormat::JsonSchema {
        name: "Out".into(),
        schema,
        strict: true,
    }));
    let r = lm.complete(req).await.unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&r.outputs[0]).unwrap_or_else(|e| panic!("{e}: {}", r.outputs[0]));
    assert!(v["answer"].is_string(), "{v}");

    // Stop sequences.
    let mut req = ask("Count from 1 to 10, separated by commas.", 40);
    req.config = Arc::new(LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(40),
        stop: vec!["5".into()],
        ..Default::default()
    });
    let r = lm.complete(req).await.unwrap();
    assert!(!r.outputs[0].contains('5'), "{:?}", r.outputs[0]);

    // n completions.
    let mut req = ask("Say hi.", 8);
    req.config = Arc::new(LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(8),
        n: Some(2),
        ..Default::default()
    });
    let r = lm.complete(req).await.unwrap();
    assert_eq!(r.outputs.len(), 2, "{:?}", r.outputs);

    // Streaming adds up to the same text as a plain call.
    let plain = lm.complete(ask("Name three colours.", 16)).await.unwrap();
    let (streamed, usage) = lm
        .stream(ask("Name three colours.", 16))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed, plain.outputs[0]);
    assert!(usage.completion_tokens > 0 || !streamed.is_empty());

    // A predictor streamed through llama-server: its field arrives in chunks that join to the
    // parsed value, and the stream's usage (include_usage) is counted.
    // Bounded: a rambling reply must not outlast the LM timeout on a loaded machine.
    let p = Predict::<Qa>::new()
        .with_lm(lm.clone())
        .with_config(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(96),
            ..Default::default()
        });
    let (answer, chunks, pred) = common::stream_capital(&p).await;
    assert!(chunks > 1, "{chunks} chunks");
    assert_eq!(answer, pred.answer);
    assert!(pred.usage().completion_tokens > 0, "{:?}", pred.usage());
}

/// The same Predict at temperature 0 through llama-server and in-process. Both run greedy
/// decoding of the same GGUF with the model's own chat template; they are expected to agree.
#[tokio::test]
async fn predict_agrees_in_process_and_over_http() {
    let s = server().await;
    let config = LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(48),
        ..Default::default()
    };
    let over_http = Predict::<Qa>::new()
        .with_lm(client(&s))
        .with_config(config.clone())
        .with_adapter(ChatAdapter::without_fallback());
    let local = LocalLm::smollm2().unwrap();
    let in_process = Predict::<Qa>::new()
        .with_lm(local)
        .with_config(config)
        .with_adapter(ChatAdapter::without_fallback());
    let mut agreed = 0;
    let questions = [
        "What is the capital of France?",
        "What colour is the sky?",
        "How many legs does a spider have?",
    ];
    for q in questions {
        let a = over_http.call(QaInput { question: q.into() }).await;
        let b = in_process.call(QaInput { question: q.into() }).await;
        let raw = |r: &dspy::Result<Prediction<common::QaOutput>>| match r {
            Ok(p) => p.raw().to_string(),
            Err(dspy::Error::Parse(e)) => e.response.clone(),
            Err(e) => panic!("{e}"),
        };
        let (ra, rb) = (raw(&a), raw(&b));
        println!("{q}\n  llama-server: {ra:?}\n  in-process:   {rb:?}");
        agreed += usize::from(ra == rb);
    }
    assert_eq!(
        agreed,
        questions.len(),
        "greedy outputs differ between llama-server and in-process"
    );
}

/// Native tool calls parsed by llama-server itself: the Qwen 0.5B under a chat template whose
/// calls are bare JSON objects (`tests/fixtures/bare_tool_calls.jinja`). Under the model's own
/// template the server waits for `<tool_call>` tags, which the 0.5B does not write; under this
/// one a call is the bare JSON object the 0.5B writes, and llama.cpp's template analysis makes
/// the grammar and parser for it. Our client sends the tools and a required choice, reads the
/// server's `tool_calls` (ids included), and sends the call and its result back under that id.
/// (An agent on top needs a model that calls tools unforced: with `auto` this server applies no
/// grammar, and the 0.5B then answers in the adapter's format instead.)
#[tokio::test]
async fn native_tool_calls_round_trip_through_llama_server() {
    use dspy::lm::ToolChoice;
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bare_tool_calls.jinja"
    );
    let s = server_with(
        dspy::lm::local::QWEN_FILE,
        2,
        &["--chat-template-file", template],
    )
    .await;
    let lm = HttpLm::builder("openai/qwen")
        .api_base(format!("http://127.0.0.1:{}/v1", s.port))
        .capabilities(Capabilities {
            tool_calls: true,
            ..Capabilities::structured()
        })
        .cache(false)
        .build()
        .unwrap();
    let add = add_tool();
    let mut req = ask("What is 2 + 3? Use the add tool.", 32);
    req.tools = Some(vec![add.to_openai()].into());
    req.tool_choice = Some(ToolChoice::Required);
    let r = lm.complete(req.clone()).await.unwrap();
    let calls = &r.tool_calls[0];
    assert_eq!(calls.len(), 1, "{r:?}");
    assert_eq!(calls[0].name, "add");
    assert_eq!(calls[0].args, json!({"a": 2, "b": 3}));
    let id = calls[0].id.clone().expect("the server names its call");
    assert!(!id.is_empty());

    // The call and its result go back under the server's id; told to call none, it answers.
    let result = add.call(calls[0].args.clone()).await.unwrap();
    req.messages
        .push(Message::assistant_calls("", calls.clone()));
    req.messages
        .push(Message::tool_result(id.clone(), result.to_string()));
    req.tool_choice = Some(ToolChoice::None);
    let r = lm.complete(req).await.unwrap();
    assert!(r.tool_calls.iter().all(Vec::is_empty), "{r:?}");
    assert!(r.outputs[0].contains('5'), "{r:?}");
}

/// Adds two integers.
#[dspy::tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Three replicas behind one `PoolLm`; one is killed while calls are in flight. Every call
/// completes, once, on the others, and the report shows the dead one ejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_survives_a_replica_killed_mid_run() {
    use futures_util::StreamExt;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(server_with_threads(1).await);
    }
    let pool = dspy::lm::PoolLm::builder("openai/smollm2")
        .endpoints(
            replicas
                .iter()
                .map(|s| format!("http://127.0.0.1:{}/v1", s.port)),
        )
        .each(|b| b.cache(false).timeout(Duration::from_secs(60)))
        .build()
        .unwrap();
    let mut doomed = Some(replicas.remove(0));
    let mut done = 0;
    let mut replies = futures_util::stream::iter(0..18)
        .map(|i| {
            let pool = pool.clone();
            async move { pool.complete(ask(&format!("Count to {i}."), 12)).await }
        })
        .buffer_unordered(6);
    while let Some(reply) = replies.next().await {
        let reply = reply.unwrap_or_else(|e| panic!("a call failed: {e}\n{}", pool.report()));
        assert_eq!(reply.outputs.len(), 1);
        done += 1;
        if done == 4 {
            // Killed with calls in flight on it (6 in flight over 3 replicas).
            drop(doomed.take());
        }
    }
    assert_eq!(done, 18);
    let report = pool.report();
    let dead = &report.endpoints[0];
    // Ejected at its first failure (by the end its cool-down may be over, and a probe may
    // have found it dead again).
    assert!(dead.ejections >= 1 && dead.failures >= 1, "{report}");
    assert_eq!(report.moved, dead.failures, "{report}");
    let answered: u64 = report.endpoints.iter().map(|e| e.calls - e.failures).sum();
    assert_eq!(answered, 18, "each call answered once\n{report}");
}
