//! The HTTP clients against a real server on 127.0.0.1 (tests/common/server.rs): chat,
//! streaming, n, stop, Anthropic, embeddings, every fault mode, retries, limits, cache,
//! single-flight, budgets, usage scopes and history.

use crate::common;

use common::server::{FakeLm, Fault};
use common::{Qa, QaInput};
use dspy::lm::{
    Budget, Cache, CacheConfig, Embedder, HttpEmbedder, HttpLm, LmConfig, LmError, LmRequest,
    Message, RetryPolicy,
};
use dspy::prelude::*;
use dspy::track_usage;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
    }
}

fn lm(server: &FakeLm) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .retry(fast_retries())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn q(text: &str) -> QaInput {
    QaInput {
        question: text.into(),
    }
}

fn chat(text: &str) -> LmRequest {
    LmRequest {
        messages: vec![Message::user(format!(
            "[[ ## question ## ]]\n{text}\n\nRespond"
        ))],
        ..Default::default()
    }
}

#[tokio::test]
async fn predict_over_http() {
    let server = FakeLm::start().await;
    let lm = lm(&server);
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    let pred = p.call(q("Why is the sky blue?")).await.unwrap();
    assert_eq!(pred.answer, "echo: Why is the sky blue?");
    assert!(pred.usage().prompt_tokens > 0 && pred.usage().completion_tokens > 0);
    let sent = &server.log()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "mock");
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert!(
        !sent.headers.contains_key("authorization"),
        "no key was configured"
    );
    assert_eq!(lm.history().len(), 1);
}

#[tokio::test]
async fn inspect_history_prints_like_dspy() {
    let server = FakeLm::start().await;
    let lm = lm(&server);
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    p.call(q("same")).await.unwrap();
    let ours = lm.inspect_history(1);
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/dspy-3.4.1-prompts/inspect_history_example.txt"
    ))
    .expect("../shared/reference/dspy-3.4.1-prompts/inspect_history_example.txt");
    // Same layout line by line; only the timestamp, the instruction and the answer differ.
    let norm = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                if l.starts_with("[20") {
                    "[TIMESTAMP]".into()
                } else if l.starts_with("        ") {
                    "INSTRUCTION".into()
                } else if l.starts_with("echo: ") || l.starts_with("mock answer") {
                    "ANSWER".into()
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    assert_eq!(norm(&ours), norm(&reference), "ours:\n{ours}");
    assert!(ours.ends_with("[[ ## completed ## ]]\n\n\n\n\n\n"));
}

#[tokio::test]
async fn every_transient_fault_is_retried_once() {
    let faults = [
        Fault::Status(429, Some(0.01)),
        Fault::Status(500, None),
        Fault::Status(503, None),
        Fault::ResetMidBody,
        Fault::TruncatedJson,
        Fault::SlowHeaders(Duration::from_millis(800)),
        Fault::InvalidJson,
        Fault::EmptyChoices,
    ];
    for fault in faults {
        let server = FakeLm::start().await;
        let f = fault.clone();
        server.set_plan(move |_, attempt| (attempt == 0).then(|| f.clone()));
        let lm = lm(&server);
        let resp = lm
            .complete(chat("x"))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert!(resp.outputs[0].contains("echo: x"), "{fault:?}");
        let (requests, retries, _, failures) = lm.stats().snapshot();
        assert_eq!((requests, retries, failures), (2, 1, 0), "{fault:?}");
    }
}

