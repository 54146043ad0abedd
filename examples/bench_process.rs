//! Whole-process figures, each beside Python DSPy's in the same invocation:
//!
//! 1. Peak RSS of a process making 2,500 sequential Predict calls to mockserver.py (ours: a
//!    child process of this bench reading its own `VmHWM`; DSPy: its `rss_predict.py`).
//! 2. Startup: process start to the first Predict call answered by mockserver.py, median of 5
//!    (ours: this binary as a child; DSPy: `python -c "import dspy; …"` doing the same call).
//!
//! `cargo run --release --example bench_process`

#[path = "../tests/common/dspy_py.rs"]
#[allow(dead_code)]
mod dspy_py;
#[path = "support/mock.rs"]
mod mock;

use dspy::lm::HttpLm;
use dspy::prelude::*;
use mock::{Mock, figure};
use std::process::Command;
use std::time::Instant;

signature!(Qa = "question -> answer");

const CALLS: usize = 2_500;
const STARTS: usize = 5;

fn program(port: &str) -> Predict<Qa> {
    let lm = HttpLm::builder("openai/mock")
        .api_base(format!("http://127.0.0.1:{port}/v1"))
        .api_key("x")
        .cache(false)
        .build()
        .expect("an HTTP LM");
    Predict::<Qa>::new().with_lm(lm)
}

/// The child: `calls` sequential calls, then this process's peak RSS in KiB on stdout.
fn child(port: &str, calls: usize) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let p = program(port);
        for i in 0..calls {
            let q = QaInput {
                question: format!("What is {i} + {i}?"),
            };
            p.call(q).await.expect("a reply");
        }
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches(" kB").trim().to_string())
        .unwrap_or_default();
    println!("peak_rss_kib {hwm}");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const PY_FIRST_CALL: &str = "import sys, dspy\n\
dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)\n\
lm = dspy.LM('openai/mock', api_base=f'http://127.0.0.1:{sys.argv[1]}/v1', api_key='x', cache=False)\n\
dspy.configure(lm=lm)\n\
print(dspy.Predict('question -> answer')(question='What is 1 + 1?').answer)\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let port = args.get(i + 1).map(String::as_str).unwrap_or("0");
        let calls = args
            .get(i + 2)
            .and_then(|c| c.parse().ok())
            .unwrap_or(CALLS);
        return child(port, calls);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(parent());
}

async fn parent() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exe = std::env::current_exe().expect("this binary's path");
    let mock = Mock::start(0).await;
    let port = mock.port.to_string();
    let bench_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/dspy-py/bench");
    let py = dspy_py::python();

    // 1. Peak RSS.
    let ours = run(Command::new(&exe).args(["--child", &port, &CALLS.to_string()]))
        .ok()
        .and_then(|o| {
            o.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0);
    let dspy = py.as_ref().map_err(Clone::clone).and_then(|py| {
        run(Command::new(py)
            .args([
                "rss_predict.py",
                "--port",
                &port,
                "--calls",
                &CALLS.to_string(),
            ])
            .current_dir(bench_dir))
    });
    if let Ok(out) = &dspy {
        print!("Python DSPy: {out}");
    }
    let dspy_peak = dspy.as_ref().ok().and_then(|o| {
        let rest = &o[o.find("peak ")? + 5..];
        rest.split_whitespace().next()?.parse::<f64>().ok()
    });
    println!(
        "Peak RSS after {CALLS} calls: dspy-rs {} MiB, Python DSPy {} MiB",
        ours.map_or("–".into(), |v| format!("{v:.1}")),
        dspy_peak.map_or("–".into(), |v| format!("{v:.1}"))
    );
    figure(
        &format!("peak RSS, {CALLS} sequential Predict calls"),
        &ours.map_or("–".into(), |v| format!("{v:.1} MiB")),
        &dspy_peak.map_or("–".into(), |v| format!("{v:.1} MiB")),
        &match (ours, dspy_peak) {
            (Some(o), Some(d)) => format!("1/{:.0}", d / o),
            _ => "–".into(),
        },
        "≤ 1/5",
    );

    // 2. Startup to the first answered call.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..STARTS {
        let t = Instant::now();
        if run(Command::new(&exe).args(["--child", &port, "1"])).is_ok() {
            ours.push(t.elapsed().as_secs_f64());
        }
        if let Ok(py) = &py {
            let t = Instant::now();
            if run(Command::new(py)
                .args(["-c", PY_FIRST_CALL, &port])
                .env("LITELLM_LOCAL_MODEL_COST_MAP", "True"))
            .is_ok()
            {
                theirs.push(t.elapsed().as_secs_f64());
            }
        }
    }
    let ours = (!ours.is_empty()).then(|| median(ours));
    let theirs = (!theirs.is_empty()).then(|| median(theirs));
    println!(
        "Process start to first answered call (median of {STARTS}): dspy-rs {} ms, Python DSPy {} ms",
        ours.map_or("–".into(), |v| format!("{:.1}", v * 1e3)),
        theirs.map_or("–".into(), |v| format!("{:.0}", v * 1e3))
    );
    figure(
        "startup: process start to first answered call",
        &ours.map_or("–".into(), |v| format!("{:.1} ms", v * 1e3)),
        &theirs.map_or("–".into(), |v| format!("{:.0} ms", v * 1e3)),
        &match (ours, theirs) {
            (Some(o), Some(d)) => format!("{:.0}× faster", d / o),
            _ => "–".into(),
        },
        "–",
    );
    drop(mock);
}
