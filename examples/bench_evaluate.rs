//! Evaluate's wall time against the ideal ⌈n / in-flight⌉ × latency, with Python DSPy's
//! `dspy.Evaluate` run in the same invocation:
//!
//! 1. 200 examples at 50 ms with 16 in flight, both against `mockserver.py` (DSPy through
//!    `../shared/bench/dspy-py/bench/bench_evaluate.py`, which starts its own copy); median of 3.
//! 2. 10,000 examples at 20 ms with 512 in flight, both against the tests' lean tokio fake
//!    server in this process (mockserver.py, one Python process, cannot answer 25,000
//!    requests/s); DSPy through `examples/support/dspy_evaluate.py`, if it finishes.
//!
//! `cargo run --release --example bench_evaluate [-- --no-python]`

#[path = "support/arith.rs"]
mod arith;
#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/mock.rs"]
mod mock;
#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use dspy::prelude::*;
use mock::{Mock, figure};
use std::process::Command;
use std::time::{Duration, Instant};

use arith::{Qa, QaExample, QaOutput, examples as devset, mock_lm_with};

fn program(base: &str, in_flight: usize) -> Predict<Qa> {
    Predict::<Qa>::new().with_lm(mock_lm_with(base, in_flight))
}

/// Wall seconds of each of `runs` evaluations (after one warm-up over the first `in_flight`).
async fn ours(base: &str, n: usize, in_flight: usize, runs: usize) -> Vec<f64> {
    let dev = devset(n);
    let p = program(base, in_flight);
    let eval = |dev| {
        Evaluate::new(dev)
            .concurrency(in_flight)
            .progress(false)
            .max_errors(None)
    };
    let metric = |_: &QaExample, p: &Prediction<QaOutput>| !p.answer.is_empty();
    let warm = eval(&dev[..in_flight.min(n)])
        .run(&p, metric)
        .await
        .expect("evaluation");
    assert_eq!(warm.errors, 0, "warm-up failed: {}", warm.summary());
    let mut walls = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r = eval(&dev).run(&p, metric).await.expect("evaluation");
        walls.push(t.elapsed().as_secs_f64());
        assert_eq!(r.errors, 0, "{}", r.summary());
        assert_eq!(r.score, 100.0, "{}", r.summary());
    }
    walls
}

/// The transport floor: the same requests as raw reqwest POSTs (body built once per request,
/// reply read as JSON), at most `in_flight` at once, no framework. Median wall of 3.
async fn raw_floor(base: &str, n: usize, in_flight: usize) -> f64 {
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let client = reqwest::Client::new();
    let url = format!("{base}/chat/completions");
    let one = |i: usize| {
        let body = serde_json::json!({
            "model": "mock",
            "messages": [{"role": "user", "content": format!(
                "[[ ## question ## ]]\nWhat is {i} + {i}?\n\nRespond with the corresponding output fields, starting with the field `[[ ## answer ## ]]`, and then ending with the marker for `[[ ## completed ## ]]`."
            )}],
        });
        let req = client
            .post(&url)
            .bearer_auth("x")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send();
        async move {
            let r = req.await.expect("a reply");
            let bytes = r.bytes().await.expect("a body");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            std::hint::black_box(v);
        }
    };
    let run = |n: usize| {
        let one = &one;
        async move {
            let mut next = 0;
            let mut live = FuturesUnordered::new();
            while next < n || !live.is_empty() {
                while next < n && live.len() < in_flight {
                    live.push(one(next));
                    next += 1;
                }
                live.next().await;
            }
        }
    };
    run(in_flight).await;
    let mut walls = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        run(n).await;
        walls.push(t.elapsed().as_secs_f64());
    }
    median(walls)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs a Python DSPy script with a time limit; its stdout, or why not.
