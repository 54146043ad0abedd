//! Rendered prompts of every module kind, as insta snapshots: a prompt change shows up as a
//! reviewable diff (`cargo insta review`). The same cases are checked byte for byte against
//! DSPy 3.4.1 in `reference_prompts.rs`.

use dspy::prelude::*;

mod common;
use common::{Qa, sky};

signature!(
    /// Classify the headline's topic.
    Topic = "headline: str, hints: list[str] -> topic: Literal['business', 'tech', 'sport'], confidence: float"
);

fn demos() -> Vec<Demo> {
    vec![
        Demo::new()
            .with("question", "What is the capital of France?")
            .with("answer", "Paris."),
        Demo::new()
            .with("question", "2+2?")
            .with("reasoning", "Two and two make four.")
            .with("answer", "4"),
    ]
}

#[test]
fn predict() {
    insta::assert_snapshot!(Predict::<Qa>::new().render_text(&sky()).unwrap());
}

#[test]
fn predict_with_demos() {
    let p = Predict::<Qa>::new()
        .with_demos(demos().into_iter().take(1))
        .unwrap();
    insta::assert_snapshot!(p.render_text(&sky()).unwrap());
}

#[test]
fn chain_of_thought_with_complete_and_partial_demos() {
    let cot = ChainOfThought::<Qa>::new().with_demos(demos()).unwrap();
    insta::assert_snapshot!(cot.render_text(&sky()).unwrap());
}

#[test]
fn json_adapter_with_demos() {
    let p = Predict::<Qa>::new()
        .with_adapter(JsonAdapter::new())
        .with_demos(demos().into_iter().take(1))
        .unwrap();
    insta::assert_snapshot!(p.render_text(&sky()).unwrap());
}

#[test]
fn string_signature_with_literal_and_list() {
    let p = Predict::<Topic>::new();
    let input = TopicInput {
        headline: "Chipmaker shares jump after earnings".into(),
        hints: vec!["markets".into(), "semiconductors".into()],
    };
    insta::assert_snapshot!(p.render_text(&input).unwrap());
    // The generated enum carries the literal values.
    assert_eq!(
        serde_json::to_string(&TopicTopic::Business).unwrap(),
        "\"business\""
    );
}

#[test]
fn instructions_override() {
    let p = Predict::<Qa>::new().with_instructions("Answer tersely.\nCite nothing.");
    insta::assert_snapshot!(p.render_text(&sky()).unwrap());
}
