//! Quickstart: classify news headlines by topic with a typed signature, Predict and demos,
//! then score the program on a few labelled headlines.
//!
//! STAND-IN LM: until the embedded local model lands, this runs on `KeywordLm`, a toy
//! in-process model defined below that answers in DSPy's chat format from keyword rules
//! (and, like small real models, sometimes writes `Sports` or `technology` for a label).
//! Everything else — prompt formatting, parsing, coercion, validation — is the real path.
//!
//! `scripts/quickstart` (or `cargo run --release --example quickstart`).

use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse, Usage};
use dspy::prelude::*;

/// Classify the topic of a BBC News headline.
#[derive(Signature)]
struct Classify {
    #[input]
    headline: String,
    #[output(desc = "the headline's section")]
    topic: Topic,
}

#[derive(
    Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
enum Topic {
    Business,
    Entertainment,
    Politics,
    Sport,
    Tech,
}

/// A toy LM: finds the headline in the request and answers from keyword rules.
struct KeywordLm;

const RULES: &[(&str, &str)] = &[
    ("shares", "business"),
    ("profit", "business"),
    ("economy", "business"),
    ("film", "entertainment"),
    ("album", "entertainment"),
    ("election", "politics"),
    ("minister", "politics"),
    ("cup", "Sports"),
    ("coach", "sport"),
    ("broadband", "technology"),
    ("software", "tech"),
];

impl LanguageModel for KeywordLm {
    fn model(&self) -> &str {
        "keyword-toy"
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let prompt = request
            .messages
            .last()
            .map(|m| m.content.to_lowercase())
            .unwrap_or_default();
        let headline = prompt
            .split("[[ ## headline ## ]]\n")
            .nth(1)
            .and_then(|s| s.lines().next())
            .unwrap_or("");
        let topic = RULES
            .iter()
            .find(|(k, _)| headline.contains(k))
            .map(|(_, t)| *t)
            .unwrap_or("politics");
        let text = format!("[[ ## topic ## ]]\n{topic}\n\n[[ ## completed ## ]]");
        let usage = Usage {
            prompt_tokens: prompt.len() as u64 / 4,
            completion_tokens: 8,
        };
        Box::pin(async move {
            Ok(LmResponse {
                outputs: vec![text],
                usage,
                cache_hit: false,
            })
        })
    }
}

fn example(headline: &str) -> ClassifyInput {
    ClassifyInput {
        headline: headline.into(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dspy::Result<()> {
    dspy::configure(KeywordLm);

    // Demos are the program's parameter slots; optimizers fill them (here, by hand).
    let mut classify = Predict::<Classify>::new();
    classify.push_demo(
        &example("Stocks rally as profits beat forecasts"),
        &ClassifyOutput {
            topic: Topic::Business,
        },
    )?;

    let devset = [
        ("Shares in chipmaker slide after warning", Topic::Business),
        ("Oscar-winning film tops box office", Topic::Entertainment),
        ("Minister defends election pledge", Topic::Politics),
        ("England reach World Cup semi-final", Topic::Sport),
        ("Broadband speeds double in rural areas", Topic::Tech),
        ("New coach named after defeat", Topic::Sport),
    ];

    println!("The prompt for the first headline (what reviewers see in snapshots):\n");
    println!("{}", classify.render_text(&example(devset[0].0)));

    let mut correct = 0;
    let mut usage = Usage::default();
    for (headline, gold) in devset {
        let pred = classify.call(example(headline)).await?;
        usage += pred.usage();
        let mark = if pred.topic == gold { "ok " } else { "MISS" };
        correct += usize::from(pred.topic == gold);
        let coerced = pred
            .coercions()
            .iter()
            .map(|c| format!(" (read {:?} as {})", c.from, c.to))
            .collect::<String>();
        println!("{mark} {headline:<45} -> {:?}{coerced}", pred.topic);
    }
    println!(
        "\naccuracy {correct}/{} on the stand-in LM; {} prompt + {} completion tokens",
        devset.len(),
        usage.prompt_tokens,
        usage.completion_tokens
    );
    Ok(())
}
