//! Python DSPy 3.4.1 beside us: its venv (made once by ../shared/bench/dspy-py/setup.sh, or
//! `DSPY_PY`) and the figures its benchmark scripts print. Shared by tests and benchmarks.

use std::process::Command;

/// The venv's python: `DSPY_PY`, else what `setup.sh` prints last (it makes the venv once).
pub fn python() -> Result<String, String> {
    if let Ok(p) = std::env::var("DSPY_PY") {
        return Ok(p);
    }
    let setup = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/bench/dspy-py/setup.sh"
    );
    let out = Command::new(setup)
        .output()
        .map_err(|e| format!("{setup}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{setup} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// The µs/call figure on the first line of `output` containing `tag`.
pub fn us_per_call(output: &str, tag: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.contains(tag))?;
    let before = line.split(" us/call").next()?;
    before.rsplit(' ').next()?.parse().ok()
}
