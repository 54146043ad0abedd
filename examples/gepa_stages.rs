//! GEPA on a two-stage program whose feedback names the failing stage: `draft` (a
//! ChainOfThought that reasons, then names a topic) and `check` (reads the headline, the
//! reasoning and the draft topic, and gives the final topic), on the quickstart's task (BBC
//! headlines, split seed 0, JSONAdapter, temperature 0). Asked about `draft`, the metric says
//! whether the draft topic was right; asked about `check`, whether the check kept a right draft,
//! fixed a wrong one, or broke a right one. The program is scored on a held-out dev split before
//! and after; the report says which stage each accepted candidate changed and how often each
//! stage was blamed on the validation split.
//!
//! `cargo run --release --features local --example gepa_stages -- [--task qwen|qwen15] \
//!    [--prompt qwen|qwen15] [--seeds 0,1,2] [--train 50] [--val 30] [--dev 100] \
//!    [--metric-calls 150]`

#[path = "support/qwen.rs"]
mod qwen;

use dspy::data::datasets::{Topic, bbc_headlines};
use dspy::data::split;
use dspy::optimize::{Gepa, gepa};
use dspy::prelude::*;
use qwen::model;
use std::time::Instant;

/// Classify the topic of a BBC News headline.
#[derive(Signature)]
struct Draft {
    #[input]
    headline: String,
    #[output]
    topic: Topic,
}

/// Check a draft topic for a BBC News headline and give the final topic.
#[derive(Signature)]
struct Check {
    #[input]
    headline: String,
    #[input]
    reasoning: String,
    #[input]
    draft: Topic,
    #[output]
    topic: Topic,
}

program! {
    /// Draft a topic with reasoning, then check it.
    struct Stages {
        draft: ChainOfThought<Draft>,
        check: Predict<Check>,
    }
    async fn forward(&self, headline: String) -> dspy::Result<CheckOutput> {
        let d = self.draft(headline: headline.clone()).await?;
        let c = self
            .check(headline: headline, reasoning: d.reasoning.clone(), draft: d.topic)
            .await?;
        Ok(c.into_output())
    }
}

type Ex = Example<StagesInput, CheckOutput>;

fn name(t: Topic) -> String {
    format!("{t:?}").to_lowercase()
}

fn correct(ex: &Ex, pred: &CheckOutput) -> bool {
    pred.topic == ex.label.topic
}

/// The draft topic of the run GEPA reflects on (inside a feedback call only).
fn draft_topic() -> Option<String> {
    let trace = gepa::program_trace()?;
    let (_, call) = trace.iter().find(|(path, _)| path.starts_with("draft"))?;
    call.outputs.get("topic")?.as_str().map(str::to_string)
}

/// Which stage a run's error is on: `draft` when the draft topic is wrong, `check` when the
/// draft was right and the check changed it, none when the final topic is right.
fn blamed(gold: &str, draft: Option<&str>, said: &str) -> Option<&'static str> {
    match (draft == Some(gold), said == gold) {
        (_, true) => None,
        (false, false) => Some("draft"),
        (true, false) => Some("check"),
    }
}

/// The score, and for each stage feedback on its own part.
fn feedback(ex: &Ex, pred: &CheckOutput) -> Feedback {
    let ok = pred.topic == ex.label.topic;
    let (gold, said) = (name(ex.label.topic), name(pred.topic));
    let Some(stage) = gepa::pred_name() else {
        return Feedback::score(ok);
    };
    let draft = draft_topic();
    let d = draft.as_deref().unwrap_or("none");
    let text = match (
        stage.starts_with("draft"),
        draft.as_deref() == Some(gold.as_str()),
        ok,
    ) {
        (true, true, _) => format!("Correct: the draft topic {gold} is right."),
        (true, false, _) => {
            format!("Wrong: the draft topic is {d}, but this headline's topic is {gold}.")
        }
        (false, true, true) => format!("Correct: the check kept the right draft topic {gold}."),
        (false, true, false) => {
            format!("Wrong: the draft topic {gold} was right, but the check changed it to {said}.")
        }
        (false, false, true) => {
            format!("Correct: the check fixed the wrong draft topic {d} to {gold}.")
        }
        (false, false, false) => format!(
            "The draft topic {d} was wrong (this headline's topic is {gold}) and the check answered {said}."
        ),
    };
    Feedback::new(ok, text)
}

struct Args {
    task: String,
    prompt: String,
    seeds: Vec<u64>,
    train: usize,
    val: usize,
    dev: usize,
    metric_calls: u64,
}

fn args() -> Args {
    let mut a = Args {
        task: "qwen".into(),
        prompt: "qwen15".into(),
        seeds: vec![0, 1, 2],
        train: 50,
        val: 30,
        dev: 100,
        metric_calls: 150,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--task" => a.task = value,
            "--prompt" => a.prompt = value,
            "--seeds" => a.seeds = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--train" => a.train = value.parse().unwrap_or(a.train),
            "--val" => a.val = value.parse().unwrap_or(a.val),
            "--dev" => a.dev = value.parse().unwrap_or(a.dev),
            "--metric-calls" => a.metric_calls = value.parse().unwrap_or(a.metric_calls),
            other => eprintln!("ignoring unknown flag {other}"),
        }
    }
    a
}

