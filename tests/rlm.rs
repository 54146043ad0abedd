//! RLM on a scripted LM with the real sandbox: what each step's code gets back (sub-LM calls
//! within their budget, batched calls in order with failures in place, tools, errors, a
//! restarted REPL after a time-out, SUBMIT's type checks), and the namespace it refuses.
#![cfg(target_os = "linux")]

use dspy::interpreter::{Limits, PythonInterpreter};
use dspy::lm::{BoxFuture, LmResponse};
use dspy::prelude::*;
use dspy::{LmError, LmRequest};
use serde_json::json;
use std::time::Duration;

signature!(
    /// Answer the query from the context.
    Ask = "context: str, query: str -> answer: str, count: int"
);

fn step(code: &str) -> String {
    format!(
        "[[ ## reasoning ## ]]\nNext.\n\n[[ ## code ## ]]\n```python\n{code}\n```\n\n[[ ## completed ## ]]"
    )
}

fn input() -> AskInput {
    AskInput {
        context: "alpha beta\ngamma".into(),
        query: "how many words?".into(),
    }
}

/// A sub-LM that answers a prompt in capitals, and fails on one containing `fail`.
struct Shout;

impl LanguageModel for Shout {
    fn model(&self) -> &str {
        "shout"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        Box::pin(async move {
            let prompt = request.messages[0].content.to_string();
            if prompt.contains("fail") {
                return Err(LmError::BadRequest {
                    status: 400,
                    message: "no".into(),
                });
            }
            Ok(LmResponse {
                outputs: vec![prompt.to_uppercase()],
                usage: dspy::Usage {
                    prompt_tokens: 1000,
                    completion_tokens: 100,
                },
                ..LmResponse::default()
            })
        })
    }
}

fn sandbox(time: Duration) -> PythonInterpreter {
    let limits = Limits {
        time,
        ..Limits::default()
    };
    PythonInterpreter::with_limits(limits).unwrap_or_else(|e| panic!("{e}"))
}

/// The history the LM was shown at its last call.
fn last_history(lm: &ScriptedLm) -> String {
    let sent = lm.requests();
    sent.last()
        .unwrap()
        .messages
        .last()
        .unwrap()
        .content
        .to_string()
}

#[tokio::test]
async fn sub_lm_calls_are_counted_batched_in_order_and_refused_past_the_budget() {
    let lm = ScriptedLm::new([
        step("print(llm_query('one'))\nprint(llm_query_batched(['two', 'fail here', 'three']))"),
        step("llm_query('four')"),
        step("SUBMIT('done', 4)"),
    ]);
    let rlm = Rlm::<Ask>::new()
        .with_lm(lm.clone())
        .with_sub_lm(Shout)
        .with_max_llm_calls(4);
    let pred = rlm.call(input()).await.unwrap();
    assert_eq!(pred.count, 4);
    // The three sub-LM calls that answered (100 completion tokens each) count in the
    // prediction's usage; the scripted replies are short.
    let usage = pred.usage();
    assert!(
        (300..400).contains(&usage.completion_tokens) && usage.prompt_tokens >= 3000,
        "{usage:?}"
    );
    let first = &pred.trajectory[0].output;
    assert_eq!(
        first,
        "ONE\n['TWO', '[ERROR] request refused (HTTP 400): no', 'THREE']\n"
    );
    let second = &pred.trajectory[1].output;
    assert!(
        second.starts_with("[Error] HostError: LLM call limit exceeded: 4 + 1 > 4."),
        "{second}"
    );
    // The budget is stated in the instructions.
    let system = lm.requests()[0].messages[0].content.to_string();
    assert!(system.contains("You have max 4 sub-LLM calls."), "{system}");
}

#[tokio::test]
async fn tools_are_callable_from_the_code_and_their_errors_are_exceptions() {
    let double = Tool::new(
        "double",
        "Doubles a number.",
        json!({"x": {"type": "integer"}}),
        |args| async move {
            let x = args["x"].as_i64().ok_or("x must be an integer")?;
            Ok::<_, String>(x * 2)
        },
    )
    .unwrap();
    let lm = ScriptedLm::new([
        step("print(double(21), double(x=2))"),
        step("double('a')"),
        step("SUBMIT(answer='ok', count=double(1))"),
    ]);
    let rlm = Rlm::<Ask>::new()
        .with_tools([double])
        .unwrap()
        .with_lm(lm.clone());
    let pred = rlm.call(input()).await.unwrap();
    assert_eq!((pred.answer.as_str(), pred.count), ("ok", 2));
    assert_eq!(pred.trajectory[0].output, "42 4\n");
    assert!(
        pred.trajectory[1].output.starts_with("[Error] HostError:")
            && pred.trajectory[1].output.contains("x"),
        "{}",
        pred.trajectory[1].output
    );
    let system = lm.requests()[0].messages[0].content.to_string();
    assert!(
        system.contains("- `double(x: integer)` - Doubles a number."),
        "{system}"
    );
}

#[tokio::test]
async fn a_time_out_restarts_the_repl_with_the_inputs_set_again() {
    let lm = ScriptedLm::new([
        step("words = context.split()\nwhile True:\n    pass"),
        step("print(len(context.split()))\nprint('words' in globals())"),
        step("SUBMIT('three', 3)"),
    ]);
    let rlm = Rlm::<Ask>::new()
        .with_lm(lm.clone())
        .with_interpreter(sandbox(Duration::from_secs(1)));
    let pred = rlm.call(input()).await.unwrap();
    assert_eq!(pred.count, 3);
    assert!(
        pred.trajectory[0].output.starts_with(
            "[Error] the code ran longer than its time limit of 1s\n(The interpreter was restarted"
        ),
        "{}",
        pred.trajectory[0].output
    );
    assert_eq!(pred.trajectory[1].output, "3\nFalse\n");
}

