//! `PoolLm` over fake endpoints on 127.0.0.1: least-in-flight routing, a failing endpoint
//! ejected and its calls moved, re-probing after the cool-down, errors that are the request's own
//! fault neither moved nor ejecting, a dead endpoint, and a pool with no endpoints.

use crate::common;

use common::server::{FakeLm, Fault};
use dspy::LmError;
use dspy::lm::{LanguageModel, LmRequest, Message, PoolLm};
use std::sync::Arc;
use std::time::Duration;

fn ask(i: usize) -> LmRequest {
    LmRequest {
        messages: vec![Message::user(format!("question {i}"))],
        ..Default::default()
    }
}

fn pool(urls: &[String], cooldown: Duration) -> PoolLm {
    PoolLm::builder("openai/fake")
        .endpoints(urls.iter().cloned())
        .each(|b| b.api_key("k").cache(false).timeout(Duration::from_secs(5)))
        .cooldown(cooldown, cooldown * 4)
        .build()
        .unwrap()
}

async fn run_all(lm: &PoolLm, n: usize) -> Vec<Result<String, LmError>> {
    let calls = (0..n).map(|i| async move {
        lm.complete(ask(i))
            .await
            .map(|mut r| r.outputs.swap_remove(0))
    });
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn calls_go_to_the_least_loaded_endpoint() {
    let (a, b) = (FakeLm::start().await, FakeLm::start().await);
    for s in [&a, &b] {
        s.set_latency(Duration::from_millis(50));
    }
    let lm = pool(&[a.base(), b.base()], Duration::from_secs(1));
    for r in run_all(&lm, 8).await {
        r.unwrap();
    }
    assert_eq!((a.requests(), b.requests()), (4, 4));
    assert_eq!(
        (a.state
            .peak_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)),
        4
    );
    let report = lm.report();
    assert_eq!(report.moved, 0);
    assert!(
        report
            .endpoints
            .iter()
            .all(|e| e.failures == 0 && !e.ejected)
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_ejected_and_its_calls_move() {
    let (good, bad) = (FakeLm::start().await, FakeLm::start().await);
    bad.set_plan(|_, _| Some(Fault::Status(503, None)));
    let lm = pool(&[bad.base(), good.base()], Duration::from_secs(30));
    let results = run_all(&lm, 10).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Every call answered once, by the good endpoint.
    assert_eq!(good.requests(), 10);
    let report = lm.report();
    let bad_report = &report.endpoints[0];
    assert!(bad_report.ejected && bad_report.ejections >= 1, "{report}");
    assert_eq!(bad_report.failures, bad.requests());
    assert_eq!(report.moved, bad.requests());
    // Out of rotation: later calls do not reach it.
    let before = bad.requests();
    run_all(&lm, 4).await;
    assert_eq!(bad.requests(), before);
    assert!(report.to_string().contains("ejections"));
}

#[tokio::test]
async fn an_ejected_endpoint_is_probed_after_its_cooldown() {
    let (flaky, good) = (FakeLm::start().await, FakeLm::start().await);
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = failing.clone();
    flaky.set_plan(move |_, _| {
        f.load(std::sync::atomic::Ordering::SeqCst)
            .then_some(Fault::Status(500, None))
    });
    let lm = pool(&[flaky.base(), good.base()], Duration::from_millis(100));
    // The first call tries the flaky endpoint first (round robin starts there) and moves.
    lm.complete(ask(0)).await.unwrap();
    assert!(lm.report().endpoints[0].ejected);
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // After the cool-down, calls reach it again and it is back in rotation.
    for r in run_all(&lm, 6).await {
        r.unwrap();
    }
    let report = lm.report();
    assert!(!report.endpoints[0].ejected, "{report}");
    assert!(flaky.requests() >= 2, "{report}");
}

#[tokio::test]
async fn the_requests_own_errors_are_not_moved() {
    let (a, b) = (FakeLm::start().await, FakeLm::start().await);
    for s in [&a, &b] {
        s.set_plan(|_, _| Some(Fault::Status(400, None)));
    }
    let lm = pool(&[a.base(), b.base()], Duration::from_secs(30));
    let e = lm.complete(ask(0)).await.unwrap_err();
    assert!(matches!(e, LmError::BadRequest { status: 400, .. }), "{e}");
    assert_eq!(a.requests() + b.requests(), 1);
    let report = lm.report();
    assert_eq!(report.moved, 0);
    assert!(report.endpoints.iter().all(|e| !e.ejected));
}

#[tokio::test]
async fn a_dead_endpoint_is_ejected_and_when_all_fail_the_last_error_returns() {
    let good = FakeLm::start().await;
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let lm = pool(&[dead.clone(), good.base()], Duration::from_secs(30));
    for r in run_all(&lm, 4).await {
        r.unwrap();
    }
    assert!(lm.report().endpoints[0].ejected);
    // With only dead endpoints, the call fails after its attempts, with the transport error.
    let only_dead = PoolLm::builder("openai/fake")
        .endpoint(dead)
        .each(|b| b.api_key("k").cache(false))
        .cooldown(Duration::from_millis(10), Duration::from_millis(20))
        .attempts(3)
        .build()
        .unwrap();
    let e = only_dead.complete(ask(0)).await.unwrap_err();
    assert!(matches!(e, LmError::Transport(_)), "{e}");
    assert_eq!(only_dead.report().endpoints[0].failures, 3);
}

#[test]
fn a_pool_needs_an_endpoint() {
    let Err(e) = PoolLm::builder("openai/fake").build() else {
        panic!("built a pool without endpoints");
    };
    assert!(e.to_string().contains("at least one endpoint"), "{e}");
}

#[tokio::test]
async fn a_stream_that_fails_before_any_text_moves() {
    let (bad, good) = (FakeLm::start().await, FakeLm::start().await);
    bad.set_plan(|_, _| Some(Fault::Status(502, None)));
    let lm = pool(&[bad.base(), good.base()], Duration::from_secs(30));
    // The stream is the pool's first call: round robin starts at the failing endpoint.
    let mut pieces = Vec::new();
    let streamed =
        LanguageModel::complete_streaming(&lm, ask(7), &mut |t: &str| pieces.push(t.to_string()))
            .await
            .unwrap();
    let report = lm.report();
    assert_eq!(bad.requests(), 1, "{report}");
    assert_eq!(report.moved, 1, "{report}");
    assert!(report.endpoints[0].ejected, "{report}");
    assert_eq!(pieces.concat(), streamed.outputs[0]);
    let plain = lm.complete(ask(7)).await.unwrap().outputs.remove(0);
    assert_eq!(streamed.outputs[0], plain);
}
