//! BAMLAdapter end to end: the compact type rendering reaches the LM, the JSON reply is read
//! as JSONAdapter reads it, and a failure names BAMLAdapter. (Its prompts are checked byte for
//! byte against DSPy in tests/dspy_oracle.rs and tests/parity.rs.)

use dspy::prelude::*;

signature!(
    Grade = "essay -> grade: Literal['A', 'B', 'C'], notes: list[str], score: Optional[float]"
);

#[tokio::test]
async fn a_predictor_answers_through_it() {
    let lm = ScriptedLm::new([
        "```json\n{\"grade\": \"B\", \"notes\": [\"clear\"], \"score\": 7.5}\n```",
        "no json here",
    ]);
    let p = Predict::<Grade>::new()
        .with_lm(lm.clone())
        .with_adapter(BamlAdapter::new());
    let out = p
        .call(GradeInput {
            essay: "…".into()
        })
        .await
        .unwrap();
    assert_eq!(out.grade, GradeGrade::B);
    assert_eq!(out.notes, ["clear"]);
    assert_eq!(out.score, Some(7.5));
    let system = &lm.requests()[0].messages[0].content;
    assert!(system.contains("Output field `grade` should be of type: \"A\" or \"B\" or \"C\""));
    assert!(system.contains("Output field `score` should be of type: float or null"));
    let e = p
        .call(GradeInput {
            essay: "…".into()
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("BAMLAdapter"), "{e}");
}
