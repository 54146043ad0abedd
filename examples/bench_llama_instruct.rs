//! The instruction optimizers side by side with Python DSPy 3.4.1 on real models: the task
//! model Qwen2.5-0.5B and the prompt (reflection) model Qwen2.5-1.5B, each served by its own
//! llama-server (built by `scripts/build-llama-server`). The quickstart's BBC headline split
//! (train 50, dev 100, seed 0) with a validation split of 50 from the rest, ChatAdapter,
//! temperature 0 on the task model. Zero-shot, COPRO (breadth 4, depth 2), MIPROv2 zero-shot
//! (auto light) and GEPA (200 metric calls, feedback naming the right topic), each scored on
//! dev: accuracy, LM calls per model, metric calls, compile and evaluation wall time for
//! both, in one invocation. About an hour on 2 cores.
//!
//! `cargo run --release --features local --example bench_llama_instruct [-- --only gepa]`

#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/llama.rs"]
mod llama;
#[path = "support/mock.rs"]
mod mock;

use dspy::data::datasets::{Headline, bbc_headlines};
use dspy::data::split;
use dspy::lm::HttpLm;
use dspy::optimize::{Copro, Gepa, MiproV2, Report};
use dspy::prelude::*;

#[path = "support/bbc.rs"]
mod bbc;
use bbc::{Classify, Ex, example, metric};
use std::process::Command;
use std::time::{Duration, Instant};

/// LM calls in flight, both sides.
const THREADS: usize = 4;
/// GEPA's `max_metric_calls`, both sides.
const GEPA_CALLS: u64 = 200;
const TASK: &str = "openai/qwen-0.5b";
const PROMPT: &str = "openai/qwen-1.5b";

/// GEPA's metric: the score, and feedback naming the right topic and the one answered (the
/// same words as the Python side's).
fn feedback(ex: &Ex, pred: &Prediction<bbc::ClassifyOutput>) -> Feedback {
    let gold = format!("{:?}", ex.label.topic).to_lowercase();
    if pred.topic == ex.label.topic {
        Feedback::new(true, format!("Correct: the topic is {gold}."))
    } else {
        let said = format!("{:?}", pred.topic).to_lowercase();
        Feedback::new(
            false,
            format!("Wrong: this headline's topic is {gold}, not {said}."),
        )
    }
}

/// One optimizer's figures.
struct Row {
    name: &'static str,
    score: f64,
    task_calls: u64,
    prompt_calls: u64,
    metric_calls: Option<u64>,
    compile_s: f64,
    eval_s: f64,
    instruction: String,
}

fn http(model: &str, base: &str, max_tokens: u32) -> dspy::Result<HttpLm> {
    Ok(HttpLm::builder(model)
        .api_base(base)
        .api_key("none")
        .cache(false)
        .max_tokens(max_tokens)
        .timeout(Duration::from_secs(300))
        .build()?)
}

