//! The embedded model end to end (SmolLM2-135M, `scripts/fetch-models smollm2`): chat template,
//! determinism at temperature 0, prefix reuse, JSON-schema constrained output, stop, n, usage,
//! concurrent callers, and Predict on top.
#![cfg(feature = "local")]

use crate::common;

use common::{Qa, QaInput, greedy_chat as ask};
use dspy::lm::{Capabilities, LocalLm, ResponseFormat};
use dspy::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn model() -> LocalLm {
    LocalLm::smollm2().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn greedy_decoding_is_deterministic_and_reuses_the_prefix() {
    // A copy of its own: other tests' calls must not come between ours.
    let path =
        dspy::lm::local::locate_in(&dspy::lm::local::model_dir(), dspy::lm::local::SMOLLM2_FILE)
            .unwrap();
    let lm = LocalLm::load_separate(path, Default::default()).unwrap();
    let system = "You are a helpful assistant. Answer in one short sentence. ".repeat(8);
    let first = lm
        .complete(ask(&system, "What is the capital of France?", 24))
        .await
        .unwrap();
    let prefilled_before = lm.stats().prefilled_tokens.load(Ordering::Relaxed);
    let second = lm
        .complete(ask(&system, "What is the capital of France?", 24))
        .await
        .unwrap();
    let prefilled = lm.stats().prefilled_tokens.load(Ordering::Relaxed) - prefilled_before;
    assert_eq!(
        first.outputs, second.outputs,
        "temperature 0 is deterministic"
    );
    assert!(!first.outputs[0].trim().is_empty());
    assert!(
        first.usage.prompt_tokens > 50 && first.usage.completion_tokens > 0,
        "{:?}",
        first.usage
    );
    assert!(
        prefilled <= 1,
        "the same prompt again decodes only its last token, not {prefilled}"
    );
    // A different question after the same system prompt decodes only the new part.
    let before = lm.stats().prefilled_tokens.load(Ordering::Relaxed);
    let third = lm
        .complete(ask(&system, "Name a colour.", 8))
        .await
        .unwrap();
    let decoded = lm.stats().prefilled_tokens.load(Ordering::Relaxed) - before;
    assert!(
        decoded < third.usage.prompt_tokens / 2,
        "{decoded} of {} prompt tokens decoded",
        third.usage.prompt_tokens
    );
}

#[tokio::test]
async fn json_schema_output_is_constrained() {
    let lm = model();
    assert_eq!(lm.capabilities(), Capabilities::structured());
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confident": {"type": "boolean"}},
        "required": ["answer", "confident"],
        "additionalProperties": false
    });
    let mut req = ask("Reply in JSON.", "Is the sky blue?", 48);
    req.response_format = Some(Arc::new(ResponseFormat::JsonSchema {
        name: "Out".into(),
        schema,
        strict: true,
    }));
    let resp = lm.complete(req).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&resp.outputs[0])
        .unwrap_or_else(|e| panic!("{e}: {}", resp.outputs[0]));
    assert!(
        v["answer"].is_string() && v["confident"].is_boolean(),
        "{v}"
    );
}

#[tokio::test]
async fn stop_and_n() {
    let lm = model();
    let mut req = ask("Count.", "Count from 1 to 10, separated by commas.", 40);
    req.config = Arc::new(LmConfig {
        max_tokens: Some(40),
        temperature: Some(0.0),
        n: Some(2),
        stop: vec!["5".into()],
        ..Default::default()
    });
    let resp = lm.complete(req).await.unwrap();
    assert_eq!(resp.outputs.len(), 2);
    assert_eq!(resp.outputs[0], resp.outputs[1]);
    assert!(!resp.outputs[0].contains('5'), "{:?}", resp.outputs[0]);
}

