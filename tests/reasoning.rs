//! `Reasoning` outputs: a text field on an ordinary model (rendered as DSPy renders
//! `dspy.Reasoning`: tests/parity.rs), and on a model that reasons natively, left out of the
//! prompt, asked for with `reasoning_effort` and filled from the reply's reasoning.

use dspy::lm::{BoxFuture, Capabilities, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::prelude::*;
use std::sync::{Arc, Mutex};

/// Think, then answer.
#[derive(Signature)]
struct Think {
    #[input]
    question: String,
    #[output]
    reasoning: Reasoning,
    #[output]
    answer: String,
}

/// A model that reasons natively: it answers `text` with `thought` as its reasoning, and
/// keeps the requests.
#[derive(Clone)]
struct Thinker {
    text: String,
    thought: Option<String>,
    seen: Arc<Mutex<Vec<LmRequest>>>,
}

impl LanguageModel for Thinker {
    fn model(&self) -> &str {
        "thinker"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_reasoning(true)
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        self.seen.lock().unwrap().push(request);
        let response = LmResponse {
            outputs: vec![self.text.clone()],
            reasoning: vec![self.thought.clone()],
            ..Default::default()
        };
        Box::pin(async move { Ok(response) })
    }
}

fn thinker(text: &str, thought: Option<&str>) -> Thinker {
    Thinker {
        text: text.into(),
        thought: thought.map(str::to_string),
        seen: Arc::default(),
    }
}

fn question() -> ThinkInput {
    ThinkInput {
        question: "Is 91 prime?".into(),
    }
}

#[tokio::test]
async fn a_native_reasoner_fills_the_field_from_its_reasoning() {
    let lm = thinker(
        "[[ ## answer ## ]]\nNo.\n\n[[ ## completed ## ]]",
        Some("91 = 7 × 13."),
    );
    let p = Predict::<Think>::new().with_lm(lm.clone());
    let out = p.call(question()).await.unwrap();
    assert_eq!(out.reasoning, "91 = 7 × 13.");
    assert_eq!(out.answer, "No.");
    let sent = lm.seen.lock().unwrap()[0].clone();
    assert_eq!(sent.config.reasoning_effort.as_deref(), Some("low"));
    assert!(
        sent.messages
            .iter()
            .all(|m| !m.content.contains("## reasoning ##"))
    );

    // The predictor's own effort wins; no reasoning in the reply leaves the field empty.
    let lm = thinker("[[ ## answer ## ]]\nNo.\n\n[[ ## completed ## ]]", None);
    let p = Predict::<Think>::new()
        .with_lm(lm.clone())
        .with_config(LmConfig::default().reasoning_effort("high"));
    assert_eq!(p.call(question()).await.unwrap().reasoning, "");
    let effort = lm.seen.lock().unwrap()[0].config.reasoning_effort.clone();
    assert_eq!(effort.as_deref(), Some("high"));
}

#[tokio::test]
async fn otherwise_it_is_a_text_field() {
    // Effort `none` on a reasoner, and any ordinary model: the model writes the field.
    let reply =
        "[[ ## reasoning ## ]]\n7 × 13.\n\n[[ ## answer ## ]]\nNo.\n\n[[ ## completed ## ]]";
    let lm = thinker(reply, Some("ignored"));
    let p = Predict::<Think>::new()
        .with_lm(lm.clone())
        .with_config(LmConfig::default().reasoning_effort("none"));
    assert_eq!(p.call(question()).await.unwrap().reasoning, "7 × 13.");
    let sent = lm.seen.lock().unwrap()[0].clone();
    assert!(sent.messages[0].content.contains("[[ ## reasoning ## ]]"));

    let plain = ScriptedLm::new([reply]);
    let p = Predict::<Think>::new().with_lm(plain);
    assert_eq!(p.call(question()).await.unwrap().reasoning.0, "7 × 13.");
}
