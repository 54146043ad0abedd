//! A streaming multi-turn chat on the embedded model: a signature with a `History` input, each
//! reply printed as it is written, and every turn added to the history for the next.
//!
//! `cargo run --release --features local --example chat_stream`: type messages (an empty
//! line ends). Without a terminal on stdin it plays a short scripted conversation.
//! `-- --model smollm2` uses the 135M model instead of Qwen2.5-Coder-0.5B.

use dspy::lm::LocalLm;
use dspy::prelude::*;
use dspy::stream::{Status, StreamEvent};
use std::io::{BufRead, IsTerminal, Write};

/// Reply to the user's message in a sentence or two, taking the conversation so far into
/// account.
#[derive(Signature)]
struct Chat {
    #[input]
    message: String,
    #[input]
    history: History,
    #[output]
    reply: String,
}

const SCRIPT: &[&str] = &[
    "Hi! My name is Ada and I write Rust.",
    "What is a good first crate for parsing command-line arguments?",
    "And what was my name again?",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let small = std::env::args().any(|a| a == "smollm2");
    let lm = if small {
        LocalLm::smollm2()?
    } else {
        LocalLm::qwen()?
    };
    let chat = Predict::<Chat>::new()
        .with_lm(lm)
        .with_config(LmConfig::default().temperature(0.0).max_tokens(160));
    let interactive = std::io::stdin().is_terminal();
    let mut script = SCRIPT.iter().map(|s| s.to_string());
    let mut lines = std::io::stdin().lock().lines();
    let mut history = History::new();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let message = match interactive {
            true => lines.next().transpose()?.unwrap_or_default(),
            false => match script.next() {
                Some(m) => {
                    println!("{m}");
                    m
                }
                None => String::new(),
            },
        };
        if message.trim().is_empty() {
            return Ok(());
        }
        let input = ChatInput {
            message,
            history: history.clone(),
        };
        print!("bot> ");
        let mut events = dspy::stream(&chat, input.clone());
        // (The stream borrows `chat`; `input` is kept for the history.)
        let output = loop {
            match events.next().await {
                Some(StreamEvent::Chunk(c)) => {
                    print!("{}", c.text);
                    std::io::stdout().flush()?;
                }
                Some(StreamEvent::Status(Status::ToolStart { name })) => eprint!("[{name}]"),
                Some(StreamEvent::Done(result)) => break result?,
                Some(_) => {}
                None => unreachable!("a stream ends with Done"),
            }
        };
        println!();
        // The turn joins the history: the next call sees it as earlier user and assistant
        // messages, as DSPy renders a History.
        history.push(&input, &*output);
    }
}
