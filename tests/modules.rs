//! Predict, ChainOfThought and DynPredict end to end through the scripted LM: LM selection
//! (global, scoped, per module), the JSON fallback, errors, and concurrency.

use dspy::lm::LmError;
use dspy::prelude::*;
use std::sync::Arc;

use crate::common;
use common::{Qa, QaInput, QaOutput, reply};

fn q(text: &str) -> QaInput {
    QaInput {
        question: text.into(),
    }
}

#[tokio::test]
async fn module_lm_beats_scope_beats_global() {
    // Only this test touches the global LM (each test has a process of its own under nextest,
    // and scripts/test's fallback runs each module alone).
    let global = ScriptedLm::fixed(reply("global"));
    dspy::configure(global);
    let p = Predict::<Qa>::new();
    assert_eq!(p.call(q("a")).await.unwrap().answer, "global");

    let scoped = ScriptedLm::fixed(reply("scoped"));
    let inner = dspy::with_lm(scoped, async {
        let nested = dspy::with_lm(ScriptedLm::fixed(reply("nested")), p.call(q("c")))
            .await
            .unwrap();
        (p.call(q("b")).await.unwrap(), nested)
    })
    .await;
    assert_eq!(
        (inner.0.answer.as_str(), inner.1.answer.as_str()),
        ("scoped", "nested")
    );

    let own = Predict::<Qa>::new().with_lm(ScriptedLm::fixed(reply("own")));
    let in_scope = dspy::with_lm(ScriptedLm::fixed(reply("scoped")), own.call(q("d")))
        .await
        .unwrap();
    assert_eq!(in_scope.answer, "own");
    assert_eq!(p.call(q("e")).await.unwrap().answer, "global");
}

#[tokio::test]
async fn scopes_are_per_task_under_concurrency() {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            tokio::spawn(dspy::with_lm(
                ScriptedLm::fixed(reply(&format!("lm{i}"))),
                async move {
                    let p = Predict::<Qa>::new();
                    tokio::task::yield_now().await;
                    (i, p.call(q("x")).await.unwrap().answer.clone())
                },
            ))
        })
        .collect();
    for t in tasks {
        let (i, answer) = t.await.unwrap();
        assert_eq!(answer, format!("lm{i}"));
    }
}

#[tokio::test]
async fn chat_falls_back_to_json_once() {
    let lm = ScriptedLm::new(["I think it is Paris.", "{\"answer\": \"Paris\"}"]);
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    let pred = p.call(q("Capital of France?")).await.unwrap();
    assert_eq!(pred.answer, "Paris");
    assert_eq!(pred.adapter(), "JSONAdapter");
    let requests = lm.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1]
            .messages
            .last()
            .unwrap()
            .content
            .contains("Respond with a JSON object")
    );
    // Usage counts both calls.
    assert!(pred.usage().prompt_tokens > 0);
}

