//! Every DSPy 3.4.1 reference rendering (cases 01–08b in ../shared/reference) matches byte for
//! byte: the messages, the wire body, and the parse of the recorded reply.

use dspy::lm::{Capabilities, LmRequest};
use dspy::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

use crate::common;
use common::{Qa, sky};

fn reference(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/dspy-3.4.1-prompts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reference file {} is missing ({e}); the shared folder must sit beside the project",
            path.display()
        )
    })
}

/// The first recorded raw LM output of a case.
fn recorded_reply(case: &str) -> String {
    let text = reference(&format!("{case}.parsed.txt"));
    let start = text.find("raw LM outputs: ").expect("raw outputs line") + "raw LM outputs: ".len();
    let outputs: Vec<String> =
        serde_json::from_str(&text[start..]).expect("raw outputs are a JSON list");
    outputs.into_iter().next().expect("one raw output")
}

fn wire(case: &str) -> Value {
    let v: Value = serde_json::from_str(&reference(&format!("{case}.wire.json"))).unwrap();
    v[0].clone()
}

fn check_request(case: &str, request: &LmRequest, model: &str) {
    let ours = request.openai_body(model);
    let theirs = wire(case);
    assert_eq!(ours, theirs, "wire body of {case}");
    // Byte-level too, including key order (DSPy's pydantic schema order).
    assert_eq!(
        serde_json::to_string_pretty(&ours).unwrap(),
        serde_json::to_string_pretty(&theirs).unwrap(),
        "wire body bytes of {case}"
    );
}

signature!(StringQa = "question -> answer");

/// Extract facts.
#[derive(Signature)]
struct Facts {
    #[input(desc = "source passage")]
    text: String,
    #[output]
    title: String,
    #[output(desc = "publication year")]
    year: i64,
    #[output]
    tags: Vec<String>,
    #[output]
    confident: bool,
}

fn france_demo() -> Demo {
    Demo::new()
        .with("question", "What is the capital of France?")
        .with("answer", "Paris.")
}

fn facts_input() -> FactsInput {
    FactsInput {
        text: "Attention Is All You Need, 2017.".into(),
    }
}

#[tokio::test]
async fn case_01_predict_chat() {
    let lm = ScriptedLm::new([recorded_reply("01_predict_qa_chat")]).with_model("mock");
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    assert_eq!(
        p.render_text(&sky()).unwrap(),
        reference("01_predict_qa_chat.messages.txt")
    );
    let pred = p.call(sky()).await.unwrap();
    assert_eq!(pred.answer, "mock answer 1");
    check_request("01_predict_qa_chat", &lm.requests()[0], "mock");
}

#[tokio::test]
async fn case_02_predict_with_demo() {
    let lm = ScriptedLm::new([recorded_reply("02_predict_qa_1demo_chat")]);
    let p = Predict::<Qa>::new()
        .with_demos([france_demo()])
        .unwrap()
        .with_lm(lm.clone());
    assert_eq!(
        p.render_text(&sky()).unwrap(),
        reference("02_predict_qa_1demo_chat.messages.txt")
    );
    assert_eq!(p.call(sky()).await.unwrap().answer, "mock answer 2");
    check_request("02_predict_qa_1demo_chat", &lm.requests()[0], "mock");
}

#[tokio::test]
async fn case_03_chain_of_thought() {
    let lm = ScriptedLm::new([
        "[[ ## reasoning ## ]]\nRayleigh.\n\n[[ ## answer ## ]]\nScattering.\n\n[[ ## completed ## ]]",
    ]);
    let cot = ChainOfThought::<Qa>::new().with_lm(lm.clone());
    assert_eq!(
        cot.render_text(&sky()).unwrap(),
        reference("03_cot_qa_chat.messages.txt")
    );
    let pred = cot.call(sky()).await.unwrap();
    assert_eq!(
        (pred.reasoning.as_str(), pred.answer.as_str()),
        ("Rayleigh.", "Scattering.")
    );
    check_request("03_cot_qa_chat", &lm.requests()[0], "mock");
}

