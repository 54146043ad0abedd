//! The response cache shared through a real redis-server started on 127.0.0.1 (Debian's
//! `redis-server`; `scripts/test` installs it): a second process's identical calls are all cache
//! hits, and a redis-server stopped mid-run fails no call.
#![cfg(feature = "redis")]

use crate::common;

use common::server::FakeLm;
use dspy::lm::cache::{Cache, CacheConfig};
use dspy::lm::{HttpLm, LanguageModel, LmRequest, Message};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A redis-server on a free port of 127.0.0.1, without persistence; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        Redis::start_on(port).await
    }

    async fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it with apt-get install redis-server (scripts/test does)")
            });
        let redis = Redis { child, port };
        for _ in 0..100 {
            if ping(port).await {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer on port {port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").await.is_ok()
        && s.read_exact(&mut buf).await.is_ok()
        && &buf == b"+PONG\r\n"
}

fn lm(base: &str, cache: Arc<Cache>) -> HttpLm {
    HttpLm::builder("openai/fake")
        .api_base(base)
        .api_key("k")
        .with_cache(cache)
        .build()
        .unwrap()
}

fn ask(i: usize) -> LmRequest {
    LmRequest {
        messages: vec![Message::user(format!("question {i}"))],
        ..Default::default()
    }
}

/// `n` calls from `from`; how many were cache hits.
async fn calls(lm: &HttpLm, from: usize, n: usize) -> usize {
    let mut hits = 0;
    for i in from..from + n {
        let r = lm
            .complete(ask(i))
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        hits += usize::from(r.cache_hit);
    }
    hits
}

/// Shared-cache URL and LM base for the second process (this test run again as a child).
const CHILD_REDIS: &str = "DSPY_TEST_REDIS_URL";
const CHILD_BASE: &str = "DSPY_TEST_LM_BASE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_hits_what_the_first_cached() {
    if let (Ok(url), Ok(base)) = (std::env::var(CHILD_REDIS), std::env::var(CHILD_BASE)) {
        // The child: a fresh process with an empty memory and no disk; only Redis is shared.
        let cache = Arc::new(
            Cache::in_memory(CacheConfig::default())
                .with_redis(&url, None)
                .unwrap(),
        );
        let hits = calls(&lm(&base, cache), 0, 20).await;
        println!("child hits {hits}");
        return;
    }
    let redis = Redis::start().await;
    let server = FakeLm::start().await;
    let cache = Arc::new(
        Cache::in_memory(CacheConfig::default())
            .with_redis(&redis.url(), None)
            .unwrap(),
    );
    assert_eq!(calls(&lm(&server.base(), cache.clone()), 0, 20).await, 0);
    assert_eq!(server.requests(), 20);
    let out = common::rerun(
        module_path!(),
        "a_second_process_hits_what_the_first_cached",
    )
    .env(CHILD_REDIS, redis.url())
    .env(CHILD_BASE, server.base())
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("child hits 20"), "{stdout}");
    assert_eq!(
        server.requests(),
        20,
        "the second process made no LM request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stopped_mid_run_fails_no_call() {
    let redis = Redis::start().await;
    let server = FakeLm::start().await;
    let shared = |r: &Redis| {
        Arc::new(
            Cache::in_memory(CacheConfig::default())
                .with_redis(&r.url(), None)
                .unwrap(),
        )
    };
    let (a, b) = (shared(&redis), shared(&redis));
    let (lm_a, lm_b) = (lm(&server.base(), a.clone()), lm(&server.base(), b.clone()));
    calls(&lm_a, 0, 5).await;
    assert_eq!(calls(&lm_b, 0, 5).await, 5, "shared while Redis runs");
    let redis_port = redis.port;
    // Redis is killed while `a` is making calls: none fails (`calls` panics on an error).
    server.set_latency(Duration::from_millis(20));
    let running = {
        let lm_a = lm_a.clone();
        tokio::spawn(async move { calls(&lm_a, 5, 20).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(redis);
    assert_eq!(running.await.unwrap(), 0);
    server.set_latency(Duration::ZERO);
    // Each process still has its own memory tier.
    assert_eq!(calls(&lm_a, 5, 20).await, 20);
    assert_eq!(calls(&lm_b, 0, 5).await, 5);
    let (_, failures) = b.shared_counts().unwrap();
    assert!(failures == 0, "b only read its memory: {failures}");
    let (_, failures) = a.shared_counts().unwrap();
    assert!(failures >= 1, "a noticed the outage");
    // Redis back on the same port: after the pause, `a` writes there again, and a fresh
    // process finds what it wrote.
    let port = redis_port;
    let _again = Redis::start_on(port).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(calls(&lm_a, 200, 3).await, 0);
    let fresh = Arc::new(
        Cache::in_memory(CacheConfig::default())
            .with_redis(&format!("redis://127.0.0.1:{port}/"), None)
            .unwrap(),
    );
    assert_eq!(calls(&lm(&server.base(), fresh), 200, 3).await, 3);
}

#[test]
fn a_bad_redis_url_is_a_clear_error() {
    let Err(e) = Cache::in_memory(CacheConfig::default()).with_redis("http://nope", None) else {
        panic!("accepted a non-Redis URL");
    };
    assert!(e.to_string().contains("bad Redis URL"), "{e}");
}
