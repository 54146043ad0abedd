use dspy::Signature;

/// Answer questions.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
}

fn main() {}
