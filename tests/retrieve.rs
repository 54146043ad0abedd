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
