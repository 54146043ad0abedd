//! GEPA against in-process LMs. The task LM answers question `k` right only when its
//! instruction holds the rule of the question's category (`rule cN`); the feedback metric names
//! the missing rule; the reflection LM (answering DSPy's `ProposeInstruction` through the JSON
//! adapter) writes the current instruction plus every rule the feedback names. So a child
//! beats its parent exactly when the minibatch had a question whose rule was missing, and the
//! run's course is fixed by the seed.

use crate::common;

use common::gepa_task::{
    Labelled, Qa, QaInput, QaOutput, Task, category, current_instruction, last_message,
    missing_rules, reply,
};
use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse, Usage};
use dspy::optimize::gepa::{self, Components, Selection, Step};
use dspy::optimize::{Budget, Gepa};
use dspy::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the reflection LM answers.
#[derive(Clone, Copy, Default, PartialEq)]
enum Mode {
    /// The current instruction plus every rule the feedback names.
    #[default]
    Learn,
    /// The current instruction unchanged.
    Same,
    /// Text with no JSON object the first time, then as `Learn`.
    GarbleFirst,
}

#[derive(Default)]
struct Reflector {
    mode: Mode,
    calls: AtomicUsize,
    prompts: Mutex<Vec<String>>,
    cost: Option<f64>,
}

impl Reflector {
    fn with(mode: Mode) -> Arc<Reflector> {
        Arc::new(Reflector {
            mode,
            ..Reflector::default()
        })
    }
}

impl LanguageModel for Reflector {
    fn model(&self) -> &str {
        "test/reflector"
    }
    fn cost(&self, _usage: Usage) -> Option<f64> {
        self.cost
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let user = last_message(&request);
        self.prompts
            .lock()
            .unwrap()
            .push(dspy::module::render_messages(&request.messages));
        if self.mode == Mode::GarbleFirst && n == 0 {
            return reply("I cannot help with that.".into());
        }
        let current = current_instruction(&user);
        let new = if self.mode == Mode::Same {
            current
        } else {
            let mut new = current.clone();
            for r in missing_rules(&user, &current) {
                new.push_str(&format!(" {r}."));
            }
            new
        };
        reply(serde_json::json!({ "new_instruction": new }).to_string())
    }
}

/// `n` questions from `from`, of categories `k % 4`, all answered `yes`.
fn questions(from: usize, n: usize) -> Vec<Labelled> {
    common::gepa_task::questions(from, n, 4)
}

fn feedback(ex: &Labelled, pred: &Prediction<QaOutput>) -> Feedback {
    if pred.answer == ex.label.answer {
        Feedback::new(true, "Correct.")
    } else {
        let c = category(&ex.input.question).unwrap_or(0);
        Feedback::new(
            false,
            format!("Wrong: the answer is yes; the instruction needs rule c{c}."),
        )
    }
}

fn gepa(reflector: &Arc<Reflector>) -> Gepa {
    Gepa::new()
        .max_metric_calls(150)
        .reflection_lm(Lm::from_arc(reflector.clone()))
        .concurrency(2)
        .progress(false)
        .seed(1)
}

fn student(task: &Arc<Task>) -> Predict<Qa> {
    Predict::<Qa>::new().with_lm(Lm::from_arc(task.clone()))
}

