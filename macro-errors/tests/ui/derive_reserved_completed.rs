use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    completed: bool,
}

fn main() {}
