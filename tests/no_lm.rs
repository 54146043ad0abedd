//! Without any LM configured (and no default available: no `DSPY_MODEL`, no local model file),
//! a call fails with an error that says how to configure one. (Every test runs in a process of
//! its own, under nextest and in scripts/test's `cargo test` fallback, which runs each module
//! alone: no other test sees this environment.)

use dspy::prelude::*;

signature!(Qa = "question -> answer");

#[tokio::test]
async fn calling_without_an_lm_says_what_to_do() {
    let empty = tempfile::tempdir().unwrap();
    // SAFETY: set before any other thread of this test process reads the environment.
    unsafe {
        std::env::remove_var("DSPY_MODEL");
        std::env::set_var("DSPY_MODEL_DIR", empty.path());
    }
    let err = Predict::<Qa>::new()
        .call(QaInput {
            question: "?".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, dspy::Error::NoLm { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("dspy::configure(lm)"), "{msg}");
    if cfg!(feature = "local") {
        assert!(msg.contains("scripts/fetch-models"), "{msg}");
    } else {
        assert!(msg.contains("`local` feature"), "{msg}");
    }
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
