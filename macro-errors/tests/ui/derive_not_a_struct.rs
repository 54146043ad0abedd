use dspy::Signature;

#[derive(Signature)]
enum Qa {
    Question(String),
}

fn main() {}
