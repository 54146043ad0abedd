dspy::signature!(Qa = "question -> answer: Strng");

fn main() {}
