//! ProgramOfThought on a scripted LM with the real sandbox: a program that hangs is stopped by
//! the time limit and corrected, and one that never works ends after `max_iters` tries.
#![cfg(target_os = "linux")]

use dspy::interpreter::{Limits, PythonInterpreter};
use dspy::prelude::*;
use std::time::Duration;

signature!(
    /// Answer the arithmetic question.
    Arith = "question -> answer: int"
);

fn code(code: &str) -> String {
    format!(
        "[[ ## reasoning ## ]]\nCompute it.\n\n[[ ## generated_code ## ]]\n{code}\n\n[[ ## completed ## ]]"
    )
}

fn sandbox() -> PythonInterpreter {
    let limits = Limits {
        time: Duration::from_secs(1),
        ..Limits::default()
    };
    PythonInterpreter::with_limits(limits).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_hanging_program_is_stopped_and_corrected() {
    let lm = ScriptedLm::new([
        code("while True:\n    pass"),
        code("answer = sum(range(10))"),
        "[[ ## reasoning ## ]]\nIt is 45.\n\n[[ ## answer ## ]]\n45\n\n[[ ## completed ## ]]"
            .into(),
    ]);
    let pot = ProgramOfThought::<Arith>::new()
        .with_lm(lm.clone())
        .with_interpreter(sandbox());
    let pred = pot
        .call(ArithInput {
            question: "Sum 0..9".into(),
        })
        .await
        .unwrap();
    assert_eq!(pred.answer, 45);
    let sent = lm.requests();
    let regenerate = &sent[1].messages.last().unwrap().content;
    assert!(
        regenerate.contains("[[ ## error ## ]]\nthe code ran longer than its time limit of 1s"),
        "{regenerate}"
    );
    let answer = &sent[2].messages.last().unwrap().content;
    assert!(answer.contains("[[ ## code_output ## ]]\n45"), "{answer}");
}

#[tokio::test]
async fn a_program_that_never_works_ends_after_max_iters() {
    let lm = ScriptedLm::new([code("1 / 0"), code("2 / 0")]);
    let pot = ProgramOfThought::<Arith>::new()
        .with_lm(lm.clone())
        .with_interpreter(sandbox())
        .with_max_iters(2);
    let err = pot
        .call(ArithInput {
            question: "?".into(),
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Max hops reached. Failed to run ProgramOfThought: ZeroDivisionError"),
        "{err}"
    );
    assert_eq!(lm.requests().len(), 2);
}
