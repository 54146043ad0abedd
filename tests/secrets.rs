//! API keys never appear in a log line, a history entry, an error, a debug print or the cache
//! file — even when the server echoes them back.

use crate::common;

use common::logs::Logs;
use common::server::{FakeLm, Fault};
use common::{Qa, QaInput};
use dspy::lm::{Cache, CacheConfig, Embedder, HttpLm, RetryPolicy};
use dspy::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-test-SECRET-4242-abcdef";

#[tokio::test]
async fn the_api_key_never_leaks() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = FakeLm::start().await;
    // The first question gets a 400 that echoes the credentials; the second fails once.
    server.set_plan(|req, attempt| {
        let text = req.body.to_string();
        if text.contains("echo me") {
            Some(Fault::EchoCredentials)
        } else if text.contains("flaky") && attempt == 0 {
            Some(Fault::Status(500, None))
        } else {
            None
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(Cache::open(dir.path(), CacheConfig::default()).unwrap());
    let lm = HttpLm::builder("openai/gpt-4o-mini")
        .api_base(server.base())
        .api_key(KEY)
        .with_cache(cache.clone())
        .retry(RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        })
        .build()
        .unwrap();
    let p = Predict::<Qa>::new().with_lm(lm.clone());

    let err = p
        .call(QaInput {
            question: "echo me".into(),
        })
        .await
        .unwrap_err();
    let ok = p
        .call(QaInput {
            question: "flaky".into(),
        })
        .await
        .unwrap();
    cache.flush();

    // The server really did receive the key, and really did echo it.
    assert_eq!(
        server.log()[0].headers["authorization"],
        format!("Bearer {KEY}")
    );
    assert!(err.to_string().contains("Bearer ***"), "{err}");

    let mut seen = vec![
        ("error", err.to_string()),
        ("error debug", format!("{err:?}")),
        ("prediction", format!("{ok:?}")),
        ("lm debug", format!("{lm:?}")),
        ("history", lm.inspect_history(10)),
        ("history debug", format!("{:?}", lm.history().last(10))),
        ("global history", dspy::lm::History::global().render(100)),
    ];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        seen.push((
            "cache file",
            String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
        ));
    }
    let log_text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        log_text.contains("retrying LM request"),
        "the retry was logged:\n{log_text}"
    );
    seen.push(("logs", log_text));
    for (what, text) in seen {
        assert!(
            !text.contains(KEY),
            "the API key leaked into the {what}:\n{text}"
        );
        assert!(
            !text.contains("SECRET-4242"),
            "part of the API key leaked into the {what}"
        );
    }
}

const ENV_KEY: &str = "sk-env-PROVIDER-7777-zyxw";

/// A provider key from the environment goes to the provider only: a custom `api_base` gets no
/// credentials unless the user asks (`.api_key`, `.send_env_key(true)`, or `DSPY_API_KEY` with
/// `DSPY_API_BASE`), and the refusal that follows says how, without the key.
#[tokio::test]
async fn environment_keys_stay_with_their_provider() {
    let cache_dir = tempfile::tempdir().unwrap();
    // SAFETY: set before any request of this test; std serialises its own environment access,
    // and each test runs in a process of its own (nextest; scripts/test's fallback runs this
    // module alone, whose other test neither reads these variables nor calls C getenv).
    unsafe {
        std::env::set_var("OPENAI_API_KEY", ENV_KEY);
        std::env::set_var("ANTHROPIC_API_KEY", ENV_KEY);
        std::env::set_var("DSPY_CACHE_DIR", cache_dir.path());
    }
    let server = FakeLm::start().await;
    let fast = RetryPolicy::none();
    let auth = |i: usize| {
        let log = server.log();
        let h = &log[i].headers;
        h.get("authorization").or(h.get("x-api-key")).cloned()
    };
    let request = || dspy::lm::LmRequest {
        messages: vec![dspy::lm::Message::user(
            "[[ ## question ## ]]\nq\n\nRespond",
        )],
        ..Default::default()
    };

    let lm = |model: &str, base: String| {
        HttpLm::builder(model)
            .api_base(base)
            .cache(false)
            .retry(fast.clone())
    };
    lm("openai/gpt-4o-mini", server.base())
        .build()
        .unwrap()
        .complete(request())
        .await
        .unwrap();
    assert_eq!(auth(0), None, "the env key reached a custom base");
    lm("anthropic/claude-x", server.root())
        .build()
        .unwrap()
        .complete(request())
        .await
        .unwrap();
    assert_eq!(auth(1), None, "the Anthropic env key reached a custom base");
    dspy::lm::HttpEmbedder::new("openai/emb", Some(&server.base()), None)
        .unwrap()
        .embed(&["x".to_string()])
        .await
        .unwrap();
    assert_eq!(
        auth(2),
        None,
        "the env key reached a custom embeddings base"
    );

    lm("openai/gpt-4o-mini", server.base())
        .send_env_key(true)
        .build()
        .unwrap()
        .complete(request())
        .await
        .unwrap();
    assert_eq!(auth(3), Some(format!("Bearer {ENV_KEY}")), "asked for");
    lm("openai/gpt-4o-mini", server.base())
        .api_key("sk-explicit-1234")
        .build()
        .unwrap()
        .complete(request())
        .await
        .unwrap();
    assert_eq!(auth(4).as_deref(), Some("Bearer sk-explicit-1234"));

    // DSPY_API_KEY is the key for DSPY_API_BASE.
    // SAFETY: as above.
    unsafe {
        std::env::set_var("DSPY_MODEL", "hosted_vllm/m");
        std::env::set_var("DSPY_API_BASE", server.base());
        std::env::set_var("DSPY_API_KEY", "sk-dspy-5678");
    }
    let from_env = HttpLm::from_env().unwrap();
    from_env.complete(request()).await.unwrap();
    assert_eq!(auth(5).as_deref(), Some("Bearer sk-dspy-5678"));

    // A server that wants a key: the refusal says how to send one, and never shows it.
    server.set_plan(|req, _| {
        (!req.headers.contains_key("authorization")).then_some(Fault::Status(401, None))
    });
    let refused = lm("openai/gpt-4o-mini", server.base())
        .build()
        .unwrap()
        .complete(request())
        .await
        .unwrap_err();
    let text = format!("{refused} {refused:?}");
    assert!(
        text.contains("OPENAI_API_KEY is set but is not sent")
            && text.contains(".send_env_key(true)"),
        "{text}"
    );
    assert!(
        !text.contains(ENV_KEY) && !text.contains("PROVIDER-7777"),
        "{text}"
    );
}
