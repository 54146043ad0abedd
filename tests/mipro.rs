//! MIPROv2 against in-process LMs: a task LM whose accuracy is set by the instruction it is
//! given (`level N` answers questions with `k % 4 < N` right), and a prompt model that answers
//! every proposer signature, proposing `level 1`, `level 2`, … in call order. The search is
//! reproducible under a seed and scores the program as given first; the best instruction wins;
//! a budget stops it with the best so far; a garbled proposal is skipped; each stage of a
//! program gets its own candidates; the proposer's prompts are snapshots.

use crate::common;

use common::lm_reply as reply;
use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::optimize::{Auto, Budget, MiproV2, Split};
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

fn number_after(text: &str, marker: &str) -> Option<usize> {
    text.split(marker)
        .nth(1)
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
        let right = number_after(&user, "Question ").is_some_and(|k| k % 4 < level);
        let answer = if right { "yes" } else { "no" };
        reply(format!(
            "[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
        ))
    }
}

/// Answers each proposer signature's first output field; proposes levels in call order.
#[derive(Default)]
struct Proposer {
    calls: AtomicUsize,
    proposals: AtomicUsize,
    garble_first_proposal: bool,
    prompts: Mutex<Vec<String>>,
}

impl LanguageModel for Proposer {
    fn model(&self) -> &str {
        "test/proposer"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let system = request.messages[0].content.to_string();
        self.prompts.lock().unwrap().push(system.clone());
        let field = common::first_output_field(&system);
        let text = if field == "proposed_instruction" {
            let n = self.proposals.fetch_add(1, Ordering::SeqCst);
            if self.garble_first_proposal && n == 0 {
                return reply("no markers here".into());
            }
            format!("Proposed Instruction: Answer at level {}.", n + 1)
        } else {
            format!("Some {field}.")
        };
        reply(format!(
            "[[ ## {field} ## ]]\n{text}\n\n[[ ## completed ## ]]"
        ))
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

fn mipro(proposer: &Arc<Proposer>) -> MiproV2 {
    MiproV2::new()
        .concurrency(1)
        .progress(false)
        .seed(3)
        .prompt_model(Lm::from_arc(proposer.clone()))
}

type Run = (Predict<Qa>, dspy::optimize::Report);

async fn run(m: MiproV2, train: &[QaExample]) -> Run {
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    m.compile(&student, train, metric).await.unwrap()
}

#[tokio::test]
async fn the_search_is_reproducible_and_scores_the_given_program_first() {
    let proposer = Arc::new(Proposer::default());
    let (compiled, report) = run(mipro(&proposer), &trainset(20)).await;

    // No valset: the last 16 of 20 are the valset; light: 6 demo sets, 3 instruction
    // candidates (its own, then 2 proposals), 10 trials, each on the whole valset (16 ≤ 50).
    let first = &report.trials[0];
    assert_eq!(first.instruction_choices["self"], 0);
    assert_eq!(first.demo_sets["self"], 0);
    assert_eq!((first.split, first.examples), (Split::Val, 16));
    assert_eq!(first.instructions["self"], "Answer the question.");
    assert_eq!(report.trials.len(), 1 + 10, "{report}");
    assert_eq!(
        report.proposals["self"],
        [
            "Answer the question.",
            "Answer at level 1.",
            "Answer at level 2."
        ]
    );
    // Each trial scores what its instruction earns (level N: N quarters of the valset), and
    // the program returned is the best one scored on the whole valset.
    for t in &report.trials {
        let level = number_after(&t.instructions["self"], "level ").unwrap_or(0);
        assert_eq!(t.score, 25.0 * level as f64, "{report}");
    }
    let top = report.trials.iter().map(|t| t.score).fold(0.0, f64::max);
    assert_eq!(report.best_score, Some(top), "{report}");
    let best = &report.trials[report.best.unwrap()];
    assert_eq!(compiled.instructions(), best.instructions["self"]);
    assert!(report.usage["test/task"].calls > 0);
    assert!(report.usage["test/proposer"].calls >= 3);

    // The same seed gives the same trials.
    let again = Arc::new(Proposer::default());
    let (_, second) = run(mipro(&again), &trainset(20)).await;
    let key = |r: &dspy::optimize::Report| -> Vec<_> {
        r.trials
            .iter()
            .map(|t| (t.instruction_choices.clone(), t.demo_sets.clone(), t.score))
            .collect()
    };
    assert_eq!(key(&report), key(&second));
    // The proposer saw the dataset summary's and the program description's signatures.
    let prompts = proposer.prompts.lock().unwrap();
    assert!(prompts.iter().any(|p| p.contains("`observations`")));
    assert!(prompts.iter().any(|p| p.contains("`program_description`")));
}

#[tokio::test]
async fn minibatches_and_full_evaluations() {
    let proposer = Arc::new(Proposer::default());
    // 80 validation examples: more than 50, so light scores trials on minibatches of 35 and
    // the best-mean choice on all 80 every 5 trials.
    let train = trainset(20);
    let val = trainset(80);
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    let (_, report) = mipro(&proposer)
        .compile_with_valset(&student, &train, &val, metric)
        .await
        .unwrap();
    let minibatches = report
        .trials
        .iter()
        .filter(|t| t.split == Split::Minibatch)
        .count();
    let full = report
        .trials
        .iter()
        .filter(|t| t.split == Split::Val)
        .count();
    assert_eq!(minibatches, 10, "{report}");
    assert!(
        full >= 2,
        "the given program and at least one full evaluation: {report}"
    );
    assert!(
        report
            .trials
            .iter()
            .all(|t| t.examples == if t.split == Split::Val { 80 } else { 35 })
    );
}

#[tokio::test]
async fn a_budget_stops_with_the_best_so_far() {
    let proposer = Arc::new(Proposer::default());
    let (_, whole) = run(mipro(&proposer), &trainset(20)).await;
    let total = whole.lm_calls();
    // Room for everything but the last five trials (16 calls each).
    let proposer = Arc::new(Proposer::default());
    let (compiled, report) = run(
        mipro(&proposer).budget(Budget::lm_calls(total - 5 * 16)),
        &trainset(20),
    )
    .await;
    assert!(report.stopped.is_some(), "{report}");
    assert!(report.trials.len() < whole.trials.len());
    let best = &report.trials[report.best.unwrap()];
    assert_eq!(compiled.instructions(), best.instructions["self"]);
}

#[tokio::test]
async fn a_garbled_proposal_is_skipped() {
    let proposer = Arc::new(Proposer {
        garble_first_proposal: true,
        ..Proposer::default()
    });
    let (_, report) = run(mipro(&proposer), &trainset(20)).await;
    assert!(report.failed_proposals >= 1, "{report}");
    assert_eq!(report.proposals["self"][0], "Answer the question.");
    assert_eq!(report.trials.len(), 11);
}

#[tokio::test]
async fn settings_are_checked_as_dspy_checks_them() {
    let proposer = Arc::new(Proposer::default());
    let student = Predict::<Qa>::new().with_lm(Lm::new(Task));
    let train = trainset(10);
    let err = mipro(&proposer)
        .num_candidates(4)
        .compile(&student, &train, metric)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("num_candidates and num_trials cannot be set"),
        "{err}"
    );
    let err = mipro(&proposer)
        .auto(None)
        .num_candidates(4)
        .compile(&student, &train, metric)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("num_trials must be set"), "{err}");
    let err = mipro(&proposer)
        .auto(Some(Auto::Medium))
        .compile(&student, &train[..1], metric)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 2 examples"), "{err}");
}

