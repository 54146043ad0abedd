use dspy::tool;

struct Db;

/// Each mistake is reported once, and the maker's uses add no errors.
#[tool]
fn lookup<T>((a, b): (u8, u8), key: &str, t: impl Clone) -> String {
    String::new()
}

fn main() {
    let _tools = vec![lookup_tool()];
}
