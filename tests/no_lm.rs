//! Without any LM configured, a call fails with an error that says how to configure one.
//! (Its own test binary: no other test here sets the global LM.)

use dspy::prelude::*;

signature!(Qa = "question -> answer");

#[tokio::test]
async fn calling_without_an_lm_says_what_to_do() {
    let err = Predict::<Qa>::new()
        .call(QaInput {
            question: "?".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, dspy::Error::NoLm), "{err}");
    assert!(err.to_string().contains("dspy::configure(lm)"), "{err}");
    // A scope supplies one.
    let ok = dspy::with_lm(
        ScriptedLm::fixed("[[ ## answer ## ]]\nyes"),
        Predict::<Qa>::new().call(QaInput {
            question: "?".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(ok.answer, "yes");
}
