use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: Box<dyn std::fmt::Display>,
}

fn main() {}
