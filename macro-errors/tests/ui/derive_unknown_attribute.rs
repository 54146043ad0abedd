use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[outptu]
    answer: String,
}

fn main() {}
