dspy::signature!(Qa = "question, question -> completed");

fn main() {}
