// A broken signature still declares its types: uses of them add no errors of their own.
dspy::signature!(Qa = "question -> answer: integer");

fn main() {
    let _ = std::mem::size_of::<Qa>();
}