#[tokio::test]
async fn both_failures_are_reported() {
    let lm = ScriptedLm::new(["no markers", "still no object"]);
    let err = Predict::<Qa>::new()
        .with_lm(lm.clone())
        .call(q("?"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("JSONAdapter could not parse"), "{msg}");
    assert!(
        msg.contains("tried first: ChatAdapter could not parse"),
        "{msg}"
    );
    assert_eq!(lm.requests().len(), 2);
}

#[tokio::test]
async fn fallback_can_be_turned_off() {
    let lm = ScriptedLm::new(["no markers"]);
    let p = Predict::<Qa>::new()
        .with_lm(lm.clone())
        .with_adapter(ChatAdapter::without_fallback());
    let err = p.call(q("?")).await.unwrap_err();
    assert!(
        matches!(err, dspy::Error::Parse(ref e) if e.adapter == "ChatAdapter"),
        "{err}"
    );
    assert_eq!(lm.requests().len(), 1);
}

#[tokio::test]
async fn lm_errors_surface_without_a_fallback_call() {
    let lm = ScriptedLm::new(Vec::<String>::new());
    lm.push_error(LmError::Server {
        status: 503,
        message: "overloaded".into(),
    });
    let err = Predict::<Qa>::new()
        .with_lm(lm.clone())
        .call(q("?"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, dspy::Error::Lm(LmError::Server { status: 503, .. })),
        "{err}"
    );
    assert_eq!(lm.requests().len(), 1);
    let none = Predict::<Qa>::new()
        .with_lm(ScriptedLm::new(Vec::<String>::new()))
        .call(q("?"))
        .await
        .unwrap_err();
    assert!(none.to_string().contains("no replies left"), "{none}");
}

#[tokio::test]
async fn chain_of_thought_is_a_type_change() {
    let lm = ScriptedLm::new(["[[ ## reasoning ## ]]\nBecause.\n[[ ## answer ## ]]\n42"]);
    let cot = ChainOfThought::<Qa>::new().with_lm(lm);
    let pred: Prediction<Reasoned<QaOutput>> = cot.call(q("?")).await.unwrap();
    assert_eq!(pred.reasoning, "Because.");
    let output: &QaOutput = &pred.output;
    assert_eq!(output.answer, "42");
}

#[tokio::test]
async fn demos_and_instructions_are_parameter_slots() {
    let mut p = Predict::<Qa>::new();
    assert_eq!(
        p.instructions(),
        "Answer the question in one short sentence."
    );
    p.push_demo(&q("2+2?"), &QaOutput { answer: "4".into() })
        .unwrap();
    let before = p.render_text(&q("x")).unwrap();
    p.set_instructions("Be terse.".into());
    let after = p.render_text(&q("x")).unwrap();
    assert!(before.contains("2+2?") && after.contains("2+2?"));
    assert!(after.contains("        Be terse.") && !before.contains("Be terse."));
    let slots: &dyn Predictor = &p;
    assert_eq!(slots.demos().len(), 1);
    assert_eq!(slots.signature().name(), "Qa");
}

#[tokio::test]
async fn dyn_predict_calls_with_maps() {
    let lm = ScriptedLm::new(["[[ ## answer ## ]]\nTrue\n[[ ## score ## ]]\n0.5"]);
    let p = DynPredict::parse("question -> answer: bool, score: float")
        .unwrap()
        .with_lm(lm);
    let mut inputs = serde_json::Map::new();
    inputs.insert("question".into(), "Is it?".into());
    let pred = p.call(inputs).await.unwrap();
    assert_eq!(pred["answer"], serde_json::json!(true));
    assert_eq!(pred["score"], serde_json::json!(0.5));
    let missing = p.call(serde_json::Map::new()).await.unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("input field `question` is missing"),
        "{missing}"
    );
}

#[tokio::test]
async fn predict_is_shareable_across_threads() {
    let p = Arc::new(Predict::<Qa>::new().with_lm(ScriptedLm::fixed(reply("ok"))));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { p.call(q(&format!("q{i}"))).await.map(|r| r.answer.clone()) })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap().unwrap(), "ok");
    }
}

/// A runtime signature nested deeper than the grammar allows is an error, not a stack overflow,
/// however deep; the deepest allowed type goes through the prompt, the schema and parsing.
#[tokio::test]
async fn deeply_nested_runtime_signatures() {
    let deep = format!(
        "question -> answer: {}str{}",
        "list[".repeat(100_000),
        "]".repeat(100_000)
    );
    let Err(e) = DynPredict::parse(&deep) else {
        panic!("a 100,000-deep type was accepted")
    };
    let e = e.to_string();
    assert!(
        e.contains("type nested more than 32 deep"),
        "{}",
        &e[e.len() - 200..]
    );

    let lists = 31;
    let sig = format!(
        "question -> answer: {}str{}",
        "list[".repeat(lists),
        "]".repeat(lists)
    );
    let value = format!("{}\"x\"{}", "[".repeat(lists), "]".repeat(lists));
    let lm = ScriptedLm::new([format!(
        "[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]"
    )]);
    let p = DynPredict::parse(&sig).unwrap().with_lm(lm);
    let mut inputs = serde_json::Map::new();
    inputs.insert("question".into(), "deep?".into());
    let pred = p.call(inputs).await.unwrap();
    let mut v = &pred["answer"];
    for _ in 0..lists {
        v = &v[0];
    }
    assert_eq!(v, "x");
}

/// A value whose `Serialize` fails (as a map with non-string keys would).
#[derive(Clone, Debug, serde::Deserialize, schemars::JsonSchema)]
struct Broken;

impl serde::Serialize for Broken {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("broken on purpose"))
    }
}

/// Answer about the thing.
#[derive(Signature)]
struct Takes {
    #[input]
    thing: Broken,
    #[output]
    answer: String,
}

#[tokio::test]
async fn an_input_that_does_not_serialize_is_an_error_before_any_call() {
    let lm = ScriptedLm::new([reply("x")]);
    let p = Predict::<Takes>::new().with_lm(lm.clone());
    let err = p.call(TakesInput { thing: Broken }).await.unwrap_err();
    assert!(matches!(err, dspy::Error::Serialize(_)), "{err}");
    assert!(
        err.to_string()
            .contains("input `thing` of Takes: broken on purpose"),
        "{err}"
    );
    assert_eq!(lm.remaining(), 1, "no call was spent");
    assert!(p.render_text(&TakesInput { thing: Broken }).is_err());
}
