use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: (String, f64),
}

fn main() {}
