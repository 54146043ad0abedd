use dspy::prelude::*;

#[derive(Signature)]
struct Explain {
    #[input]
    question: String,
    #[output]
    reasoning: String,
    #[output]
    answer: String,
}

fn main() {
    // Predict is fine; ChainOfThought adds its own `reasoning`.
    let _ok = Predict::<Explain>::new();
    let _cot = ChainOfThought::<Explain>::new();
}
