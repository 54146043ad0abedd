//! Batched decoding on the embedded model against llama-server on the same GGUF file, in one
//! run, at 1, 2, 4 and 8 concurrent calls: the quickstart's zero-shot program (ChatAdapter,
//! temperature 0) over dev headlines (calls/s, generated tokens/s, accuracy), and 128-token
//! stories on the first 16 headlines (decode-bound); then the decode rate of one long
//! completion alone.
//!
//! `cargo run --release --features local --example bench_batch [-- qwen|smollm2] [--calls 48]
//! [--levels 1,2,4,8] [--no-server]` (llama-server from `scripts/build-llama-server`).

#[path = "support/bbc.rs"]
mod bbc;
#[path = "support/llama.rs"]
mod llama;

use bbc::{Classify, Ex, example, metric};
use dspy::data::datasets::bbc_headlines;
use dspy::data::split;
use dspy::lm::local::{QWEN_FILE, SMOLLM2_FILE, locate_in, model_dir};
use dspy::lm::{HttpLm, LanguageModel, Lm, LmRequest, LocalConfig, LocalLm, Message};
use dspy::prelude::*;
use dspy::track_usage;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Row {
    calls_per_s: f64,
    tokens_per_s: f64,
    score: f64,
    calls: u64,
    /// The completions, in input order (stories only).
    texts: Vec<String>,
}

/// The zero-shot program over `dev` with `concurrency` calls in flight.
async fn evaluate(
    lm: Lm,
    dev: &[Ex],
    concurrency: usize,
) -> Result<Row, Box<dyn std::error::Error>> {
    let program = Predict::<Classify>::new()
        .with_lm(lm)
        .with_config(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(32),
            ..Default::default()
        });
    let t = Instant::now();
    let (report, usage) = track_usage(
        Evaluate::new(dev)
            .concurrency(concurrency)
            .max_errors(None)
            .progress(false)
            .run(&program, metric),
    )
    .await;
    let secs = t.elapsed().as_secs_f64();
    Ok(Row {
        calls_per_s: usage.calls as f64 / secs,
        tokens_per_s: usage.usage.completion_tokens as f64 / secs,
        score: report?.score,
        calls: usage.calls,
        texts: Vec::new(),
    })
}

/// Long completions: one story per headline (128 tokens out), `concurrency` at a time.
async fn generate(
    lm: &dyn LanguageModel,
    dev: &[Ex],
    concurrency: usize,
) -> Result<Row, Box<dyn std::error::Error>> {
    use futures_util::StreamExt;
    let t = Instant::now();
    let requests = dev.iter().map(|ex| LmRequest {
        messages: vec![Message::user(format!(
            "Write a news story under this headline: {}",
            ex.input.headline
        ))],
        config: Arc::new(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(128),
            ..Default::default()
        }),
        ..Default::default()
    });
    let replies: Vec<_> = futures_util::stream::iter(requests)
        .map(|r| lm.complete(r))
        .buffered(concurrency)
        .collect()
        .await;
    let secs = t.elapsed().as_secs_f64();
    let mut tokens = 0;
    let mut texts = Vec::new();
    for r in replies {
        let mut r = r?;
        tokens += r.usage.completion_tokens;
        texts.push(r.outputs.swap_remove(0));
    }
    Ok(Row {
        calls_per_s: dev.len() as f64 / secs,
        tokens_per_s: tokens as f64 / secs,
        score: f64::NAN,
        calls: dev.len() as u64,
        texts,
    })
}

/// Tokens/s of one long completion alone: 129 tokens out minus 1 token out, same prompt.
async fn decode_rate(lm: &dyn LanguageModel) -> Result<f64, Box<dyn std::error::Error>> {
    let ask = |max_tokens| LmRequest {
        messages: vec![Message::user(
            "Write a long story about a lighthouse keeper.".to_string(),
        )],
        config: Arc::new(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(max_tokens),
            ..Default::default()
        }),
        ..Default::default()
    };
    lm.complete(ask(1)).await?;
    let t = Instant::now();
    lm.complete(ask(1)).await?;
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = lm.complete(ask(129)).await?;
    let many = t.elapsed().as_secs_f64();
    Ok(r.usage.completion_tokens.saturating_sub(1) as f64 / (many - one).max(1e-9))
}

