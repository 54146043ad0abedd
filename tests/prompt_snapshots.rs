//! Rendered prompts of every module kind, as insta snapshots: a prompt change shows up as a
//! reviewable diff (`cargo insta review`). The same cases are checked byte for byte against
//! DSPy 3.4.1 in `reference_prompts.rs`.

use dspy::prelude::*;

use crate::common;
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

#[test]
fn xml_adapter_with_nested_outputs() {
    let p = Predict::<Topic>::new()
        .with_adapter(XmlAdapter::new())
        .with_demos([topic_demo()])
        .unwrap();
    let input = topic_input();
    insta::assert_snapshot!(p.render_text(&input).unwrap());
}

signature!(
    /// Tag the headline.
    Tags = "headline -> tags: list[str], scores: dict[str, float], topic: Literal['business', 'tech']"
);

#[test]
fn xml_and_baml_adapters_with_structured_outputs() {
    let input = TagsInput {
        headline: "Chipmaker shares jump after earnings".into(),
    };
    let xml = Predict::<Tags>::new().with_adapter(XmlAdapter::new());
    let baml = Predict::<Tags>::new().with_adapter(BamlAdapter::new());
    insta::assert_snapshot!("xml_structured", xml.render_text(&input).unwrap());
    insta::assert_snapshot!("baml_structured", baml.render_text(&input).unwrap());
}

/// Answer in the conversation.
#[derive(Signature)]
struct Converse {
    #[input]
    question: String,
    #[input]
    history: History,
    #[output]
    answer: String,
}

#[test]
fn history_turns() {
    let input = ConverseInput {
        question: "And Germany?".into(),
        history: History::new()
            .with(serde_json::json!({"question": "Capital of France?", "answer": "Paris."})),
    };
    insta::assert_snapshot!(Predict::<Converse>::new().render_text(&input).unwrap());
}

#[test]
fn two_step_main_prompt() {
    let p = Predict::<Topic>::new()
        .with_adapter(TwoStepAdapter::new(ScriptedLm::new(Vec::<String>::new())))
        .with_demos([topic_demo()])
        .unwrap();
    let input = topic_input();
    insta::assert_snapshot!(p.render_text(&input).unwrap());
}

/// A complete demo of `Topic`.
fn topic_demo() -> Demo {
    Demo::new()
        .with("headline", "Rates rise again")
        .with("hints", vec!["banks"])
        .with("topic", "business")
        .with("confidence", 0.9)
}

/// The input the `Topic` snapshots render.
fn topic_input() -> TopicInput {
    TopicInput {
        headline: "Chipmaker shares jump after earnings".into(),
        hints: vec!["markets".into(), "semiconductors".into()],
    }
}

/// Compare the two pictures.
#[derive(Signature)]
struct Compare {
    #[input]
    before: Image,
    /// What to look for
    #[input]
    after: Image,
    #[output]
    change: String,
}

#[test]
fn image_inputs_as_content_parts() {
    let input = CompareInput {
        before: Image::url("https://example.org/before.png").unwrap(),
        after: Image::url("data:image/png;base64,iVBORw0KGgo=").unwrap(),
    };
    let messages = Predict::<Compare>::new().render(&input).unwrap();
    let shown: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let content = m.content_parts().map_or_else(
                || serde_json::Value::from(&*m.content),
                serde_json::Value::Array,
            );
            serde_json::json!({"role": m.role.as_str(), "content": content})
        })
        .collect();
    insta::assert_snapshot!(serde_json::to_string_pretty(&shown).unwrap());
}
