//! The mockserver benches' shared protocol: the signature `question -> answer`, the
//! 50-example training set "What is i + i?", the metric passing every 8th example, and the
//! HTTP LM on the mock (caching off).
#![allow(dead_code)]

use dspy::lm::HttpLm;
use dspy::prelude::*;

signature!(pub Qa = "question -> answer");

/// One training example.
pub type Ex = QaExample;

/// "What is i + i?" → `2i`, for i in 0..50.
pub fn trainset() -> Vec<Ex> {
    examples(50)
}

/// "What is i + i?" → `2i`, for i in 0..n.
pub fn examples(n: usize) -> Vec<Ex> {
    (0..n)
        .map(|i| {
            Example::new(
                QaInput {
                    question: format!("What is {i} + {i}?"),
                },
                QaOutput {
                    answer: (2 * i).to_string(),
                },
            )
        })
        .collect()
}

/// The example's `i`.
pub fn id(ex: &Ex) -> u32 {
    ex.label.answer.parse::<u32>().unwrap_or(1) / 2
}

/// Passes every 8th example.
pub fn sparse(ex: &Ex, _: &Prediction<QaOutput>) -> bool {
    id(ex).is_multiple_of(8)
}

/// The LM on the mock at `base`: caching off, 64 calls in flight at most.
pub fn mock_lm(base: String) -> HttpLm {
    mock_lm_with(&base, 64)
}

/// The LM on the mock at `base`: caching off, `in_flight` calls in flight at most.
pub fn mock_lm_with(base: &str, in_flight: usize) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(base)
        .api_key("x")
        .cache(false)
        .max_in_flight(in_flight)
        .build()
        .expect("an HTTP LM")
}