#[tokio::test]
async fn retry_after_is_waited_for() {
    let server = FakeLm::start().await;
    server.set_plan(|_, attempt| (attempt == 0).then_some(Fault::Status(429, Some(0.3))));
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .retry(RetryPolicy {
            max_retries: 1,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_secs(5),
        })
        .build()
        .unwrap();
    let t = Instant::now();
    lm.complete(chat("x")).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

/// Huge, infinite, NaN, negative, garbled and far-future `Retry-After` values neither panic nor
/// stall: each is capped by the retry policy (or ignored), and the retry succeeds.
#[tokio::test]
async fn hostile_retry_after_headers_are_capped() {
    let values = [
        "1e20",
        "1e308",
        "99999999999999999999999999999",
        "inf",
        "-inf",
        "NaN",
        "-5",
        "soon",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Tuesday, 14-Nov-23 22:13:30 GMT",
    ];
    for value in values {
        let server = FakeLm::start().await;
        let v = value.to_string();
        server.set_plan(move |_, attempt| {
            (attempt == 0).then(|| Fault::RetryAfterRaw(429, v.clone()))
        });
        let lm = lm(&server);
        let t = Instant::now();
        let resp = lm.complete(chat("x")).await;
        assert!(resp.is_ok(), "Retry-After: {value}: {resp:?}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "Retry-After: {value} waited {:?} (max_backoff is 20 ms)",
            t.elapsed()
        );
        assert_eq!(server.requests(), 2, "Retry-After: {value}: one retry");
    }
}

/// A body over the limit fails with a typed error (no Content-Length to go by), at once and
/// without a retry; one within it is read.
#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = FakeLm::start().await;
    server.set_plan(|req, _| {
        req.body
            .to_string()
            .contains("huge")
            .then_some(Fault::HugeBody(4 << 20))
    });
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .retry(fast_retries())
        .max_response_bytes(64 << 10)
        .build()
        .unwrap();
    let e = lm.complete(chat("huge")).await.unwrap_err();
    match &e {
        LmError::ResponseTooLarge {
            what: "response body",
            limit,
            received,
        } => assert!(*limit == 64 << 10 && *received > *limit, "{e:?}"),
        other => panic!("expected ResponseTooLarge, got {other:?}"),
    }
    assert!(e.to_string().contains("65536 bytes"), "{e}");
    assert_eq!(server.requests(), 1, "not retried");
    assert!(lm.complete(chat("small")).await.is_ok());
}

