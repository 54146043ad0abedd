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
    struct CallsPlainField {
        answer: Predict<Qa>,
        #[skip]
        retriever: Retriever,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let context = self.retriever(query: &question).await?;
        Ok(self.answer(context, question).await?.answer.clone())
    }
}

fn main() {}