fn python(args: &[&str], cwd: &str, limit: Duration) -> Result<String, String> {
    let py = dspy_py::python()?;
    let mut child = Command::new(&py)
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{py}: {e}"))?;
    let t = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if t.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish in {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The number after `key` on the first line holding it (`median wall 0.661s`).
fn number_after(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(key))?;
    let rest = &line[line.find(key)? + key.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

#[tokio::main(worker_threads = 1)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let with_python = !std::env::args().any(|a| a == "--no-python");
    let bench_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
    let support = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/support");

    // 1. 200 at 50 ms, 16 in flight, mockserver.py.
    let (n, k, ms): (usize, usize, f64) = (200, 16, 50.0);
    let ideal = n.div_ceil(k) as f64 * ms / 1e3;
    let mock = Mock::start(ms as u32).await;
    let walls = ours(&mock.base(), n, k, 3).await;
    let floor = raw_floor(&mock.base(), n, k).await;
    drop(mock);
    let wall = median(walls.clone());
    println!(
        "Evaluate {n} examples at {ms} ms, {k} in flight (mockserver.py): median wall {wall:.3} s of {walls:.3?}, ideal {ideal:.3} s, ratio {:.3}",
        wall / ideal
    );
    println!(
        "  raw reqwest floor, same server and bound: median wall {floor:.3} s, ratio {:.3}",
        floor / ideal
    );
    // The same against the tokio fake server: what the framework costs without mockserver.py's
    // own per-request time (a Python thread per request, under the GIL).
    let fast = server::lean_on_thread(Duration::from_millis(ms as u64));
    let fast_wall = median(ours(&fast, n, k, 3).await);
    println!(
        "  same against the tokio fake server: median wall {fast_wall:.3} s, ratio {:.3}",
        fast_wall / ideal
    );
    let dspy = if with_python {
        let n_s = n.to_string();
        let k_s = k.to_string();
        let out = python(
            &[
                "bench_evaluate.py",
                "--n",
                &n_s,
                "--threads",
                &k_s,
                "--latency-ms",
                "50",
                "--runs",
                "3",
            ],
            bench_dir,
            Duration::from_secs(300),
        );
        match &out {
            Ok(text) => print!("  Python DSPy: {text}"),
            Err(e) => println!("  Python DSPy: {e}"),
        }
        out.ok().and_then(|t| number_after(&t, "median wall"))
    } else {
        None
    };
    figure(
        &format!("Evaluate {n} at {ms:.0} ms, {k} in flight (ideal {ideal:.2} s)"),
        &format!(
            "{wall:.3} s = {:.3}× ideal (raw reqwest floor {:.3}×; {:.3}× on the tokio server)",
            wall / ideal,
            floor / ideal,
            fast_wall / ideal
        ),
        &dspy.map_or("–".into(), |d| {
            format!("{d:.3} s = {:.3}× ideal", d / ideal)
        }),
        &dspy.map_or("–".into(), |d| format!("{:.2}× faster", d / wall)),
        "≤ 1.02× ideal",
    );

    // 2. 10,000 at 20 ms, 512 in flight, the lean tokio server.
    let (n, k, ms): (usize, usize, f64) = (10_000, 512, 20.0);
    let ideal = n.div_ceil(k) as f64 * ms / 1e3;
    let base = server::lean_on_thread(Duration::from_millis(ms as u64));
    let walls = ours(&base, n, k, 3).await;
    let wall = median(walls.clone());
    println!(
        "Evaluate {n} examples at {ms} ms, {k} in flight (tokio fake server): median wall {wall:.3} s of {walls:.3?}, ideal {ideal:.3} s, ratio {:.3}",
        wall / ideal
    );
    let floor = raw_floor(&base, n, k).await;
    println!(
        "  raw reqwest floor, same server and bound: median wall {floor:.3} s, ratio {:.3}",
        floor / ideal
    );
    let dspy = if with_python {
        let out = python(
            &[
                &format!("{support}/dspy_evaluate.py"),
                "--base",
                &base,
                "--n",
                &n.to_string(),
                "--threads",
                &k.to_string(),
            ],
            bench_dir,
            Duration::from_secs(600),
        );
        match &out {
            Ok(text) => print!("  Python DSPy: {text}"),
            Err(e) => println!("  Python DSPy: {e}"),
        }
        out.map(|t| number_after(&t, "wall").map_or("–".into(), |d| d.to_string()))
    } else {
        Err("not run".into())
    };
    let dspy_wall = dspy.as_ref().ok().and_then(|d| d.parse::<f64>().ok());
    figure(
        &format!("Evaluate {n} at {ms:.0} ms, {k} in flight (ideal {ideal:.2} s)"),
        &format!(
            "{wall:.3} s = {:.3}× ideal (raw reqwest floor {:.3}×)",
            wall / ideal,
            floor / ideal
        ),
        &match (&dspy, dspy_wall) {
            (_, Some(d)) => format!("{d:.2} s = {:.2}× ideal", d / ideal),
            (Err(e), None) => e.clone(),
            (Ok(_), None) => "–".into(),
        },
        &dspy_wall.map_or("–".into(), |d| format!("{:.1}× faster", d / wall)),
        "≤ 1.1× ideal",
    );
}
