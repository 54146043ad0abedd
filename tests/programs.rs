//! program!: a typed module graph with call sugar, predictor paths, the graph, dry-run prompts,
//! and save/load in DSPy's format.

use dspy::prelude::*;

/// Write a search query that helps answer the question.
#[derive(Signature)]
struct GenerateQuery {
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    #[output]
    query: String,
}

/// Answer the question from the context in a few words.
#[derive(Signature)]
struct AnswerQuestion {
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    #[output]
    answer: String,
}

program! {
    /// Two hops of retrieval, then an answer.
    struct MultiHop {
        hops: Vec<ChainOfThought<GenerateQuery>>,
        answer: Predict<AnswerQuestion>,
        #[skip]
        corpus: Vec<String>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let mut context: Vec<String> = Vec::new();
        for hop in &self.hops {
            let q = hop.call(GenerateQueryInput { context: context.clone(), question: question.clone() }).await?;
            let hit = self.corpus.iter().find(|p| p.contains(q.query.as_str())).cloned();
            context.push(hit.unwrap_or_else(|| format!("(nothing for {})", q.query)));
        }
        let pred = self.answer(context: &context, question).await?;
        Ok(pred.answer.clone())
    }
}

fn multihop() -> MultiHop {
    MultiHop {
        hops: vec![ChainOfThought::new(), ChainOfThought::new()],
        answer: Predict::new(),
        corpus: vec!["Paris is the capital of France.".into()],
    }
}

#[test]
fn paths_follow_dspy_named_predictors() {
    let mut p = multihop();
    assert_eq!(p.paths(), ["hops[0].predict", "hops[1].predict", "answer"]);
    p.predictor_mut("hops.1.predict")
        .unwrap()
        .set_instructions("Second hop.".into());
    assert_eq!(p.hops[1].instructions(), "Second hop.");
    assert!(p.predictor("nope").is_none());
    let err = p.set_demos_at("nope", vec![]).unwrap_err().to_string();
    assert!(
        err.contains("hops[0].predict, hops[1].predict, answer"),
        "{err}"
    );
}

#[tokio::test]
async fn runs_with_sugar_and_renders_every_prompt() {
    let p = multihop();
    let lm = ScriptedLm::new([
        "[[ ## reasoning ## ]]\nr\n\n[[ ## query ## ]]\ncapital\n\n[[ ## completed ## ]]",
        "[[ ## reasoning ## ]]\nr\n\n[[ ## query ## ]]\nFrance\n\n[[ ## completed ## ]]",
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]",
    ]);
    let answer = dspy::with_lm(lm, p.call("What is the capital of France?".into()))
        .await
        .unwrap();
    assert_eq!(answer, "Paris");

    let prompts = dspy::render_prompts(
        &p,
        MultiHopInput {
            question: "What is the capital of France?".into(),
        },
    )
    .await
    .unwrap();
    let headers: Vec<&str> = prompts.lines().filter(|l| l.starts_with("#####")).collect();
    assert_eq!(
        headers,
        [
            "##### hops[0].predict #####",
            "##### hops[1].predict #####",
            "##### answer #####"
        ]
    );
    assert!(prompts.contains("(nothing for <query>)"), "{prompts}");
}

#[test]
fn graph_and_mermaid() {
    let g = multihop().graph();
    assert_eq!(g.calls, ["hops", "answer"]);
    let text = g.to_string();
    assert!(text.contains("hops[0].predict: GenerateQuery"), "{text}");
    let m = g.mermaid();
    assert!(m.starts_with("flowchart TD\n"), "{m}");
    assert!(m.contains("s0 --> s1"), "{m}");
}

program! {
    /// A program holding another program, an optional stage and a plain constant.
    struct Outer {
        inner: MultiHop,
        check: Option<Predict<AnswerQuestion>>,
        #[skip]
        label: &'static str,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let answer = self.inner(question).await?;
        Ok(format!("{}: {answer}", self.label))
    }
}

#[tokio::test]
async fn programs_nest_with_prefixed_paths() {
    let mut outer = Outer {
        inner: multihop(),
        check: None,
        label: "answer",
    };
    assert_eq!(
        outer.paths(),
        [
            "inner.hops[0].predict",
            "inner.hops[1].predict",
            "inner.answer"
        ]
    );
    outer.check = Some(Predict::new());
    assert_eq!(outer.paths().last().map(String::as_str), Some("check"));
    outer
        .predictor_mut("inner.hops.0.predict")
        .unwrap()
        .set_instructions("Nested.".into());
    assert_eq!(outer.inner.hops[0].instructions(), "Nested.");
    assert_eq!(Outer::CALLS, ["inner"]);
    let lm = ScriptedLm::new([
        "[[ ## reasoning ## ]]\nr\n\n[[ ## query ## ]]\ncapital\n\n[[ ## completed ## ]]",
        "[[ ## reasoning ## ]]\nr\n\n[[ ## query ## ]]\nFrance\n\n[[ ## completed ## ]]",
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]",
    ]);
    let out = dspy::with_lm(lm, outer.call("Capital?".into()))
        .await
        .unwrap();
    assert_eq!(out, "answer: Paris");
}
