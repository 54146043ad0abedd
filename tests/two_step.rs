//! TwoStepAdapter: the main LM answers in prose, the extraction LM fills the typed outputs
//! (requests checked byte for byte against DSPy in tests/parity.rs).

use dspy::prelude::*;

signature!(Capital = "country -> capital, population_millions: float");

#[tokio::test]
async fn prose_then_extraction_and_a_failed_extraction_names_both_steps() {
    let main = ScriptedLm::new([
        "The capital of France is Paris, home to about 2.1 million people.",
        "I am not sure.",
    ]);
    let extraction = ScriptedLm::new([
        "[[ ## capital ## ]]\nParis\n\n[[ ## population_millions ## ]]\n2.1\n\n[[ ## completed ## ]]",
        "nothing useful",
        "still nothing",
    ]);
    let p = Predict::<Capital>::new()
        .with_lm(main.clone())
        .with_adapter(TwoStepAdapter::new(extraction.clone()));
    let out = p
        .call(CapitalInput {
            country: "France".into(),
        })
        .await
        .unwrap();
    assert_eq!(out.capital, "Paris");
    assert_eq!(out.population_millions, 2.1);
    assert!(out.usage().completion_tokens > 0);
    let sent = &main.requests()[0].messages;
    assert!(sent[0].content.starts_with("You are a helpful assistant"));
    assert_eq!(&*sent[1].content, "country: France");
    let extract = &extraction.requests()[0].messages;
    assert!(
        extract[1]
            .content
            .contains("The capital of France is Paris")
    );

    // The extraction's ChatAdapter and its JSON fallback both fail: a parse error of
    // TwoStepAdapter that keeps the extraction's own error.
    let e = p
        .call(CapitalInput {
            country: "Atlantis".into(),
        })
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("TwoStepAdapter") && text.contains("I am not sure."),
        "{text}"
    );
}