async fn row(
    name: &'static str,
    compiled: Predict<Classify>,
    report: &Report,
    metric_calls: Option<u64>,
    compile_s: f64,
    dev: &[Ex],
) -> dspy::Result<Row> {
    let t = Instant::now();
    let r = Evaluate::new(dev)
        .concurrency(THREADS)
        .max_errors(None)
        .progress(false)
        .run(&compiled, metric)
        .await?;
    let calls = |m: &str| report.usage.get(m).map_or(0, |u| u.calls);
    Ok(Row {
        name,
        score: r.score / 100.0,
        task_calls: calls(TASK),
        prompt_calls: calls(PROMPT),
        metric_calls,
        compile_s,
        eval_s: t.elapsed().as_secs_f64(),
        instruction: compiled.instructions().to_string(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let only: Option<String> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .map(|s| s.to_lowercase());
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name.to_lowercase());
    let data = split(bbc_headlines()?, 50, 100, 0);
    let val_rows = &data.test[..50.min(data.test.len())];
    let train: Vec<Ex> = data.train.iter().map(example).collect();
    let val: Vec<Ex> = val_rows.iter().map(example).collect();
    let dev: Vec<Ex> = data.dev.iter().map(example).collect();
    let task_server = llama::LlamaServer::qwen(&["-c", "8192", "--jinja", "--parallel", "2"])?;
    let prompt_server =
        llama::LlamaServer::start(dspy::lm::local::QWEN15_FILE, &["-c", "8192", "--jinja"])?;
    let (task_base, prompt_base) = (task_server.base(), prompt_server.base());
    let task = http(TASK, &task_base, 32)?;
    let prompt = http(PROMPT, &prompt_base, 600)?;
    let student = Predict::<Classify>::new()
        .with_lm(task)
        .with_config(LmConfig::default().temperature(0.0));

    let mut ours: Vec<Row> = Vec::new();
    if wanted("zero-shot") {
        ours.push(
            row(
                "zero-shot",
                student.clone(),
                &Report::default(),
                None,
                0.0,
                &dev,
            )
            .await?,
        );
    }
    if wanted("COPRO") {
        let t = Instant::now();
        let (p, r) = Copro::new()
            .breadth(4)
            .depth(2)
            .concurrency(THREADS)
            .progress(false)
            .prompt_model(prompt.clone())
            .compile(&student, &train, metric)
            .await?;
        let s = t.elapsed().as_secs_f64();
        ours.push(row("COPRO", p, &r, None, s, &dev).await?);
    }
    if wanted("MIPROv2") {
        let t = Instant::now();
        let (p, r) = MiproV2::new()
            .zero_shot()
            .concurrency(THREADS)
            .progress(false)
            .prompt_model(prompt.clone())
            .compile_with_valset(&student, &train, &val, metric)
            .await?;
        let s = t.elapsed().as_secs_f64();
        ours.push(row("MIPROv2", p, &r, None, s, &dev).await?);
    }
    if wanted("GEPA") {
        let t = Instant::now();
        let (p, r) = Gepa::new()
            .max_metric_calls(GEPA_CALLS)
            .reflection_lm(prompt.clone())
            .concurrency(THREADS)
            .progress(false)
            .compile_with_valset(&student, &train, &val, feedback)
            .await?;
        let s = t.elapsed().as_secs_f64();
        println!("{}", r.tree());
        ours.push(row("GEPA", p, &r.summary, Some(r.metric_calls), s, &dev).await?);
    }
    for r in &ours {
        println!(
            "[dspy-rs {}] score {:.2} task_calls {} prompt_calls {} metric_calls {} compile_s {:.1} eval_s {:.1}\n  instruction {:?}",
            r.name,
            r.score,
            r.task_calls,
            r.prompt_calls,
            r.metric_calls.map_or("–".into(), |n| n.to_string()),
            r.compile_s,
            r.eval_s,
            r.instruction
        );
    }

    // Python DSPy on the same split and servers.
    let split_file = std::env::temp_dir().join("dspy_bench_instruct_split.json");
    let rows = |xs: &[Headline]| -> Vec<serde_json::Value> {
        xs.iter()
            .map(|h| serde_json::json!({"headline": h.headline, "topic": h.topic}))
            .collect()
    };
    std::fs::write(
        &split_file,
        serde_json::json!({"train": rows(&data.train), "val": rows(val_rows), "dev": rows(&data.dev)})
            .to_string(),
    )?;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/support/dspy_instruct_llama.py"
    );
    let theirs = match dspy_py::python() {
        Ok(py) => {
            let mut cmd = Command::new(py);
            cmd.args([
                script,
                "--task",
                &task_base,
                "--prompt",
                &prompt_base,
                "--data",
            ])
            .arg(&split_file)
            .args(["--threads", &THREADS.to_string()])
            .args(["--gepa-calls", &GEPA_CALLS.to_string()])
            .current_dir(dir);
            if let Some(o) = &only {
                cmd.args(["--only", o]);
            }
            let out = cmd.output()?;
            // DSPy's warnings and progress bars, kept for reading.
            let log = std::env::temp_dir().join("dspy_bench_instruct.log");
            std::fs::write(&log, &out.stderr)?;
            println!("Python DSPy's log: {}", log.display());
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
    // DSPy prints its optimizers' logs and progress bars too: keep only the result lines.
    for line in theirs.lines() {
        if line.starts_with("[dspy ") || line.starts_with("  instruction ") {
            println!("{line}");
        }
    }
    let field = |line: &str, key: &str| -> Option<String> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next().map(str::to_string)
    };
    println!(
        "\n| optimizer | dspy-rs: dev accuracy; LM calls 0.5B + 1.5B; metric calls; compile / eval time | Python DSPy: same |"
    );
    println!("|---|---|---|");
    for r in &ours {
        let ours_cell = format!(
            "{:.2}; {} + {} calls; {}; {:.0} s / {:.0} s",
            r.score,
            r.task_calls,
            r.prompt_calls,
            r.metric_calls.map_or("–".into(), |n| n.to_string()),
            r.compile_s,
            r.eval_s
        );
        let line = theirs
            .lines()
            .find(|l| l.starts_with(&format!("[dspy {}]", r.name)));
        let theirs_cell = line.map_or("–".to_string(), |l| {
            let f = |k: &str| field(l, k).unwrap_or_else(|| "?".into());
            let secs = |k: &str| {
                f(k).parse::<f64>()
                    .map_or("?".into(), |s| format!("{s:.0} s"))
            };
            format!(
                "{}; {} + {} calls; {}; {} / {}",
                f("score"),
                f("task_calls"),
                f("prompt_calls"),
                f("metric_calls"),
                secs("compile_s"),
                secs("eval_s")
            )
        });
        println!("| {} | {ours_cell} | {theirs_cell} |", r.name);
        mock::figure(
            &format!(
                "{} on Qwen2.5-0.5B (1.5B proposing) via llama-server (dev accuracy; LM calls 0.5B + 1.5B; metric calls; compile/eval)",
                r.name
            ),
            &ours_cell,
            &theirs_cell,
            "–",
            "–",
        );
    }
    Ok(())
}
