//! SIMBA against in-process LMs: a task LM right on question `k` when its instruction says
//! `level N` with `k % 4 < N`, and, sampled under a rollout, right on some other questions by
//! chance (so the runs of one example differ and buckets have gaps); a prompt model whose advice
//! raises the level. The rule strategy lifts the program, the demo strategy adds demos, the
//! run is reproducible, a budget and a garbled reply end or skip cleanly; the rule proposer's
//! prompt is a snapshot.

use crate::common;

use common::lm_reply as reply;
use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::optimize::{Budget, Simba, Split};
use dspy::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

fn number_after(text: &str, marker: &str) -> Option<u64> {
    text.rsplit(marker)
        .next()
        .filter(|_| text.contains(marker))
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
}

struct Task;

impl LanguageModel for Task {
    fn model(&self) -> &str {
        "test/task"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let system = request.messages[0].content.to_string();
        let user = request
            .messages
            .last()
            .map(|m| m.content.to_string())
            .unwrap_or_default();
        let level = number_after(&system, "level ").unwrap_or(0);
        let k = number_after(&user, "Question ").unwrap_or(0);
        let lucky = request
            .rollout_id
            .is_some_and(|r| (r ^ k.wrapping_mul(0x9E37_79B9)).is_multiple_of(3));
        let answer = if k % 4 < level || lucky { "yes" } else { "no" };
        reply(format!(
            "[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
        ))
    }
}

/// Advises `self` to answer at level 4; garbles its first reply when asked to.
#[derive(Default)]
struct Advisor {
    calls: AtomicUsize,
    garble_first: bool,
    prompts: std::sync::Mutex<Vec<String>>,
}

impl LanguageModel for Advisor {
    fn model(&self) -> &str {
        "test/advisor"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let user = request
            .messages
            .last()
            .map(|m| m.content.to_string())
            .unwrap_or_default();
        self.prompts.lock().unwrap().push(user);
        if self.garble_first && n == 0 {
            return reply("I have no advice.".into());
        }
        reply(
            "[[ ## discussion ## ]]\nThe worse run said no.\n\n[[ ## module_advice ## ]]\n\
             {\"self\": \"Answer at level 4.\"}\n\n[[ ## completed ## ]]"
                .into(),
        )
    }
}

fn trainset(n: usize) -> Vec<QaExample> {
    (0..n)
        .map(|k| {
            Example::new(
                QaInput {
                    question: format!("Question {k}: is it so?"),
                },
                QaOutput {
                    answer: "yes".into(),
                },
            )
        })
        .collect()
}

fn metric(ex: &QaExample, pred: &Prediction<QaOutput>) -> bool {
    ex.label.answer == pred.answer
}

fn simba(advisor: &Arc<Advisor>) -> Simba {
    Simba::new()
        .bsize(8)
        .num_candidates(3)
        .max_steps(3)
        .concurrency(1)
        .progress(false)
        .seed(1)
        .prompt_model(Lm::from_arc(advisor.clone()))
}

async fn run(s: Simba) -> (Predict<Qa>, dspy::optimize::Report) {
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    s.compile(&student, &trainset(16), metric).await.unwrap()
}

