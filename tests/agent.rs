//! ReActV2 (the tool-calling agent) on a scripted LM: native and parallel tool calls with
//! their ids kept in the conversation, text-mode calls, `submit` and the forced submit, and
//! every kind of bad step (an invented tool, arguments that break the schema, a tool that
//! panics or hangs, a reply without a call, outputs that do not fit).

use crate::common;

use common::arith::{Arith, ArithExample, ArithInput, ArithOutput, add_tool};

use dspy::agent::{Break, Termination};
use dspy::lm::{Capabilities, MessageRole, ToolCall, ToolChoice};
use dspy::prelude::*;
use dspy::{Error, LmError};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Always panics.
#[tool]
fn explode() -> i64 {
    panic!("boom")
}

/// Never returns in time.
#[tool]
async fn hang() -> i64 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    0
}

fn call(id: &str, name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        id: Some(id.into()),
        name: name.into(),
        args,
    }
}

fn thought(text: &str) -> String {
    format!("[[ ## next_thought ## ]]\n{text}\n\n[[ ## completed ## ]]")
}

/// A scripted LM that takes native tools, and an agent that sends them natively.
fn native(lm: &ScriptedLm) -> ReActV2<Arith> {
    ReActV2::<Arith>::new([
        add_tool(),
        explode_tool(),
        hang_tool().timeout(Some(Duration::from_millis(50))),
    ])
    .expect("a valid agent")
    .with_lm(lm.clone())
    .with_adapter(ChatAdapter::new().native_function_calling(true))
}

fn native_lm() -> ScriptedLm {
    ScriptedLm::new(Vec::<String>::new()).with_capabilities(Capabilities::tool_calls())
}

fn q(question: &str) -> ArithInput {
    ArithInput {
        question: question.into(),
    }
}

#[tokio::test]
async fn native_parallel_calls_keep_their_ids_and_submit_ends_the_episode() {
    let lm = native_lm();
    lm.push_calls(
        thought("Add both pairs."),
        vec![
            call("c1", "add", json!({"a": 1, "b": 2})),
            call("c2", "add", json!({"a": 3, "b": 4})),
        ],
    );
    lm.push_calls("", vec![call("c3", "submit", json!({"answer": 10}))]);
    let p = native(&lm).call(q("1+2+3+4?")).await.expect("an answer");
    assert_eq!(p.answer, 10);
    assert_eq!(p.termination, Termination::Submit);
    assert_eq!(p.history.len(), 2);
    assert_eq!(p.tool_calls(), 3);
    let first = &p.history[0];
    assert_eq!(first.thought, "Add both pairs.");
    let values: Vec<_> = first
        .results
        .iter()
        .map(|r| (&*r.call_id, &r.value))
        .collect();
    assert_eq!(values, [("c1", &json!(3)), ("c2", &json!(7))]);

    let requests = lm.requests();
    assert_eq!(requests.len(), 2);
    let tools = requests[0].tools.as_deref().expect("tools sent natively");
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(names, ["add", "explode", "hang", "submit"]);
    assert_eq!(
        tools[3]["function"]["parameters"]["required"],
        json!(["answer"])
    );
    // Natively the prompt has no `tools` input and no `tool_calls` output.
    let system = &requests[0].messages[0].content;
    assert!(!system.contains("tool_calls"), "{system}");
    assert!(system.contains("The available tools are: `add`, `explode`, `hang`, `submit`."));
    assert!(requests[0].messages[1].content.contains("1+2+3+4?"));

    // The second request carries the conversation: the question, the assistant's thought
    // with both calls, each result answering its call id, then the bare reminder.
    let m = &requests[1].messages;
    let roles: Vec<MessageRole> = m.iter().map(|m| m.role).collect();
    use MessageRole::*;
    assert_eq!(roles, [System, User, Assistant, Tool, Tool, User]);
    assert!(m[1].content.contains("1+2+3+4?"));
    assert_eq!(
        &*m[2].content,
        "[[ ## next_thought ## ]]\nAdd both pairs.\n\n[[ ## completed ## ]]\n"
    );
    let ids: Vec<&str> = m[2]
        .tool_calls
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.id.as_deref())
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(m[3].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(&*m[4].content, "7");
    assert!(!m[5].content.contains("1+2+3+4?"), "{}", m[5].content);
    assert!(
        m[5].content
            .starts_with("Respond with the corresponding output fields")
    );
}

/// Waits until `n` calls are inside at once: two calls of it in one turn finish only if
/// they run concurrently.
fn rendezvous(n: usize) -> Tool {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    Tool::new("meet", "Waits for the others.", json!({}), move |_| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            Ok::<_, String>("met")
        }
    })
    .expect("a tool")
    .timeout(Some(Duration::from_secs(5)))
}

