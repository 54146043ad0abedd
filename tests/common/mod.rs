//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use dspy::Signature;

/// Answer the question in one short sentence.
#[derive(Signature)]
pub struct Qa {
    #[input]
    pub question: String,
    #[output]
    pub answer: String,
}

/// The reference cases' input.
pub fn sky() -> QaInput {
    QaInput {
        question: "Why is the sky blue?".into(),
    }
}

/// A ChatAdapter reply for `Qa`.
pub fn reply(answer: &str) -> String {
    format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]")
}
pub mod dspy_py;
pub mod logs;
pub mod server;
