//! ReAct with a calculator on GSM8K, on the embedded Qwen model: ChainOfThought without tools,
//! ReAct with the calculator, that ReAct compiled with BootstrapFewShot, ReActV2 (the
//! tool-calling agent, tools as text on the embedded model) with the calculator, and
//! MultiChainComparison over 3 chains of thought, and ProgramOfThought (the LM writes Python
//! that the sandboxed interpreter runs), scored on the same held-out problems (split
//! seed 0, DSPy's GSM8K metric; temperature 0 but for MultiChainComparison's chains and
//! comparison, at DSPy's 0.7 with seeds from `--seeds`).
//!
//! `cargo run --release --features local --example react_gsm8k -- [--model qwen15|qwen] \
//!    [--train 20] [--dev 100] [--max-iters 5] [--arms cot,react,bootstrap,react2,mcc,pot] \
//!    [--adapter chat|json] [--seeds 0,1,2] [--concurrency 2] [--skip 0]`
//!
//! `--skip N` leaves out the first N dev problems (the split is the same), so a long run can
//! be done in parts whose counts add up: `--dev 100 --skip 50` scores problems 50–99.

#[path = "support/calculator.rs"]
mod calculator;
#[path = "support/qwen.rs"]
mod qwen;

use calculator::calculator_tool;
use dspy::agent::Termination;
use dspy::data::datasets::gsm8k;
use dspy::data::split;
use dspy::evaluate::metrics::gsm8k_match;
use dspy::module::react::End;
use dspy::optimize::BootstrapFewShot;
use dspy::prelude::*;
use dspy::{AgentOutput, ReActOutput};
use std::time::Instant;

/// Solve the math word problem.
#[derive(Signature)]
struct Solve {
    #[input]
    question: String,
    #[output(desc = "the final answer, a number")]
    answer: String,
}

type Ex = SolveExample;

/// DSPy's MultiChainComparison pattern: M chains of thought sampled at temperature 0.7, worded
/// as attempts and compared into one rationale and answer.
struct Compare {
    chains: Vec<ChainOfThought<Solve>>,
    compare: MultiChainComparison<Solve>,
}

impl Module for Compare {
    type Input = SolveInput;
    type Output = String;

    async fn forward(&self, input: SolveInput) -> dspy::Result<String> {
        let mut completions = Vec::with_capacity(self.chains.len());
        for chain in &self.chains {
            completions.push(chain.forward(input.clone()).await?.into_output());
        }
        Ok(self.compare.call(input, &completions).await?.answer.clone())
    }
}

struct Args {
    model: String,
    train: usize,
    dev: usize,
    max_iters: usize,
    arms: Vec<String>,
    json: bool,
    seeds: Vec<u64>,
    concurrency: usize,
    skip: usize,
}

