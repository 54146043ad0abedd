//! mockserver.py (`../shared/bench/dspy-py/`) as a child process on a free 127.0.0.1 port, and
//! the figure lines `scripts/bench-vs-dspy` collects into its table.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running mockserver.py; dropping it kills and reaps the process.
pub struct Mock {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl Mock {
    /// Starts mockserver.py answering after `latency_ms`.
    pub async fn start(latency_ms: u32) -> Mock {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on 127.0.0.1");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/bench/dspy-py/mockserver.py"
        );
        let child = Command::new("python3")
            .args([
                script,
                "--port",
                &port.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs ../shared/bench/dspy-py/mockserver.py");
        // Owned from here on: dropping the Mock kills and reaps the process.
        let mock = Mock { child, port };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("http://127.0.0.1:{port}/stats"))
                .send()
                .await
                .is_ok()
            {
                return mock;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(mock);
        panic!("mockserver.py did not start on port {port}");
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of the suite's table: `FIGURE<TAB>figure<TAB>ours<TAB>DSPy<TAB>ratio<TAB>target`.
pub fn figure(name: &str, ours: &str, dspy: &str, ratio: &str, target: &str) {
    println!("FIGURE\t{name}\t{ours}\t{dspy}\t{ratio}\t{target}");
}

/// The number after `key` on the first line of `text` holding `tag` (`wall 1.234s`,
/// `LM calls 25`): how the benches read Python DSPy's printed figures.
#[allow(dead_code)]
pub fn number(text: &str, tag: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(tag))?;
    let rest = &line[line.find(key)? + key.len()..];
    rest.trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?
        .parse()
        .ok()
}

/// Runs the DSPy-side script `examples/support/{script}` with the shared bench directory and
/// `args`; returns its output lines that start with `prefix`, or why it did not run.
pub fn python_lines(script: &str, args: &[&str], prefix: &str) -> String {
    let bench = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
    let script = format!("{}/examples/support/{script}", env!("CARGO_MANIFEST_DIR"));
    match crate::dspy_py::python().and_then(|py| {
        Command::new(py)
            .arg(&script)
            .arg(bench)
            .args(args)
            .output()
            .map_err(|e| e.to_string())
    }) {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| format!("{l}\n"))
            .collect(),
        Ok(o) => format!("failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => format!("not run: {e}"),
    }
}
