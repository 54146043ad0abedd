use dspy::tool;

/// A type with no JSON schema.
struct Point {
    x: f64,
}

/// Measures a point.
#[tool]
fn measure(p: Point) -> f64 {
    p.x
}

fn main() {
    let _ = measure_tool();
}
