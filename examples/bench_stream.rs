//! Streaming's point, measured: time to the first chunk of the first output field against time
//! to the whole prediction, for ChainOfThought on Qwen2.5-Coder-0.5B, in-process and through
//! llama-server (the same GGUF, 2 threads each, greedy), over the same questions.
//! Also checks on every call that the chunks join to the parsed fields.
//!
//! `cargo run --release --features local --example bench_stream [-- QUESTIONS]`
//! (needs `scripts/fetch-models qwen` and `scripts/build-llama-server`).

#[path = "support/llama.rs"]
mod llama;

use dspy::lm::local::{QWEN_FILE, locate_in, model_dir};
use dspy::lm::{Capabilities, HttpLm, LocalConfig, LocalLm};
use dspy::prelude::*;
use dspy::stream::{Status, StreamEvent};
use std::time::{Duration, Instant};

/// Answer the question in one or two sentences.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

const QUESTIONS: &[&str] = &[
    "Why is the sky blue?",
    "What does a compiler do?",
    "Why do leaves change colour in autumn?",
    "What is a hash table?",
    "Why does ice float on water?",
    "What is the difference between a process and a thread?",
    "How does a rainbow form?",
    "What is recursion?",
    "Why do we have seasons?",
    "What does HTTP stand for and what is it for?",
];

struct Timing {
    first_chunk: Duration,
    whole: Duration,
    chunks: usize,
    retries: usize,
}

async fn time_one(cot: &ChainOfThought<Qa>, question: &str) -> dspy::Result<Timing> {
    let started = Instant::now();
    let mut events = dspy::stream(
        cot,
        QaInput {
            question: question.into(),
        },
    );
    let (mut first, mut chunks, mut retries) = (None, 0, 0);
    let (mut reasoning, mut answer) = (String::new(), String::new());
    loop {
        match events.next().await {
            Some(StreamEvent::Chunk(c)) => {
                if !c.text.is_empty() {
                    first.get_or_insert_with(|| started.elapsed());
                    chunks += 1;
                }
                match c.field.as_str() {
                    "reasoning" => reasoning.push_str(&c.text),
                    _ => answer.push_str(&c.text),
                }
            }
            // The reply did not parse and the predictor asks again (JSONAdapter): start over.
            Some(StreamEvent::Status(Status::Retry { .. })) => {
                reasoning.clear();
                answer.clear();
                retries += 1;
            }
            Some(StreamEvent::Done(result)) => {
                let pred = result?;
                let whole = started.elapsed();
                assert_eq!(reasoning, pred.reasoning, "chunks join to the reasoning");
                assert_eq!(answer, pred.answer, "chunks join to the answer");
                return Ok(Timing {
                    first_chunk: first.unwrap_or(whole),
                    whole,
                    chunks,
                    retries,
                });
            }
            Some(_) => {}
            None => unreachable!("a stream ends with Done"),
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

async fn run(label: &str, lm: impl Into<Lm>, n: usize) -> dspy::Result<()> {
    let cot = ChainOfThought::<Qa>::new()
        .with_lm(lm)
        .with_config(LmConfig::default().temperature(0.0).max_tokens(160));
    // Warm-up: load the model, fill caches.
    time_one(&cot, "Say hello.").await?;
    let mut rows = Vec::new();
    for q in QUESTIONS.iter().cycle().take(n) {
        rows.push(time_one(&cot, q).await?);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let first = median(rows.iter().map(|r| ms(r.first_chunk)).collect());
    let whole = median(rows.iter().map(|r| ms(r.whole)).collect());
    let chunks = median(rows.iter().map(|r| r.chunks as f64).collect());
    let retries: usize = rows.iter().map(|r| r.retries).sum();
    println!(
        "{label:<28} first chunk {first:>6.0} ms   whole prediction {whole:>6.0} ms   first/whole {:.3}   chunks/call {chunks:.0}   JSON retries {retries}/{n}",
        first / whole
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(QUESTIONS.len());
    println!(
        "ChainOfThought, Qwen2.5-Coder-0.5B Q4_K_M, greedy, max 160 tokens, {n} questions (medians)"
    );
    let path = locate_in(&model_dir(), QWEN_FILE)?;
    let local = LocalLm::load_separate(path, LocalConfig::default())?;
    run("embedded (LocalLm)", local, n).await?;

    let server = llama::LlamaServer::qwen(&["-c", "4096", "--parallel", "1"])?;
    let http = HttpLm::builder("openai/qwen")
        .api_base(server.base())
        .capabilities(Capabilities::structured())
        .cache(false)
        .build()?;
    run("llama-server (HttpLm, SSE)", http, n).await?;
    Ok(())
}
