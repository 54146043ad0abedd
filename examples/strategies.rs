//! BestOfN and Refine against one Predict on a hard output constraint, on the embedded model:
//! summarize a BBC story in at most 12 words that name its main entity.
//!
//! The entity is fixed per story before any run: the capitalized word (3+ letters, not a
//! sentence's first, not a stop word) that occurs most often in the story shown (its first
//! two paragraphs), kept only if it occurs twice. The reward is 0.5 for at most 12 words plus
//! 0.5 for naming the entity; an output meets the constraint at 1.0. BestOfN and Refine make up
//! to 3 attempts at temperature 1.0 (threshold 1.0); Predict answers once, greedily. Stories:
//! `--n` (default 20) from the articles shuffled with seed 0. Seeds (`--seeds 0,1,2`) set the
//! sampling seed of the attempts.
//!
//! `cargo run --release --features local --example strategies [-- --model qwen|qwen15 --n 20
//! --seeds 0,1,2 --arms predict,best,refine --advice task|qwen15 --show K]`

use dspy::data::datasets::bbc_articles;
use dspy::data::split;
use dspy::lm::LocalLm;
use dspy::prelude::*;
use std::collections::HashMap;

/// Summarize the news story in one sentence that names the given entity.
#[derive(Signature)]
struct Summarize {
    #[input]
    story: String,
    #[input(desc = "the story's main entity: the summary must name it")]
    entity: String,
    #[output(desc = "at most 12 words, naming the entity")]
    summary: String,
}

type Story = SummarizeExample;

struct Args {
    model: String,
    n: usize,
    seeds: Vec<u64>,
    arms: Vec<String>,
    /// Print the last this many LM calls at the end (DSPy's `inspect_history`).
    show: usize,
    /// Refine's advice LM: `task` (the task model) or `qwen15`.
    advice: String,
}

fn args() -> Args {
    let mut a = Args {
        model: "qwen".into(),
        n: 20,
        seeds: vec![0, 1, 2],
        arms: vec!["predict".into(), "best".into(), "refine".into()],
        show: 0,
        advice: "task".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--model" => a.model = value,
            "--n" => a.n = value.parse().unwrap_or(a.n),
            "--seeds" => a.seeds = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--arms" => a.arms = value.split(',').map(str::to_string).collect(),
            "--show" => a.show = value.parse().unwrap_or(0),
            "--advice" => a.advice = value,
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    a
}

const STOP: &[&str] = &[
    "The",
    "This",
    "That",
    "These",
    "Those",
    "But",
    "And",
    "However",
    "His",
    "Her",
    "Its",
    "Their",
    "They",
    "She",
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "Sir",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "BBC",
    "News",
];

/// The story's main entity by the rule in the module docs, if one occurs twice.
fn main_entity(story: &str) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut sentence_start = true;
    for raw in story.split_whitespace() {
        let word: String = raw.chars().filter(|c| c.is_alphanumeric()).collect();
        let capitalized = word.chars().next().is_some_and(char::is_uppercase);
        if capitalized && !sentence_start && word.chars().count() >= 3 && !STOP.contains(&&*word) {
            match counts.iter_mut().find(|(w, _)| *w == word) {
                Some((_, n)) => *n += 1,
                None => counts.push((word, 1)),
            }
        }
        sentence_start = raw.ends_with(['.', '!', '?', ':']);
    }
    let mut best: Option<(String, usize)> = None;
    for (w, n) in counts {
        if best.as_ref().is_none_or(|(_, b)| n > *b) {
            best = Some((w, n));
        }
    }
    best.filter(|(_, n)| *n >= 2).map(|(w, _)| w)
}

/// 0.5 for at most 12 words, 0.5 for naming the entity.
fn reward(input: &SummarizeInput, out: &Prediction<SummarizeOutput>) -> f64 {
    let short = out.summary.split_whitespace().count() <= 12;
    let named = out
        .summary
        .to_lowercase()
        .contains(&input.entity.to_lowercase());
    0.5 * f64::from(u8::from(short)) + 0.5 * f64::from(u8::from(named))
}

fn stories(n: usize) -> dspy::Result<Vec<Story>> {
    let articles = split(bbc_articles()?, 0, usize::MAX, 0).dev;
    let mut out = Vec::new();
    for a in articles {
        let story = a
            .paragraphs
            .iter()
            .take(2)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n");
        if let Some(entity) = main_entity(&story) {
            out.push(Example::new(
                SummarizeInput { story, entity },
                SummarizeOutput {
                    summary: a.title.clone(),
                },
            ));
        }
        if out.len() == n {
            break;
        }
    }
    Ok(out)
}

/// One arm's reading: the share meeting the constraint with its standard error, the mean
/// reward, LM calls and wall time.
struct Reading {
    met: f64,
    se: f64,
    reward: f64,
    calls: u64,
    secs: f64,
    /// The first few summaries with the entity they had to name.
    samples: Vec<String>,
}

