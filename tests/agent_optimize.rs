//! MIPROv2 and GEPA compile the agents (ReAct and ReActV2) as they compile any program: the
//! agents' predictors are found by path, their instructions are searched and replaced, and the
//! compiled agent uses them. The task LM plays an agent that calls the `add` tool only when its
//! instruction says `Use add.`; without the tool it answers 0, so the right instruction is what
//! makes the program score.

use crate::common;

use common::arith::{Arith, ArithExample, ArithInput, ArithOutput, add_tool};
use common::lm_reply as reply;
use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::optimize::{Gepa, MiproV2};
use dspy::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The first integer after `marker` in `text`.
fn int_after(text: &str, marker: &str) -> Option<i64> {
    let rest = text.split(marker).nth(1)?;
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let digits: String = rest[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The two addends of the question `What is A + B?` in `text`.
fn addends(text: &str) -> (i64, i64) {
    let a = int_after(text, "What is ").unwrap_or(0);
    let b = int_after(text, " + ").unwrap_or(0);
    (a, b)
}

/// Plays ReAct's steps and extraction and ReActV2's text-mode steps (ChatAdapter).
#[derive(Default)]
struct Agent {
    calls: AtomicUsize,
}

impl LanguageModel for Agent {
    fn model(&self) -> &str {
        "test/agent"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let system = request.messages[0].content.to_string();
        let all: String = request
            .messages
            .iter()
            .map(|m| m.content.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let knows = system.contains("Use add.");
        let (a, b) = addends(&all);
        let text = if system.contains("`next_tool_name`") {
            // ReAct's step: the tool once when told to, then finish.
            let (thought, tool, args) = if knows && !all.contains("observation_0") {
                ("Add them.", "add", json!({"a": a, "b": b}))
            } else {
                ("Done.", "finish", json!({}))
            };
            format!(
                "[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
            )
        } else if system.contains("`tool_calls`") {
            // ReActV2's step: submit the tool's result, or call it when told to, or guess 0.
            let result = all
                .split("tool_call_results")
                .nth(1)
                .and_then(|r| int_after(r, "\"value\":"));
            let calls = match result {
                Some(v) => json!([{"name": "submit", "args": {"answer": v}}]),
                None if knows => json!([{"name": "add", "args": {"a": a, "b": b}}]),
                None => json!([{"name": "submit", "args": {"answer": 0}}]),
            };
            format!(
                "[[ ## next_thought ## ]]\nStep.\n\n[[ ## tool_calls ## ]]\n{}\n\n[[ ## completed ## ]]",
                json!({ "tool_calls": calls })
            )
        } else {
            // ReAct's extraction: the observation, or 0 without one.
            let answer = int_after(&all, "observation_0").unwrap_or(0);
            format!(
                "[[ ## reasoning ## ]]\nFrom the trajectory.\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
            )
        };
        reply(text)
    }
}

/// Answers each proposer signature's first output field; every other proposal says
/// `Use add.`, so the search has to choose.
#[derive(Default)]
struct Proposer {
    proposals: AtomicUsize,
}

impl LanguageModel for Proposer {
    fn model(&self) -> &str {
        "test/proposer"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let field = common::first_output_field(&request.messages[0].content);
        let text = if field == "proposed_instruction" {
            let n = self.proposals.fetch_add(1, Ordering::SeqCst);
            if n.is_multiple_of(2) {
                format!("Proposed Instruction: Answer at once, attempt {n}.")
            } else {
                format!("Proposed Instruction: Use add. Attempt {n}.")
            }
        } else {
            format!("Some {field}.")
        };
        reply(format!(
            "[[ ## {field} ## ]]\n{text}\n\n[[ ## completed ## ]]"
        ))
    }
}

fn questions(from: i64, n: i64) -> Vec<ArithExample> {
    (from..from + n)
        .map(|k| {
            Example::new(
                ArithInput {
                    question: format!("What is {k} + {}?", k + 3),
                },
                ArithOutput { answer: 2 * k + 3 },
            )
        })
        .collect()
}

fn react(lm: &Arc<Agent>) -> ReAct<Arith> {
    ReAct::<Arith>::new([add_tool()]).with_lm(Lm::from_arc(lm.clone()))
}

fn react_v2(lm: &Arc<Agent>) -> ReActV2<Arith> {
    ReActV2::<Arith>::new([add_tool()])
        .expect("a valid agent")
        .with_lm(Lm::from_arc(lm.clone()))
}

fn mipro() -> MiproV2 {
    MiproV2::new()
        .zero_shot()
        .concurrency(2)
        .progress(false)
        .seed(5)
        .prompt_model(Lm::new(Proposer::default()))
}

/// GEPA's reflection LM: always proposes the instruction that names the tool.
fn gepa() -> Gepa {
    Gepa::new()
        .max_metric_calls(60)
        .reflection_lm(ScriptedLm::fixed(
            json!({ "new_instruction": "Use add. Call the tool, then finish." }).to_string(),
        ))
        .concurrency(2)
        .progress(false)
        .seed(2)
}

fn feedback(answer: i64, ex: &ArithExample) -> Feedback {
    if answer == ex.label.answer {
        Feedback::new(true, "Correct.")
    } else {
        Feedback::new(
            false,
            format!(
                "Wrong: {} is not {}; use the tool.",
                answer, ex.label.answer
            ),
        )
    }
}

/// The compiled agent calls the tool on a new question and answers it right.
async fn solves_with_the_tool<P, Q>(compiled: &P)
where
    P: Module<Input = ArithInput, Output = Prediction<Q>>,
    Q: std::ops::Deref<Target = ArithOutput>,
{
    let p = compiled
        .forward(questions(50, 1)[0].input.clone())
        .await
        .expect("an answer");
    assert_eq!(p.answer, 103);
}

/// The metric the MIPROv2 runs score with.
fn right<Q: std::ops::Deref<Target = ArithOutput>>(ex: &ArithExample, p: &Prediction<Q>) -> bool {
    p.answer == ex.label.answer
}

#[tokio::test]
async fn mipro_v2_searches_reacts_stage_instructions() {
    let lm = Arc::new(Agent::default());
    let (train, val) = (questions(1, 8), questions(20, 8));
    let (compiled, report) = mipro()
        .compile_with_valset(
            &react(&lm),
            &train,
            &val,
            right::<dspy::ReActOutput<ArithOutput>>,
        )
        .await
        .expect("compiled");
    // Both stages got candidates of their own.
    assert!(report.proposals.contains_key("react"), "{report}");
    assert!(report.proposals.contains_key("extract.predict"), "{report}");
    let chosen = compiled.predictor("react").expect("a react stage");
    assert!(chosen.instructions().contains("Use add."), "{report}");
    solves_with_the_tool(&compiled).await;
}

#[tokio::test]
async fn mipro_v2_searches_react_v2s_instruction() {
    let lm = Arc::new(Agent::default());
    let (train, val) = (questions(1, 8), questions(20, 8));
    let (compiled, report) = mipro()
        .compile_with_valset(
            &react_v2(&lm),
            &train,
            &val,
            right::<dspy::AgentOutput<ArithOutput>>,
        )
        .await
        .expect("compiled");
    assert_eq!(compiled.paths(), ["react"]);
    assert!(
        compiled.react().instructions().contains("Use add."),
        "{report}"
    );
    solves_with_the_tool(&compiled).await;
}

#[tokio::test]
async fn gepa_evolves_reacts_step_instruction() {
    let lm = Arc::new(Agent::default());
    let (train, val) = (questions(1, 9), questions(20, 6));
    let (compiled, report) = gepa()
        .compile_with_valset(&react(&lm), &train, &val, |ex, p| feedback(p.answer, ex))
        .await
        .expect("compiled");
    assert_eq!(report.candidates[0].score, 0.0, "{report}");
    let best = report.best_candidate().expect("a better candidate");
    assert_eq!(best.score, 1.0, "{report}");
    assert!(best.instructions["react"].contains("Use add."), "{report}");
    assert_eq!(
        compiled
            .predictor("react")
            .map(|p| p.instructions().to_string()),
        Some(best.instructions["react"].clone())
    );
    solves_with_the_tool(&compiled).await;
}

#[tokio::test]
async fn gepa_evolves_react_v2s_instruction() {
    let lm = Arc::new(Agent::default());
    let (train, val) = (questions(1, 9), questions(20, 6));
    let (compiled, report) = gepa()
        .compile_with_valset(&react_v2(&lm), &train, &val, |ex, p| feedback(p.answer, ex))
        .await
        .expect("compiled");
    let best = report.best_candidate().expect("a better candidate");
    assert_eq!(best.score, 1.0, "{report}");
    assert!(
        compiled.react().instructions().contains("Use add."),
        "{report}"
    );
    solves_with_the_tool(&compiled).await;
}
