//! The arithmetic task the agent tests share: a signature with an integer answer and an `add`
//! tool.

use dspy::{Signature, tool};

/// Answer questions about arithmetic.
#[derive(Signature)]
pub struct Arith {
    #[input]
    pub question: String,
    #[output]
    pub answer: i64,
}

/// Adds two integers.
#[tool]
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}