#[tokio::test]
async fn each_stage_of_a_program_gets_its_own_candidates() {
    program! {
        /// Two stages.
        struct Two {
            first: Predict<Qa>,
            second: Predict<Qa>,
        }
        async fn forward(&self, question: String) -> dspy::Result<QaOutput> {
            let a = self.first(question: question.clone()).await?;
            let b = self.second(question: format!("{question} {}", a.answer)).await?;
            Ok(b.into_output())
        }
    }
    let proposer = Arc::new(Proposer::default());
    let program = Two {
        first: Predict::new().with_lm(Lm::new(Task)),
        second: Predict::new().with_lm(Lm::new(Task)),
    };
    let train: Vec<Example<TwoInput, QaOutput>> = trainset(20)
        .into_iter()
        .map(|ex| {
            let question = ex.input.question;
            Example::new(TwoInput { question }, ex.label)
        })
        .collect();
    let (compiled, report) = mipro(&proposer)
        .zero_shot()
        .compile(&program, &train, |ex, pred| ex.label.answer == pred.answer)
        .await
        .unwrap();
    let first = &report.proposals["first"];
    let second = &report.proposals["second"];
    // Zero-shot light: 6 instruction candidates per stage, its own and 5 proposals.
    assert_eq!((first.len(), second.len()), (6, 6), "{report}");
    assert_ne!(first[1..], second[1..]);
    assert!(report.trials.iter().all(|t| t.demo_sets.is_empty()));
    assert!(
        report
            .trials
            .iter()
            .all(|t| t.instruction_choices.len() == 2)
    );
    assert!(compiled.first.demos().is_empty() && compiled.second.demos().is_empty());
    // The second stage decides: any of its proposals (levels 6 to 10) answers every question.
    assert_eq!(report.best_score, Some(100.0), "{report}");
    assert_ne!(compiled.second.instructions(), "Answer the question.");
}

