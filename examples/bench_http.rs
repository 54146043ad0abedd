//! Per-call cost over HTTP and concurrency, against `../shared/bench/dspy-py/mockserver.py`,
//! with Python DSPy 3.4.1's `bench_predict.py` (and the raw HTTP floor it prints) run in the
//! same invocation.
//!
//! 1. Sequential Predict `question -> answer` at 0 ms latency, cache off, distinct questions:
//!    median µs/call of 5 runs; also our own reqwest keep-alive floor on the same server.
//! 2. 2,000 calls at 20 ms latency with at most 256 in flight: wall time against the ideal
//!    ⌈2000/256⌉ × 20 ms.
//!
//! `cargo run --release --example bench_http [-- --calls 500 --runs 5 --no-python]`
//! (`--only-concurrency [--latency-ms 20]` repeats just the concurrency figure).

use dspy::lm::HttpLm;

#[path = "../tests/common/dspy_py.rs"]
mod dspy_py;
#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;
use dspy::prelude::*;
#[path = "support/mock.rs"]
mod mock;
use mock::Mock;
use std::process::Command;
use std::time::{Duration, Instant};

signature!(Qa = "question -> answer");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn lm(base: &str, in_flight: usize) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(base)
        .api_key("x")
        .cache(false)
        .max_in_flight(in_flight)
        .build()
        .expect("an HTTP LM")
}

async fn sequential_predict(base: &str, calls: usize, runs: usize) -> f64 {
    let p = Predict::<Qa>::new().with_lm(lm(base, 64));
    for i in 0..20 {
        p.call(QaInput {
            question: format!("warm {i}"),
        })
        .await
        .expect("a reply");
    }
    let mut k = 0;
    let mut per_call = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..calls {
            k += 1;
            let r = p
                .call(QaInput {
                    question: format!("What is {k} + {k}?"),
                })
                .await
                .expect("a reply");
            std::hint::black_box(&r.answer);
        }
        per_call.push(t.elapsed().as_secs_f64() * 1e6 / calls as f64);
    }
    median(per_call)
}

/// Our floor: a keep-alive reqwest POST of an equivalent body plus JSON parsing, nothing else.
async fn reqwest_floor(base: &str, calls: usize, runs: usize) -> f64 {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    let body = serde_json::json!({"model": "mock", "messages": [
        {"role": "system", "content": "Your output fields are:\n1. `answer` (str):"},
        {"role": "user", "content": "[[ ## question ## ]]\nq\n\nRespond with the corresponding output fields, starting with the field `[[ ## answer ## ]]`, and then ending with the marker for `[[ ## completed ## ]]`."}]})
    .to_string();
    let url = format!("{base}/chat/completions");
    let mut per_call = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..calls {
            let bytes = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("a reply")
                .bytes()
                .await
                .expect("a body");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            std::hint::black_box(v);
        }
        per_call.push(t.elapsed().as_secs_f64() * 1e6 / calls as f64);
    }
    median(per_call)
}

async fn concurrent(base: &str, calls: usize, in_flight: usize) -> Duration {
    let p = std::sync::Arc::new(Predict::<Qa>::new().with_lm(lm(base, in_flight)));
    let run = |tag: &'static str| {
        let handles: Vec<_> = (0..calls)
            .map(|i| {
                let p = p.clone();
                tokio::spawn(async move {
                    p.call(QaInput {
                        question: format!("{tag} {i}"),
                    })
                    .await
                    .map(|_| ())
                })
            })
            .collect();
        async move {
            for h in handles {
                h.await.expect("task").expect("a reply");
            }
        }
    };
    // Warm-up opens the connections (the mock's accept backlog is small).
    run("warm").await;
    let t = Instant::now();
    run("timed").await;
    t.elapsed()
}

