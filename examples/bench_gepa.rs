//! GEPA wall time, metric calls and LM calls against mockserver.py at 50 ms, with Python DSPy
//! 3.4.1's GEPA (`examples/support/bench_gepa.py`) run in the same invocation on the same
//! protocol: a 50-example training set ("What is i + i?") that is also the valset, a metric
//! passing every 8th example, `max_metric_calls` 300, one LM as task and reflection LM,
//! caching off, 16 calls in flight.
//!
//! `cargo run --release --example bench_gepa [-- --no-python]`

#[path = "support/arith.rs"]
mod arith;
#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/mock.rs"]
mod mock;

use arith::{Ex, Qa, QaOutput, mock_lm, sparse, trainset};
use dspy::optimize::gepa;
use dspy::prelude::*;
use mock::{Mock, figure, number};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const CALLS: u64 = 300;

#[tokio::main(worker_threads = 1)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let with_python = !std::env::args().any(|a| a == "--no-python");
    let mock = Mock::start(50).await;
    let lm = mock_lm(mock.base());
    let student = Predict::<Qa>::new().with_lm(lm.clone());
    let train = trainset();
    let scored = AtomicU64::new(0);
    let t = Instant::now();
    let (_, report) = Gepa::new()
        .max_metric_calls(CALLS)
        .concurrency(16)
        .progress(false)
        .reflection_lm(lm)
        .compile(&student, &train, |ex: &Ex, pred: &Prediction<QaOutput>| {
            if gepa::pred_name().is_none() {
                scored.fetch_add(1, Ordering::Relaxed);
            }
            sparse(ex, pred)
        })
        .await
        .expect("GEPA");
    let wall = t.elapsed().as_secs_f64();
    let (metric, calls) = (scored.load(Ordering::Relaxed), report.lm_calls());
    println!(
        "GEPA: {} iterations, {} candidates",
        report.iterations,
        report.candidates.len()
    );
    // GEPA is sequential: each iteration waits for the parent's minibatch, the reflection and
    // the child's minibatch (three round trips), after the seed's valset in rounds of 16.
    let floor = (3.0 * report.iterations as f64 + (50.0f64 / 16.0).ceil()) * 0.05;
    println!("[dspy-rs GEPA] wall {wall:.3}s, metric calls {metric}, LM calls {calls}");
    println!(
        "sequential floor {floor:.2}s ({} iterations × 3 round trips + the seed's valset)",
        report.iterations
    );
    drop(mock);

    let theirs = if with_python {
        mock::python_lines(
            "bench_gepa.py",
            &["--latency-ms", "50", "--threads", "16"],
            "[GEPA",
        )
    } else {
        String::new()
    };
    print!("{theirs}");
    let d_wall = number(&theirs, "[GEPA]", "wall");
    let d_metric = number(&theirs, "[GEPA]", "metric calls");
    let d_calls = number(&theirs, "[GEPA]", "LM calls");
    figure(
        "GEPA, 300 metric calls (50 examples, mockserver.py at 50 ms)",
        &format!("{wall:.2} s, {metric} metric calls, {calls} LM calls"),
        &match (d_wall, d_metric, d_calls) {
            (Some(w), Some(m), Some(c)) => {
                format!("{w:.2} s, {m:.0} metric calls, {c:.0} LM calls")
            }
            _ => "–".into(),
        },
        &d_wall.map_or("–".into(), |w| format!("{:.1}× faster", w / wall)),
        "≥ 10× faster at equal metric calls",
    );
}