/// The grounded proposer's prompts, rendered: a change to any of them is reviewed here like a
/// change to a program's prompt (their bytes are also checked against DSPy's in
/// tests/parity.rs).
#[test]
fn proposer_prompts() {
    use dspy::optimize::propose;
    use serde_json::{Map, Value, json};
    let render = |p: dspy::DynPredict, inputs: Value| {
        let map = inputs.as_object().cloned().unwrap_or_default();
        p.render_text(&map).unwrap_or_else(|e| panic!("{e}"))
    };
    let examples = "[{'question': 'What is 1 + 1?', 'answer': '2'}, {'question': 'What is 2 + 2?', 'answer': '4'}]";
    insta::assert_snapshot!(
        "mipro_dataset_descriptor",
        render(propose::dataset_descriptor(), json!({"examples": examples}))
    );
    insta::assert_snapshot!(
        "mipro_dataset_descriptor_with_prior_observations",
        render(
            propose::dataset_descriptor_with_prior_observations(),
            json!({"examples": examples, "prior_observations": "The questions add two small numbers."})
        )
    );
    insta::assert_snapshot!(
        "mipro_observation_summarizer",
        render(
            propose::observation_summarizer(),
            json!({"observations": "The questions add two small numbers. The answers are digits."})
        )
    );
    let code = "class Qa(dspy.Signature):\n    question = dspy.InputField()\n    answer = dspy.OutputField()";
    insta::assert_snapshot!(
        "mipro_describe_program",
        render(
            propose::describe_program(),
            json!({"program_code": code, "program_example": examples})
        )
    );
    insta::assert_snapshot!(
        "mipro_describe_module",
        render(
            propose::describe_module(),
            json!({
                "program_code": code,
                "program_example": examples,
                "program_description": "It answers arithmetic questions.",
                "module": "Predict(Qa)",
            })
        )
    );
    let all = propose::GeneratorFields {
        dataset_summary: true,
        program_aware: true,
        instruct_history: true,
        tip: true,
    };
    let mut inputs: Map<String, Value> = Map::new();
    for (k, v) in [
        ("dataset_description", "Small sums."),
        ("program_code", code),
        ("program_description", "It answers arithmetic questions."),
        ("module", "Predict(Qa)"),
        ("module_description", "Answers one sum."),
        ("task_demos", "Question: What is 1 + 1?\nAnswer: 2"),
        (
            "previous_instructions",
            "Instruction #1: Answer the question.\nScore #1: 40.0",
        ),
        ("basic_instruction", "Answer the question."),
        ("tip", "Keep the instruction concise."),
    ] {
        inputs.insert(k.into(), v.into());
    }
    insta::assert_snapshot!(
        "mipro_generate_single_module_instruction",
        render(
            propose::generate_single_module_instruction(all),
            Value::Object(inputs)
        )
    );
}
