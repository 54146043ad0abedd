//! The sandboxed Python interpreter's costs: preparing the sandbox, starting a process cold,
//! taking a warm one from the pool, one trivial execution, and one host-function round trip
//! (medians).
//!
//! `cargo run --release --example bench_interpreter`

use dspy::interpreter::{Limits, PythonInterpreter};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let cold = PythonInterpreter::build("python3", Limits::default(), 0)?;
    let prepare = t.elapsed();

    let mut starts = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let mut s = cold.session().await?;
        s.run("0").await?;
        starts.push(t.elapsed());
    }

    let warm = PythonInterpreter::build("python3", Limits::default(), 2)?;
    drop(warm.session().await?); // fills the pool
    let mut checkouts = Vec::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await; // let the pool refill
        let t = Instant::now();
        let mut s = warm.session().await?;
        s.run("0").await?;
        checkouts.push(t.elapsed());
    }

    let mut s = warm.session().await?;
    let mut execs = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        s.run("1 + 1").await?;
        execs.push(t.elapsed());
    }
    s.define(
        "echo",
        &["x"],
        "",
        Arc::new(|args| Box::pin(async move { Ok(args["x"].clone()) })),
    )
    .await?;
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let r = s.run("echo(41) + 1").await?;
        assert_eq!(r.value, Some(json!(42)));
        calls.push(t.elapsed());
    }
    let calls = median(calls).saturating_sub(median(execs.clone()));

    println!(
        "sandboxed CPython ({}), medians:",
        python_version(&warm).await?
    );
    println!("  prepare the sandbox (once)          {}", ms(prepare));
    println!(
        "  cold session: start + first exec    {}",
        ms(median(starts))
    );
    println!(
        "  warm session from the pool + exec   {}",
        ms(median(checkouts))
    );
    println!(
        "  one execution (`1 + 1`)             {}",
        ms(median(execs))
    );
    println!("  one host-function round trip        {}", ms(calls));
    Ok(())
}

async fn python_version(py: &PythonInterpreter) -> Result<String, Box<dyn std::error::Error>> {
    let r = py.run("import sys\nsys.version.split()[0]").await?;
    Ok(r.value
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default())
}