#[tokio::test]
async fn one_turns_calls_run_concurrently() {
    let lm = native_lm();
    lm.push_calls(
        "",
        vec![call("a", "meet", json!({})), call("b", "meet", json!({}))],
    );
    lm.push_calls("", vec![call("s", "submit", json!({"answer": 1}))]);
    let agent = ReActV2::<Arith>::new([rendezvous(2)])
        .expect("a valid agent")
        .with_lm(lm.clone())
        .with_adapter(JsonAdapter::new());
    let p = agent.call(q("meet")).await.expect("an answer");
    let values: Vec<_> = p.history[0].results.iter().map(|r| &r.value).collect();
    assert_eq!(values, [&json!("met"), &json!("met")]);
}

#[tokio::test]
async fn bad_calls_become_error_results_the_agent_sees() {
    let lm = native_lm();
    lm.push_calls(
        "",
        vec![
            call("1", "multiply", json!({"a": 2})),
            call("2", "add", json!({"a": "two", "b": 2})),
            call("3", "explode", json!({})),
            call("4", "hang", json!({})),
            call("5", "submit", json!({"answer": "ten"})),
        ],
    );
    lm.push_calls("", vec![call("6", "submit", json!({"answer": 4}))]);
    let p = native(&lm).call(q("?")).await.expect("an answer");
    assert_eq!(p.answer, 4);
    let results = &p.history[0].results;
    assert!(results.iter().all(|r| r.is_error), "{results:?}");
    let text: Vec<String> = results.iter().map(|r| r.content()).collect();
    assert_eq!(text[0], "Unknown tool: multiply");
    assert!(
        text[1].starts_with("Execution error in add: Arg a is invalid"),
        "{}",
        text[1]
    );
    assert!(
        text[2].contains("panicked") && text[2].contains("boom"),
        "{}",
        text[2]
    );
    assert!(text[3].contains("did not finish"), "{}", text[3]);
    assert!(
        text[4].starts_with("Execution error in submit:"),
        "{}",
        text[4]
    );
    // The LM saw each error as the result of its call.
    let m = &lm.requests()[1].messages;
    let tool_text: Vec<&str> = m
        .iter()
        .filter(|m| m.role == MessageRole::Tool)
        .map(|m| &*m.content)
        .collect();
    assert_eq!(
        tool_text,
        text.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_reply_without_a_call_forces_submit() {
    let lm = native_lm();
    lm.push(thought("I think it is 3."));
    lm.push_calls("", vec![call("s", "submit", json!({"answer": 3}))]);
    let p = native(&lm).call(q("1+2?")).await.expect("an answer");
    assert_eq!(p.answer, 3);
    assert_eq!(
        p.termination,
        Termination::ForcedSubmit {
            after: Break::EmptyToolCalls
        }
    );
    // The last call offers `submit` alone and requires a call.
    let requests = lm.requests();
    assert_eq!(requests[0].tool_choice, None);
    assert_eq!(requests[1].tool_choice, Some(ToolChoice::Required));
    let offered: Vec<_> = requests[1]
        .tools
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|t| t["function"]["name"].clone())
        .collect();
    assert_eq!(offered, [json!("submit")]);
}

#[tokio::test]
async fn max_iters_forces_submit_by_default_and_per_call() {
    let lm = native_lm();
    for i in 0..3 {
        lm.push_calls(
            "",
            vec![call(&format!("c{i}"), "add", json!({"a": i, "b": 1}))],
        );
    }
    lm.push_calls("", vec![call("s", "submit", json!({"answer": 3}))]);
    let agent = native(&lm).max_iters(3);
    let p = agent.call(q("count")).await.expect("an answer");
    assert_eq!(
        p.termination,
        Termination::ForcedSubmit {
            after: Break::MaxIters
        }
    );
    assert_eq!(p.history.len(), 4);
    assert_eq!(lm.requests().len(), 4);

    lm.push_calls("", vec![call("c", "add", json!({"a": 1, "b": 1}))]);
    lm.push_calls("", vec![call("s", "submit", json!({"answer": 2}))]);
    let p = agent.call_with(q("count"), 1).await.expect("an answer");
    assert_eq!(p.history.len(), 2);
}

#[tokio::test]
async fn a_forced_submit_without_outputs_is_an_error_that_says_why() {
    let lm = native_lm();
    lm.push(thought("Nothing to call."));
    lm.push(thought("Still nothing."));
    let err = native(&lm).call(q("?")).await.expect_err("no outputs");
    let Error::Agent(message) = &err else {
        panic!("expected an agent error, got {err:?}");
    };
    assert!(
        message.contains("after empty_tool_calls: no submit call"),
        "{message}"
    );

    lm.push(thought("Nothing."));
    lm.push_calls("", vec![call("s", "submit", json!({"answer": "many"}))]);
    let err = native(&lm).call(q("?")).await.expect_err("bad outputs");
    assert!(err.to_string().contains("submit failed"), "{err}");
}

#[tokio::test]
async fn a_full_context_window_forces_submit() {
    let lm = native_lm();
    lm.push_error(LmError::ContextWindowExceeded {
        message: "too long".into(),
    });
    lm.push_calls("", vec![call("s", "submit", json!({"answer": 1}))]);
    let p = native(&lm).call(q("?")).await.expect("an answer");
    assert!(matches!(
        p.termination,
        Termination::ForcedSubmit {
            after: Break::ContextWindowExceeded { .. }
        }
    ));
}

#[tokio::test]
async fn text_mode_writes_calls_and_results_in_the_text() {
    // ChatAdapter sends tools as text unless asked (DSPy's default), and so does any
    // adapter when the LM takes no native tools.
    let lm = ScriptedLm::new([
        "[[ ## next_thought ## ]]\nAdd.\n\n[[ ## tool_calls ## ]]\n{\"tool_calls\": [{\"name\": \"add\", \"args\": {\"a\": 2, \"b\": 2}}]}\n\n[[ ## completed ## ]]",
        "[[ ## next_thought ## ]]\nDone.\n\n[[ ## tool_calls ## ]]\n[{\"name\": \"submit\", \"arguments\": \"{\\\"answer\\\": 4}\"}]\n\n[[ ## completed ## ]]",
    ]);
    let agent = ReActV2::<Arith>::new([add_tool()])
        .expect("a valid agent")
        .with_lm(lm.clone());
    let p = agent.call(q("2+2?")).await.expect("an answer");
    assert_eq!(p.answer, 4);
    assert_eq!(p.history[0].calls[0].id.as_deref(), Some("call_0_0"));
    let requests = lm.requests();
    assert!(requests.iter().all(|r| r.tools.is_none()));
    let first = &requests[0].messages;
    assert!(
        first[0].content.contains("`tool_calls`"),
        "{}",
        first[0].content
    );
    assert!(
        first[1]
            .content
            .contains("[[ ## tools ## ]]\n(1) add, whose description is")
    );
    let m = &requests[1].messages;
    let roles: Vec<MessageRole> = m.iter().map(|m| m.role).collect();
    use MessageRole::*;
    assert_eq!(roles, [System, User, Assistant, User, User]);
    assert!(!m[1].content.contains("[[ ## tools ## ]]"));
    assert!(m[2].content.contains(
        "[[ ## tool_calls ## ]]\n{\"tool_calls\": [{\"name\": \"add\", \"args\": {\"a\": 2, \"b\": 2}}]}"
    ));
    assert_eq!(
        &*m[3].content,
        "[[ ## tool_call_results ## ]]\n[{\"call_id\":\"call_0_0\",\"name\":\"add\",\"value\":4,\"is_error\":false}]"
    );
    assert!(m[4].content.contains("[[ ## tools ## ]]"));
}

#[tokio::test]
async fn an_unreadable_text_reply_forces_submit() {
    let lm = ScriptedLm::new([
        "[[ ## next_thought ## ]]\nHm.\n\n[[ ## tool_calls ## ]]\nadd 2 and 2\n\n[[ ## completed ## ]]",
        "[[ ## next_thought ## ]]\nOk.\n\n[[ ## tool_calls ## ]]\n{\"name\": \"submit\", \"args\": {\"answer\": 4}}\n\n[[ ## completed ## ]]",
    ]);
    let agent = ReActV2::<Arith>::new([add_tool()])
        .expect("a valid agent")
        .with_lm(lm.clone())
        .with_adapter(ChatAdapter::without_fallback());
    let p = agent.call(q("2+2?")).await.expect("an answer");
    assert_eq!(p.answer, 4);
    let Termination::ForcedSubmit {
        after: Break::ParseError { message },
    } = &p.termination
    else {
        panic!(
            "expected a forced submit after a parse error: {:?}",
            p.termination
        );
    };
    assert!(message.contains("tool_calls"), "{message}");
}

/// Answer with a summary.
#[derive(Signature)]
struct Reserved {
    #[input]
    tools: String,
    #[output]
    answer: String,
}

#[test]
fn reserved_names_and_predictor_paths() {
    let err = ReActV2::<Reserved>::new([]).expect_err("`tools` is reserved");
    assert!(err.to_string().contains("`tools`"), "{err}");
    let submit = Tool::new("submit", "mine", json!({}), |_| async {
        Ok::<_, String>("x")
    })
    .expect("a tool");
    assert!(ReActV2::<Arith>::new([submit]).is_err());
    let agent = ReActV2::<Arith>::new([add_tool()]).expect("a valid agent");
    let paths: Vec<String> = agent
        .named_predictors()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["react"]);
}

