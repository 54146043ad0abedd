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

struct Retriever;

program! {
    struct PlainFieldUnmarked {
        answer: Predict<Qa>,
        retriever: Retriever,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        Ok(self.answer(context: vec![], question).await?.answer.clone())
    }
}

fn main() {}
