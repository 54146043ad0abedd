//! API keys never appear in a log line, a history entry, an error, a debug print or the cache
//! file — even when the server echoes them back.

mod common;

use common::logs::Logs;
use common::server::{FakeLm, Fault};
use common::{Qa, QaInput};
use dspy::lm::{Cache, CacheConfig, HttpLm, RetryPolicy};
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
