//! CodeAct on a scripted LM with the real sandbox: a failing tool is an exception the next
//! iteration sees, code that hangs is stopped and the session replaced with the tools defined
//! again, unparsable code is an observation, and `finished` ends the loop early.
#![cfg(target_os = "linux")]

use dspy::interpreter::{Limits, PythonInterpreter};
use dspy::prelude::*;
use serde_json::json;
use std::time::Duration;

signature!(
    /// Convert the amount.
    Convert = "amount: float -> result: float"
);

fn step(code: &str, finished: bool) -> String {
    format!(
        "[[ ## generated_code ## ]]\n```python\n{code}\n```\n\n[[ ## finished ## ]]\n{finished}\n\n[[ ## completed ## ]]"
    )
}

fn rate() -> Tool {
    Tool::new(
        "rate",
        "The exchange rate for a currency.",
        json!({"currency": {"type": "string"}}),
        |args| async move {
            match args["currency"].as_str() {
                Some("EUR") => Ok(1.5),
                other => Err(format!("no rate for {other:?}")),
            }
        },
    )
    .unwrap()
}

#[tokio::test]
async fn failures_become_observations_and_finished_ends_the_loop() {
    let lm = ScriptedLm::new([
        step("print(rate('XYZ'))", false),
        step("while True:\n    pass", false),
        "[[ ## generated_code ## ]]\n\n\n[[ ## finished ## ]]\nFalse\n\n[[ ## completed ## ]]"
            .into(),
        step("result = 2.0 * rate('EUR')", true),
        "[[ ## reasoning ## ]]\n2 * 1.5.\n\n[[ ## result ## ]]\n3.0\n\n[[ ## completed ## ]]"
            .into(),
    ]);
    let limits = Limits {
        time: Duration::from_secs(1),
        ..Limits::default()
    };
    let agent = CodeAct::<Convert>::new([rate()])
        .unwrap()
        .with_lm(lm.clone())
        .with_interpreter(PythonInterpreter::with_limits(limits).unwrap_or_else(|e| panic!("{e}")))
        .with_max_iters(6);
    let pred = agent.call(ConvertInput { amount: 2.0 }).await.unwrap();
    assert_eq!(pred.result, 3.0);
    let t = &pred.trajectory;
    assert!(
        t["observation_0"]
            .as_str()
            .unwrap()
            .starts_with("Failed to execute the generated code: HostError: ")
            && t["observation_0"].as_str().unwrap().contains("no rate for"),
        "{t:?}"
    );
    assert_eq!(
        t["observation_1"],
        "Failed to execute the generated code: the code ran longer than its time limit of 1s"
    );
    assert_eq!(
        t["observation_2"],
        "Failed to parse the generated code: Error: Empty code after parsing."
    );
    // The tool is defined again in the new session (the inputs are in the prompt, not the
    // session, as in DSPy).
    assert_eq!(t["code_output_3"], "3.0");
    // Four steps and the extraction: `finished` ended the loop before the sixth.
    assert_eq!(lm.requests().len(), 5);
}

#[test]
fn a_tool_name_python_cannot_call_is_refused() {
    let bad = Tool::new("two words", "x", json!({}), |_| async {
        Ok::<_, String>(1)
    })
    .unwrap();
    let err = CodeAct::<Convert>::new([bad]).unwrap_err();
    assert!(err.to_string().contains("'two words'"), "{err}");
}

/// Writes code for three steps, then answers the extraction, but overflows its context window
/// while the extraction's trajectory still holds the first step.
struct Small {
    calls: std::sync::Mutex<usize>,
}

impl LanguageModel for Small {
    fn model(&self) -> &str {
        "small"
    }
    fn complete(
        &self,
        request: dspy::LmRequest,
    ) -> dspy::lm::BoxFuture<'_, Result<dspy::lm::LmResponse, dspy::LmError>> {
        Box::pin(async move {
            let last = request.messages.last().unwrap().content.to_string();
            let n = {
                let mut c = self.calls.lock().unwrap();
                *c += 1;
                *c
            };
            let text = if last.contains("[[ ## trajectory ## ]]\n[[ ## generated_code_0 ## ]]") {
                return Err(dspy::LmError::ContextWindowExceeded {
                    message: "too long".into(),
                });
            } else if last.contains("[[ ## trajectory ## ]]\n[[ ## generated_code_") {
                "[[ ## reasoning ## ]]\nIt is 3.\n\n[[ ## result ## ]]\n3.0\n\n[[ ## completed ## ]]"
                    .to_string()
            } else {
                step(&format!("print({n})"), n == 3)
            };
            Ok(dspy::lm::LmResponse {
                outputs: vec![text],
                ..Default::default()
            })
        })
    }
}

#[tokio::test]
async fn an_overflowing_extraction_drops_the_oldest_entries() {
    let agent = CodeAct::<Convert>::new([rate()]).unwrap().with_lm(Small {
        calls: std::sync::Mutex::new(0),
    });
    let pred = agent.call(ConvertInput { amount: 2.0 }).await.unwrap();
    assert_eq!(pred.result, 3.0);
    // The first four entries (steps 0 and 1) were dropped; step 2 is left.
    let keys: Vec<&str> = pred.trajectory.keys().map(String::as_str).collect();
    assert_eq!(keys, ["generated_code_2", "code_output_2"]);
}
