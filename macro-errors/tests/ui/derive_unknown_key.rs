use dspy::Signature;

#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output(descr = "a short answer")]
    answer: String,
}

fn main() {}
