//! One mistake, one error: the generated items still exist for the code that uses them.
use dspy::prelude::*;

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    completed: bool,
}

/// Not a struct of named fields.
#[derive(Signature)]
struct Tuple(String);

fn input() -> QaInput {
    QaInput {
        question: "q".into(),
    }
}

fn output() -> QaOutput {
    QaOutput { completed: true }
}

fn predictors() -> (Predict<Qa>, Predict<Tuple>) {
    let _ = (TupleInput {}, TupleOutput {});
    (Predict::new(), Predict::new())
}

fn main() {
    let _ = (input(), output(), predictors());
}
