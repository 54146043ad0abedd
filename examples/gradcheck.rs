//! Checks the in-process trainer's gradients on any GGUF model the trainer takes (Llama,
//! Qwen2) against central finite differences of its loss: one tensor of every kind, its three
//! largest-gradient entries. Prints each comparison; exits non-zero on a disagreement.
//!
//! `cargo run --release --features local --example gradcheck -- models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`

use dspy::lm::local_train::check_gradients;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gradcheck <model.gguf>");
        return ExitCode::FAILURE;
    };
    let started = std::time::Instant::now();
    let check = match check_gradients(&path, 2) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gradcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("| tensor | entry | gradient | finite differences | agree |\n|---|---|---|---|---|");
    for e in &check.entries {
        println!(
            "| {} | {} | {:+.4e} | {:+.4e} | {} |",
            e.tensor,
            e.index,
            e.analytic,
            e.numeric,
            if e.agrees { "yes" } else { "NO" }
        );
    }
    let failures = check.failures();
    println!(
        "\n{} of {} entries agree ({:.0} s)",
        check.entries.len() - failures.len(),
        check.entries.len(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
