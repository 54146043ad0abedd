//! Inference-time strategies on a scripted LM: BestOfN and Refine stop at the threshold or
//! keep the best, count failures, sample each attempt apart and hand on only the kept
//! attempt's trace; majority over outputs; BestOfN, Refine and MultiChainComparison as stages of
//! programs that BootstrapFewShot compiles. (Their prompts are checked against DSPy in
//! tests/parity.rs.)

use dspy::context::traced;
use dspy::lm::LmError;
use dspy::prelude::*;
use dspy::strategy::{BestOfN, MultiChainComparison, Refine, majority_text};

signature!(Ask = "question -> answer");

fn reply(answer: &str) -> String {
    format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]")
}

fn input() -> AskInput {
    AskInput {
        question: "Capital of Belgium?".into(),
    }
}

fn words(_: &AskInput, p: &Prediction<AskOutput>) -> f64 {
    1.0 / p.answer.split_whitespace().count().max(1) as f64
}

#[tokio::test]
async fn best_of_n_stops_at_the_threshold_with_a_rollout_id_per_attempt() {
    let lm = ScriptedLm::new([reply("It is Brussels"), reply("Brussels"), reply("unused")]);
    let best = BestOfN::new(Predict::<Ask>::new().with_lm(lm.clone()), 3, words, 1.0);
    let pred = best.call(input()).await.unwrap();
    assert_eq!(pred.answer, "Brussels");
    let requests = lm.requests();
    assert_eq!(
        requests.len(),
        2,
        "the threshold was reached on the second attempt"
    );
    let sampled: Vec<_> = requests
        .iter()
        .map(|r| (r.config.temperature, r.rollout_id))
        .collect();
    assert_eq!(sampled, [(Some(1.0), Some(0)), (Some(1.0), Some(1))]);
}

#[tokio::test]
async fn below_the_threshold_the_best_attempt_is_kept_and_rollouts_start_at_the_scopes() {
    let lm = ScriptedLm::new([reply("a b c"), reply("Brussels city"), reply("x y z w")]);
    let best = BestOfN::new(Predict::<Ask>::new().with_lm(lm.clone()), 3, words, 1.0);
    let pred = dspy::context::with_rollout(0.0, 10, best.call(input()))
        .await
        .unwrap();
    assert_eq!(
        pred.answer, "Brussels city",
        "the highest reward (1/2) wins"
    );
    let ids: Vec<_> = lm.requests().iter().map(|r| r.rollout_id).collect();
    assert_eq!(ids, [Some(10), Some(11), Some(12)]);
}

#[tokio::test]
async fn failed_attempts_count_against_fail_count() {
    // Two failures allowed, and two happen: the third attempt answers.
    let lm2 = ScriptedLm::new(Vec::<String>::new());
    lm2.push_error(LmError::Other("overloaded".into()));
    lm2.push_error(LmError::Other("overloaded".into()));
    lm2.push(reply("Brussels"));
    let best =
        BestOfN::new(Predict::<Ask>::new().with_lm(lm2.clone()), 3, words, 1.0).fail_count(2);
    assert_eq!(best.call(input()).await.unwrap().answer, "Brussels");
    // One failure allowed, two happen: the second is the call's error.
    let lm3 = ScriptedLm::new(Vec::<String>::new());
    lm3.push_error(LmError::Other("first".into()));
    lm3.push_error(LmError::Other("second".into()));
    let best =
        BestOfN::new(Predict::<Ask>::new().with_lm(lm3.clone()), 3, words, 1.0).fail_count(1);
    let e = best.call(input()).await.unwrap_err();
    assert!(e.to_string().contains("second"), "{e}");
    assert_eq!(lm3.requests().len(), 2, "no third attempt");
    // Every attempt failing within the allowance: the last error.
    let lm4 = ScriptedLm::new(Vec::<String>::new());
    for i in 0..2 {
        lm4.push_error(LmError::Other(format!("failure {i}")));
    }
    let best = BestOfN::new(Predict::<Ask>::new().with_lm(lm4), 2, words, 1.0);
    let e = best.call(input()).await.unwrap_err();
    assert!(e.to_string().contains("failure 1"), "{e}");
}

