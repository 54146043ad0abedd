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
    struct UnknownAttribute {
        #[param(skip)]
        answer: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        Ok(question)
    }
}

fn main() {}
