//! ProgramOfThought on a scripted LM with the real sandbox: a program that hangs is stopped by
//! the time limit and corrected, one that never works ends after `max_iters` tries, and
//! ProgramOfThought and CodeAct compose in a `program!` that BootstrapFewShot compiles.
#![cfg(target_os = "linux")]

use dspy::interpreter::{Limits, PythonInterpreter};
use dspy::lm::{BoxFuture, LmResponse};
use dspy::prelude::*;
use dspy::{LmError, LmRequest};
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

/// Writes code for a code step (`answer = 7` for ProgramOfThought; the same, with `finished`,
/// for CodeAct) and `7` for the steps that answer.
struct Coder;

impl LanguageModel for Coder {
    fn model(&self) -> &str {
        "coder"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let system = request
            .messages
            .first()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let out = if system.contains("[[ ## finished ## ]]") {
            "[[ ## generated_code ## ]]\n```python\nanswer = 7\n```\n\n[[ ## finished ## ]]\nTrue\n\n[[ ## completed ## ]]"
        } else if system.contains("[[ ## code_output ## ]]")
            || system.contains("[[ ## trajectory ## ]]")
        {
            "[[ ## reasoning ## ]]\nThe code says 7.\n\n[[ ## answer ## ]]\n7\n\n[[ ## completed ## ]]"
        } else {
            "[[ ## reasoning ## ]]\nSet it.\n\n[[ ## generated_code ## ]]\n```python\nanswer = 7\n```\n\n[[ ## completed ## ]]"
        };
        Box::pin(async move {
            Ok(LmResponse {
                outputs: vec![out.to_string()],
                ..LmResponse::default()
            })
        })
    }
}

program! {
    /// ProgramOfThought and CodeAct as the two stages of one program.
    struct TwoWays {
        pot: ProgramOfThought<Arith>,
        act: CodeAct<Arith>,
    }

    async fn forward(&self, question: String) -> dspy::Result<i64> {
        let a = self.pot.call(ArithInput { question: question.clone() }).await?;
        let b = self.act.call(ArithInput { question }).await?;
        Ok(a.answer + b.answer)
    }
}

#[tokio::test]
async fn pot_and_code_act_compose_in_a_program_and_bootstrap_demos() {
    let program = TwoWays {
        pot: ProgramOfThought::new()
            .with_lm(Coder)
            .with_interpreter(sandbox()),
        act: CodeAct::new([])
            .unwrap_or_else(|e| panic!("{e}"))
            .with_lm(Coder)
            .with_interpreter(sandbox()),
    };
    assert_eq!(
        program.paths(),
        [
            "pot.code_generate.predict",
            "pot.code_regenerate.predict",
            "pot.generate_output.predict",
            "act.codeact",
            "act.extractor.predict",
        ]
    );
    let train = vec![
        Example::new(
            TwoWaysInput {
                question: "3 + 4, twice".into(),
            },
            ArithOutput { answer: 14 },
        ),
        Example::new(
            TwoWaysInput {
                question: "7 + 7".into(),
            },
            ArithOutput { answer: 14 },
        ),
    ];
    let (compiled, _) = dspy::optimize::BootstrapFewShot::new()
        .compile(
            &program,
            &train,
            |ex: &Example<TwoWaysInput, ArithOutput>, out: &i64| ex.label.answer == *out,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let demos = |path: &str| {
        compiled
            .predictor(path)
            .map(|p| p.demos().to_vec())
            .unwrap_or_default()
    };
    // The steps that ran got demos from the runs; the one that never ran (no error to
    // correct) got none.
    let code = demos("pot.code_generate.predict");
    assert!(!code.is_empty());
    assert!(
        code[0]
            .get("generated_code")
            .and_then(|v| v.as_str())
            .is_some_and(|c| c.contains("answer = 7")),
        "{code:?}"
    );
    assert!(!demos("pot.generate_output.predict").is_empty());
    assert!(demos("pot.code_regenerate.predict").is_empty());
    assert!(!demos("act.codeact").is_empty());
    assert!(!demos("act.extractor.predict").is_empty());
}