#[tokio::test]
async fn reflection_on_feedback_evolves_a_better_instruction() {
    let (task, reflector) = (Arc::new(Task::default()), Reflector::with(Mode::Learn));
    let (train, val) = (questions(0, 12), questions(100, 8));
    let (compiled, report) = gepa(&reflector)
        .compile_with_valset(&student(&task), &train, &val, feedback)
        .await
        .unwrap();
    let seed = &report.candidates[0];
    assert_eq!(seed.score, 0.0, "{report}");
    let best = report.best_candidate().unwrap();
    assert!(best.score > seed.score, "{report}");
    assert_eq!(compiled.instructions(), best.instructions["self"]);
    assert!(compiled.instructions().contains("rule c"), "{report}");
    // Every child has one parent (or two, merged) among the earlier candidates.
    for c in &report.candidates[1..] {
        assert!(!c.parents.is_empty() && c.parents.iter().all(|&p| p < c.index));
        assert_eq!(c.val_scores.len(), val.len());
    }
    // The reflection LM saw the feedback, and the budget held to one iteration's overshoot.
    let prompts = reflector.prompts.lock().unwrap();
    assert!(
        prompts[0].contains("the instruction needs rule c"),
        "{}",
        prompts[0]
    );
    // The first reflection prompt as GEPA sent it (DSPy's `ProposeInstruction`, JSON adapter).
    insta::assert_snapshot!("gepa_reflection_prompt", prompts[0]);
    assert!(report.metric_calls >= 150 && report.metric_calls <= 150 + 3 + 3 + 8);
    assert!(report.stopped.as_deref().unwrap_or("").contains("budget"));
    // The tree, the Mermaid chart and the JSON show the lineage.
    assert!(report.tree().contains("#1"), "{}", report.tree());
    assert!(
        report.mermaid().contains("c0 --> c1"),
        "{}",
        report.mermaid()
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["candidates"][1]["parents"][0], 0);
    // The frontier holds, for each instance, its best score.
    for (k, (s, progs)) in report.frontier.iter().enumerate() {
        let top = report
            .candidates
            .iter()
            .map(|c| c.val_scores[k])
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(*s, top);
        assert!(
            progs
                .iter()
                .all(|&p| report.candidates[p].val_scores[k] == top)
        );
    }
    // The summary has the usage of both LMs and a trial per scored candidate.
    assert!(report.usage.contains_key("test/reflector") && report.usage.contains_key("test/task"));
    assert!(
        report
            .trials
            .iter()
            .any(|t| t.split == dspy::optimize::Split::Minibatch)
    );
}

#[tokio::test]
async fn a_child_no_better_than_its_parent_is_rejected() {
    let (task, reflector) = (Arc::new(Task::default()), Reflector::with(Mode::Same));
    let (train, val) = (questions(0, 12), questions(100, 8));
    let (compiled, report) = gepa(&reflector)
        .max_metric_calls(60)
        .compile_with_valset(&student(&task), &train, &val, feedback)
        .await
        .unwrap();
    assert_eq!(report.candidates.len(), 1, "{report}");
    assert_eq!(compiled.instructions(), "Answer the question.");
    let reflections = report
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Reflection { child: None, .. }))
        .count();
    assert!(reflections >= 5, "{report}");
}

#[tokio::test]
async fn without_feedback_the_reflection_lm_is_told_the_score() {
    let (task, reflector) = (Arc::new(Task::default()), Reflector::with(Mode::Same));
    let (train, val) = (questions(0, 6), questions(100, 4));
    gepa(&reflector)
        .max_metric_calls(20)
        .compile_with_valset(&student(&task), &train, &val, |ex, pred| {
            ex.label.answer == pred.answer
        })
        .await
        .unwrap();
    let prompts = reflector.prompts.lock().unwrap();
    assert!(
        prompts[0].contains("This trajectory got a score of 0.0."),
        "{}",
        prompts[0]
    );
}

#[tokio::test]
async fn a_garbled_reflection_is_skipped_and_the_run_goes_on() {
    let (task, reflector) = (
        Arc::new(Task::default()),
        Reflector::with(Mode::GarbleFirst),
    );
    let (train, val) = (questions(0, 12), questions(100, 8));
    let (_, report) = gepa(&reflector)
        .compile_with_valset(&student(&task), &train, &val, feedback)
        .await
        .unwrap();
    assert_eq!(report.failed_proposals, 1, "{report}");
    assert!(
        matches!(&report.steps[0], Step::Skipped { reason, .. } if reason.contains("proposal failed"))
    );
    assert!(report.candidates.len() > 1, "{report}");
}

