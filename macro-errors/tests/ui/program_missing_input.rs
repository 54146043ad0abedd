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
    struct MissingInput {
        answer: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let pred = self.answer(question).await?;
        Ok(pred.answer.clone())
    }
}

fn main() {}
