//! Per-call framework overhead: Predict and ChainOfThought against an in-process LM that
//! returns a fixed valid reply (no HTTP), 0 and 4 demos, distinct inputs per call; median
//! µs/call of 5 runs. Then DSRs's published protocol (`question, context -> answer,
//! confidence: float`) with allocations per call, and Python DSPy 3.4.1's in-process figures
//! (`../shared/bench/dspy-py/bench/bench_dummy.py`) measured in the same invocation.
//!
//! `cargo run --release --example bench_overhead [-- --calls 20000 --runs 5 --no-python]`

use dspy::prelude::*;

#[path = "../tests/common/dspy_py.rs"]
mod dspy_py;
#[path = "support/mock.rs"]
mod mock;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Counts allocations on this thread while enabled.
struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
thread_local! {
    static ALLOCS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let _ = ALLOCS.try_with(|c| {
                let (n, b) = c.get();
                c.set((n + 1, b + layout.size() as u64));
            });
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Answer the question in one short sentence.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

/// Answer the question using the context. Be concise and accurate.
#[derive(Signature)]
struct ContextQa {
    #[input]
    question: String,
    #[input]
    context: String,
    #[output]
    answer: String,
    #[output]
    confidence: f64,
}

program! {
    /// Ten Predict stages in a chain, each answering the previous stage's answer.
    struct Chain10 {
        s0: Predict<Qa>, s1: Predict<Qa>, s2: Predict<Qa>, s3: Predict<Qa>, s4: Predict<Qa>,
        s5: Predict<Qa>, s6: Predict<Qa>, s7: Predict<Qa>, s8: Predict<Qa>, s9: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let a = self.s0(question).await?.answer.clone();
        let a = self.s1(question: a).await?.answer.clone();
        let a = self.s2(question: a).await?.answer.clone();
        let a = self.s3(question: a).await?.answer.clone();
        let a = self.s4(question: a).await?.answer.clone();
        let a = self.s5(question: a).await?.answer.clone();
        let a = self.s6(question: a).await?.answer.clone();
        let a = self.s7(question: a).await?.answer.clone();
        let a = self.s8(question: a).await?.answer.clone();
        let a = self.s9(question: a).await?.answer.clone();
        Ok(a)
    }
}

fn chain10(lm: &ScriptedLm) -> Chain10 {
    let p = || Predict::<Qa>::new().with_lm(lm.clone());
    Chain10 {
        s0: p(),
        s1: p(),
        s2: p(),
        s3: p(),
        s4: p(),
        s5: p(),
        s6: p(),
        s7: p(),
        s8: p(),
        s9: p(),
    }
}

/// One printed figure: label, µs/call, and (allocations, bytes) per call if counted.
type Row = (String, f64, Option<Allocs>);
type Allocs = (f64, f64);

struct Args {
    calls: usize,
    runs: usize,
    python: bool,
}

fn args() -> Args {
    let mut a = Args {
        calls: 20_000,
        runs: 5,
        python: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--calls" => a.calls = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.calls),
            "--runs" => a.runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.runs),
            "--no-python" => a.python = false,
            _ => {}
        }
    }
    a
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median µs per call of `runs` runs of `calls` calls; `call(k)` makes call number `k`.
async fn time_calls<F, Fut>(calls: usize, runs: usize, mut call: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for k in 0..1_000 {
        call(k).await;
    }
    let mut per_call = Vec::with_capacity(runs);
    let mut k = 1_000;
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..calls {
            k += 1;
            call(k).await;
        }
        per_call.push(t.elapsed().as_secs_f64() * 1e6 / calls as f64);
    }
    median(per_call)
}

/// Allocations and bytes per call, averaged over `calls` calls.
async fn allocs_per_call<F, Fut>(calls: usize, mut call: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    call(0).await;
    ALLOCS.with(|c| c.set((0, 0)));
    COUNTING.store(true, Ordering::Relaxed);
    for k in 0..calls {
        call(k).await;
    }
    COUNTING.store(false, Ordering::Relaxed);
    let (n, b) = ALLOCS.with(|c| c.get());
    (n as f64 / calls as f64, b as f64 / calls as f64)
}

fn demos(n: usize) -> Vec<Demo> {
    (0..n)
        .map(|j| {
            Demo::new()
                .with("question", format!("dq{j}"))
                .with("answer", format!("da{j}"))
        })
        .collect()
}

