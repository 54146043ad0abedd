use dspy::prelude::*;

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

program! {
    // Compiled when the stage was `answer: ChainOfThought<QaWithContext>` and there was a
    // `rewrite` stage: the file no longer fits.
    #[artifact("program_stale_artifact.json")]
    struct Stale {
        answer: Predict<Qa>,
        summary: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        Ok(self.answer(question).await?.answer.clone())
    }
}

fn main() {}
