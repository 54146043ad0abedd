use dspy::prelude::*;

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    #[output]
    answer: String,
}

program! {
    struct NotResult {
        answer: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> String {
        question
    }
}

fn main() {}
