//! ReAct end to end on a scripted LM: the episode loop, the trajectory each turn sees, tools
//! that fail in every way, replies that name no tool, `max_iters`, an overflowing context, and
//! the predictors optimizers see.

use crate::common::arith::{Arith, ArithInput, add_tool};
use dspy::module::react::{End, Trajectory};
use dspy::prelude::*;
use dspy::{LmError, Message};
use serde_json::json;
use std::time::Duration;

/// The calculator tool of `examples/react_gsm8k.rs`, whose unit tests run here (the test build
/// leaves the examples out).
#[path = "../examples/support/calculator.rs"]
#[allow(dead_code)]
mod calculator;

/// Divides one integer by another.
#[tool]
fn divide(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        return Err("division by zero".into());
    }
    Ok(a / b)
}

/// Always panics.
#[tool]
fn explode() -> i64 {
    panic!("boom")
}

/// Never returns in time.
#[tool]
async fn hang() -> i64 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    0
}

fn turn(thought: &str, tool: &str, args: serde_json::Value) -> String {
    format!(
        "[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n[[ ## next_tool_args ## ]]\n{args}\n\n[[ ## completed ## ]]"
    )
}

fn answer(reasoning: &str, answer: i64) -> String {
    format!(
        "[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
    )
}

fn agent(lm: &ScriptedLm) -> ReAct<Arith> {
    ReAct::<Arith>::new([
        add_tool(),
        divide_tool(),
        explode_tool(),
        hang_tool().timeout(Some(Duration::from_millis(50))),
    ])
    .with_lm(lm.clone())
}

fn q(question: &str) -> ArithInput {
    ArithInput {
        question: question.into(),
    }
}

fn user(messages: &[Message]) -> &str {
    messages.last().map_or("", |m| &m.content)
}

#[tokio::test]
async fn an_episode_calls_tools_until_finish_then_extracts() {
    let lm = ScriptedLm::new([
        turn("Add them.", "add", json!({"a": 2, "b": 40})),
        turn("Done.", "finish", json!({})),
        answer("The tool said 42.", 42),
    ]);
    let pred = agent(&lm).call(q("What is 2 + 40?")).await.unwrap();
    assert_eq!(pred.answer, 42);
    assert_eq!(pred.reasoning, "The tool said 42.");
    let t = &pred.trajectory;
    assert_eq!(t.end, End::Finished);
    assert_eq!(t.steps.len(), 2);
    assert_eq!(t.steps[0].observation, json!(42));
    assert_eq!(t.steps[1].observation, json!("Completed."));
    assert_eq!(t.tool_calls(), 1);

    let requests = lm.requests();
    assert_eq!(requests.len(), 3);
    // The first turn sees an empty trajectory; the second, the first turn; the extraction, both.
    assert!(user(&requests[0].messages).contains("[[ ## trajectory ## ]]\n\n\nRespond"));
    assert!(user(&requests[1].messages).contains(
        "[[ ## thought_0 ## ]]\nAdd them.\n\n[[ ## tool_name_0 ## ]]\nadd\n\n[[ ## tool_args_0 ## ]]\n{\"a\": 2, \"b\": 40}\n\n[[ ## observation_0 ## ]]\n42\n\nRespond"
    ));
    assert!(user(&requests[2].messages).contains("[[ ## observation_1 ## ]]\nCompleted."));
    assert!(
        user(&requests[2].messages).contains("starting with the field `[[ ## reasoning ## ]]`")
    );
}