/// ReActV2 over real HTTP (tests/common/server.rs on 127.0.0.1), OpenAI's wire and
/// Anthropic's: the tools and tool choice go out, the server's calls come back with their
/// ids, the results go back as `tool` messages (OpenAI) or `tool_result` blocks (Anthropic).
#[tokio::test]
async fn native_calls_over_openai_and_anthropic_wires() {
    use common::server::FakeLm;
    for provider in ["openai", "anthropic"] {
        let server = FakeLm::start().await;
        let lm = HttpLm::builder(format!("{provider}/mock"))
            .api_base(if provider == "openai" {
                server.base()
            } else {
                server.root()
            })
            .api_key("sk-test")
            .capabilities(Capabilities::tool_calls())
            .cache(false)
            .build()
            .expect("a client");
        let agent = ReActV2::<Arith>::new([add_tool()])
            .expect("a valid agent")
            .with_lm(lm)
            .with_adapter(JsonAdapter::new());
        let p = agent.call(q("2+3?")).await.expect("an answer");
        assert_eq!(p.answer, 5, "{provider}");
        assert_eq!(p.termination, Termination::Submit);
        assert_eq!(
            p.history[0].calls[0].id.as_deref(),
            Some("call_fake_0"),
            "{provider}"
        );
        assert_eq!(p.history[0].results[0].value, json!(5));
        let log = server.log();
        assert_eq!(log.len(), 2, "{provider}");
        let second = &log[1].body;
        if provider == "openai" {
            let m = second["messages"].as_array().expect("messages");
            let tool = m
                .iter()
                .find(|m| m["role"] == "tool")
                .expect("a tool message");
            assert_eq!(tool["tool_call_id"], "call_fake_0");
            let asked = m
                .iter()
                .find(|m| m["tool_calls"].is_array())
                .expect("the call");
            assert_eq!(
                asked["tool_calls"][0]["function"]["arguments"],
                "{\"a\":2,\"b\":3}"
            );
        } else {
            assert_eq!(
                second["tools"][0]["input_schema"]["required"],
                json!(["a", "b"])
            );
            let text = second["messages"].to_string();
            assert!(text.contains("\"tool_use_id\":\"call_fake_0\""), "{text}");
        }
    }
}

