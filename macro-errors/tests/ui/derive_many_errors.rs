use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input(desc = "the question", weight = 2)]
    question: &'static str,
    #[output]
    completed: bool,
    untagged: String,
}

fn main() {}