#[tokio::test]
async fn stoppers_end_the_run_with_the_best_so_far() {
    let (train, val) = (questions(0, 12), questions(100, 8));
    let run = async |g: Gepa| {
        let task = Arc::new(Task::default());
        g.compile_with_valset(&student(&task), &train, &val, feedback)
            .await
            .unwrap()
            .1
    };
    let learn = Reflector::with(Mode::Learn);
    let r = run(gepa(&learn).max_metric_calls(10_000).stop_at_score(0.5)).await;
    assert!(
        r.stopped.as_deref().unwrap_or("").contains("threshold"),
        "{r}"
    );
    assert!(r.best_candidate().unwrap().score >= 0.5);

    let same = Reflector::with(Mode::Same);
    let r = run(gepa(&same)
        .max_metric_calls(10_000)
        .stop_without_improvement(3))
    .await;
    assert_eq!(r.iterations, 3, "{r}");
    assert!(
        r.stopped
            .as_deref()
            .unwrap_or("")
            .contains("no better candidate in 3")
    );

    let r = run(gepa(&learn).timeout(Duration::ZERO)).await;
    assert_eq!((r.iterations, r.candidates.len()), (0, 1), "{r}");
    assert!(r.stopped.as_deref().unwrap_or("").contains("wall time"));

    let paid = Arc::new(Reflector {
        mode: Mode::Same,
        cost: Some(0.01),
        ..Reflector::default()
    });
    let r = run(gepa(&paid)
        .max_metric_calls(10_000)
        .max_reflection_cost(0.025))
    .await;
    assert_eq!(paid.calls.load(Ordering::SeqCst), 3, "{r}");
    assert!(
        r.stopped
            .as_deref()
            .unwrap_or("")
            .contains("reflection cost")
    );

    let r = run(gepa(&learn)
        .max_metric_calls(10_000)
        .budget(Budget::lm_calls(40)))
    .await;
    assert!(r.stopped.as_deref().unwrap_or("").contains("40"), "{r}");
    assert!(r.lm_calls() < 40 + 3 + 3 + 8 + 1, "{r}");
}

#[tokio::test]
async fn the_feedback_call_names_the_stage_and_its_trace() {
    program! {
        /// Two stages: a draft, then the answer.
        struct Two {
            draft: Predict<Qa>,
            answer: Predict<Qa>,
        }
        async fn forward(&self, question: String) -> dspy::Result<QaOutput> {
            let d = self.draft(question: question.clone()).await?;
            let a = self.answer(question: format!("{question} draft: {}", d.answer)).await?;
            Ok(a.into_output())
        }
    }
    let task = Arc::new(Task::default());
    let program = Two {
        draft: Predict::new().with_lm(Lm::from_arc(task.clone())),
        answer: Predict::new().with_lm(Lm::from_arc(task.clone())),
    };
    let train: Vec<Example<TwoInput, QaOutput>> = questions(0, 8)
        .into_iter()
        .map(|ex| {
            Example::new(
                TwoInput {
                    question: ex.input.question,
                },
                ex.label,
            )
        })
        .collect();
    let seen: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let reflector = Reflector::with(Mode::Learn);
    let (compiled, report) = gepa(&reflector)
        .max_metric_calls(40)
        .component_selector(Components::All)
        .candidate_selection(Selection::CurrentBest)
        .compile(
            &program,
            &train,
            |ex: &Example<TwoInput, QaOutput>, pred: &QaOutput| {
                if let (Some(name), Some(call)) = (gepa::pred_name(), gepa::pred_trace()) {
                    let q = call.inputs["question"].as_str().unwrap_or("").to_string();
                    seen.lock().unwrap().push((name, q));
                }
                // Blame the stage that answers.
                match gepa::pred_name().as_deref() {
                    Some("answer") | None if pred.answer != ex.label.answer => Feedback::new(
                        false,
                        format!(
                            "Wrong; the instruction needs rule c{}.",
                            category(&ex.input.question).unwrap_or(0)
                        ),
                    ),
                    _ => Feedback::new(pred.answer == ex.label.answer, "Fine."),
                }
            },
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(n, q)| n == "draft" && !q.contains("draft:"))
    );
    assert!(
        seen.iter()
            .any(|(n, q)| n == "answer" && q.contains("draft:"))
    );
    // Feedback blamed only `answer`: the draft's instruction never gained a rule.
    assert!(
        !compiled.draft.instructions().contains("rule c"),
        "{report}"
    );
    assert!(
        compiled.answer.instructions().contains("rule c"),
        "{report}"
    );
}

program! {
    /// Even-numbered questions go to one stage, odd ones to the other.
    struct Route {
        even: Predict<Qa>,
        odd: Predict<Qa>,
    }
    async fn forward(&self, question: String) -> dspy::Result<QaOutput> {
        let k: usize = question
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let stage = if k.is_multiple_of(2) { &self.even } else { &self.odd };
        Ok(stage.call(QaInput { question }).await?.into_output())
    }
}