fn examples(rows: &[dspy::data::datasets::Headline]) -> Vec<Ex> {
    rows.iter()
        .map(|h| {
            Example::new(
                StagesInput {
                    headline: h.headline.clone(),
                },
                CheckOutput { topic: h.topic },
            )
        })
        .collect()
}

/// How often each stage is blamed when `program` runs over `set` (draft wrong; check broke a
/// right draft).
async fn blame(program: &Stages, set: &[Ex]) -> (usize, usize, usize) {
    use futures_util::StreamExt;
    let runs = futures_util::stream::iter(set)
        .map(|ex| async move {
            let headline = ex.input.headline.clone();
            let d = program
                .draft
                .call(DraftInput {
                    headline: headline.clone(),
                })
                .await
                .ok()?;
            let input = CheckInput {
                headline,
                reasoning: d.reasoning.clone(),
                draft: d.topic,
            };
            let c = program.check.call(input).await.ok()?;
            Some(blamed(
                &name(ex.label.topic),
                Some(&name(d.topic)),
                &name(c.topic),
            ))
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let (mut draft, mut check, mut failed) = (0, 0, 0);
    for run in runs {
        match run {
            None => failed += 1,
            Some(Some("draft")) => draft += 1,
            Some(Some(_)) => check += 1,
            Some(None) => {}
        }
    }
    (draft, check, failed)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dspy::Result<()> {
    let a = args();
    let data = split(bbc_headlines()?, a.train, a.dev, 0);
    let (train, dev) = (examples(&data.train), examples(&data.dev));
    let val = examples(&data.test[..a.val.min(data.test.len())]);
    let task = model(&a.task)?;
    let prompt = if a.prompt == a.task {
        task.clone()
    } else {
        model(&a.prompt)?
    };
    let config = LmConfig::default().temperature(0.0).max_tokens(160);
    let program = Stages {
        draft: ChainOfThought::new()
            .with_adapter(JsonAdapter::new())
            .with_lm(task.clone())
            .with_config(config.clone()),
        check: Predict::new()
            .with_adapter(JsonAdapter::new())
            .with_lm(task.clone())
            .with_config(config),
    };
    println!(
        "two stages: task model {}, reflection model {}, train {}, val {}, dev {} (split seed 0), {} metric calls",
        a.task,
        a.prompt,
        train.len(),
        val.len(),
        dev.len(),
        a.metric_calls
    );
    let evaluate = Evaluate::new(&dev).concurrency(4).progress(false);
    let t = Instant::now();
    let base = evaluate.run(&program, correct).await?;
    println!(
        "uncompiled: dev {:.1} ({:.0} s)",
        base.score,
        t.elapsed().as_secs_f64()
    );
    let (d, c, f) = blame(&program, &val).await;
    println!("  on val: draft blamed {d}, check blamed {c}, failed runs {f}");

    let mut rows = Vec::new();
    for &seed in &a.seeds {
        let t = Instant::now();
        let (compiled, report) = Gepa::new()
            .max_metric_calls(a.metric_calls)
            .reflection_lm(prompt.clone())
            .seed(seed)
            .concurrency(4)
            .compile_with_valset(&program, &train, &val, feedback)
            .await?;
        let compile_s = t.elapsed().as_secs_f64();
        println!("{}", report.tree());
        // Which stage each accepted child changed, against its first parent.
        let mut changed = std::collections::BTreeMap::<String, usize>::new();
        for cand in report.candidates.iter().skip(1) {
            let Some(&p) = cand.parents.first() else {
                continue;
            };
            for (path, text) in &cand.instructions {
                if report.candidates[p].instructions.get(path) != Some(text) {
                    *changed.entry(path.clone()).or_insert(0) += 1;
                }
            }
        }
        let after = evaluate.run(&compiled, correct).await?;
        println!(
            "seed {seed}: val {:.1} → dev {:.1}; accepted changes per stage {changed:?}; {} metric calls, {:.0} s",
            report.summary.best_score.unwrap_or(f64::NAN),
            after.score,
            report.metric_calls,
            compile_s
        );
        println!(
            "  draft: {:?}\n  check: {:?}",
            compiled.draft.instructions(),
            compiled.check.instructions()
        );
        let (d, c, f) = blame(&compiled, &val).await;
        println!("  on val after: draft blamed {d}, check blamed {c}, failed runs {f}");
        rows.push((seed, after.score, changed, compile_s));
    }
    println!("\n| run | dev score | accepted changes per stage | compile |");
    println!("|---|---|---|---|");
    println!("| uncompiled | {:.1} | – | – |", base.score);
    for (seed, score, changed, s) in &rows {
        println!("| GEPA seed {seed} | {score:.1} | {changed:?} | {s:.0} s |");
    }
    let scores: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let n = scores.len() as f64;
    if n > 0.0 {
        let mean = scores.iter().sum::<f64>() / n;
        let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let q = base.score / 100.0;
        println!(
            "\nGEPA over {} seeds: dev mean {mean:.1} (range {lo:.1}–{hi:.1}); uncompiled {:.1} (SE {:.1})",
            scores.len(),
            base.score,
            100.0 * (q * (1.0 - q) / dev.len() as f64).sqrt()
        );
    }
    Ok(())
}
