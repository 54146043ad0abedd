//! A GEPA run killed with SIGKILL mid-way resumes from its checkpoint to the same result as an
//! uninterrupted run, without redoing the evaluations it had finished. The test binary runs
//! itself as the child (with `GEPA_CHILD_CHECKPOINT` set), whose task LM is slowed so that the
//! parent can kill it after a few iterations.

use crate::common;

use common::gepa_task::{
    Labelled, Qa, QaOutput, Task, category, current_instruction, last_message, missing_rules, reply,
};
use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::optimize::{Gepa, GepaReport};
use dspy::prelude::*;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Adds one rule the feedback names (the smallest missing), so the run takes many steps.
struct Reflector;

impl LanguageModel for Reflector {
    fn model(&self) -> &str {
        "test/reflector"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let user = last_message(&request);
        let current = current_instruction(&user);
        let new = match missing_rules(&user, &current).into_iter().next() {
            Some(r) => format!("{current} {r}."),
            None => current,
        };
        reply(serde_json::json!({ "new_instruction": new }).to_string())
    }
}

/// `n` questions from `from`, of categories `k % 6`, all answered `yes`.
fn questions(from: usize, n: usize) -> Vec<Labelled> {
    common::gepa_task::questions(from, n, 6)
}

fn feedback(ex: &Labelled, pred: &Prediction<QaOutput>) -> Feedback {
    let c = category(&ex.input.question).unwrap_or(0);
    if pred.answer == ex.label.answer {
        Feedback::new(true, "Correct.")
    } else {
        Feedback::new(false, format!("Wrong; the instruction needs rule c{c}."))
    }
}

/// The run, with the task LM slowed by `delay`; returns its report and the task LM's calls.
async fn run(checkpoint: Option<&Path>, delay: Duration) -> (GepaReport, usize) {
    let task = Arc::new(Task {
        calls: AtomicUsize::new(0),
        delay: Some(delay),
    });
    let student = Predict::<Qa>::new().with_lm(Lm::from_arc(task.clone()));
    let mut gepa = Gepa::new()
        .max_metric_calls(260)
        .reflection_lm(Lm::new(Reflector))
        .concurrency(2)
        .progress(false)
        .seed(5);
    if let Some(path) = checkpoint {
        gepa = gepa.checkpoint(path);
    }
    let (train, val) = (questions(0, 18), questions(100, 12));
    let (_, report) = gepa
        .compile_with_valset(&student, &train, &val, feedback)
        .await
        .unwrap();
    (report, task.calls.load(Ordering::SeqCst))
}

fn iteration_of(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["iteration"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_resumes_to_the_same_result() {
    if let Ok(path) = std::env::var("GEPA_CHILD_CHECKPOINT") {
        // The child: run slowly until killed.
        run(Some(Path::new(&path)), Duration::from_millis(15)).await;
        return;
    }
    let dir = std::env::temp_dir().join(format!("gepa-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("run.json");
    std::fs::remove_file(&checkpoint).ok();

    let mut child = common::rerun(
        module_path!(),
        "a_run_killed_mid_way_resumes_to_the_same_result",
    )
    .env("GEPA_CHILD_CHECKPOINT", &checkpoint)
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while iteration_of(&checkpoint).is_none_or(|i| i < 4) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child wrote no checkpoint past iteration 3 in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_at = iteration_of(&checkpoint).unwrap();

    let (resumed, resumed_calls) = run(Some(&checkpoint), Duration::ZERO).await;
    let (whole, whole_calls) = run(None, Duration::ZERO).await;
    eprintln!(
        "killed after iteration {killed_at}; resumed: {resumed_calls} task calls, uninterrupted: {whole_calls}; {} candidates, {} iterations",
        whole.candidates.len(),
        whole.iterations
    );
    assert!(resumed.resumed && !whole.resumed);
    assert!(whole.candidates.len() > 2, "{whole}");
    assert_eq!(resumed.candidates, whole.candidates, "{resumed}\n{whole}");
    assert_eq!(resumed.steps, whole.steps);
    assert_eq!(
        (resumed.best, resumed.metric_calls, resumed.iterations),
        (whole.best, whole.metric_calls, whole.iterations)
    );
    // The resumed report counts the calls made before the kill (to the last checkpoint) with
    // its own: as many per model as the uninterrupted run made.
    let calls = |r: &dspy::optimize::gepa::GepaReport| {
        r.usage
            .iter()
            .map(|(model, u)| (model.clone(), u.calls))
            .collect::<Vec<_>>()
    };
    assert_eq!(calls(&resumed), calls(&whole));
    // The finished evaluations (the seed's and those of the iterations before the kill) were
    // not run again.
    assert!(
        resumed_calls < whole_calls,
        "resumed after iteration {killed_at}: {resumed_calls} task calls, uninterrupted {whole_calls}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
