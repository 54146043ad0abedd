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
    struct WrongType {
        answer: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let pred = self.answer(context: 42, question).await?;
        Ok(pred.answer.clone())
    }
}

fn main() {}