/// The llama-server's LM, uncached.
fn client(srv: &llama::LlamaServer) -> Result<HttpLm, dspy::LmError> {
    HttpLm::builder("openai/local")
        .api_base(srv.base())
        .api_key("none")
        .cache(false)
        .timeout(Duration::from_secs(300))
        .build()
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = if args.iter().any(|a| a == "smollm2") {
        SMOLLM2_FILE
    } else {
        QWEN_FILE
    };
    let calls: usize = flag(&args, "--calls").map_or(Ok(48), |v| v.parse())?;
    let levels: Vec<usize> = flag(&args, "--levels")
        .unwrap_or_else(|| "1,2,4,8".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let server = !args.iter().any(|a| a == "--no-server");
    let data = split(bbc_headlines()?, 50, 100, 0);
    let dev: Vec<Ex> = data.dev.iter().take(calls).map(example).collect();
    let path = locate_in(&model_dir(), file)?;
    println!(
        "{file}: {} dev headlines, zero-shot ChatAdapter, temperature 0, max_tokens 32, {} threads",
        dev.len(),
        LocalConfig::default().threads
    );
    println!(
        "{:<28} {:<9} {:>8} {:>10} {:>9} {:>6} {:>6}",
        "engine", "workload", "in flight", "calls/s", "tokens/s", "calls", "score"
    );
    let mut base = [None, None];
    // The embedded model's stories one at a time: batched runs must write the same ones.
    let mut alone: Option<Vec<String>> = None;
    let stories = &dev[..dev.len().min(16)];
    for &c in &levels {
        let config = LocalConfig {
            sequences: c,
            ..LocalConfig::default()
        };
        let local = LocalLm::load_separate(&path, config)?;
        local.ready().await?;
        let srv = if server {
            let ctx = (8192 * c).to_string();
            let parallel = c.to_string();
            let srv = llama::LlamaServer::start(file, &["-c", &ctx, "--parallel", &parallel])?;
            let http = client(&srv)?;
            Some((srv, Lm::new(http)))
        } else {
            None
        };
        let mut engines = vec![("embedded, batched", Lm::new(local))];
        engines.extend(
            srv.as_ref()
                .map(|(_, http)| ("llama-server, slots", http.clone())),
        );
        for (name, lm) in engines {
            // Warm-up: the instructions' prefix is cached, as in a running program.
            evaluate(lm.clone(), &dev[..1], 1).await?;
            let rows = [
                evaluate(lm.clone(), &dev, c).await?,
                generate(&*lm, stories, c).await?,
            ];
            for (w, row) in rows.iter().enumerate() {
                let workload = ["classify", "stories"][w];
                let mut speedup = String::new();
                if name.starts_with("embedded") {
                    let b = *base[w].get_or_insert(row.calls_per_s);
                    speedup = format!("  ({:.2}x one at a time)", row.calls_per_s / b);
                    if w == 1 {
                        let first = alone.get_or_insert_with(|| row.texts.clone());
                        let same = first.iter().zip(&row.texts).filter(|(a, b)| a == b).count();
                        speedup += &format!(", {same}/{} stories as one at a time", first.len());
                    }
                }
                println!(
                    "{:<28} {:<9} {c:>8} {:>10.2} {:>9.1} {:>6} {:>6.1}{speedup}",
                    name, workload, row.calls_per_s, row.tokens_per_s, row.calls, row.score
                );
            }
        }
    }
    let alone = LocalLm::load_separate(&path, LocalConfig::default())?;
    let ours = decode_rate(&alone).await?;
    print!("decode, one sequence: embedded {ours:.1} tokens/s");
    if server {
        let srv = llama::LlamaServer::start(file, &["-c", "8192", "--parallel", "1"])?;
        let http = client(&srv)?;
        let theirs = decode_rate(&http).await?;
        print!(
            ", llama-server {theirs:.1} tokens/s ({:.2}x)",
            ours / theirs
        );
    }
    println!();
    Ok(())
}
