use dspy::tool;

/// A misspelled option and a name an LM cannot call.
#[tool(title = "add")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[tool(name = "add numbers")]
fn add2(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let _ = (add_tool(), add2_tool());
}