#[tokio::test]
async fn too_long_prompts_are_a_context_window_error() {
    let lm = model();
    let huge = "word ".repeat(12_000);
    let e = lm.complete(ask("Summarise.", &huge, 16)).await.unwrap_err();
    assert!(
        matches!(e, dspy::LmError::ContextWindowExceeded { .. }),
        "{e}"
    );
    // The model keeps working after the error.
    assert!(lm.complete(ask("Be brief.", "Say hi.", 4)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_are_served_in_turn() {
    let lm = model();
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let lm = lm.clone();
            tokio::spawn(async move {
                lm.complete(ask(
                    "Answer with a number.",
                    &format!("What is {i} plus {i}?"),
                    6,
                ))
                .await
            })
        })
        .collect();
    for c in calls {
        let r = c.await.unwrap().unwrap();
        assert_eq!(r.outputs.len(), 1);
    }
}

#[tokio::test]
async fn loading_twice_shares_one_model() {
    let a = model();
    let b = model();
    a.complete(ask("Hi.", "Hi.", 2)).await.unwrap();
    let seen_by_b = b.stats().prompt_tokens.load(Ordering::Relaxed);
    assert!(seen_by_b > 0, "b shares a's worker and stats");
}

#[tokio::test]
async fn predict_runs_on_the_embedded_model() {
    // SmolLM2 is weak: a parse failure is acceptable, anything else is not.
    let p = Predict::<Qa>::new().with_lm(model()).with_config(LmConfig {
        max_tokens: Some(48),
        ..Default::default()
    });
    match p
        .call(QaInput {
            question: "What is the capital of France?".into(),
        })
        .await
    {
        Ok(pred) => assert!(!pred.answer.is_empty()),
        Err(dspy::Error::Parse(e)) => assert!(!e.response.is_empty(), "{e}"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn a_missing_model_says_how_to_fetch_it() {
    let e = LocalLm::load("models/does-not-exist.gguf", Default::default())
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("cannot load"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = dspy::lm::local::locate_in(dir.path(), dspy::lm::local::QWEN_FILE).unwrap_err();
    assert!(e.to_string().contains("scripts/fetch-models qwen"), "{e}");
}

/// A file that is not a model is refused when opened; one that only looks like a model loads in
/// the background and fails there: `ready` and every call report it, and nothing panics.
#[tokio::test]
async fn a_bad_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "not a model").unwrap();
    let e = LocalLm::load(&text, Default::default())
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("not a GGUF model file"), "{e}");

    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let lm = LocalLm::load(&truncated, Default::default()).unwrap();
    let e = lm.ready().await.unwrap_err();
    assert!(e.to_string().contains("cannot load"), "{e}");
    let e = lm.complete(ask("Hi", "Hello", 4)).await.unwrap_err();
    assert!(e.to_string().contains("cannot load"), "{e}");
}

#[tokio::test]
async fn seeded_sampling_is_reproducible() {
    // A copy of its own that prefills every prompt in full: a prompt decoded partly from the KV
    // cache can differ from a full prefill in the last bits of its logits, which sampling at a
    // high temperature may turn into another token.
    let path =
        dspy::lm::local::locate_in(&dspy::lm::local::model_dir(), dspy::lm::local::SMOLLM2_FILE)
            .unwrap();
    let config = dspy::lm::LocalConfig {
        reuse_prefix: false,
        ..Default::default()
    };
    let lm = LocalLm::load_separate(path, config).unwrap();
    let mut req = ask("Tell a story.", "Once upon a time", 12);
    req.config = Arc::new(LmConfig {
        temperature: Some(0.9),
        top_p: Some(0.9),
        seed: Some(42),
        max_tokens: Some(12),
        ..Default::default()
    });
    let a = lm.complete(req.clone()).await.unwrap();
    let b = lm.complete(req).await.unwrap();
    assert_eq!(
        a.outputs, b.outputs,
        "the same seed samples the same tokens"
    );
    assert!(!a.outputs[0].is_empty());
}

/// Native tool calls on the embedded model: the tools go into the system message in the
/// Hermes form, a required call is grammar-constrained (so it parses and its arguments fit the
/// tool's schema), and ReActV2 runs natively on it to outputs that fit the signature.
#[tokio::test]
async fn native_tool_calls_on_the_embedded_model() {
    use dspy::agent::Termination;
    use dspy::lm::ToolChoice;
    let lm = model();
    assert!(lm.capabilities().tool_calls);
    let add = add_tool();
    let mut req = ask("You are a calculator.", "What is 2 + 3?", 48);
    req.tools = Some(vec![add.to_openai()].into());
    req.tool_choice = Some(ToolChoice::Required);
    let r = lm.complete(req).await.unwrap();
    let calls = &r.tool_calls[0];
    assert_eq!(calls.len(), 1, "{r:?}");
    assert_eq!(calls[0].name, "add");
    add.check(&calls[0].args)
        .unwrap_or_else(|e| panic!("constrained arguments fit: {e}"));
    assert!(calls[0].id.as_deref().is_some_and(|id| !id.is_empty()));

    /// Answer questions about arithmetic.
    #[derive(Signature)]
    struct Sum {
        #[input]
        question: String,
        #[output]
        answer: i64,
    }
    let agent = ReActV2::<Sum>::new([add])
        .unwrap()
        .max_iters(2)
        .with_lm(lm)
        .with_config(LmConfig::default().temperature(0.0).max_tokens(96))
        .with_adapter(JsonAdapter::new());
    let p = agent
        .call(SumInput {
            question: "What is 2 + 3?".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("the episode ends in outputs: {e}"));
    println!(
        "answer {} ({:?}): {:#?}",
        p.answer, p.termination, p.history
    );
    assert!(matches!(
        p.termination,
        Termination::Submit | Termination::ForcedSubmit { .. }
    ));
    let last = p.history.last().expect("the submit turn");
    assert!(last.calls.iter().any(|c| c.name == "submit"));
}

/// Adds two integers.
#[dspy::tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Describe the picture.
#[derive(Signature)]
struct Caption {
    #[input]
    photo: dspy::Image,
    #[output]
    caption: String,
}

#[tokio::test]
async fn an_image_input_is_refused_before_any_decoding() {
    let lm = model();
    let before = lm.stats().prompt_tokens.load(Ordering::Relaxed);
    let photo = dspy::Image::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/media/dot.png"
    ))
    .unwrap();
    let err = Predict::<Caption>::new()
        .with_lm(lm.clone())
        .call(CaptionInput { photo })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, dspy::Error::Lm(dspy::LmError::UnsupportedInput(m))
            if m.contains("takes text only") && m.contains("an image")),
        "{err}"
    );
    assert_eq!(lm.stats().prompt_tokens.load(Ordering::Relaxed), before);
}

#[tokio::test]
async fn tokens_stream_and_join_to_the_completion() {
    let lm = model();
    let mut request = ask("Answer briefly.", "Name three colours.", 24);
    Arc::make_mut(&mut request.config).stop = vec!["\n\n".into()];
    let whole = lm.complete(request.clone()).await.unwrap();
    let mut pieces = Vec::new();
    let streamed =
        LanguageModel::complete_streaming(&lm, request, &mut |t: &str| pieces.push(t.to_string()))
            .await
            .unwrap();
    assert!(pieces.len() > 1, "one piece per token or so: {pieces:?}");
    assert_eq!(pieces.concat(), streamed.outputs[0]);
    assert_eq!(
        streamed.outputs, whole.outputs,
        "greedy: same text streamed or not"
    );
}

#[tokio::test]
async fn a_predictor_streams_its_fields_on_the_embedded_model() {
    let p = Predict::<Qa>::new().with_lm(model());
    let (answer, chunks, pred) = common::stream_capital(&p).await;
    assert!(chunks > 1, "{chunks} chunks");
    assert_eq!(answer, pred.answer);
}