// One worker for the client, one thread for the fake server: each side gets a core.
#[tokio::main(worker_threads = 1)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (calls, runs) = (value("--calls", 500), value("--runs", 5));
    let with_python = !args.iter().any(|a| a == "--no-python");

    let only_concurrency = args.iter().any(|a| a == "--only-concurrency");
    let mock = Mock::start(0).await;
    let ours = sequential_predict(&mock.base(), calls, runs).await;
    let floor = reqwest_floor(&mock.base(), calls, runs).await;
    drop(mock);
    println!(
        "Sequential Predict over HTTP, mockserver.py at 0 ms ({calls} calls x {runs} runs, median):"
    );
    println!("  dspy-rs Predict                                  {ours:>8.0} µs/call");
    println!(
        "  reqwest keep-alive POST + JSON parse (our floor) {floor:>8.0} µs/call   ratio {:.2}",
        ours / floor
    );

    let (n, bound): (usize, usize) = (2_000, 256);
    if only_concurrency {
        let base = server::lean_on_thread(Duration::from_millis(value("--latency-ms", 20) as u64));
        for _ in 0..5 {
            let wall = concurrent(&base, n, bound).await;
            println!("  wall {:.0} ms", wall.as_secs_f64() * 1e3);
        }
        return;
    }
    let ideal = Duration::from_millis(20 * n.div_ceil(bound) as u64);
    println!(
        "\nConcurrency: {n} calls at 20 ms, at most {bound} in flight (ideal {:.0} ms):",
        ideal.as_secs_f64() * 1e3
    );
    // A server that is not the bottleneck: the tests' fake LM in its lean mode (tokio, a fixed
    // answer after a 20 ms sleep), in this process.
    let fast_base = server::lean_on_thread(Duration::from_millis(20));
    let wall = concurrent(&fast_base, n, bound).await;
    println!(
        "  tokio fake server:   wall {:>5.0} ms, ratio {:.3} (target <= 1.1)",
        wall.as_secs_f64() * 1e3,
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
    // mockserver.py for reference: one Python process (GIL) answers every request, so it,
    // not the client, bounds this figure.
    let slow = Mock::start(20).await;
    let wall = concurrent(&slow.base(), n, bound).await;
    drop(slow);
    println!(
        "  mockserver.py:       wall {:>5.0} ms, ratio {:.3} (server-bound)",
        wall.as_secs_f64() * 1e3,
        wall.as_secs_f64() / ideal.as_secs_f64()
    );

    if !with_python {
        return;
    }
    println!(
        "\nPython DSPy 3.4.1, same invocation (bench_predict.py --calls {calls} --runs {runs}):"
    );
    let py = match dspy_py::python() {
        Ok(p) => p,
        Err(e) => {
            println!("  not measured: {e}");
            return;
        }
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
    let out = Command::new(&py)
        .args([
            &format!("{dir}/bench_predict.py"),
            "--calls",
            &calls.to_string(),
            "--runs",
            &runs.to_string(),
        ])
        .current_dir(dir)
        .output();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            println!("  failed: {}", String::from_utf8_lossy(&o.stderr));
            return;
        }
        Err(e) => {
            println!("  not run: {e}");
            return;
        }
    };
    for line in text.lines() {
        println!("  {line}");
    }
    let dspy = dspy_py::us_per_call(&text, "[predict/");
    let py_floor = dspy_py::us_per_call(&text, "keep-alive POST");
    println!("\nRatios:");
    if let Some(f) = py_floor {
        println!(
            "  dspy-rs Predict / raw HTTP floor (http.client keep-alive)  {ours:.0} / {f:.0} = {:.2}  (target <= 1.2)",
            ours / f
        );
    }
    if let Some(d) = dspy {
        println!(
            "  Python DSPy Predict / dspy-rs Predict                      {d:.0} / {ours:.0} = {:.1}x (target >= 5x)",
            d / ours
        );
    }
    mock::figure(
        "HTTP per call, Predict (mockserver.py, 0 ms)",
        &format!("{ours:.0} µs"),
        &dspy.map_or("–".into(), |d| format!("{d:.0} µs")),
        &dspy.map_or("–".into(), |d| format!("{:.1}×", d / ours)),
        "–",
    );
    if let Some(f) = py_floor {
        mock::figure(
            "HTTP per call vs raw floor (http.client keep-alive)",
            &format!("{ours:.0} µs"),
            &format!("floor {f:.0} µs"),
            &format!("{:.2}× floor", ours / f),
            "≤ 1.2× floor",
        );
    }
}