fn args() -> Args {
    let mut a = Args {
        model: "qwen15".into(),
        train: 20,
        dev: 100,
        max_iters: 5,
        arms: vec!["cot".into(), "react".into(), "bootstrap".into()],
        json: false,
        seeds: vec![0],
        concurrency: 2,
        skip: 0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--model" => a.model = value,
            "--train" => a.train = value.parse().unwrap_or(a.train),
            "--dev" => a.dev = value.parse().unwrap_or(a.dev),
            "--max-iters" => a.max_iters = value.parse().unwrap_or(a.max_iters),
            "--arms" => a.arms = value.split(',').map(str::to_string).collect(),
            "--adapter" => a.json = value == "json",
            "--seeds" => a.seeds = value.split(',').filter_map(|s| s.parse().ok()).collect(),
            "--concurrency" => a.concurrency = value.parse().unwrap_or(a.concurrency),
            "--skip" => a.skip = value.parse().unwrap_or(a.skip),
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    a
}

/// One table row: accuracy with its standard error and the count right (parts of a split run
/// add up), tool calls, LM calls, wall time.
fn row<O>(name: &str, r: &EvalResult<O>, tool_calls: Option<f64>) -> String {
    let p = r.score / 100.0;
    let se = (p * (1.0 - p) / r.total.max(1) as f64).sqrt();
    let tools = tool_calls.map_or("–".into(), |t| format!("{t:.2}"));
    format!(
        "| {name} | {p:.2} ± {se:.2} ({:.0} of {}) | {tools} | {} | {} | {:.0} s |",
        r.sum,
        r.total,
        r.errors,
        r.usage.calls,
        r.elapsed.as_secs_f64()
    )
}

/// At most 600 characters of `s`.
fn cut(s: &str) -> String {
    s.chars().take(600).collect()
}

/// The first error of a run and the first wrong answer, so a failing arm says why.
fn first_failures<O: std::fmt::Debug>(r: &EvalResult<O>) {
    if let Some(e) = r.outcomes.iter().find_map(|o| o.prediction.as_ref().err()) {
        println!("  first error: {}", cut(&e.to_string()));
    }
    if let Some(o) = r
        .outcomes
        .iter()
        .find(|o| o.score == 0.0 && o.prediction.is_ok())
    {
        let text = format!("{:?}", o.prediction);
        println!("  first wrong answer (label {}): {}", o.label, cut(&text));
    }
}

/// Mean tool calls per problem and how the episodes ended.
fn episodes(r: &EvalResult<Prediction<ReActOutput<SolveOutput>>>) -> (f64, String) {
    let mut calls = 0;
    let mut ends = std::collections::BTreeMap::<&str, usize>::new();
    for o in &r.outcomes {
        if let Ok(p) = &o.prediction {
            calls += p.trajectory.tool_calls();
            let end = match p.trajectory.end {
                End::Finished => "finished",
                End::MaxIters => "max_iters",
                End::InvalidStep { .. } => "invalid step",
                End::ContextWindow { .. } => "context window",
            };
            *ends.entry(end).or_default() += 1;
        }
    }
    (calls as f64 / r.total.max(1) as f64, format!("{ends:?}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> dspy::Result<()> {
    let a = args();
    let data = split(gsm8k()?, a.train, a.dev, 0);
    let to_ex = |p: &dspy::data::datasets::MathProblem| {
        Example::new(
            SolveInput {
                question: p.question.clone(),
            },
            SolveOutput {
                answer: p.answer.clone(),
            },
        )
    };
    let train: Vec<Ex> = data.train.iter().map(to_ex).collect();
    let dev: Vec<Ex> = data.dev.iter().skip(a.skip).map(to_ex).collect();
    let lm = qwen::model(&a.model)?;
    let config = LmConfig::default().temperature(0.0).max_tokens(400);
    let adapter_name = if a.json { "JSONAdapter" } else { "ChatAdapter" };
    println!(
        "GSM8K on {} ({} adapter): train {}, dev {} of {} from problem {} (split seed 0), max_iters {}",
        a.model,
        adapter_name,
        train.len(),
        dev.len(),
        a.dev,
        a.skip,
        a.max_iters
    );
    let evaluate = Evaluate::new(&dev)
        .concurrency(a.concurrency)
        .progress(true);
    let mut rows = vec![
        "| program | dev accuracy ± s.e. | tool calls / problem | errors | LM calls | wall time |"
            .to_string(),
        "|---|---|---|---|---|---|".to_string(),
    ];
    let solved = |ex: &Ex, answer: &str| gsm8k_match(&ex.label.answer, answer);

    if a.arms.iter().any(|x| x == "cot") {
        let cot = ChainOfThought::<Solve>::new()
            .with_lm(lm.clone())
            .with_config(config.clone());
        let cot = if a.json {
            cot.with_adapter(JsonAdapter::new())
        } else {
            cot
        };
        let r = evaluate
            .run(&cot, |ex: &Ex, p: &Prediction<Reasoned<SolveOutput>>| {
                solved(ex, &p.answer)
            })
            .await?;
        rows.push(row("ChainOfThought, no tools", &r, None));
        first_failures(&r);
        println!("{}", rows.last().map_or("", String::as_str));
    }

    if a.arms.iter().any(|x| x == "pot") {
        let pot = ProgramOfThought::<Solve>::new()
            .with_lm(lm.clone())
            .with_config(config.clone());
        let r = evaluate
            .run(&pot, |ex: &Ex, p: &Prediction<Reasoned<SolveOutput>>| {
                solved(ex, &p.answer)
            })
            .await?;
        rows.push(row("ProgramOfThought (sandboxed Python)", &r, None));
        first_failures(&r);
        println!("{}", rows.last().map_or("", String::as_str));
    }

    let react = ReAct::<Solve>::new([calculator_tool()])
        .max_iters(a.max_iters)
        .with_lm(lm.clone())
        .with_config(config.clone());
    let react = if a.json {
        react.with_adapter(JsonAdapter::new())
    } else {
        react
    };
    let metric = |ex: &Ex, p: &Prediction<ReActOutput<SolveOutput>>| solved(ex, &p.answer);
    if a.arms.iter().any(|x| x == "react") {
        let r = evaluate.run(&react, metric).await?;
        let (calls, ends) = episodes(&r);
        rows.push(row("ReAct + calculator", &r, Some(calls)));
        first_failures(&r);
        println!(
            "{}\n  episodes ended: {ends}",
            rows.last().map_or("", String::as_str)
        );
    }
    if a.arms.iter().any(|x| x == "bootstrap") {
        let started = Instant::now();
        let bootstrap = BootstrapFewShot::new()
            .max_bootstrapped_demos(2)
            .max_labeled_demos(0)
            .concurrency(2)
            .progress(true);
        let (compiled, report) = bootstrap.compile(&react, &train, metric).await?;
        println!(
            "BootstrapFewShot: {report} ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        let r = evaluate.run(&compiled, metric).await?;
        let (calls, ends) = episodes(&r);
        rows.push(row("ReAct + calculator, BootstrapFewShot", &r, Some(calls)));
        println!(
            "{}\n  episodes ended: {ends}",
            rows.last().map_or("", String::as_str)
        );
        std::fs::create_dir_all("artifacts")?;
        compiled.save("artifacts/react_gsm8k_program.json")?;
    }
    if a.arms.iter().any(|x| x == "react2") {
        let agent = ReActV2::<Solve>::new([calculator_tool()])?
            .max_iters(a.max_iters)
            .with_lm(lm.clone())
            .with_config(config.clone());
        let agent = if a.json {
            agent.with_adapter(JsonAdapter::new())
        } else {
            agent
        };
        let r = evaluate
            .run(
                &agent,
                |ex: &Ex, p: &Prediction<AgentOutput<SolveOutput>>| solved(ex, &p.answer),
            )
            .await?;
        let mut calls = 0;
        let mut ends = std::collections::BTreeMap::<String, usize>::new();
        for o in &r.outcomes {
            if let Ok(p) = &o.prediction {
                calls += p
                    .history
                    .iter()
                    .flat_map(|t| &t.calls)
                    .filter(|c| c.name != "submit")
                    .count();
                let end = match &p.termination {
                    Termination::Submit => "submit".to_string(),
                    Termination::ForcedSubmit { after } => format!("forced after {after}"),
                };
                *ends.entry(end).or_default() += 1;
            }
        }
        let per = calls as f64 / r.total.max(1) as f64;
        rows.push(row("ReActV2 + calculator (tools as text)", &r, Some(per)));
        first_failures(&r);
        println!(
            "{}\n  episodes ended: {ends:?}",
            rows.last().map_or("", String::as_str)
        );
    }
    if a.arms.iter().any(|x| x == "mcc") {
        for &seed in &a.seeds {
            let sampled = |s: u64| LmConfig::default().temperature(0.7).max_tokens(400).seed(s);
            let chains = (0..3)
                .map(|i| {
                    ChainOfThought::<Solve>::new()
                        .with_lm(lm.clone())
                        .with_config(sampled(seed * 10 + i))
                })
                .collect();
            let compare = MultiChainComparison::<Solve>::new(3)
                .with_lm(lm.clone())
                .with_config(sampled(seed * 10 + 9));
            let program = Compare { chains, compare };
            let r = evaluate
                .run(&program, |ex: &Ex, answer: &String| solved(ex, answer))
                .await?;
            rows.push(row(
                &format!("MultiChainComparison, M=3, seed {seed}"),
                &r,
                None,
            ));
            first_failures(&r);
            println!("{}", rows.last().map_or("", String::as_str));
        }
    }
    println!("\n{}", rows.join("\n"));
    Ok(())
}
