//! Retrieval in a program: a `Retrieve` stage over a BM25 index feeds a predictor, and its
//! calls are module events that callbacks (and so exporters) see.

use dspy::context::{Call, Callback, ModuleEnd};
use dspy::prelude::*;
use dspy::retrieve::{Bm25Index, Passage, Retrieve};
use std::sync::{Arc, Mutex};

signature!(Answer = "context: list[str], question -> answer");

program! {
    /// One retrieval hop, then an answer.
    struct Rag {
        retrieve: Retrieve,
        answer: Predict<Answer>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let passages: Vec<Passage> = self.retrieve(query: &question).await?;
        let context: Vec<String> = passages.into_iter().map(|p| p.text).collect();
        Ok(self.answer(context, question).await?.answer.clone())
    }
}

/// Records the outputs of every Retrieve call.
#[derive(Default)]
struct Retrievals(Mutex<Vec<serde_json::Value>>);

impl Callback for Retrievals {
    fn on_module_end(&self, call: &Call<'_>, end: &ModuleEnd<'_>) {
        if call.name == "Retrieve"
            && let Ok(Some(out)) = &end.outputs
        {
            self.0
                .lock()
                .unwrap()
                .push(serde_json::Value::Object((*out).clone()));
        }
    }
}

#[tokio::test]
async fn a_retrieve_stage_feeds_the_answer_and_callbacks_see_it() {
    let index = Bm25Index::new(vec![
        "Chelsea beat Arsenal in the cup final.".into(),
        "The central bank raised interest rates again.".into(),
        "Arsenal sign a new striker before the final.".into(),
    ]);
    let program = Rag {
        retrieve: Retrieve::new(index, 1),
        answer: Predict::new(),
    };
    assert_eq!(
        program.named_predictors().len(),
        1,
        "Retrieve holds no predictor"
    );
    let lm = ScriptedLm::new(["[[ ## answer ## ]]\n4.5%\n\n[[ ## completed ## ]]"]);
    let seen = Arc::new(Retrievals::default());
    let answer = dspy::context::scope()
        .lm(lm.clone())
        .callback_arc(seen.clone())
        .run(program.call("What did the central bank raise?".into()))
        .await
        .unwrap();
    assert_eq!(answer, "4.5%");
    let requests = lm.requests();
    let prompt = &requests[0].messages.last().unwrap().content;
    assert!(
        prompt.contains("The central bank raised interest rates again."),
        "{prompt}"
    );
    assert!(!prompt.contains("Chelsea"), "k = 1: {prompt}");
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["passages"][0]["id"], 1);
}

fn rag() -> Rag {
    let index = Bm25Index::new(vec![
        "Chelsea beat Arsenal in the cup final.".into(),
        "The central bank raised interest rates again.".into(),
        "Arsenal sign a new striker before the final.".into(),
    ]);
    Rag {
        retrieve: Retrieve::new(index, 1),
        answer: Predict::new(),
    }
}

#[tokio::test]
async fn a_traced_run_records_its_retrievals() {
    let lm = ScriptedLm::fixed("[[ ## answer ## ]]\nrates\n\n[[ ## completed ## ]]");
    let program = rag();
    assert!(
        dspy::context::retrievals().is_none(),
        "outside a traced run"
    );
    let ((answer, seen), calls) = dspy::context::traced(dspy::context::with_lm(lm, async {
        let answer = program
            .call("What did the central bank raise?".into())
            .await;
        (answer, dspy::context::retrievals())
    }))
    .await;
    assert_eq!(answer.unwrap(), "rates");
    assert_eq!(calls.len(), 1, "one predictor call");
    let seen = seen.expect("inside a traced run");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query, "What did the central bank raise?");
    assert_eq!(seen[0].k, 1);
    assert_eq!(seen[0].passages[0]["id"], 1);
    assert_eq!(
        seen[0].passages[0]["text"],
        "The central bank raised interest rates again."
    );
}

/// Inside BestOfN, the chosen attempt's retrievals are handed on to the enclosing traced run,
/// as its predictor calls are.
#[tokio::test]
async fn best_of_n_hands_on_its_chosen_attempts_retrievals() {
    let lm = ScriptedLm::fixed("[[ ## answer ## ]]\nrates\n\n[[ ## completed ## ]]");
    let best = BestOfN::new(rag(), 2, |_: &RagInput, _: &String| 0.0, 1.0);
    let ((answer, seen), calls) = dspy::context::traced(dspy::context::with_lm(lm, async {
        let answer = best
            .call(RagInput {
                question: "What did the central bank raise?".into(),
            })
            .await;
        (answer, dspy::context::retrievals())
    }))
    .await;
    assert_eq!(answer.unwrap(), "rates");
    assert_eq!(calls.len(), 1, "the chosen attempt's predictor call");
    let seen = seen.expect("inside a traced run");
    assert_eq!(
        seen.len(),
        1,
        "the chosen attempt's retrieval only: {seen:?}"
    );
    assert_eq!(seen[0].passages[0]["id"], 1);
}

/// An optimizer's metric sees the retrievals of the run it scores: BootstrapFewShot keeps only
/// the runs whose retrieval found the gold passage, and GEPA's feedback names what was found.
#[tokio::test]
async fn optimizers_metrics_see_the_retrievals() {
    use dspy::optimize::{BootstrapFewShot, Gepa, gepa};
    let lm = ScriptedLm::fixed("[[ ## answer ## ]]\nrates\n\n[[ ## completed ## ]]");
    let train: Vec<Example<RagInput, serde_json::Value>> = [
        ("What did the central bank raise?", "rates"),
        ("Who sign a new striker?", "rates"),
    ]
    .iter()
    .map(|(q, a)| {
        Example::new(
            RagInput {
                question: q.to_string(),
            },
            serde_json::json!({ "answer": a }),
        )
    })
    .collect();
    let found_bank = || {
        dspy::context::retrievals()
            .is_some_and(|r| r.iter().any(|e| e.passages.iter().any(|p| p["id"] == 1)))
    };
    let program = rag();
    let (compiled, _) = dspy::context::with_lm(
        lm.clone(),
        BootstrapFewShot::new()
            .max_bootstrapped_demos(2)
            .max_labeled_demos(0)
            .compile(&program, &train, |_ex, _out| found_bank()),
    )
    .await
    .unwrap();
    let demos = compiled.answer.demos();
    assert_eq!(
        demos.len(),
        1,
        "only the run that retrieved the bank's passage"
    );

    let feedback_saw = Arc::new(Mutex::new(Vec::new()));
    let saw = feedback_saw.clone();
    let _ = dspy::context::with_lm(
        lm,
        Gepa::new()
            .max_metric_calls(8)
            .reflection_lm(ScriptedLm::fixed(r#"{"new_instruction": "Answer."}"#))
            .progress(false)
            .compile(&program, &train, move |_ex, _out: &String| {
                if let Some(r) = gepa::program_retrievals() {
                    saw.lock().unwrap().push(r[0].query.clone());
                    Feedback::new(false, format!("retrieved {}", r[0].passages[0]["id"]))
                } else {
                    Feedback::score(0.0)
                }
            }),
    )
    .await
    .unwrap();
    let saw = feedback_saw.lock().unwrap();
    assert!(!saw.is_empty(), "GEPA asked for feedback");
    let questions = [
        "What did the central bank raise?",
        "Who sign a new striker?",
    ];
    assert!(
        saw.iter().all(|q| questions.contains(&q.as_str())),
        "{saw:?}"
    );
}