#[tokio::test]
async fn wrong_submissions_go_back_to_the_lm() {
    let lm = ScriptedLm::new([
        step("SUBMIT('x', 'many')"),
        step("SUBMIT('x')"),
        "[[ ## reasoning ## ]]\nJS.\n\n[[ ## code ## ]]\n```js\nconsole.log(1)\n```\n\n[[ ## completed ## ]]".into(),
        step("x = 1"),
        step("SUBMIT('x', '3')"),
    ]);
    let pred = Rlm::<Ask>::new()
        .with_lm(lm.clone())
        .call(input())
        .await
        .unwrap();
    // A number given as text is read as the JSON adapter reads it.
    assert_eq!(pred.count, 3);
    let outputs: Vec<&str> = pred.trajectory.iter().map(|e| e.output.as_str()).collect();
    assert!(
        outputs[0].starts_with("[Type Error] count: expected int, got str:"),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[1].contains("SUBMIT() missing 1 required positional argument: 'count'"),
        "{}",
        outputs[1]
    );
    assert_eq!(
        outputs[2],
        "[Error] Expected Python code but got ```js fence. Write Python code, not js."
    );
    assert_eq!(outputs[3], "(no output - did you forget to print?)");
    assert!(last_history(&lm).contains("=== Step 4 ==="));
}

#[tokio::test]
async fn names_the_sandbox_owns_are_refused() {
    let print = Tool::new("print", "Prints.", json!({}), |_| async {
        Ok::<_, String>("")
    })
    .unwrap();
    let err = Rlm::<Ask>::new().with_tools([print]).unwrap_err();
    assert!(
        err.to_string()
            .contains("tool name 'print' conflicts with built-in sandbox function"),
        "{err}"
    );
    let clash = Tool::new("query", "Queries.", json!({}), |_| async {
        Ok::<_, String>("")
    })
    .unwrap();
    let err = Rlm::<Ask>::new().with_tools([clash]).unwrap_err();
    assert!(
        err.to_string()
            .contains("input fields conflict with user tools: [\"query\"]"),
        "{err}"
    );

    signature!(Reserved = "llm_query: str -> answer: str");
    let err = Rlm::<Reserved>::new()
        .with_lm(ScriptedLm::new(Vec::<String>::new()))
        .call(ReservedInput {
            llm_query: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("input fields conflict with built-in sandbox functions"),
        "{err}"
    );
}

/// Always writes code that submits `ok` and 1.
struct Submitter;

impl LanguageModel for Submitter {
    fn model(&self) -> &str {
        "submitter"
    }
    fn complete(&self, _request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        Box::pin(async {
            Ok(LmResponse {
                outputs: vec![step("SUBMIT('ok', 1)")],
                ..LmResponse::default()
            })
        })
    }
}

program! {
    /// RLM as one stage of a program.
    struct Counter {
        ask: Rlm<Ask>,
    }

    async fn forward(&self, query: String) -> dspy::Result<i64> {
        let pred = self.ask.call(AskInput { context: "a b".into(), query }).await?;
        Ok(pred.count)
    }
}

fn label() -> AskOutput {
    AskOutput {
        answer: "ok".into(),
        count: 1,
    }
}

#[tokio::test]
async fn rlm_composes_in_a_program_and_bootstraps_demos() {
    let program = Counter {
        ask: Rlm::new().with_lm(Submitter),
    };
    assert_eq!(program.paths(), ["ask.generate_action", "ask.extract"]);
    let train = vec![
        Example::new(CounterInput { query: "q1".into() }, label()),
        Example::new(CounterInput { query: "q2".into() }, label()),
    ];
    let (compiled, _) = dspy::optimize::BootstrapFewShot::new()
        .compile(
            &program,
            &train,
            |ex: &Example<CounterInput, AskOutput>, out: &i64| ex.label.count == *out,
        )
        .await
        .unwrap();
    let demos = compiled.ask.generate_action().demos();
    assert!(!demos.is_empty());
    assert_eq!(
        demos[0].get("code").and_then(|v| v.as_str()),
        Some("```python\nSUBMIT('ok', 1)\n```")
    );
    assert!(demos[0].get("variables_info").is_some());
}

#[tokio::test]
async fn values_json_cannot_carry_do_not_break_the_session() {
    let lm = ScriptedLm::new([
        step("float('nan')"),
        step("llm_query(float('inf'))"),
        step("{1, 2}"),
        step("SUBMIT(['a', 'b'], {3})"),
        step("SUBMIT(['a', 'b'], 2)"),
    ]);
    let pred = Rlm::<Ask>::new()
        .with_lm(lm.clone())
        .with_sub_lm(Shout)
        .call(input())
        .await
        .unwrap();
    let outputs: Vec<&str> = pred.trajectory.iter().map(|e| e.output.as_str()).collect();
    assert_eq!(outputs[0], "nan");
    assert!(
        outputs[1].starts_with("[Error] HostError: llm_query() got arguments JSON cannot carry"),
        "{}",
        outputs[1]
    );
    assert_eq!(outputs[2], "{1, 2}");
    // A set is not JSON: it comes back as its repr, which is not an int.
    assert!(
        outputs[3].starts_with("[Type Error] count: expected int, got str"),
        "{}",
        outputs[3]
    );
    // DSPy takes `str(value)` for a `str` output.
    assert_eq!(pred.answer, "['a', 'b']");
    assert_eq!(pred.count, 2);
}
