use super::*;
use crate::context::{Call, Callback, ToolEnd, ToolStart};
use std::sync::Mutex;

fn add() -> Tool {
    Tool::new_blocking(
        "add",
        "Adds two integers.",
        json!({"a": {"type": "integer"}, "b": {"type": "integer", "default": 0}}),
        |args| {
            let n = |k: &str| args.get(k).and_then(Value::as_i64).unwrap_or(0);
            Ok::<_, String>(n("a") + n("b"))
        },
    )
    .unwrap()
}

/// Arguments of the weather tool.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Weather {
    /// The city to look up.
    city: String,
    /// Days ahead.
    days: Option<u32>,
}

#[test]
fn a_tool_prints_as_dspy_prints_it() {
    assert_eq!(
        add().to_string(),
        "add, whose description is <desc>Adds two integers.</desc>. It takes arguments \
         {'a': {'type': 'integer'}, 'b': {'type': 'integer', 'default': 0}}."
    );
    let t = Tool::new_blocking("noop", "", Value::Null, |_| Ok::<_, String>("ok")).unwrap();
    assert_eq!(t.to_string(), "noop. It takes arguments {}.");
    let t = Tool::new_blocking("two", "Line one.\nLine two.", json!({}), |_| {
        Ok::<_, String>(1)
    })
    .unwrap();
    assert_eq!(
        t.to_string(),
        "two, whose description is <desc>Line one.  Line two.</desc>. It takes arguments {}."
    );
}

#[test]
fn the_openai_definition_requires_the_args_without_defaults() {
    assert_eq!(
        add().to_openai(),
        json!({"type": "function", "function": {
            "name": "add",
            "description": "Adds two integers.",
            "parameters": {"type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 0}},
                "required": ["a"]}}})
    );
}

#[test]
fn arguments_are_checked_before_the_call() {
    let t = add();
    assert_eq!(t.check(&json!({"a": 1})), Ok(()));
    let e = t.check(&json!({"a": 1, "c": 2})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tool `add`: Arg c is not in the tool's args."
    );
    let e = t.check(&json!({"b": 2})).unwrap_err();
    assert_eq!(e.to_string(), "tool `add`: Arg a is missing.");
    let e = t.check(&json!({"a": "one"})).unwrap_err();
    assert!(
        matches!(&e, ToolError::InvalidArg { arg, message, .. } if arg == "a" && message.contains("integer")),
        "{e}"
    );
    let e = t.check(&json!([1, 2])).unwrap_err();
    assert!(matches!(e, ToolError::NotAnObject { .. }), "{e}");
}

#[test]
fn a_bad_schema_is_an_error_not_a_panic() {
    let e = Tool::new_blocking("bad", "", json!([1]), |_| Ok::<_, String>(1)).unwrap_err();
    assert!(matches!(e, ToolError::Schema { .. }), "{e}");
    let e = Tool::new_blocking("bad", "", json!({"a": 3}), |_| Ok::<_, String>(1)).unwrap_err();
    assert!(e.to_string().contains("argument a"), "{e}");
    let e = Tool::new_blocking("bad", "", json!({"a": {"type": 7}}), |_| Ok::<_, String>(1))
        .unwrap_err();
    assert!(matches!(e, ToolError::Schema { .. }), "{e}");
}

#[tokio::test]
async fn sync_and_async_tools_give_their_results() {
    assert_eq!(add().call(json!({"a": 2, "b": 3})).await, Ok(json!(5)));
    let echo = Tool::new("echo", "Echoes.", json!({"x": {}}), |args| async move {
        Ok::<_, String>(args.get("x").cloned().unwrap_or(Value::Null))
    })
    .unwrap();
    assert_eq!(
        echo.call(json!({"x": {"deep": [1]}})).await,
        Ok(json!({"deep": [1]}))
    );
}