/// An event that never ends fails once it outgrows the limit instead of filling memory.
#[tokio::test]
async fn an_endless_stream_event_is_refused() {
    let server = FakeLm::start().await;
    server.set_plan(|_, _| Some(Fault::EndlessEvent(16 << 20)));
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .retry(RetryPolicy::none())
        .max_response_bytes(64 << 10)
        .build()
        .unwrap();
    let mut stream = lm.stream(chat("x")).await.unwrap();
    let e = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            e,
            LmError::ResponseTooLarge {
                what: "stream event",
                limit: 65536,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn permanent_errors_surface_at_once() {
    for (code, check) in [
        (
            401u16,
            (|e: &LmError| matches!(e, LmError::Auth { status: 401, .. })) as fn(&LmError) -> bool,
        ),
        (400, |e| {
            matches!(e, LmError::BadRequest { status: 400, .. })
        }),
        (404, |e| {
            matches!(e, LmError::BadRequest { status: 404, .. })
        }),
    ] {
        let server = FakeLm::start().await;
        server.set_plan(move |_, _| Some(Fault::Status(code, None)));
        let lm = lm(&server);
        let e = lm.complete(chat("x")).await.unwrap_err();
        assert!(check(&e), "{code}: {e:?}");
        assert_eq!(server.requests(), 1, "{code}: not retried");
    }
}

#[tokio::test]
async fn retries_give_up_after_the_limit() {
    let server = FakeLm::start().await;
    server.set_plan(|_, _| Some(Fault::Status(503, None)));
    let lm = lm(&server);
    let e = lm.complete(chat("x")).await.unwrap_err();
    assert!(matches!(e, LmError::Server { status: 503, .. }), "{e:?}");
    assert_eq!(server.requests(), 4, "1 attempt + 3 retries");
    assert_eq!(lm.stats().snapshot().3, 1);
}

/// 1,000 calls, 30% of them failing transiently once or twice: all complete, each reaches a
/// successful answer exactly once, and the client's retries equal the faults injected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_through_a_flaky_server() {
    let server = FakeLm::start().await;
    let kinds = [
        Fault::Status(500, None),
        Fault::Status(503, None),
        Fault::Status(429, None),
        Fault::ResetMidBody,
        Fault::TruncatedJson,
        Fault::EmptyChoices,
    ];
    server.set_plan(move |req, attempt| {
        // Deterministic per request: 30% fail, and of those one in three fails twice.
        let r = req.id % 100;
        let failures = if r < 30 { 1 + u32::from(r < 10) } else { 0 };
        (attempt < failures).then(|| kinds[(req.id / 100 % kinds.len() as u64) as usize].clone())
    });
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .retry(fast_retries())
        .max_in_flight(64)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let lm = lm.clone();
            tokio::spawn(async move { lm.complete(chat(&format!("call {i}"))).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let resp = t.await.unwrap().unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert!(resp.outputs[0].contains(&format!("echo: call {i}")));
    }
    let successes = server.state.successes.lock().unwrap().clone();
    assert_eq!(successes.len(), 1000);
    assert!(
        successes.values().all(|&n| n == 1),
        "each request answered exactly once"
    );
    let (requests, retries, _, failures) = lm.stats().snapshot();
    assert_eq!(failures, 0);
    assert!(
        server.faults() > 200,
        "about 30% failed at least once: {}",
        server.faults()
    );
    assert_eq!(retries, server.faults());
    assert_eq!(requests, 1000 + server.faults());
}

#[tokio::test]
async fn in_flight_requests_are_bounded() {
    let server = FakeLm::start().await;
    server.set_latency(Duration::from_millis(50));
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .max_in_flight(4)
        .build()
        .unwrap();
    let t = Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let lm = lm.clone();
            tokio::spawn(async move { lm.complete(chat(&format!("{i}"))).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    // 12 calls, 4 at a time, 50 ms each: at least 3 rounds.
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

fn cached_lm(server: &FakeLm, cache: Arc<Cache>) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(server.base())
        .with_cache(cache)
        .retry(fast_retries())
        .build()
        .unwrap()
}

#[tokio::test]
async fn cache_hits_skip_the_server_and_rollouts_bypass_it() {
    let server = FakeLm::start().await;
    let lm = cached_lm(&server, Arc::new(Cache::in_memory(CacheConfig::default())));
    let first = lm.complete(chat("a")).await.unwrap();
    let second = lm.complete(chat("a")).await.unwrap();
    assert_eq!(first.outputs, second.outputs);
    assert!(!first.cache_hit && second.cache_hit);
    assert_eq!(second.usage.total_tokens(), 0, "a hit spends nothing");
    assert_eq!(server.requests(), 1);
    let mut rollout = chat("a");
    rollout.rollout_id = Some(1);
    assert!(!lm.complete(rollout).await.unwrap().cache_hit);
    let mut off = chat("a");
    off.config = Arc::new(LmConfig {
        cache: Some(false),
        ..Default::default()
    });
    assert!(!lm.complete(off).await.unwrap().cache_hit);
    assert_eq!(server.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_requests_reach_the_server_once() {
    let server = FakeLm::start().await;
    server.set_latency(Duration::from_millis(100));
    let lm = cached_lm(&server, Arc::new(Cache::in_memory(CacheConfig::default())));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let lm = lm.clone();
            tokio::spawn(async move { lm.complete(chat("same")).await })
        })
        .collect();
    for c in calls {
        assert!(c.await.unwrap().unwrap().outputs[0].contains("echo: same"));
    }
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn the_cache_persists_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeLm::start().await;
    {
        let cache = Arc::new(Cache::open(dir.path(), CacheConfig::default()).unwrap());
        cached_lm(&server, cache.clone())
            .complete(chat("persist"))
            .await
            .unwrap();
        cache.flush();
    }
    let cache = Arc::new(Cache::open(dir.path(), CacheConfig::default()).unwrap());
    let again = cached_lm(&server, cache)
        .complete(chat("persist"))
        .await
        .unwrap();
    assert!(again.cache_hit);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn budgets_stop_calls_before_the_server() {
    let server = FakeLm::start().await;
    let budget = Budget::tokens(10);
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .budget(budget.clone())
        .build()
        .unwrap();
    lm.complete(chat("spend")).await.unwrap();
    let e = lm.complete(chat("more")).await.unwrap_err();
    assert!(matches!(e, LmError::BudgetExceeded { .. }), "{e}");
    assert_eq!(server.requests(), 1);
    assert!(budget.spent().1 >= 10);
}

#[tokio::test]
async fn usage_and_cost_over_a_scope() {
    let server = FakeLm::start().await;
    let lm = HttpLm::builder("openai/gpt-4o-mini")
        .api_base(server.base())
        .api_key("sk-test")
        .with_cache(Arc::new(Cache::in_memory(CacheConfig::default())))
        .price(1.0, 2.0)
        .build()
        .unwrap();
    let p = Predict::<Qa>::new().with_lm(lm);
    let (_, report) = track_usage(async {
        p.call(q("one")).await.unwrap();
        p.call(q("two")).await.unwrap();
        p.call(q("one")).await.unwrap();
    })
    .await;
    assert_eq!((report.calls, report.cache_hits), (3, 1));
    assert!(report.usage.total_tokens() > 0);
    let expected = (report.usage.prompt_tokens as f64 * 1.0
        + report.usage.completion_tokens as f64 * 2.0)
        / 1e6;
    assert!((report.cost - expected).abs() < 1e-12, "{report:?}");
}

#[tokio::test]
async fn n_and_stop_reach_the_server() {
    let server = FakeLm::start().await;
    let lm = lm(&server);
    let mut req = chat("many");
    req.config = Arc::new(LmConfig {
        n: Some(3),
        stop: vec!["\n\n[[ ## completed".into()],
        ..Default::default()
    });
    let resp = lm.complete(req).await.unwrap();
    assert_eq!(resp.outputs.len(), 3);
    assert_eq!(resp.outputs[0], "[[ ## answer ## ]]\necho: many");
    assert_eq!(server.log()[0].body["n"], 3);
}

#[tokio::test]
async fn streaming_deltas_add_up() {
    let server = FakeLm::start().await;
    let lm = lm(&server);
    let mut stream = lm.stream(chat("stream me")).await.unwrap();
    let mut pieces = Vec::new();
    let mut usage = None;
    while let Some(d) = stream.next().await {
        let d = d.unwrap();
        if !d.text.is_empty() {
            pieces.push(d.text);
        }
        usage = d.usage.or(usage);
    }
    assert!(pieces.len() >= 3, "{pieces:?}");
    assert_eq!(
        pieces.concat(),
        "[[ ## answer ## ]]\necho: stream me\n\n[[ ## completed ## ]]"
    );
    assert_eq!(usage.unwrap().completion_tokens, 3);
    assert_eq!(server.log()[0].body["stream"], true);
}

#[tokio::test]
async fn anthropic_messages() {
    let server = FakeLm::start().await;
    let lm = HttpLm::builder("anthropic/claude-test")
        .api_base(server.root())
        .api_key("sk-ant-test")
        .cache(false)
        .build()
        .unwrap();
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    let pred = p.call(q("hello")).await.unwrap();
    assert_eq!(pred.answer, "echo: hello");
    let sent = &server.log()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], "sk-ant-test");
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert!(
        sent.body["system"]
            .as_str()
            .unwrap()
            .starts_with("Your input fields are:")
    );
    assert!(
        sent.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "system")
    );
    assert!(sent.body["max_tokens"].as_u64().unwrap() > 0);
    let (text, usage) = lm.stream(chat("s")).await.unwrap().collect().await.unwrap();
    assert_eq!(text, "[[ ## answer ## ]]\necho: s\n\n[[ ## completed ## ]]");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (7, 3));
}

#[tokio::test]
async fn embeddings() {
    let server = FakeLm::start().await;
    let e = HttpEmbedder::new("openai/embed", Some(&server.base()), None).unwrap();
    let v = e
        .embed(&["ab".to_string(), "xyz".to_string()])
        .await
        .unwrap();
    assert_eq!(v, vec![vec![2.0, 97.0, 1.0], vec![3.0, 120.0, 1.0]]);
    assert_eq!(server.log()[0].path, "/v1/embeddings");
}

#[tokio::test]
async fn json_schema_response_format_is_sent_when_supported() {
    let server = FakeLm::start().await;
    let lm = HttpLm::builder("openai/mock")
        .api_base(server.base())
        .capabilities(dspy::lm::Capabilities::structured())
        .cache(false)
        .build()
        .unwrap();
    let p = Predict::<Qa>::new()
        .with_lm(lm)
        .with_adapter(JsonAdapter::new());
    assert_eq!(p.call(q("json")).await.unwrap().answer, "echo: json");
    assert_eq!(
        server.log()[0].body["response_format"]["type"],
        "json_schema"
    );
}

#[tokio::test]
async fn each_call_has_a_gen_ai_span() {
    let logs = common::logs::Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = FakeLm::start().await;
    lm(&server).complete(chat("traced")).await.unwrap();
    let text = logs.text();
    for field in [
        "gen_ai.operation.name=\"chat\"",
        "gen_ai.provider.name=\"openai\"",
        "gen_ai.request.model=mock",
        "gen_ai.usage.input_tokens=",
        "gen_ai.usage.output_tokens=",
        "dspy.cache_hit=false",
        "dspy.latency_ms=",
    ] {
        assert!(text.contains(field), "missing {field} in:\n{text}");
    }
}

/// With `lead_new_prefixes`, the first call of a new prompt prefix goes alone and the calls
/// sharing that prefix follow once it is answered (a server's prompt cache then holds the
/// prefix); a served prefix goes straight on; without it, every call goes at once. Judged by
/// order: whether the other calls reached the server after the first reply was back. (The
/// server answers after 300 ms, so calls sent together all arrive before any reply.)
#[tokio::test]
async fn a_new_prefix_is_led_by_its_first_call() {
    let server = FakeLm::start().await;
    server.set_latency(Duration::from_millis(300));
    let arrivals: Arc<std::sync::Mutex<Vec<Instant>>> = Arc::default();
    let seen = arrivals.clone();
    server.set_plan(move |_, _| {
        seen.lock().unwrap().push(Instant::now());
        None
    });
    let build = |on: bool| {
        HttpLm::builder("openai/mock")
            .api_base(server.base())
            .cache(false)
            .lead_new_prefixes(on)
            .build()
            .unwrap()
    };
    // Four calls with one system message and different questions: how many reached the
    // server after the first reply came back.
    let wave = |lm: HttpLm, system: &'static str| {
        let arrivals = arrivals.clone();
        async move {
            arrivals.lock().unwrap().clear();
            let calls = (0..4).map(|i| {
                let lm = lm.clone();
                async move {
                    lm.complete(common::greedy_chat(system, &format!("Question {i}?"), 8))
                        .await
                        .map(|_| Instant::now())
                }
            });
            let done: Vec<Instant> = futures_util::future::join_all(calls)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .collect();
            let first_reply = done.into_iter().min().unwrap();
            let at = arrivals.lock().unwrap().clone();
            assert_eq!(at.len(), 4);
            at.iter().filter(|&&t| t >= first_reply).count()
        }
    };
    let led = build(true);
    assert_eq!(
        wave(led.clone(), "You classify headlines.").await,
        3,
        "the others waited for the first"
    );
    assert_eq!(
        wave(led, "You classify headlines.").await,
        0,
        "a served prefix waits for nothing"
    );
    assert_eq!(
        wave(build(false), "You summarize stories.").await,
        0,
        "off: all at once"
    );
}