#[tokio::test]
async fn failing_tools_become_observations() {
    let lm = ScriptedLm::new([
        turn("Divide.", "divide", json!({"a": 1, "b": 0})),
        turn("Wrong args.", "add", json!({"a": "two", "b": 1})),
        turn("Extra arg.", "add", json!({"a": 1, "b": 1, "c": 1})),
        turn("Missing arg.", "add", json!({"a": 1})),
        turn("Panic.", "explode", json!({})),
        turn("Hang.", "hang", json!({})),
        turn("Done.", "finish", json!({})),
        answer("Nothing worked.", 0),
    ]);
    let pred = agent(&lm).call(q("Break everything.")).await.unwrap();
    let obs: Vec<String> = pred
        .trajectory
        .steps
        .iter()
        .map(|s| s.observation.as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(obs[0], "Execution error in divide: division by zero");
    assert!(
        obs[1].starts_with("Execution error in add: Arg a is invalid: "),
        "{}",
        obs[1]
    );
    assert_eq!(
        obs[2],
        "Execution error in add: Arg c is not in the tool's args."
    );
    assert_eq!(obs[3], "Execution error in add: Arg b is missing.");
    assert_eq!(
        obs[4],
        "Execution error in explode: the tool panicked: boom"
    );
    assert_eq!(
        obs[5],
        "Execution error in hang: the tool did not finish within 50ms"
    );
    assert_eq!(pred.trajectory.end, End::Finished);
    assert_eq!(pred.answer, 0);
}

#[tokio::test]
async fn a_tool_the_model_invented_ends_the_trajectory() {
    // ChatAdapter cannot read `web_search` as one of the tools, nor can its JSON fallback.
    let lm = ScriptedLm::new([
        turn("Add first.", "add", json!({"a": 1, "b": 2})),
        turn("Search.", "web_search", json!({"q": "x"})),
        turn("Search.", "web_search", json!({"q": "x"})),
        answer("1 + 2 is 3.", 3),
    ]);
    let pred = agent(&lm).call(q("1 + 2?")).await.unwrap();
    let t = &pred.trajectory;
    assert_eq!(t.steps.len(), 1);
    let End::InvalidStep { message } = &t.end else {
        panic!("expected an invalid step, got {:?}", t.end);
    };
    assert!(message.contains("next_tool_name"), "{message}");
    assert_eq!(pred.answer, 3);
    assert_eq!(lm.requests().len(), 4);
}

#[tokio::test]
async fn a_reply_with_no_tool_call_ends_the_trajectory() {
    let lm = ScriptedLm::new([
        "I think the answer is 5.".to_string(),
        "Still no fields.".to_string(),
        answer("No tools used.", 5),
    ]);
    let pred = agent(&lm).call(q("2 + 3?")).await.unwrap();
    assert!(pred.trajectory.steps.is_empty());
    assert!(matches!(pred.trajectory.end, End::InvalidStep { .. }));
    assert_eq!(pred.answer, 5);
}

#[tokio::test]
async fn max_iters_bounds_the_episode_by_default_and_per_call() {
    let lm = ScriptedLm::new([
        turn("Again.", "add", json!({"a": 1, "b": 1})),
        turn("Again.", "add", json!({"a": 2, "b": 2})),
        answer("Stopped.", 4),
    ]);
    let pred = agent(&lm).max_iters(2).call(q("Loop.")).await.unwrap();
    assert_eq!(pred.trajectory.end, End::MaxIters);
    assert_eq!(pred.trajectory.steps.len(), 2);

    let lm = ScriptedLm::new([
        turn("Once.", "add", json!({"a": 1, "b": 1})),
        answer("One.", 2),
    ]);
    let pred = agent(&lm).call_with(q("Loop."), 1).await.unwrap();
    assert_eq!(pred.trajectory.steps.len(), 1);
    assert_eq!(pred.trajectory.end, End::MaxIters);
    assert_eq!(lm.requests().len(), 2);
}

#[tokio::test]
async fn an_overflowing_context_drops_the_oldest_tool_call() {
    let overflow = || LmError::ContextWindowExceeded {
        message: "too long".into(),
    };
    let lm = ScriptedLm::new([
        turn("One.", "add", json!({"a": 1, "b": 1})),
        turn("Two.", "add", json!({"a": 2, "b": 2})),
    ]);
    lm.push_error(overflow());
    lm.push(turn("Three.", "finish", json!({})));
    lm.push(answer("Done.", 4));
    let pred = agent(&lm).call(q("Count.")).await.unwrap();
    let t = &pred.trajectory;
    assert_eq!(t.dropped, 1);
    let indices: Vec<usize> = t.steps.iter().map(|s| s.index).collect();
    assert_eq!(indices, [1, 2], "the dropped turn's number is not reused");
    let requests = lm.requests();
    let retry = user(&requests[3].messages);
    assert!(!retry.contains("thought_0") && retry.contains("[[ ## thought_1 ## ]]\nTwo."));

    // With a single turn nothing can be dropped: the episode ends, and the extraction's own
    // overflow is the error.
    let lm = ScriptedLm::new([turn("One.", "add", json!({"a": 1, "b": 1}))]);
    lm.push_error(overflow());
    lm.push_error(overflow());
    let err = agent(&lm).call(q("Count.")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be truncated because it has 1 tool call"),
        "{err}"
    );
}

#[test]
fn predictors_have_dspys_paths_and_the_tools_are_listed() {
    let lm = ScriptedLm::new(Vec::<String>::new());
    let a = agent(&lm);
    let paths: Vec<String> = a.named_predictors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["react", "extract.predict"]);
    let names: Vec<&str> = a.tools().iter().map(Tool::name).collect();
    assert_eq!(names, ["add", "divide", "explode", "hang", "finish"]);
    let react = a.predictor("react").unwrap().signature();
    assert_eq!(
        react.field("next_tool_name").unwrap().type_name(),
        "Literal['add', 'divide', 'explode', 'hang', 'finish']"
    );
    assert_eq!(
        react.field("next_tool_args").unwrap().type_name(),
        "dict[str, Any]"
    );
    let extract = a.predictor("extract.predict").unwrap().signature();
    let outputs: Vec<&str> = extract.outputs().iter().map(|f| f.name()).collect();
    assert_eq!(outputs, ["reasoning", "answer"]);
    assert!(
        react
            .instructions()
            .contains("(5) finish, whose description is <desc>Marks the task as complete. That is, signals that all information for producing the outputs, i.e. `answer`, are now available to be extracted.</desc>. It takes arguments {}.")
    );
}

#[test]
fn a_users_finish_tool_is_replaced_by_reacts() {
    let mine =
        Tool::new_blocking("finish", "Mine.", json!({}), |_| Ok::<_, String>(json!(1))).unwrap();
    let a = ReAct::<Arith>::new([mine, add_tool()]);
    let names: Vec<&str> = a.tools().iter().map(Tool::name).collect();
    assert_eq!(names, ["finish", "add"]);
    assert!(
        a.tools()[0]
            .desc()
            .unwrap()
            .starts_with("Marks the task as complete.")
    );
}

#[tokio::test]
async fn an_empty_trajectory_renders_as_dspys() {
    let lm = ScriptedLm::new(Vec::<String>::new());
    let text = agent(&lm)
        .render_step_text(&q("Hi?"), &Trajectory::default())
        .unwrap();
    assert!(
        text.contains("[[ ## trajectory ## ]]\n\n\nRespond with"),
        "{text}"
    );
}
