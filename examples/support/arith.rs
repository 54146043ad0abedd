//! The mockserver benches' shared protocol: the signature `question -> answer`, the
//! 50-example training set "What is i + i?", the metric passing every 8th example, and the
//! HTTP LM on the mock (caching off).
#![allow(dead_code)]

use dspy::lm::HttpLm;
use dspy::prelude::*;

signature!(pub Qa = "question -> answer");

/// One training example.
pub type Ex = Example<QaInput, QaOutput>;

/// "What is i + i?" → `2i`, for i in 0..50.
pub fn trainset() -> Vec<Ex> {
    (0..50)
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
    HttpLm::builder("openai/mock")
        .api_base(base)
        .api_key("x")
        .cache(false)
        .max_in_flight(64)
        .build()
        .expect("an HTTP LM")
}
