//! COPRO against in-process LMs: a task LM whose accuracy is set by the instruction it is given
//! (`level N` answers the first N questions right), and a prompt model that proposes levels and
//! records the attempts it is shown. Later rounds see the earlier attempts sorted worst first;
//! the best instruction wins; a garbled proposal is skipped; a budget stops the run with the
//! best program so far; the proposer's prompts are snapshots.

use crate::common;

use common::lm_reply as reply;
use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::optimize::{Budget, Copro, Split, propose};
use dspy::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

/// Answers question `k` right when its instruction says `level N` with `k < N`.
struct Task;

fn level_of(text: &str) -> usize {
    text.split("level ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl LanguageModel for Task {
    fn model(&self) -> &str {
        "test/task"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let system = request.messages[0].content.to_string();
        let user = request.messages.last().map(|m| m.content.to_string());
        let k: usize = user
            .as_deref()
            .and_then(|u| u.split("Question ").nth(1))
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        let answer = if k < level_of(&system) { "yes" } else { "no" };
        reply(format!(
            "[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
        ))
    }
}

/// Proposes `level 1`, `level 2`, … in call order (one call at a time in these tests), after a
/// garbled first reply when asked to; records each attempts list it is shown.
#[derive(Default)]
struct Proposer {
    calls: AtomicUsize,
    garble_first: bool,
    shown: Mutex<Vec<String>>,
    temperatures: Mutex<Vec<Option<f32>>>,
}

impl LanguageModel for Proposer {
    fn model(&self) -> &str {
        "test/proposer"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let user = request
            .messages
            .last()
            .map(|m| m.content.to_string())
            .unwrap_or_default();
        if user.contains("[[ ## attempted_instructions ## ]]") {
            self.shown.lock().unwrap().push(user);
        }
        self.temperatures
            .lock()
            .unwrap()
            .push(request.config.temperature);
        if self.garble_first && n == 0 {
            return reply("I think you should be more creative!".into());
        }
        reply(format!(
            "[[ ## proposed_instruction ## ]]\n\"Answer at level {}.\"\n\n\
             [[ ## proposed_prefix_for_output_field ## ]]\nAnswer:\n\n[[ ## completed ## ]]",
            n + 1
        ))
    }
}

fn trainset() -> Vec<QaExample> {
    (0..20)
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

/// The scores in an attempts prompt, in the order shown.
fn shown_scores(prompt: &str) -> Vec<f64> {
    prompt
        .split("Resulting Score #")
        .skip(1)
        .filter_map(|s| s.split(": ").nth(1))
        .filter_map(|s| {
            s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .next()
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

#[tokio::test]
async fn later_rounds_see_earlier_attempts_sorted_and_the_best_wins() {
    let proposer = Arc::new(Proposer::default());
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    let (compiled, report) = Copro::new()
        .breadth(3)
        .depth(3)
        .concurrency(1)
        .progress(false)
        .prompt_model(Lm::from_arc(proposer.clone()))
        .compile(&student, &trainset(), metric)
        .await
        .unwrap();

    // Round 0: 2 proposals (levels 1, 2) and the original; rounds 1 and 2: 3 proposals each.
    assert_eq!(proposer.calls.load(Ordering::SeqCst), 2 + 3 + 3);
    assert_eq!(report.trials.len(), 3 + 3 + 3);
    assert!(
        report
            .trials
            .iter()
            .all(|t| t.split == Split::Train && t.examples == 20)
    );
    let shown = proposer.shown.lock().unwrap().clone();
    // Rounds 1 and 2 each ask 3 times with one prompt (and distinct rollout ids).
    assert_eq!(shown.len(), 6);
    assert!(shown[0] == shown[1] && shown[1] == shown[2] && shown[3] == shown[5]);
    for prompt in &shown {
        let scores = shown_scores(prompt);
        assert!(!scores.is_empty(), "{prompt}");
        assert!(
            scores.windows(2).all(|w| w[0] <= w[1]),
            "attempts are listed worst first: {scores:?}\n{prompt}"
        );
    }
    // Round 1 sees the three of round 0: the original (0 %), level 1 (5 %), level 2 (10 %).
    assert_eq!(shown_scores(&shown[0]), [0.0, 5.0, 10.0]);
    assert!(
        shown[0].contains("Instruction #3: Answer at level 2."),
        "{}",
        shown[0]
    );
    // Round 2 sees the best three so far.
    assert_eq!(shown_scores(&shown[3]), [15.0, 20.0, 25.0]);

    // The best is the last proposal, level 8: 8 of 20.
    assert_eq!(compiled.instructions(), "Answer at level 8.");
    assert_eq!(report.best_score, Some(40.0));
    let best = &report.trials[report.best.unwrap()];
    assert_eq!(best.instructions["self"], "Answer at level 8.");
    assert_eq!(best.round, 2);
    // Proposals are sampled at DSPy's init_temperature.
    assert!(
        proposer
            .temperatures
            .lock()
            .unwrap()
            .iter()
            .all(|t| *t == Some(1.4))
    );
    // Usage per model: the task LM ran 9 candidates × 20 examples.
    assert_eq!(report.usage["test/task"].calls, 9 * 20);
    assert_eq!(report.usage["test/proposer"].calls, 8);
    assert!(report.to_string().contains("← best"));
}

#[tokio::test]
async fn a_garbled_proposal_is_skipped() {
    let proposer = Arc::new(Proposer {
        garble_first: true,
        ..Proposer::default()
    });
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    let (compiled, report) = Copro::new()
        .breadth(3)
        .depth(1)
        .concurrency(1)
        .progress(false)
        .prompt_model(Lm::from_arc(proposer.clone()))
        .compile(&student, &trainset(), metric)
        .await
        .unwrap();
    assert!(report.failed_proposals >= 1, "{report}");
    assert!(
        compiled.instructions().starts_with("Answer at level"),
        "{report}"
    );
    assert!(report.trials.len() >= 2);
}

#[tokio::test]
async fn a_budget_stops_with_the_best_so_far() {
    let proposer = Arc::new(Proposer::default());
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    // 2 proposals, then 3 candidates × 20 calls: the budget runs out after round 0's second
    // candidate.
    let (compiled, report) = Copro::new()
        .breadth(3)
        .depth(3)
        .concurrency(1)
        .progress(false)
        .budget(Budget::lm_calls(2 + 30))
        .prompt_model(Lm::from_arc(proposer.clone()))
        .compile(&student, &trainset(), metric)
        .await
        .unwrap();
    assert_eq!(report.trials.len(), 2, "{report}");
    assert!(
        report
            .stopped
            .as_deref()
            .is_some_and(|s| s.contains("LM calls")),
        "{report}"
    );
    assert_eq!(compiled.instructions(), "Answer at level 2.");
    assert_eq!(proposer.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn each_predictor_of_a_program_gets_its_own_instruction() {
    program! {
        /// Two stages.
        struct Two {
            first: Predict<Qa>,
            second: Predict<Qa>,
        }
        async fn forward(&self, question: String) -> dspy::Result<QaOutput> {
            let a = self.first(question).await?;
            let b = self.second(question: a.answer.clone()).await?;
            Ok(b.into_output())
        }
    }
    let proposer = Arc::new(Proposer::default());
    let program = Two {
        first: Predict::new().with_lm(Lm::new(Task)),
        second: Predict::new().with_lm(Lm::new(Task)),
    };
    let train: Vec<Example<TwoInput, QaOutput>> = trainset()
        .into_iter()
        .map(|ex| {
            let question = ex.input.question;
            Example::new(TwoInput { question }, ex.label)
        })
        .collect();
    let (compiled, report) = Copro::new()
        .breadth(2)
        .depth(1)
        .concurrency(1)
        .progress(false)
        .prompt_model(Lm::from_arc(proposer.clone()))
        .compile(&program, &train, |ex, pred| ex.label.answer == pred.answer)
        .await
        .unwrap();
    let stages: Vec<_> = report
        .trials
        .iter()
        .filter_map(|t| t.predictor.clone())
        .collect();
    assert_eq!(stages, ["first", "first", "second", "second"]);
    assert_eq!(compiled.first.instructions(), "Answer at level 1.");
    assert!(report.trials.iter().all(|t| t.instructions.len() == 2));
}

#[test]
fn proposer_prompts() {
    let basic = propose::basic_generate_instruction()
        .render_text(&serde_json::Map::from_iter([(
            "basic_instruction".to_string(),
            "Answer the question.".into(),
        )]))
        .unwrap();
    insta::assert_snapshot!("copro_basic_generate_instruction", basic);
    let attempts = propose::generate_instruction_given_attempts()
        .render_text(&serde_json::Map::from_iter([(
            "attempted_instructions".to_string(),
            serde_json::json!([
                "Instruction #1: Answer the question.",
                "Prefix #1: Answer:",
                "Resulting Score #1: 40.0",
                "Instruction #2: Answer briefly.",
                "Prefix #2: Answer:",
                "Resulting Score #2: 55.5",
            ]),
        )]))
        .unwrap();
    insta::assert_snapshot!("copro_generate_instruction_given_attempts", attempts);
}