#[tokio::test]
async fn a_tool_error_a_panic_and_a_timeout_come_back_as_errors() {
    let fails = Tool::new_blocking("fails", "", json!({}), |_| {
        Err::<Value, _>("the disk is full")
    })
    .unwrap();
    assert_eq!(
        fails.call(json!({})).await.unwrap_err().to_string(),
        "tool `fails` failed: the disk is full"
    );
    let panics = Tool::new_blocking("panics", "", json!({}), |_| -> Result<Value, String> {
        panic!("boom")
    })
    .unwrap();
    let e = panics.call(json!({})).await.unwrap_err();
    assert_eq!(
        e,
        ToolError::Panicked {
            tool: "panics".into(),
            message: "boom".into()
        }
    );
    let panics_async = Tool::new("panics", "", json!({}), |args| async move {
        if args.is_empty() {
            panic!("async boom {}", 1);
        }
        Ok::<Value, String>(Value::Null)
    })
    .unwrap();
    let e = panics_async.call(json!({})).await.unwrap_err();
    assert!(
        matches!(&e, ToolError::Panicked { message, .. } if message == "async boom 1"),
        "{e}"
    );
    let panics_early = Tool::new(
        "early",
        "",
        json!({}),
        |_| -> std::future::Ready<Result<Value, String>> { panic!("before the future") },
    )
    .unwrap();
    assert!(matches!(
        panics_early.call(json!({})).await,
        Err(ToolError::Panicked { .. })
    ));
    let hangs = Tool::new_blocking("hangs", "", json!({}), |_| {
        std::thread::sleep(Duration::from_millis(500));
        Ok::<_, String>(1)
    })
    .unwrap()
    .timeout(Some(Duration::from_millis(20)));
    assert_eq!(
        hangs.call(json!({})).await,
        Err(ToolError::TimedOut {
            tool: "hangs".into(),
            after: Duration::from_millis(20)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn an_async_tool_past_its_limit_times_out() {
    let sleeps = Tool::new("sleeps", "", json!({}), |_| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, String>(1)
    })
    .unwrap();
    assert_eq!(sleeps.limit(), Some(DEFAULT_TIMEOUT));
    assert!(matches!(
        sleeps.call(json!({})).await,
        Err(ToolError::TimedOut { after, .. }) if after == DEFAULT_TIMEOUT
    ));
}

#[tokio::test]
async fn a_typed_tool_takes_its_args_from_the_struct() {
    let weather = Tool::typed(
        "weather",
        "Looks up the weather.",
        |w: Weather| async move {
            Ok::<_, String>(format!("{} in {} days: sunny", w.city, w.days.unwrap_or(0)))
        },
    );
    assert_eq!(
        Value::Object(weather.args().clone()),
        json!({
            "city": {"type": "string", "description": "The city to look up."},
            "days": {"anyOf": [{"minimum": 0, "type": "integer"}, {"type": "null"}], "description": "Days ahead."}
        })
    );
    assert_eq!(weather.required(), ["city"]);
    assert_eq!(
        weather.call(json!({"city": "Oslo", "days": 2})).await,
        Ok(json!("Oslo in 2 days: sunny"))
    );
    let e = weather.call(json!({"city": 3})).await.unwrap_err();
    assert!(
        matches!(&e, ToolError::InvalidArg { arg, .. } if arg == "city"),
        "{e}"
    );
    let blocking = Tool::typed_blocking("w", "", |w: Weather| Ok::<_, String>(w.city));
    assert_eq!(
        blocking.call(json!({"city": "Rome"})).await,
        Ok(json!("Rome"))
    );
}

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Callback for Seen {
    fn on_tool_start(&self, call: &Call<'_>, e: &ToolStart<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("start {} {}", call.name, e.args));
    }
    fn on_tool_end(&self, call: &Call<'_>, e: &ToolEnd<'_>) {
        let r = match e.result {
            Ok(v) => v.to_string(),
            Err(e) => e.to_string(),
        };
        self.0
            .lock()
            .unwrap()
            .push(format!("end {} {r}", call.name));
    }
}

#[tokio::test]
async fn each_call_emits_tool_events_even_when_it_fails() {
    let seen = Arc::new(Seen::default());
    let cb: Arc<dyn Callback> = seen.clone();
    crate::with_callbacks([cb], async {
        let t = add();
        let _ = t.call(json!({"a": 1, "b": 2})).await;
        let _ = t.call(json!({"z": 1})).await;
    })
    .await;
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            r#"start add {"a":1,"b":2}"#,
            "end add 3",
            r#"start add {"z":1}"#,
            "end add tool `add`: Arg z is not in the tool's args.",
        ]
    );
}

#[test]
fn renaming_a_shared_tool_leaves_the_other_copy() {
    let a = add();
    let b = a.clone().named("plus");
    assert_eq!((a.name(), b.name()), ("add", "plus"));
}