#[tokio::test]
async fn bootstrap_few_shot_compiles_the_agent() {
    use dspy::optimize::BootstrapFewShot;
    let step = |thought: &str, calls: &str| {
        format!(
            "[[ ## next_thought ## ]]\n{thought}\n\n[[ ## tool_calls ## ]]\n{calls}\n\n[[ ## completed ## ]]"
        )
    };
    let lm = ScriptedLm::new([
        step(
            "Add.",
            r#"{"tool_calls": [{"name": "add", "args": {"a": 2, "b": 2}}]}"#,
        ),
        step(
            "Done.",
            r#"{"tool_calls": [{"name": "submit", "args": {"answer": 4}}]}"#,
        ),
    ]);
    let agent = ReActV2::<Arith>::new([add_tool()])
        .expect("a valid agent")
        .with_lm(lm.clone());
    let train = vec![Example::new(q("2+2?"), ArithOutput { answer: 4 })];
    let (compiled, _report) = BootstrapFewShot::new()
        .max_bootstrapped_demos(1)
        .max_labeled_demos(0)
        .compile(
            &agent,
            &train,
            |ex: &ArithExample, p: &Prediction<dspy::AgentOutput<ArithOutput>>| {
                p.answer == ex.label.answer
            },
        )
        .await
        .expect("compiled");
    let demos = compiled.react().demos();
    assert!(!demos.is_empty(), "the teacher's turns became demos");
    assert!(demos[0].get("next_thought").is_some() && demos[0].get("tool_calls").is_some());
    // The compiled agent's prompt shows the demo before the question.
    lm.push(step(
        "Done.",
        r#"{"name": "submit", "args": {"answer": 6}}"#,
    ));
    let p = compiled.call(q("3+3?")).await.expect("an answer");
    assert_eq!(p.answer, 6);
    let first = &lm.requests()[2].messages;
    assert!(first.len() >= 4, "system, demo pair, question: {first:?}");
    assert!(first[2].content.contains("[[ ## tool_calls ## ]]"));
}

/// The agent's prompt as a dry run renders it (no LM, no tool runs), reviewed as a snapshot:
/// text mode, the tools listed in the instructions and given as the `tools` input.
#[tokio::test]
async fn the_text_mode_prompt_is_reviewed() {
    let agent = ReActV2::<Arith>::new([add_tool()]).expect("a valid agent");
    let text = dspy::render_prompts(&agent, q("What is 2 + 2?"))
        .await
        .expect("a dry run");
    assert!(text.contains("The available tools are: `add`, `submit`."));
    insta::assert_snapshot!(text);
}
