//! Optimizers side by side with Python DSPy 3.4.1 on a real model: Qwen2.5-0.5B served by
//! llama-server (built by `scripts/build-llama-server`), the quickstart's BBC headline split
//! (train 50 / dev 100, seed 0), ChatAdapter, temperature 0 — zero-shot, BootstrapFewShot and
//! BootstrapFewShotWithRandomSearch (2 shuffled candidates), each scored on dev: accuracy,
//! compile LM calls, compile and evaluation wall time for both, in one invocation.
//!
//! With `-- --embedded`, our side runs on the embedded model (`LocalLm`, same GGUF, its
//! default sequences) instead of the llama-server, which then serves Python DSPy only.
//!
//! With `-- --no-lead`, our HTTP client sends calls of a new prompt prefix all at once instead
//! of leading each new prefix with its first call (`HttpLmBuilder::lead_new_prefixes`, on here).
//!
//! `cargo run --release --features local --example bench_llama_optimize [-- --embedded | --no-lead]`

#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/llama.rs"]
mod llama;
#[path = "support/mock.rs"]
mod mock;

use dspy::data::datasets::{Headline, bbc_headlines};
use dspy::data::split;
use dspy::lm::{HttpLm, Lm, LocalLm};
use dspy::optimize::{BootstrapFewShot, RandomSearch};
use dspy::prelude::*;
use dspy::track_usage;

#[path = "support/bbc.rs"]
mod bbc;
use bbc::{Classify, Ex, example, metric};
use std::process::Command;
use std::time::{Duration, Instant};

const THREADS: usize = 4;

async fn eval(
    program: &Predict<Classify>,
    dev: &[Ex],
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let r = Evaluate::new(dev)
        .concurrency(THREADS)
        .max_errors(None)
        .progress(false)
        .run(program, metric)
        .await?;
    Ok((r.score / 100.0, t.elapsed().as_secs_f64()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = split(bbc_headlines()?, 50, 100, 0);
    let train: Vec<Ex> = data.train.iter().map(example).collect();
    let dev: Vec<Ex> = data.dev.iter().map(example).collect();
    let server = llama::LlamaServer::qwen(&["-c", "8192", "--jinja", "--parallel", "2"])?;
    let base = server.base();
    let embedded = std::env::args().any(|a| a == "--embedded");
    let lead = !std::env::args().any(|a| a == "--no-lead");
    let lm: Lm = if embedded {
        LocalLm::qwen()?.into()
    } else {
        HttpLm::builder("openai/qwen")
            .api_base(&base)
            .api_key("none")
            .cache(false)
            .lead_new_prefixes(lead)
            .timeout(Duration::from_secs(120))
            .build()?
            .into()
    };
    let ours_on = match (embedded, lead) {
        (true, _) => "the embedded model",
        (false, true) => "llama-server (new prefixes led by their first call)",
        (false, false) => "llama-server",
    };
    let student = Predict::<Classify>::new()
        .with_lm(lm)
        .with_config(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(32),
            ..Default::default()
        });

    // Untimed warm-up: the model is loaded and the server's slots hold the system prompt
    // before either side is timed (Python DSPy runs later, on the same warm server).
    eval(&student, &dev[..2 * THREADS]).await?;
    let mut ours: Vec<(String, f64, u64, f64, f64)> = Vec::new();
    let (acc, eval_s) = eval(&student, &dev).await?;
    ours.push(("zero-shot".into(), acc, 0, 0.0, eval_s));
    let t = Instant::now();
    let ((boot, _), usage) = {
        let (r, u) = track_usage(
            BootstrapFewShot::new()
                .concurrency(THREADS)
                .compile(&student, &train, metric),
        )
        .await;
        (r?, u)
    };
    let compile_s = t.elapsed().as_secs_f64();
    let (acc, eval_s) = eval(&boot, &dev).await?;
    ours.push((
        "BootstrapFewShot".into(),
        acc,
        usage.calls,
        compile_s,
        eval_s,
    ));
    let t = Instant::now();
    let (searched, report) = RandomSearch::new(2)
        .concurrency(THREADS)
        .compile(&student, &train, metric)
        .await?;
    let compile_s = t.elapsed().as_secs_f64();
    let (acc, eval_s) = eval(&searched, &dev).await?;
    ours.push((
        "RandomSearch".into(),
        acc,
        report.usage.calls,
        compile_s,
        eval_s,
    ));
    for (name, acc, calls, c, e) in &ours {
        println!(
            "[dspy-rs {name}, on {ours_on}] score {acc:.2} compile_calls {calls} compile_s {c:.1} eval_s {e:.1}"
        );
    }

    // Python DSPy on the same split and server.
    let split_file = std::env::temp_dir().join("dspy_bench_split.json");
    let rows = |xs: &[Headline]| -> Vec<serde_json::Value> {
        xs.iter()
            .map(|h| serde_json::json!({"headline": h.headline, "topic": h.topic}))
            .collect()
    };
    std::fs::write(
        &split_file,
        serde_json::json!({"train": rows(&data.train), "dev": rows(&data.dev)}).to_string(),
    )?;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/support/dspy_optimize_llama.py"
    );
    let theirs = match dspy_py::python() {
        Ok(py) => {
            let out = Command::new(py)
                .args([script, "--base", &base, "--data"])
                .arg(&split_file)
                .args(["--threads", &THREADS.to_string(), "--candidates", "2"])
                .current_dir(dir)
                .output()?;
            if !out.status.success() {
                println!(
                    "Python DSPy failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Err(e) => format!("not run: {e}"),
    };
    let field = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    println!(
        "\n| optimizer | dspy-rs on {ours_on}: dev accuracy, compile LM calls, compile / eval time | Python DSPy on llama-server: same |"
    );
    println!("|---|---|---|");
    for (name, acc, calls, c, e) in &ours {
        let line = theirs
            .lines()
            .find(|l| l.starts_with(&format!("[dspy {name}]")));
        let d = line.map_or("–".to_string(), |l| {
            format!(
                "{:.2}, {} calls, {:.0} s / {:.0} s",
                field(l, "score").unwrap_or(f64::NAN),
                field(l, "compile_calls").unwrap_or(f64::NAN),
                field(l, "compile_s").unwrap_or(f64::NAN),
                field(l, "eval_s").unwrap_or(f64::NAN)
            )
        });
        println!("| {name} | {acc:.2}, {calls} calls, {c:.0} s / {e:.0} s | {d} |");
        mock::figure(
            &format!(
                "{name} on Qwen2.5-0.5B, ours on {ours_on} (dev accuracy, compile calls, compile/eval s)"
            ),
            &format!("{acc:.2}, {calls} calls, {c:.0} s / {e:.0} s"),
            &d,
            "–",
            "–",
        );
    }
    Ok(())
}
