//! A two-predictor program for the tests that watch a program run (callbacks, streaming).

use super::Qa;
use dspy::prelude::*;

signature!(pub Rewrite = "question -> query");

program! {
    /// Rewrites the question, then answers the rewrite.
    pub struct TwoStep {
        pub rewrite: Predict<Rewrite>,
        pub answer: ChainOfThought<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let q = self.rewrite(question).await?.query.clone();
        Ok(self.answer(question: q).await?.answer.clone())
    }
}

/// A fresh [`TwoStep`].
pub fn two_step() -> TwoStep {
    TwoStep {
        rewrite: Predict::new(),
        answer: ChainOfThought::new(),
    }
}
