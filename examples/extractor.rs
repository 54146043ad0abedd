//! An extractor with nested typed output: people (with optional roles), organisations and
//! places from real BBC News stories, on the embedded Qwen2.5-0.5B model with JSONAdapter (the
//! output's JSON schema becomes a llama.cpp grammar, so every answer parses into `Entities`).
//!
//! `scripts/fetch-data && scripts/fetch-models qwen &&
//!  cargo run --release --features local --example extractor [-- N]`

#[path = "support/programs.rs"]
mod programs;

use dspy::data::datasets::bbc_articles;
use dspy::lm::LocalLm;
use dspy::prelude::*;
use programs::Extractor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> dspy::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let articles = bbc_articles()?;
    let lm = LocalLm::qwen()?;
    let config = LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(256),
        ..Default::default()
    };
    let mut program = Extractor::new();
    program.extract = program.extract.with_lm(lm).with_config(config);
    // Every 400th article: a spread of topics.
    for a in articles.iter().step_by(400).take(n) {
        let first = a.paragraphs.first().cloned().unwrap_or_default();
        println!("\n{} ({:?})\n  {first}", a.title, a.topic);
        match program.call(a.title.clone(), first).await {
            Ok(e) => println!("  → {}", serde_json::to_string(&e)?),
            Err(err) => println!("  → error: {err}"),
        }
    }
    Ok(())
}