async fn measure<M>(program: &M, dev: &[Story]) -> dspy::Result<Reading>
where
    M: Module<Input = SummarizeInput, Output = Prediction<SummarizeOutput>> + Sync,
{
    let evaluate = Evaluate::new(dev).concurrency(4);
    let r = evaluate
        .run(program, |ex: &Story, p: &Prediction<SummarizeOutput>| {
            reward(&ex.input, p)
        })
        .await?;
    let met = r
        .outcomes
        .iter()
        .filter(|o| (o.score - 1.0).abs() < 1e-9)
        .count() as f64
        / r.total.max(1) as f64;
    Ok(Reading {
        met,
        se: (met * (1.0 - met) / r.total.max(1) as f64).sqrt(),
        reward: r.score / 100.0,
        calls: r.usage.calls,
        secs: r.elapsed.as_secs_f64(),
        samples: r
            .outcomes
            .iter()
            .zip(dev)
            .take(3)
            .map(|(o, ex)| match &o.prediction {
                Ok(p) => format!("[{}] {:?} ({})", ex.input.entity, p.summary, o.score),
                Err(e) => format!("[{}] error: {e}", ex.input.entity),
            })
            .collect(),
    })
}

#[tokio::main]
async fn main() -> dspy::Result<()> {
    let a = args();
    let qwen15 = || -> dspy::Result<LocalLm> {
        let path = dspy::lm::local::locate_in(
            &dspy::lm::local::model_dir(),
            dspy::lm::local::QWEN15_FILE,
        )?;
        Ok(LocalLm::load(path, Default::default())?)
    };
    let lm = match a.model.as_str() {
        "qwen15" => qwen15()?,
        _ => LocalLm::qwen()?,
    };
    let advice_lm = match a.advice.as_str() {
        "qwen15" => Some(qwen15()?),
        _ => None,
    };
    lm.ready().await?;
    dspy::configure(lm.clone());
    let dev = stories(a.n)?;
    println!(
        "{} stories, model {}, entities e.g. {:?}",
        dev.len(),
        a.model,
        dev.iter()
            .take(5)
            .map(|s| &s.input.entity)
            .collect::<Vec<_>>()
    );
    let config = |seed: u64| {
        LmConfig::default()
            .temperature(0.0)
            .max_tokens(48)
            .seed(seed)
    };
    let mut rows: HashMap<String, Vec<Reading>> = HashMap::new();
    for arm in &a.arms {
        let seeds: &[u64] = if arm == "predict" { &[0] } else { &a.seeds };
        for &seed in seeds {
            let predict = Predict::<Summarize>::new().with_config(config(seed));
            let reading = match arm.as_str() {
                "predict" => measure(&predict, &dev).await?,
                "best" => measure(&BestOfN::new(predict, 3, reward, 1.0), &dev).await?,
                "refine" => {
                    let mut refine = Refine::new(predict, 3, reward, 1.0)
                        .program_code(PROGRAM_CODE)
                        .reward_code(REWARD_CODE)
                        .advice_config(LmConfig::default().temperature(0.0).max_tokens(100));
                    if let Some(lm) = &advice_lm {
                        refine = refine.advice_lm(lm.clone());
                    }
                    measure(&refine, &dev).await?
                }
                other => {
                    eprintln!("unknown arm {other}");
                    continue;
                }
            };
            println!(
                "{arm} seed {seed}: met {:.2} ± {:.2}, reward {:.2}, {} LM calls, {:.0} s",
                reading.met, reading.se, reading.reward, reading.calls, reading.secs
            );
            for sample in &reading.samples {
                println!("    {sample}");
            }
            rows.entry(arm.clone()).or_default().push(reading);
        }
    }
    println!(
        "\n| program | met the constraint: mean (range) over seeds | ± SE of one run | mean reward | LM calls per story | wall time per run |"
    );
    println!("|---|---|---|---|---|---|");
    for arm in &a.arms {
        let Some(rs) = rows.get(arm) else { continue };
        let k = rs.len() as f64;
        let mean = rs.iter().map(|r| r.met).sum::<f64>() / k;
        let lo = rs.iter().map(|r| r.met).fold(f64::INFINITY, f64::min);
        let hi = rs.iter().map(|r| r.met).fold(f64::NEG_INFINITY, f64::max);
        let se = rs.iter().map(|r| r.se).sum::<f64>() / k;
        let reward = rs.iter().map(|r| r.reward).sum::<f64>() / k;
        let calls = rs.iter().map(|r| r.calls as f64).sum::<f64>() / k / dev.len().max(1) as f64;
        let secs = rs.iter().map(|r| r.secs).sum::<f64>() / k;
        println!(
            "| {arm} | {mean:.2} ({lo:.2}–{hi:.2}), {} run(s) | {se:.2} | {reward:.2} | {calls:.2} | {secs:.0} s |",
            rs.len()
        );
    }
    if a.show > 0 {
        println!("\n{}", dspy::lm::History::global().render(a.show));
    }
    Ok(())
}

/// What the advice LM is shown as the program's code.
const PROGRAM_CODE: &str = r#"/// Summarize the news story in one sentence that names the given entity.
#[derive(Signature)]
struct Summarize {
    #[input]
    story: String,
    #[input(desc = "the story's main entity: the summary must name it")]
    entity: String,
    #[output(desc = "at most 12 words, naming the entity")]
    summary: String,
}

let program = Predict::<Summarize>::new();"#;

/// What the advice LM is shown as the reward's code.
const REWARD_CODE: &str = r#"fn reward(input: &SummarizeInput, out: &Prediction<SummarizeOutput>) -> f64 {
    let short = out.summary.split_whitespace().count() <= 12;
    let named = out.summary.to_lowercase().contains(&input.entity.to_lowercase());
    0.5 * (short as u8 as f64) + 0.5 * (named as u8 as f64)
}"#;
