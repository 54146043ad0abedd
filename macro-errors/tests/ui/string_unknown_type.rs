dspy::signature!(Qa = "question -> answer: integer");

fn main() {}
