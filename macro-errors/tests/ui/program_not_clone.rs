use dspy::optimize::BootstrapFewShot;
use dspy::prelude::*;

signature!(Qa = "question -> answer");

/// A resource that cannot be copied (put it in an `Arc` to share it between copies).
struct Connection;

program! {
    /// A program is Clone when its fields are; optimizers need that to copy it.
    struct WithConnection {
        answer: Predict<Qa>,
        #[skip]
        db: Connection,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let _ = &self.db;
        Ok(self.answer(question).await?.answer.clone())
    }
}

async fn compile(p: &WithConnection, train: &[Example<WithConnectionInput, QaOutput>]) {
    let _ = BootstrapFewShot::new()
        .compile(p, train, |ex: &Example<WithConnectionInput, QaOutput>, out: &String| ex.label.answer == *out)
        .await;
}

fn main() {}