fn qa(k: usize) -> QaInput {
    QaInput {
        question: format!("What is {k} + {k}?"),
    }
}

/// Runs Python DSPy's in-process benchmark; returns its output lines.
fn python_dspy(calls: usize, runs: usize) -> Result<String, String> {
    let mut out = python_script("../shared/bench/dspy-py/bench/bench_dummy.py", calls, runs)?;
    out.push_str(&python_script(
        "examples/support/dspy_demos.py",
        calls,
        runs,
    )?);
    Ok(out)
}

/// Runs a DSPy benchmark script (path from the crate root) beside `bench/common.py`.
fn python_script(script: &str, calls: usize, runs: usize) -> Result<String, String> {
    let crate_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = crate_root.join("../shared/bench/dspy-py");
    let py = dspy_py::python()?;
    let out = Command::new(&py)
        .arg(crate_root.join(script))
        .args(["--calls", &calls.to_string(), "--runs", &runs.to_string()])
        .current_dir(root.join("bench"))
        .output()
        .map_err(|e| format!("{py}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let predict_reply = "[[ ## answer ## ]]\nstatic\n\n[[ ## completed ## ]]";
    let cot_reply =
        "[[ ## reasoning ## ]]\nr\n\n[[ ## answer ## ]]\nstatic\n\n[[ ## completed ## ]]";

    let mut rows: Vec<Row> = Vec::new();
    rt.block_on(async {
        for n in [0, 4] {
            let p = Predict::<Qa>::new().with_demos(demos(n)).expect("valid demos").with_lm(ScriptedLm::fixed(predict_reply));
            let call = |k| {
                let p = &p;
                async move {
                    let r = p.call(qa(k)).await.expect("a parsed reply");
                    std::hint::black_box(&r.answer);
                }
            };
            let us = time_calls(a.calls, a.runs, call).await;
            let allocs = allocs_per_call(2_000, call).await;
            rows.push((format!("Predict, {n} demos"), us, Some(allocs)));

            let cot = ChainOfThought::<Qa>::new().with_demos(demos(n)).expect("valid demos").with_lm(ScriptedLm::fixed(cot_reply));
            let call = |k| {
                let cot = &cot;
                async move {
                    let r = cot.call(qa(k)).await.expect("a parsed reply");
                    std::hint::black_box(&r.answer);
                }
            };
            let us = time_calls(a.calls, a.runs, call).await;
            let allocs = allocs_per_call(2_000, call).await;
            rows.push((format!("ChainOfThought, {n} demos"), us, Some(allocs)));
        }
        // A program of 10 chained Predict stages: its overhead should be the sum of its stages'.
        let lm = ScriptedLm::fixed(predict_reply);
        let chain = chain10(&lm);
        let call = |k| {
            let chain = &chain;
            async move {
                let r = chain.call(format!("What is {k} + {k}?")).await.expect("a parsed reply");
                std::hint::black_box(r);
            }
        };
        let us = time_calls(a.calls / 10, a.runs, call).await;
        let allocs = allocs_per_call(200, call).await;
        rows.push(("program!: 10 chained Predict stages".to_string(), us, Some(allocs)));

        // DSRs's protocol: its signature, instruction and mocked reply; 0 and 2 demos.
        let reply = "[[ ## answer ## ]]\nParis is the capital of France.\n\n[[ ## confidence ## ]]\n0.95\n\n[[ ## completed ## ]]\n";
        for n in [0, 2] {
            let demos: Vec<Demo> = (0..n)
                .map(|j| {
                    Demo::new()
                        .with("question", format!("Example question {j}?"))
                        .with("context", format!("Example context {j}."))
                        .with("answer", format!("Example answer {j}."))
                        .with("confidence", 0.9)
                })
                .collect();
            let p = Predict::<ContextQa>::new().with_demos(demos).expect("valid demos").with_lm(ScriptedLm::fixed(reply));
            let call = |k: usize| {
                let p = &p;
                async move {
                    let input = ContextQaInput {
                        question: format!("What is the capital of France? ({k})"),
                        context: "France is a country in Europe. Its capital is Paris.".into(),
                    };
                    let r = p.call(input).await.expect("a parsed reply");
                    std::hint::black_box(r.confidence);
                }
            };
            let us = time_calls(a.calls, a.runs, call).await;
            let allocs = allocs_per_call(2_000, call).await;
            rows.push((format!("DSRs protocol (question, context -> answer, confidence), {n} demos"), us, Some(allocs)));
        }
    });

    // Adapter micro-costs, for DSPy's ChatAdapter.format / parse figures.
    let adapter = ChatAdapter::new();
    let meta = <Qa as dspy::Signature>::meta();
    for n in [0, 4] {
        let d = demos(n);
        let us = micro(a.calls, |k| {
            let msgs = adapter
                .format(meta, meta.instructions(), &d, &qa(k))
                .unwrap();
            std::hint::black_box(msgs);
        });
        rows.push((
            format!("ChatAdapter.format, {n} demos (uncached)"),
            us,
            None,
        ));
    }
    let us = micro(a.calls, |_| {
        let parsed = adapter.parse(meta, "[[ ## answer ## ]]\nParis.\n\n[[ ## completed ## ]]");
        std::hint::black_box(parsed.is_ok());
    });
    rows.push(("ChatAdapter.parse, one str field".into(), us, None));

    println!(
        "dspy-rs in-process overhead ({} calls x {} runs, median µs/call)",
        a.calls, a.runs
    );
    for (label, us, allocs) in &rows {
        match allocs {
            Some((n, b)) => {
                println!("  {label:<72} {us:>8.2} µs   {n:>5.1} allocs  {b:>7.0} B/call")
            }
            None => println!("  {label:<72} {us:>8.2} µs"),
        }
    }

    let us_of = |label: &str| rows.iter().find(|r| r.0 == label).map(|r| r.1);
    if let (Some(one), Some(ten)) = (
        us_of("Predict, 0 demos"),
        us_of("program!: 10 chained Predict stages"),
    ) {
        println!(
            "\n10-stage program / one Predict call: {ten:.2} / {one:.2} µs = {:.1}× (target ≤ 10×)",
            ten / one
        );
        mock::figure(
            "program!: 10 chained stages vs one Predict",
            &format!("{ten:.2} µs = {:.1}× one Predict", ten / one),
            "–",
            "–",
            "≤ 10×",
        );
    }
    if !a.python {
        return;
    }
    let py_calls = 500.to_string();
    println!(
        "\nPython DSPy 3.4.1, same machine, same invocation (bench_dummy.py --calls {py_calls} --runs {}):",
        a.runs
    );
    match python_dspy(500, a.runs) {
        Err(e) => println!("  not measured: {e}"),
        Ok(out) => {
            for line in out.lines() {
                println!("  {line}");
            }
            println!("\nRatios (Python DSPy µs / dspy-rs µs):");
            let mut figures = Vec::new();
            for (ours, theirs) in [
                ("Predict, 0 demos", "DummyLM Predict"),
                ("ChainOfThought, 0 demos", "DummyLM ChainOfThought"),
                ("Predict, 4 demos", "DummyLM Predict 4 demos"),
                ("ChainOfThought, 4 demos", "DummyLM ChainOfThought 4 demos"),
                ("Predict, 0 demos", "StaticEngine LM Predict"),
                ("ChainOfThought, 0 demos", "StaticEngine LM ChainOfThought"),
            ] {
                let ours_us = rows.iter().find(|r| r.0 == ours).map(|r| r.1);
                match (ours_us, dspy_py::us_per_call(&out, &format!("[{theirs}]"))) {
                    (Some(o), Some(t)) => {
                        println!(
                            "  {ours:<26} vs {theirs:<32} {t:>7.1} / {o:.2} = {:>6.0}x",
                            t / o
                        );
                        if theirs.starts_with("DummyLM") {
                            figures.push((ours, o, t));
                        }
                    }
                    _ => println!("  {ours} vs {theirs}: figure missing"),
                }
            }
            for (ours, o, t) in figures {
                mock::figure(
                    &format!("in-process per call, {ours}"),
                    &format!("{o:.2} µs"),
                    &format!("{t:.0} µs"),
                    &format!("{:.0}×", t / o),
                    "≥ 150×",
                );
            }
        }
    }
}

fn micro(calls: usize, mut f: impl FnMut(usize)) -> f64 {
    for k in 0..1_000 {
        f(k);
    }
    let t = Instant::now();
    for k in 0..calls {
        f(k);
    }
    t.elapsed().as_secs_f64() * 1e6 / calls as f64
}
