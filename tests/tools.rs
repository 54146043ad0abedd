//! `#[tool]` end to end: the generated tool's schema, its calls, and what a failing or
//! misbehaving tool gives instead of a crash.

use dspy::ToolError;
use dspy::prelude::*;
use serde_json::json;

/// Divides one integer by another.
#[tool]
fn divide(
    /// What is divided.
    a: i64,
    /// What it is divided by; not zero.
    b: i64,
) -> Result<i64, String> {
    if b == 0 {
        return Err("division by zero".into());
    }
    Ok(a / b)
}

/// Fetches a page.
#[tool(name = "fetch_page")]
async fn fetch(url: String) -> String {
    tokio::task::yield_now().await;
    format!("<html>{url}</html>")
}

/// Names the thread it runs on.
#[tool]
fn whereami() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string()
}

/// Always panics.
#[tool]
fn explode(#[schemars(range(min = 1))] times: u32) -> u32 {
    panic!("exploded {times} times")
}

#[test]
fn the_schema_comes_from_the_signature_and_its_docs() {
    let t = divide_tool();
    assert_eq!(t.name(), "divide");
    assert_eq!(t.desc(), Some("Divides one integer by another."));
    assert_eq!(
        serde_json::Value::Object(t.args().clone()),
        json!({
            "a": {"type": "integer", "description": "What is divided."},
            "b": {"type": "integer", "description": "What it is divided by; not zero."}
        })
    );
    assert_eq!(t.required(), ["a", "b"]);
    assert_eq!(fetch_tool().name(), "fetch_page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn calls_give_results_and_errors() {
    assert_eq!(
        divide_tool().call(json!({"a": 7, "b": 2})).await,
        Ok(json!(3))
    );
    assert_eq!(
        divide_tool().call(json!({"a": 7, "b": 0})).await,
        Err(ToolError::Failed {
            tool: "divide".into(),
            message: "division by zero".into()
        })
    );
    assert!(matches!(
        divide_tool().call(json!({"a": 7, "b": "two"})).await,
        Err(ToolError::InvalidArg { arg, .. }) if arg == "b"
    ));
    assert_eq!(
        fetch_tool().call(json!({"url": "a.b"})).await,
        Ok(json!("<html>a.b</html>"))
    );
    let worker = std::thread::current().name().map(str::to_string);
    let ran_on = whereami_tool().call(json!({})).await.unwrap();
    assert_ne!(
        ran_on.as_str().map(str::to_string),
        worker,
        "a sync tool runs off the async threads"
    );
}

#[tokio::test]
async fn a_panic_and_a_broken_constraint_are_errors() {
    let e = explode_tool().call(json!({"times": 2})).await.unwrap_err();
    assert_eq!(
        e,
        ToolError::Panicked {
            tool: "explode".into(),
            message: "exploded 2 times".into()
        }
    );
    let e = explode_tool().call(json!({"times": 0})).await.unwrap_err();
    assert!(
        matches!(&e, ToolError::InvalidArg { arg, .. } if arg == "times"),
        "{e}"
    );
    // The error converts into dspy::Error, for `?` in user code.
    let as_dspy: dspy::Error = e.into();
    assert!(
        as_dspy.to_string().contains("Arg times is invalid"),
        "{as_dspy}"
    );
}

/// Pick the tools to call for the request.
#[derive(Signature)]
struct PickTools {
    #[input]
    request: String,
    #[output]
    calls: dspy::ToolCalls,
}

/// A signature whose output is `ToolCalls` (DSPy's manual tool handling): the LM's calls,
/// in any shape DSPy reads, become typed calls the program runs itself.
#[tokio::test]
async fn a_tool_calls_output_is_read_forgivingly_and_executed() {
    let lm = ScriptedLm::new([
        "[[ ## calls ## ]]\n[{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 2, \\\"b\\\": 5}\"}]\n\n[[ ## completed ## ]]",
    ]);
    let pick = Predict::<PickTools>::new().with_lm(lm.clone());
    let p = pick
        .call(PickToolsInput {
            request: "add 2 and 5".into(),
        })
        .await
        .expect("calls");
    assert_eq!(p.calls.tool_calls.len(), 1);
    assert_eq!(p.calls.tool_calls[0].name, "add");
    assert_eq!(p.coercions()[0].rule, "tool calls shape");
    let results = p.calls.execute(&[add_tool()]).await;
    assert_eq!(results, [Ok(json!(7))]);
    let system = &lm.requests()[0].messages[0].content;
    assert!(system.contains("`calls` (ToolCalls)"), "{system}");
}

/// Adds two integers.
#[tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}
