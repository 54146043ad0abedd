use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    context: String,
    #[output]
    answer: String,
}

fn main() {}
