//! Every optimizer on the quickstart's real task (BBC News headline topics, embedded
//! Qwen2.5-0.5B, JSONAdapter, train 50 / dev 100, seed 0): the held-out score before and after,
//! the LM calls each spent compiling, and wall time. KNNFewShot embeds with the same model
//! served by llama-server (`--embeddings --pooling mean`, built by `scripts/build-llama-server`).
//!
//! `scripts/quickstart && scripts/build-llama-server &&
//!  cargo run --release --features local --example optimizers`

use dspy::data::datasets::bbc_headlines;
use dspy::data::split;
use dspy::lm::{HttpEmbedder, LocalLm};
use dspy::optimize::{BootstrapFewShot, Ensemble, KnnFewShot, RandomSearch, majority_by};
use dspy::prelude::*;
use dspy::track_usage;

#[path = "support/bbc.rs"]
mod bbc;
use bbc::{Classify, ClassifyInput, ClassifyOutput, Ex, example, metric};

#[path = "support/llama.rs"]
mod llama;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 4;

async fn score<M>(program: &M, dev: &[Ex]) -> Result<(f64, Duration), Box<dyn std::error::Error>>
where
    M: Module<Input = ClassifyInput, Output = Prediction<ClassifyOutput>>,
{
    let r = Evaluate::new(dev)
        .concurrency(CONCURRENCY)
        .progress(false)
        .run(program, metric)
        .await?;
    Ok((r.score / 100.0, r.elapsed))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = split(bbc_headlines()?, 50, 100, 0);
    let train: Vec<Ex> = data.train.iter().map(example).collect();
    let dev: Vec<Ex> = data.dev.iter().map(example).collect();
    let lm = LocalLm::qwen()?;
    let config = LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(32),
        ..Default::default()
    };
    let student = Predict::<Classify>::new()
        .with_adapter(JsonAdapter::new())
        .with_lm(lm.clone())
        .with_config(config);

    println!("| program | dev accuracy | compile LM calls | compile time | eval time |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, acc: f64, calls: u64, compile: Duration, eval: Duration| {
        println!(
            "| {name} | {acc:.2} | {calls} | {:.0} s | {:.0} s |",
            compile.as_secs_f64(),
            eval.as_secs_f64()
        );
    };

    let (acc, t) = score(&student, &dev).await?;
    row("zero-shot", acc, 0, Duration::ZERO, t);

    let mut labeled = student.clone();
    let demos: Vec<Demo> = train
        .iter()
        .map(Example::demo)
        .collect::<dspy::Result<_>>()?;
    LabeledFewShot::new(16).fill(&mut labeled, &demos)?;
    let (acc, t) = score(&labeled, &dev).await?;
    row("LabeledFewShot(k=16)", acc, 0, Duration::ZERO, t);

    let started = Instant::now();
    let (boot, report) = BootstrapFewShot::new()
        .concurrency(CONCURRENCY)
        .compile(&student, &train, metric)
        .await?;
    let compile = started.elapsed();
    let (acc, t) = score(&boot, &dev).await?;
    row(
        "BootstrapFewShot (4 + 16)",
        acc,
        report.usage.calls,
        compile,
        t,
    );

    let started = Instant::now();
    let (searched, search) = RandomSearch::new(2)
        .concurrency(CONCURRENCY)
        .compile(&student, &train, metric)
        .await?;
    let compile = started.elapsed();
    let (acc, t) = score(&searched, &dev).await?;
    let best = &search.candidates[search.best].label;
    row(
        &format!("RandomSearch (2 + 3 candidates; best: {best})"),
        acc,
        search.usage.calls,
        compile,
        t,
    );

    let ensemble = Ensemble::new(
        vec![labeled.clone(), boot.clone(), searched.clone()],
        majority_by(|p: &Prediction<ClassifyOutput>| p.topic),
    );
    let (acc, t) = score(&ensemble, &dev).await?;
    row(
        "Ensemble of the three above (majority)",
        acc,
        0,
        Duration::ZERO,
        t,
    );

    match llama::LlamaServer::qwen(&["--embeddings", "--pooling", "mean", "-c", "2048"]) {
        Ok(server) => {
            let embedder = HttpEmbedder::new("qwen", Some(&server.base()), Some("none"))?;
            let started = Instant::now();
            let (knn, usage) =
                track_usage(KnnFewShot::new(8, embedder).compile(&student, &train, metric)).await;
            let (knn, ()) = knn?;
            let compile = started.elapsed();
            let (acc, t) = score(&knn, &dev).await?;
            row("KNNFewShot(k=8)", acc, usage.calls, compile, t);
        }
        Err(e) => println!("| KNNFewShot(k=8) | not run: {e} | | | |"),
    }
    Ok(())
}
