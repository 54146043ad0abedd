//! MIPROv2 (auto light) wall time and LM calls against mockserver.py at 50 ms, with Python DSPy
//! 3.4.1's MIPROv2 (`examples/support/bench_mipro.py`) run in the same invocation on the same
//! protocol: a 50-example training set ("What is i + i?"), a metric passing every 8th example,
//! one LM as task and prompt model, caching off, 16 calls in flight.
//!
//! `cargo run --release --example bench_mipro [-- --no-python]` (Python DSPy needs `optuna`:
//! `pip install optuna` in the venv of ../shared/bench/dspy-py/setup.sh)

#[path = "support/arith.rs"]
mod arith;
#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/mock.rs"]
mod mock;

use arith::{Qa, mock_lm, sparse, trainset};
use dspy::optimize::MiproV2;
use dspy::prelude::*;
use mock::{Mock, figure, number};
use std::time::Instant;

#[tokio::main(worker_threads = 1)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let with_python = !std::env::args().any(|a| a == "--no-python");
    let mock = Mock::start(50).await;
    let lm = mock_lm(mock.base());
    let student = Predict::<Qa>::new().with_lm(lm.clone());
    let train = trainset();
    let t = Instant::now();
    let (_, report) = MiproV2::new()
        .concurrency(16)
        .progress(false)
        .prompt_model(lm)
        .compile(&student, &train, sparse)
        .await
        .expect("MIPROv2");
    let wall = t.elapsed().as_secs_f64();
    println!("{report}");
    let calls = report.lm_calls();
    println!("[dspy-rs MIPROv2 light] wall {wall:.3}s, LM calls {calls}");
    drop(mock);

    let theirs = if with_python {
        mock::python_lines(
            "bench_mipro.py",
            &["--latency-ms", "50", "--threads", "16"],
            "[MIPROv2",
        )
    } else {
        String::new()
    };
    print!("{theirs}");
    let d_wall = number(&theirs, "[MIPROv2 light]", "wall");
    let d_calls = number(&theirs, "[MIPROv2 light]", "LM calls");
    figure(
        "MIPROv2 light (50 examples, mockserver.py at 50 ms)",
        &format!("{wall:.2} s, {calls} LM calls"),
        &match (d_wall, d_calls) {
            (Some(w), Some(c)) => format!("{w:.2} s, {c:.0} LM calls"),
            _ => "–".into(),
        },
        &d_wall.map_or("–".into(), |w| format!("{:.1}× faster", w / wall)),
        "≥ 10× faster, calls ±10%",
    );
}
