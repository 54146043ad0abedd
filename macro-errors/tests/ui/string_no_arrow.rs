dspy::signature!(Qa = "question, answer");

fn main() {}
