//! Optimizer wall time and LM calls against mockserver.py at 50 ms, with Python DSPy 3.4.1's
//! `bench_optimize.py` run in the same invocation on the same protocol: a 50-example training
//! set ("What is i + i?"), BootstrapFewShot(max_bootstrapped_demos=4) with a metric passing every
//! 8th example ("sparse") or none ("never"), and BootstrapFewShotWithRandomSearch with 4
//! candidate programs, validation set = training set, 16 evaluation threads.
//!
//! `cargo run --release --example bench_optimize [-- --no-python]`

#[path = "support/arith.rs"]
mod arith;
#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/mock.rs"]
mod mock;

use arith::{Ex, Qa, QaInput, QaOutput, mock_lm, sparse, trainset};
use dspy::optimize::{BootstrapFewShot, RandomSearch};
use dspy::prelude::*;
use mock::{Mock, figure, number};
use std::process::Command;
use std::time::Instant;

fn never(_: &Ex, _: &Prediction<QaOutput>) -> bool {
    false
}

#[tokio::main(worker_threads = 1)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let with_python = !std::env::args().any(|a| a == "--no-python");
    let mock = Mock::start(50).await;
    let lm = mock_lm(mock.base());
    let student = Predict::<Qa>::new().with_lm(lm);
    let train = trainset();
    let _ = student
        .call(QaInput {
            question: "warm-up".into(),
        })
        .await;

    let mut ours = Vec::new();
    for (name, metric) in [
        ("sparse", sparse as fn(&Ex, &Prediction<QaOutput>) -> bool),
        ("never", never),
    ] {
        let t = Instant::now();
        let (compiled, report) = BootstrapFewShot::new()
            .concurrency(16)
            .compile(&student, &train, metric)
            .await
            .expect("bootstrap");
        let wall = t.elapsed().as_secs_f64();
        println!(
            "[dspy-rs BootstrapFewShot metric={name}] wall {wall:.3}s, LM calls {}, demos {}",
            report.usage.calls,
            compiled.demos().len()
        );
        ours.push((
            format!("BootstrapFewShot, metric={name}"),
            wall,
            report.usage.calls,
        ));
    }
    let t = Instant::now();
    let (_, search) = RandomSearch::new(4)
        .concurrency(16)
        .compile(&student, &train, sparse)
        .await
        .expect("random search");
    let wall = t.elapsed().as_secs_f64();
    println!(
        "[dspy-rs RandomSearch 4 candidates] wall {wall:.3}s, LM calls {}\n{search}",
        search.usage.calls
    );
    ours.push((
        "RandomSearch, 4 candidates".into(),
        wall,
        search.usage.calls,
    ));
    drop(mock);

    let theirs = if with_python {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
        match dspy_py::python().and_then(|py| {
            Command::new(py)
                .args(["bench_optimize.py", "--latency-ms", "50", "--threads", "16"])
                .current_dir(dir)
                .output()
                .map_err(|e| e.to_string())
        }) {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => format!("failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => format!("not run: {e}"),
        }
    } else {
        String::new()
    };
    print!("{theirs}");
    let tags = [
        "metric=sparse]",
        "metric=never]",
        "[BootstrapFewShotWithRandomSearch",
    ];
    let targets = [
        "≥ 5× faster, ≤ 16 extra calls",
        "≥ 5× faster, ≤ 16 extra calls",
        "≥ 10× faster, calls ±10%",
    ];
    for ((name, wall, calls), (tag, target)) in ours.iter().zip(tags.iter().zip(targets)) {
        let d_wall = number(&theirs, tag, "wall");
        let d_calls = number(&theirs, tag, "LM calls");
        figure(
            &format!("{name} (50 examples, mockserver.py at 50 ms)"),
            &format!("{wall:.2} s, {calls} LM calls"),
            &match (d_wall, d_calls) {
                (Some(w), Some(c)) => format!("{w:.2} s, {c:.0} LM calls"),
                _ => "–".into(),
            },
            &d_wall.map_or("–".into(), |w| format!("{:.1}× faster", w / wall)),
            target,
        );
    }
}