fn routed(from: usize, n: usize) -> Vec<Example<RouteInput, QaOutput>> {
    questions(from, n)
        .into_iter()
        .map(|ex| {
            Example::new(
                RouteInput {
                    question: ex.input.question,
                },
                ex.label,
            )
        })
        .collect()
}

#[tokio::test]
async fn descendants_that_changed_different_stages_merge() {
    let task = Arc::new(Task::default());
    let program = Route {
        even: Predict::new().with_lm(Lm::from_arc(task.clone())),
        odd: Predict::new().with_lm(Lm::from_arc(task.clone())),
    };
    let reflector = Reflector::with(Mode::Learn);
    let (train, val) = (routed(0, 16), routed(100, 16));
    let (_, report) = gepa(&reflector)
        .max_metric_calls(400)
        .candidate_selection(Selection::EpsilonGreedy(1.0))
        .compile_with_valset(&program, &train, &val, |ex, pred| {
            feedback_for(&ex.input.question, &ex.label.answer, &pred.answer)
        })
        .await
        .unwrap();
    let merges: Vec<&Step> = report
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Merge { .. }))
        .collect();
    assert!(!merges.is_empty(), "{report}");
    // One merge was accepted: its program holds both parents' changes.
    assert!(
        report.candidates.iter().any(|c| c.parents.len() == 2),
        "{report}"
    );
    for m in merges {
        let Step::Merge {
            parents: [i, j],
            ancestor,
            candidate,
            child,
            before,
            after,
            ..
        } = m
        else {
            continue;
        };
        // Each stage comes from one of the two parents, and they changed different stages.
        for (stage, text) in candidate {
            let (a, b) = (
                &report.candidates[*i].instructions[stage],
                &report.candidates[*j].instructions[stage],
            );
            assert!(text == a || text == b, "{stage}: {text}");
        }
        assert!(ancestor < i && ancestor < j);
        // Accepted exactly when the merged program did at least as well as the better parent.
        let ok = after.iter().sum::<f64>() >= before[0].max(before[1]);
        assert_eq!(child.is_some(), ok);
        if let Some(c) = child {
            assert_eq!(report.candidates[*c].parents, vec![*i, *j]);
        }
    }
}

fn feedback_for(question: &str, gold: &str, said: &str) -> Feedback {
    if said == gold {
        Feedback::new(true, "Correct.")
    } else {
        let c = category(question).unwrap_or(0);
        Feedback::new(false, format!("Wrong; the instruction needs rule c{c}."))
    }
}

#[tokio::test]
async fn an_objective_frontier_keeps_the_best_per_objective() {
    let (task, reflector) = (Arc::new(Task::default()), Reflector::with(Mode::Learn));
    let (train, val) = (questions(0, 12), questions(100, 8));
    let (_, report) = gepa(&reflector)
        .frontier(gepa::Frontier::Objective)
        .compile_with_valset(&student(&task), &train, &val, |ex, pred| {
            let fb = feedback(ex, pred);
            let right = fb.score;
            // Brevity: an objective the aggregate does not see.
            fb.objective("right", right)
                .objective("brief", 1.0 / (1.0 + pred.answer.len() as f64))
        })
        .await
        .unwrap();
    let best_right = report
        .candidates
        .iter()
        .map(|c| c.objectives["right"])
        .fold(f64::NEG_INFINITY, f64::max);
    let (score, on) = &report.objective_frontier["right"];
    assert_eq!(*score, best_right, "{report}");
    assert!(
        on.iter()
            .all(|&c| report.candidates[c].objectives["right"] == best_right)
    );
    assert!(report.candidates.len() > 1, "{report}");

    // Without objectives, an objective frontier is refused.
    let err = gepa(&reflector)
        .frontier(gepa::Frontier::Objective)
        .compile_with_valset(&student(&task), &train, &val, feedback)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("objectives"), "{err}");
}

/// A proposer that knows every rule.
struct AllRules;

impl gepa::InstructionProposer for AllRules {
    fn propose<'a>(
        &'a self,
        candidate: &'a std::collections::BTreeMap<String, String>,
        dataset: &'a gepa::ReflectiveDataset,
        components: &'a [String],
    ) -> BoxFuture<'a, dspy::Result<std::collections::BTreeMap<String, String>>> {
        Box::pin(async move {
            assert!(components.iter().all(|c| dataset.contains_key(c)));
            Ok(components
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        format!("{} rule c0. rule c1. rule c2. rule c3.", candidate[c]),
                    )
                })
                .collect())
        })
    }
}

