//! Multi-hop question answering over `dspy::retrieve` (a `Retrieve` stage on a BM25 index) on a small
//! real corpus: the paragraphs of 2,225 BBC News articles. Two hops of query → retrieve, then
//! an answer, on the embedded Qwen2.5-0.5B model. Prints the program's graph (Mermaid) first.
//!
//! `scripts/fetch-data && scripts/fetch-models qwen &&
//!  cargo run --release --features local --example multihop [-- "your question"]`

#[path = "support/programs.rs"]
mod programs;

use dspy::data::datasets::bbc_articles;
use dspy::lm::LocalLm;
use dspy::prelude::*;
use programs::MultiHop;

const QUESTIONS: &[(&str, &str)] = &[
    (
        "Which club does the newly crowned European Footballer of the Year play for?",
        "AC Milan",
    ),
    ("Who directed Million Dollar Baby?", "Clint Eastwood"),
    (
        "Who manages the club that beat Liverpool in extra time to win the cup?",
        "Jose Mourinho",
    ),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> dspy::Result<()> {
    let passages: Vec<String> = bbc_articles()?
        .into_iter()
        .flat_map(|a| a.paragraphs)
        .collect();
    println!("BM25 over {} BBC News paragraphs", passages.len());
    let program = MultiHop::new(2, passages);
    println!("\n{}\n\n{}", program.graph(), program.graph().mermaid());

    dspy::configure(LocalLm::qwen()?);
    let asked: Vec<(String, String)> = match std::env::args().nth(1) {
        Some(q) => vec![(q, String::new())],
        None => QUESTIONS
            .iter()
            .map(|(q, a)| (q.to_string(), a.to_string()))
            .collect(),
    };
    for (question, expected) in asked {
        println!("\nQ: {question}");
        match program.call(question).await {
            Ok(answer) => println!("A: {answer}   (expected: {expected})"),
            Err(e) => println!("error: {e}"),
        }
    }
    Ok(())
}
