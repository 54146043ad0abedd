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
    struct NoForward {
        answer: Predict<Qa>,
    }
}

fn main() {}
