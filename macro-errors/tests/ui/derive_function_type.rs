use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: fn() -> String,
}

fn main() {}
