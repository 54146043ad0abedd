dspy::signature!(Qa = "question, , context -> answer");

fn main() {}