#[tokio::test]
async fn only_the_kept_attempt_joins_an_enclosing_trace() {
    let lm = ScriptedLm::new([reply("a b"), reply("Brussels"), reply("c d e")]);
    let best = BestOfN::new(Predict::<Ask>::new().with_lm(lm.clone()), 3, words, 2.0);
    let (pred, trace) = traced(best.call(input())).await;
    assert_eq!(pred.unwrap().answer, "Brussels");
    assert_eq!(
        lm.requests().len(),
        3,
        "the threshold of 2 is never reached"
    );
    assert_eq!(trace.len(), 1, "{trace:?}");
    assert_eq!(trace[0].outputs["answer"], "Brussels");
}

#[tokio::test]
async fn refine_stops_when_an_attempt_reaches_the_threshold() {
    // The first attempt is good enough: no advice is asked for.
    let lm = ScriptedLm::new([reply("Brussels")]);
    let refine = Refine::new(Predict::<Ask>::new(), 3, words, 1.0);
    let pred = dspy::context::with_lm(lm.clone(), refine.call(input()))
        .await
        .unwrap();
    assert_eq!(pred.answer, "Brussels");
    assert_eq!(lm.requests().len(), 1);
    // Its predictors sit under `module`, as in DSPy.
    assert_eq!(refine.named_predictors()[0].0, "module");
}