#[tokio::test]
async fn rules_lift_the_program_and_demos_are_added() {
    let advisor = Arc::new(Advisor::default());
    let (compiled, report) = run(simba(&advisor)).await;
    // The advice reached the instructions, and the final choice (on the training set)
    // answers every question.
    assert!(
        compiled.instructions().ends_with("\n\nAnswer at level 4."),
        "{:?}\n{report}",
        compiled.instructions()
    );
    assert_eq!(report.best_score, Some(100.0), "{report}");
    let final_trials: Vec<_> = report
        .trials
        .iter()
        .filter(|t| t.split == Split::Train)
        .collect();
    assert!(!final_trials.is_empty() && final_trials.iter().all(|t| t.examples == 16));
    // Candidates were scored on minibatches of 8, some built by appending a demo.
    let mini: Vec<_> = report
        .trials
        .iter()
        .filter(|t| t.split == Split::Minibatch)
        .collect();
    assert!(mini.iter().all(|t| t.examples == 8));
    assert!(mini.len() >= 3, "{report}");
    assert!(mini.iter().any(|t| t.demos["self"] > 0), "{report}");
    // The advisor saw a better and a worse trajectory of one example.
    let prompts = advisor.prompts.lock().unwrap();
    assert!(!prompts.is_empty());
    assert!(prompts[0].contains("[[ ## better_program_trajectory ## ]]"));
    assert!(
        prompts[0].contains("\"module_name\": \"self\""),
        "{}",
        prompts[0]
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_run() {
    let key = |r: &dspy::optimize::Report| -> Vec<_> {
        r.trials
            .iter()
            .map(|t| (t.instructions.clone(), t.demos.clone(), t.score))
            .collect()
    };
    let (_, a) = run(simba(&Arc::new(Advisor::default()))).await;
    let (_, b) = run(simba(&Arc::new(Advisor::default()))).await;
    assert_eq!(key(&a), key(&b));
}

#[tokio::test]
async fn a_garbled_advice_is_skipped() {
    let advisor = Arc::new(Advisor {
        garble_first: true,
        ..Advisor::default()
    });
    let (_, report) = run(simba(&advisor)).await;
    assert!(report.failed_proposals >= 1, "{report}");
    assert!(report.best.is_some());
}

#[tokio::test]
async fn a_budget_stops_with_the_best_so_far() {
    let (_, whole) = run(simba(&Arc::new(Advisor::default()))).await;
    let (compiled, report) =
        run(simba(&Arc::new(Advisor::default())).budget(Budget::lm_calls(30))).await;
    assert!(report.stopped.is_some(), "{report}");
    assert!(report.lm_calls() < whole.lm_calls());
    // The final choice could not run: the last step's winner (a scored candidate) comes back.
    assert!(
        report.trials.iter().all(|t| t.split == Split::Minibatch),
        "{report}"
    );
    assert!(
        report
            .trials
            .iter()
            .any(|t| t.instructions["self"] == compiled.instructions())
            || compiled.instructions() == "Answer the question.",
        "{report}"
    );
}

#[tokio::test]
async fn a_small_trainset_is_an_error() {
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    let err = Simba::new()
        .compile(&student, &trainset(5), metric)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too small: 5 < bsize 32"), "{err}");
}

/// SIMBA's rule proposer (DSPy's `OfferFeedback`), rendered: a change to it is reviewed here
/// like a change to a program's prompt (its bytes are also checked against DSPy's in
/// tests/parity.rs).
#[test]
fn offer_feedback_prompt() {
    let inputs = serde_json::json!({
        "program_code": "class Qa(dspy.Signature): ...",
        "modules_defn": "--------------------------------------------------------------------------------\nModule predict\n\tInput Fields:\n\t\t1. `question` (str)\n\tOutput Fields:\n\t\t1. `answer` (str)",
        "program_inputs": "{'question': 'What is 3 + 3?'}",
        "oracle_metadata": "{'answer': '6'}",
        "worse_program_trajectory": "[{'module_name': 'predict', 'inputs': {'question': 'What is 3 + 3?'}, 'outputs': {'answer': 'six?'}}]",
        "worse_program_outputs": "{'answer': 'six?'}",
        "worse_reward_value": 0.0,
        "worse_reward_info": "{}",
        "better_program_trajectory": "[{'module_name': 'predict', 'inputs': {'question': 'What is 3 + 3?'}, 'outputs': {'answer': '6'}}]",
        "better_program_outputs": "{'answer': '6'}",
        "better_reward_value": 1.0,
        "better_reward_info": "{}",
        "module_names": ["predict"],
    });
    let map = inputs.as_object().cloned().unwrap_or_default();
    let text = dspy::optimize::propose::offer_feedback()
        .render_text(&map)
        .unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!("simba_offer_feedback", text);
}
