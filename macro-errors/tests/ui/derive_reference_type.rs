use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: &'static str,
    #[output]
    answer: String,
}

fn main() {}
