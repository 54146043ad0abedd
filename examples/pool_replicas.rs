//! `PoolLm` over llama-server replicas of Qwen2.5-0.5B (one thread each, as if each had a
//! machine's core to itself): the quickstart's zero-shot program over dev headlines on one
//! replica and on a pool of two (calls/s, the ratio), then on a pool of three with one replica
//! killed mid-evaluation (every headline still answered; the report shows the ejection).
//!
//! `cargo run --release --features local --example pool_replicas [-- --calls 32]`

#[path = "support/bbc.rs"]
mod bbc;
#[path = "support/llama.rs"]
mod llama;

use bbc::{Classify, Ex, example, metric};
use dspy::data::datasets::bbc_headlines;
use dspy::data::split;
use dspy::lm::{Lm, PoolLm};
use dspy::prelude::*;
use std::time::{Duration, Instant};

fn replica() -> Result<llama::LlamaServer, Box<dyn std::error::Error>> {
    llama::LlamaServer::qwen(&["-t", "1", "-c", "8192", "--parallel", "2"])
}

fn pool(servers: &[llama::LlamaServer]) -> Result<PoolLm, dspy::LmError> {
    PoolLm::builder("openai/qwen")
        .endpoints(servers.iter().map(|s| s.base()))
        .each(|b| {
            b.api_key("none")
                .cache(false)
                .timeout(Duration::from_secs(120))
        })
        .build()
}

fn program(lm: Lm) -> Predict<Classify> {
    Predict::<Classify>::new()
        .with_lm(lm)
        .with_config(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(32),
            ..Default::default()
        })
}

/// Headlines whose call failed (an unparsed reply is the model's, not the pool's).
fn lm_failures<O>(report: &dspy::EvalResult<O>) -> usize {
    report
        .outcomes
        .iter()
        .filter(|o| o.prediction.is_err() && !o.is_unparsed())
        .count()
}

/// Calls/s and score of the zero-shot program over `dev`, `concurrency` calls in flight.
async fn evaluate(
    lm: Lm,
    dev: &[Ex],
    concurrency: usize,
) -> Result<(f64, f64, usize), Box<dyn std::error::Error>> {
    let program = program(lm);
    let t = Instant::now();
    let report = Evaluate::new(dev)
        .concurrency(concurrency)
        .max_errors(None)
        .progress(false)
        .run(&program, metric)
        .await?;
    let secs = t.elapsed().as_secs_f64();
    Ok((dev.len() as f64 / secs, report.score, lm_failures(&report)))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(32), |v| v.parse())?;
    let data = split(bbc_headlines()?, 50, 100, 0);
    let dev: Vec<Ex> = data.dev.iter().take(calls).map(example).collect();

    let one = [replica()?];
    let lm = Lm::new(pool(&one)?);
    evaluate(lm.clone(), &dev[..1], 1).await?;
    let (single, score, failed) = evaluate(lm, &dev, 2).await?;
    println!("1 replica:  {single:.2} calls/s, score {score:.1}, {failed} failed");
    drop(one);

    let two = [replica()?, replica()?];
    let lm = Lm::new(pool(&two)?);
    evaluate(lm.clone(), &dev[..2], 2).await?;
    let (double, score, failed) = evaluate(lm, &dev, 4).await?;
    println!(
        "2 replicas: {double:.2} calls/s, score {score:.1}, {failed} failed ({:.2}x one replica)",
        double / single
    );
    drop(two);

    // Three replicas; the first is killed once a quarter of the headlines are answered.
    let mut three = vec![replica()?, replica()?, replica()?];
    let pooled = pool(&three)?;
    let program = program(Lm::new(pooled.clone()));
    let doomed = three.remove(0);
    let killer = {
        let pooled = pooled.clone();
        let quarter = (dev.len() / 4) as u64;
        tokio::spawn(async move {
            loop {
                let answered: u64 = pooled
                    .report()
                    .endpoints
                    .iter()
                    .map(|e| e.calls - e.failures - e.in_flight as u64)
                    .sum();
                if answered >= quarter {
                    drop(doomed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let report = Evaluate::new(&dev)
        .concurrency(6)
        .max_errors(None)
        .progress(false)
        .run(&program, metric)
        .await?;
    killer.await?;
    let failed = lm_failures(&report);
    println!(
        "3 replicas, one killed mid-run: score {:.1}, {} of {} headlines answered, {failed} failed",
        report.score,
        report.outcomes.len() - failed,
        dev.len()
    );
    println!("{}", pooled.report());
    Ok(())
}