#[tokio::test]
async fn refine_advice_reaches_every_predictor_and_a_bad_advice_counts_as_a_failure() {
    let advice = "[[ ## discussion ## ]]\nToo long.\n\n[[ ## advice ## ]]\n{\"self\": \"One word.\"}\n\n[[ ## completed ## ]]";
    let lm = ScriptedLm::new([
        reply("It is Brussels"),
        advice.to_string(),
        reply("Brussels"),
    ]);
    let refine = Refine::new(Predict::<Ask>::new(), 3, words, 1.0);
    let pred = dspy::context::with_lm(lm.clone(), refine.call(input()))
        .await
        .unwrap();
    assert_eq!(pred.answer, "Brussels");
    let requests = lm.requests();
    assert_eq!(requests.len(), 3);
    let last = &requests[2].messages.last().unwrap().content;
    assert!(last.contains("[[ ## hint_ ## ]]\nOne word."), "{last}");

    // Advice that is not a map fails the attempt; with fail_count 0 that ends the call.
    let bad =
        "[[ ## discussion ## ]]\nHm.\n\n[[ ## advice ## ]]\nnot a map\n\n[[ ## completed ## ]]";
    let lm = ScriptedLm::new([reply("It is Brussels"), bad.to_string(), bad.to_string()]);
    let refine = Refine::new(Predict::<Ask>::new(), 3, words, 1.0).fail_count(0);
    let e = dspy::context::with_lm(lm.clone(), refine.call(input()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("advice"), "{e}");
}

#[test]
fn majority_normalizes_like_dspy() {
    let pick = majority_text(|p: &AskOutput| p.answer.clone());
    let out = |a: &str| AskOutput { answer: a.into() };
    let got = pick(vec![
        out("Brussels."),
        out("Paris"),
        out("the brussels"),
        out("Paris"),
    ]);
    assert_eq!(
        got.unwrap().answer,
        "Brussels.",
        "a tie goes to the value seen first"
    );
}

program! {
    /// A strategy as a stage of a program.
    struct Careful {
        best: BestOfN<Predict<Ask>>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        Ok(self.best(question).await?.answer.clone())
    }
}

/// A strategy is a module: it sits in a program, shows its predictors' paths, and an optimizer
/// compiles through it (its demos reach the predictor inside).
#[tokio::test]
async fn strategies_compose_in_programs_and_compile() {
    let one_word =
        |_: &AskInput, p: &Prediction<AskOutput>| p.answer.split_whitespace().count() == 1;
    let program = Careful {
        best: BestOfN::new(Predict::<Ask>::new(), 2, one_word, 1.0),
    };
    assert_eq!(program.named_predictors()[0].0, "best.module");
    let lm = ScriptedLm::keyed([("Capital", reply("Brussels"))]);
    let train = vec![Example::new(
        CarefulInput {
            question: "Capital of Belgium?".into(),
        },
        AskOutput {
            answer: "Brussels".into(),
        },
    )];
    let metric = |ex: &Example<CarefulInput, AskOutput>, out: &String| *out == ex.label.answer;
    let (compiled, _) = dspy::context::with_lm(
        lm,
        BootstrapFewShot::new().compile(&program, &train, metric),
    )
    .await
    .unwrap();
    let demos = compiled.named_predictors()[0].1.demos().to_vec();
    assert!(!demos.is_empty(), "the predictor inside BestOfN got demos");
}

program! {
    /// Two attempts compared into one answer (DSPy's MultiChainComparison pattern).
    struct Compared2 {
        chain: Predict<Ask>,
        compare: MultiChainComparison<Ask>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let input = AskInput { question };
        let mut completions = Vec::with_capacity(2);
        for _ in 0..2 {
            completions.push(self.chain.call(input.clone()).await?.into_output());
        }
        Ok(self.compare.call(input, &completions).await?.answer.clone())
    }
}

/// MultiChainComparison is a predictor in a program too: its path is `compare.predict`, and
/// BootstrapFewShot gives it demos (with the attempts it compared) beside the chain's.
#[tokio::test]
async fn multi_chain_comparison_composes_in_a_program_and_compiles() {
    let program = Compared2 {
        chain: Predict::new(),
        compare: MultiChainComparison::new(2),
    };
    assert_eq!(program.paths(), ["chain", "compare.predict"]);
    let lm = ScriptedLm::keyed([
        (
            "reasoning_attempt_2",
            "[[ ## rationale ## ]]\nBoth attempts say Brussels.\n\n[[ ## answer ## ]]\nBrussels\n\n[[ ## completed ## ]]"
                .to_string(),
        ),
        ("Capital", reply("Brussels")),
    ]);
    let train = vec![Example::new(
        Compared2Input {
            question: "Capital of Belgium?".into(),
        },
        AskOutput {
            answer: "Brussels".into(),
        },
    )];
    let metric = |ex: &Example<Compared2Input, AskOutput>, out: &String| *out == ex.label.answer;
    let (compiled, _) = dspy::context::with_lm(
        lm,
        BootstrapFewShot::new().compile(&program, &train, metric),
    )
    .await
    .unwrap();
    let compare = compiled
        .predictor("compare.predict")
        .map(|p| p.demos().to_vec())
        .unwrap_or_default();
    assert_eq!(compare.len(), 1, "{compare:?}");
    assert!(
        compare[0]
            .get("reasoning_attempt_1")
            .and_then(|v| v.as_str())
            .is_some_and(|a| a.contains("Brussels")),
        "{compare:?}"
    );
    assert_eq!(
        compare[0].get("rationale").and_then(|v| v.as_str()),
        Some("Both attempts say Brussels.")
    );
    assert!(
        compiled
            .predictor("chain")
            .is_some_and(|p| !p.demos().is_empty())
    );
}

program! {
    /// Refine as a stage of a program.
    struct Refined {
        refine: Refine<Predict<Ask>>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        Ok(self.refine(question).await?.answer.clone())
    }
}

/// Refine is a module like BestOfN: its predictor's path is `refine.module`, and
/// BootstrapFewShot's demos reach the predictor inside.
#[tokio::test]
async fn refine_composes_in_a_program_and_compiles() {
    let program = Refined {
        refine: Refine::new(Predict::<Ask>::new(), 2, words, 1.0),
    };
    assert_eq!(program.paths(), ["refine.module"]);
    let lm = ScriptedLm::keyed([("Capital", reply("Brussels"))]);
    let train = vec![Example::new(
        RefinedInput {
            question: "Capital of Belgium?".into(),
        },
        AskOutput {
            answer: "Brussels".into(),
        },
    )];
    let metric = |ex: &Example<RefinedInput, AskOutput>, out: &String| *out == ex.label.answer;
    let (compiled, _) = dspy::context::with_lm(
        lm,
        BootstrapFewShot::new().compile(&program, &train, metric),
    )
    .await
    .unwrap();
    assert!(
        compiled
            .predictor("refine.module")
            .is_some_and(|p| !p.demos().is_empty()),
        "the predictor inside Refine got demos"
    );
}
