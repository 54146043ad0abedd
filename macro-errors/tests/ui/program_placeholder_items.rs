//! One mistake, one error: the program's items still exist for the code that uses them.
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
    struct NotResult {
        answer: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> String {
        question
    }
}

program! {
    struct NoForward {
        answer: Predict<Qa>,
    }
}

program! {
    struct BadSyntax {
        answer: Predict<Qa>,
    }

    async fn forward(&self, question String) -> dspy::Result<String> {
        Ok(question)
    }
}

async fn run() -> dspy::Result<()> {
    let p = NotResult {
        answer: Predict::new(),
    };
    let s: String = p.call("q".into()).await?;
    let t: String = p.forward(NotResultInput { question: s }).await?;
    let q = NoForward {
        answer: Predict::new(),
    };
    let () = q.forward(NoForwardInput {}).await?;
    let r = BadSyntax {
        answer: Predict::new(),
    };
    let _ = (t, p.named_predictors(), q.clone().paths(), r.clone().paths());
    Ok(())
}

fn main() {
    let _ = run();
}