#[tokio::test]
async fn case_04_chain_of_thought_partial_demo() {
    let lm = ScriptedLm::new([recorded_reply("04_cot_qa_1demo_chat")]);
    let cot = ChainOfThought::<Qa>::new()
        .with_demos([france_demo()])
        .unwrap()
        .with_lm(lm.clone());
    assert_eq!(
        cot.render_text(&sky()).unwrap(),
        reference("04_cot_qa_1demo_chat.messages.txt")
    );
    let pred = cot.call(sky()).await.unwrap();
    assert_eq!(pred.reasoning, "Let me think step by step. (mock #4)");
    assert_eq!(pred.answer, "mock answer 4");
    check_request("04_cot_qa_1demo_chat", &lm.requests()[0], "mock");
}

#[tokio::test]
async fn case_05_string_signature() {
    let lm = ScriptedLm::new([recorded_reply("05_predict_stringsig_chat")]);
    let p = Predict::<StringQa>::new().with_lm(lm.clone());
    let input = StringQaInput {
        question: "Why is the sky blue?".into(),
    };
    assert_eq!(
        p.render_text(&input).unwrap(),
        reference("05_predict_stringsig_chat.messages.txt")
    );
    p.call(input).await.unwrap();
    check_request("05_predict_stringsig_chat", &lm.requests()[0], "mock");
    // The runtime parser of the same grammar renders the same prompt.
    let dynamic = DynPredict::parse("question -> answer").unwrap();
    let mut inputs = serde_json::Map::new();
    inputs.insert("question".into(), "Why is the sky blue?".into());
    assert_eq!(
        dynamic.render_text(&inputs).unwrap(),
        reference("05_predict_stringsig_chat.messages.txt")
    );
}

#[tokio::test]
async fn case_06_typed_outputs() {
    let lm = ScriptedLm::new([recorded_reply("06_predict_typed_chat")]);
    let p = Predict::<Facts>::new().with_lm(lm.clone());
    assert_eq!(
        p.render_text(&facts_input()).unwrap(),
        reference("06_predict_typed_chat.messages.txt")
    );
    let pred = p.call(facts_input()).await.unwrap();
    assert_eq!(pred.title, "mock title 6");
    assert_eq!(pred.year, 2017);
    assert_eq!(pred.tags, ["a", "b"]);
    assert!(pred.confident);
    check_request("06_predict_typed_chat", &lm.requests()[0], "mock");
}

#[tokio::test]
async fn case_07_json_adapter_structured() {
    let lm = ScriptedLm::new([recorded_reply("07_predict_qa_json")])
        .with_model("gpt-4o-mini")
        .with_capabilities(Capabilities::structured());
    let p = Predict::<Qa>::new()
        .with_adapter(JsonAdapter::new())
        .with_lm(lm.clone());
    assert_eq!(
        p.render_text(&sky()).unwrap(),
        reference("07_predict_qa_json.messages.txt")
    );
    assert_eq!(p.call(sky()).await.unwrap().answer, "mock answer 7");
    check_request("07_predict_qa_json", &lm.requests()[0], "gpt-4o-mini");
}

#[tokio::test]
async fn case_08_json_adapter_typed() {
    let lm = ScriptedLm::new([recorded_reply("08_predict_typed_json")])
        .with_capabilities(Capabilities::structured());
    let p = Predict::<Facts>::new()
        .with_adapter(JsonAdapter::new())
        .with_lm(lm.clone());
    assert_eq!(
        p.render_text(&facts_input()).unwrap(),
        reference("08_predict_typed_json.messages.txt")
    );
    let pred = p.call(facts_input()).await.unwrap();
    assert_eq!(
        (pred.title.as_str(), pred.year, pred.confident),
        ("mock title 8", 2017, true)
    );
    check_request("08_predict_typed_json", &lm.requests()[0], "gpt-4o-mini");
}

#[tokio::test]
async fn case_08b_json_adapter_unknown_model() {
    let lm = ScriptedLm::new([recorded_reply("08b_predict_qa_json_unknown_model")]);
    let p = Predict::<Qa>::new()
        .with_adapter(JsonAdapter::new())
        .with_lm(lm.clone());
    assert_eq!(
        p.render_text(&sky()).unwrap(),
        reference("08b_predict_qa_json_unknown_model.messages.txt")
    );
    assert_eq!(p.call(sky()).await.unwrap().answer, "mock answer 9");
    check_request(
        "08b_predict_qa_json_unknown_model",
        &lm.requests()[0],
        "mock",
    );
}