#[tokio::test]
async fn a_custom_proposer_replaces_the_reflection_prompt() {
    let task = Arc::new(Task::default());
    let (train, val) = (questions(0, 12), questions(100, 8));
    let (compiled, report) = Gepa::new()
        .max_metric_calls(40)
        .instruction_proposer(AllRules)
        .progress(false)
        .compile_with_valset(&student(&task), &train, &val, feedback)
        .await
        .unwrap();
    assert_eq!(
        report.best_candidate().map(|c| c.score),
        Some(1.0),
        "{report}"
    );
    assert!(compiled.instructions().ends_with("rule c3."));
    assert!(!report.usage.contains_key("test/reflector"));
}

/// Answers in ChatAdapter's format only when its instruction names the answer marker; else
/// in prose, which no adapter parses.
struct Prose;

impl LanguageModel for Prose {
    fn model(&self) -> &str {
        "test/prose"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let system = request.messages[0].content.to_string();
        if system.contains("Start with the answer marker.") {
            reply("[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]".into())
        } else {
            // Longer than a parse error's excerpt: the reflection LM still sees all of it.
            reply(format!(
                "I think the answer is yes.{} THE END.",
                " So it is.".repeat(60)
            ))
        }
    }
}

/// Proposes the fix when the reflective dataset quotes a reply that failed to parse.
#[derive(Default)]
struct FormatFixer {
    prompts: Mutex<Vec<String>>,
}

impl LanguageModel for FormatFixer {
    fn model(&self) -> &str {
        "test/fixer"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let user = last_message(&request);
        self.prompts.lock().unwrap().push(user.clone());
        let new = if user.contains("Your output failed to parse.") {
            "Answer the question. Start with the answer marker."
        } else {
            "Answer the question."
        };
        reply(serde_json::json!({ "new_instruction": new }).to_string())
    }
}

#[tokio::test]
async fn format_failures_become_feedback_when_asked() {
    let (train, val) = (questions(0, 6), questions(100, 4));
    let student = Predict::<Qa>::new().with_lm(Lm::new(Prose));
    let run = |on: bool| {
        let fixer = Arc::new(FormatFixer::default());
        let gepa = Gepa::new()
            .max_metric_calls(30)
            .reflection_lm(Lm::from_arc(fixer.clone()))
            .add_format_failure_as_feedback(on)
            .progress(false);
        let (student, train, val) = (student.clone(), train.clone(), val.clone());
        async move {
            let (compiled, report) = gepa
                .compile_with_valset(&student, &train, &val, feedback)
                .await
                .unwrap();
            let prompts = fixer.prompts.lock().unwrap().clone();
            (compiled, report, prompts)
        }
    };

    // By default a reply that does not parse is a failed run, left out: nothing to reflect on.
    let (_, report, prompts) = run(false).await;
    assert!(prompts.is_empty(), "{prompts:?}");
    assert_eq!(report.candidates.len(), 1, "{report}");
    assert!(
        report
            .steps
            .iter()
            .all(|s| matches!(s, Step::Skipped { .. })),
        "{report}"
    );

    // Asked, the reply and the structure to follow are the feedback, and the fix is found.
    let (compiled, report, prompts) = run(true).await;
    assert_eq!(
        report.best_candidate().map(|c| c.score),
        Some(1.0),
        "{report}"
    );
    assert!(
        compiled
            .instructions()
            .contains("Start with the answer marker.")
    );
    let first = &prompts[0];
    assert!(
        first.contains(
            "Couldn't parse the output as per the expected output format. The model's raw response was:\\n```\\nI think the answer is yes. So it is."
        ),
        "{first}"
    );
    assert!(first.contains("So it is. THE END.\\n```\\n\\n"), "{first}");
    assert!(
        first.contains(
            "Your output failed to parse. Follow this structure:\\nsystem: Your input fields are:\\n1. `question` (str)"
        ),
        "{first}"
    );
    assert!(
        first.contains("user: Respond with the corresponding output fields, starting with the field `[[ ## answer ## ]]`"),
        "{first}"
    );
}
