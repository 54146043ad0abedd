//! The embedded model's speed: prefill and decode tokens/s, and what reusing the KV cache of a
//! shared prompt prefix saves on 50 classification calls sharing a 4-demo prefix.
//!
//! `cargo run --release --features local --example bench_local [-- smollm2|qwen]`

use dspy::lm::local::{QWEN_FILE, SMOLLM2_FILE, locate_in, model_dir};
use dspy::lm::{LmRequest, LocalConfig, LocalLm, Message};
use dspy::prelude::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

signature!(
    /// Classify the topic of a BBC News headline.
    Classify = "headline -> topic: Literal['business', 'entertainment', 'politics', 'sports', 'tech']"
);

const HEADLINES: &[&str] = &[
    "Shares in chipmaker slide after warning",
    "Oscar-winning film tops box office",
    "Minister defends election pledge",
    "England reach World Cup semi-final",
    "Broadband speeds double in rural areas",
    "Bank raises interest rates again",
    "Rock band announces farewell tour",
    "MPs vote on new terror laws",
    "Striker signs five-year deal",
    "New phone doubles battery life",
];

fn request(prompt: &str, max_tokens: u32) -> LmRequest {
    LmRequest {
        messages: vec![Message::user(prompt.to_string())],
        config: Arc::new(LmConfig {
            temperature: Some(0.0),
            max_tokens: Some(max_tokens),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "qwen".into());
    let file = if which == "smollm2" {
        SMOLLM2_FILE
    } else {
        QWEN_FILE
    };
    let path = locate_in(&model_dir(), file)?;
    let t = Instant::now();
    let reuse = LocalLm::load_separate(&path, LocalConfig::default())?;
    println!(
        "{file}: loaded in {:.2} s, {} threads",
        t.elapsed().as_secs_f64(),
        LocalConfig::default().threads
    );
    let fresh = LocalLm::load_separate(
        &path,
        LocalConfig {
            reuse_prefix: false,
            ..LocalConfig::default()
        },
    )?;

    // Warm up both.
    for lm in [&reuse, &fresh] {
        lm.complete(request("Say hello.", 4)).await?;
    }

    // Prefill: a long prompt, one token out, no reuse.
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    let t = Instant::now();
    let r = fresh.complete(request(&long, 1)).await?;
    let prefill_tokens = r.usage.prompt_tokens;
    let prefill = prefill_tokens as f64 / t.elapsed().as_secs_f64();
    // Decode: the same short prompt with 1 and with 65 tokens out; the difference is 64 decodes.
    let short = "Write a long story about a lighthouse keeper.";
    let t1 = Instant::now();
    fresh.complete(request(short, 1)).await?;
    let one = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let r = fresh.complete(request(short, 65)).await?;
    let many = t2.elapsed().as_secs_f64();
    let decode = (r.usage.completion_tokens.saturating_sub(1)) as f64 / (many - one).max(1e-9);
    println!(
        "prefill {prefill:.0} tokens/s ({prefill_tokens} prompt tokens), decode {decode:.0} tokens/s"
    );

    // Prefix reuse: 50 calls sharing instructions and 4 demos.
    let demos = vec![
        Demo::new()
            .with("headline", "Ad sales boost Time Warner profit")
            .with("topic", "business"),
        Demo::new()
            .with("headline", "Howard hits back at mongrel jibe")
            .with("topic", "politics"),
        Demo::new()
            .with("headline", "Wilkinson fit to face Edinburgh")
            .with("topic", "sports"),
        Demo::new()
            .with("headline", "Games maker fights for survival")
            .with("topic", "tech"),
    ];
    let config = LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(16),
        ..Default::default()
    };
    let mut results = Vec::new();
    for (label, lm) in [
        ("reusing the prefix", &reuse),
        ("prefilling every prompt", &fresh),
    ] {
        let p = Predict::<Classify>::new()
            .with_demos(demos.clone())?
            .with_lm(lm.clone())
            .with_config(config.clone());
        let before = lm.stats().prefilled_tokens.load(Ordering::Relaxed);
        let prompt_before = lm.stats().prompt_tokens.load(Ordering::Relaxed);
        let t = Instant::now();
        let mut parsed = 0;
        for i in 0..50 {
            let headline = format!("{} ({i})", HEADLINES[i % HEADLINES.len()]);
            parsed += usize::from(p.call(ClassifyInput { headline }).await.is_ok());
        }
        let secs = t.elapsed().as_secs_f64();
        let decoded = lm.stats().prefilled_tokens.load(Ordering::Relaxed) - before;
        let prompt = lm.stats().prompt_tokens.load(Ordering::Relaxed) - prompt_before;
        println!(
            "50 calls {label:<24} {secs:>6.2} s ({:.2} calls/s), prompt tokens decoded {decoded} of {prompt}, {parsed} parsed",
            50.0 / secs
        );
        results.push(secs);
    }
    println!(
        "prefix reuse speed-up: {:.2}x throughput",
        results[1] / results[0]
    );
    Ok(())
}
