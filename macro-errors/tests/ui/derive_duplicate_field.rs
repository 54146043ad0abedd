use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn main() {}
