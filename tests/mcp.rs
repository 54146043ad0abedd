//! Tools from a real MCP server over stdio: the Model Context Protocol's reference
//! "everything" server (installed by `scripts/setup-mcp`), started by each test. Its tools
//! list, check and call as dspy tools; its errors come back as tool errors; an agent uses
//! them; a server that cannot start or does not speak MCP is a clear error.
#![cfg(feature = "mcp")]

use dspy::ToolError;
use dspy::lm::{Capabilities, ToolCall};
use dspy::prelude::*;
use dspy::tool::mcp::McpClient;
use serde_json::json;

fn everything() -> tokio::process::Command {
    let root = env!("CARGO_MANIFEST_DIR");
    let entry = format!(
        "{root}/tools/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    );
    assert!(
        std::path::Path::new(&entry).exists(),
        "{entry} is missing: run scripts/setup-mcp (scripts/test does)"
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg(entry)
        .arg("stdio")
        .stderr(std::process::Stdio::null());
    command
}

async fn tool(client: &McpClient, name: &str) -> Tool {
    let tools = client.tools().await.expect("the server lists its tools");
    tools
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("the server has no `{name}` tool"))
}

#[tokio::test]
async fn the_servers_tools_list_and_call_as_dspy_tools() {
    let client = McpClient::spawn(everything())
        .await
        .expect("the server starts");
    let sum = tool(&client, "get-sum").await;
    assert_eq!(sum.required(), ["a", "b"]);
    assert_eq!(sum.args()["a"]["type"], "number");
    assert!(sum.desc().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        sum.call(json!({"a": 2, "b": 3})).await.expect("a sum"),
        json!("The sum of 2 and 3 is 5.")
    );
    let echo = tool(&client, "echo").await;
    assert_eq!(
        echo.call(json!({"message": "hi"})).await.expect("an echo"),
        json!("Echo: hi")
    );
    // Arguments are checked against the server's schema before the call.
    let err = sum
        .call(json!({"a": "two", "b": 3}))
        .await
        .expect_err("a string");
    assert!(matches!(err, ToolError::InvalidArg { .. }), "{err:?}");
    let err = sum.call(json!({"a": 2})).await.expect_err("b is missing");
    assert!(matches!(err, ToolError::MissingArg { .. }), "{err:?}");
    // The OpenAI definition keeps the server's schema and required list.
    assert_eq!(
        sum.to_openai()["function"]["parameters"]["required"],
        json!(["a", "b"])
    );
    // Once closed, the server is gone and its tools say so.
    client.close().await.expect("the server stops");
    client.close().await.expect("closing twice is harmless");
    let err = echo
        .call(json!({"message": "hi"}))
        .await
        .expect_err("closed");
    assert!(err.to_string().contains("the MCP call failed"), "{err}");
}

#[tokio::test]
async fn structured_results_and_server_side_errors() {
    let client = McpClient::spawn(everything())
        .await
        .expect("the server starts")
        .structured_results(true);
    let weather = tool(&client, "get-structured-content").await;
    let v = weather
        .call(json!({"location": "Chicago"}))
        .await
        .expect("structured content");
    assert!(v.is_object() && v.get("temperature").is_some(), "{v}");
    // The enum is checked here, before the call.
    let err = weather
        .call(json!({"location": "Paris"}))
        .await
        .expect_err("not one of the locations");
    assert!(matches!(err, ToolError::InvalidArg { .. }), "{err:?}");
    // A call the server fails (it cannot fetch from a closed port) is the tool's error,
    // with the server's text.
    let gzip = tool(&client, "gzip-file-as-resource").await;
    let err = gzip
        .call(json!({"name": "x.gz", "data": "http://127.0.0.1:9/none"}))
        .await
        .expect_err("the fetch fails");
    let ToolError::Failed { tool, message } = &err else {
        panic!("expected the tool's error, got {err:?}");
    };
    assert_eq!(tool, "gzip-file-as-resource");
    assert_eq!(message, "Failed to call a MCP tool: fetch failed");
    client.close().await.expect("the server stops");
}

#[tokio::test]
async fn an_agent_uses_the_servers_tools() {
    let client = McpClient::spawn(everything())
        .await
        .expect("the server starts");
    let sum = tool(&client, "get-sum").await;

    /// Answer questions about arithmetic.
    #[derive(Signature)]
    struct Arith {
        #[input]
        question: String,
        #[output]
        answer: i64,
    }
    let lm = ScriptedLm::new(Vec::<String>::new()).with_capabilities(Capabilities::tool_calls());
    let call = |id: &str, name: &str, args| ToolCall {
        id: Some(id.into()),
        name: name.into(),
        args,
    };
    lm.push_calls("", vec![call("c1", "get-sum", json!({"a": 20, "b": 22}))]);
    lm.push_calls("", vec![call("c2", "submit", json!({"answer": 42}))]);
    let agent = ReActV2::<Arith>::new([sum])
        .expect("a valid agent")
        .with_lm(lm.clone())
        .with_adapter(JsonAdapter::new());
    let p = agent
        .call(ArithInput {
            question: "20 + 22?".into(),
        })
        .await
        .expect("an answer");
    assert_eq!(p.answer, 42);
    assert_eq!(
        p.history[0].results[0].value,
        json!("The sum of 20 and 22 is 42.")
    );
    let tools = lm.requests()[0].tools.clone().expect("tools sent natively");
    assert_eq!(tools[0]["function"]["name"], "get-sum");
    client.close().await.expect("the server stops");
}

#[tokio::test]
async fn a_server_that_cannot_start_or_does_not_speak_mcp_is_an_error() {
    let err = McpClient::spawn(tokio::process::Command::new("/nonexistent/mcp-server"))
        .await
        .expect_err("no such program");
    assert!(err.to_string().contains("cannot start it"), "{err}");

    // `true` exits at once without answering the handshake.
    let err = McpClient::spawn(tokio::process::Command::new("true"))
        .await
        .expect_err("no handshake");
    let ToolError::Server { server, message } = &err else {
        panic!("expected a server error, got {err:?}");
    };
    assert_eq!(server, "true");
    assert!(message.contains("handshake"), "{message}");
}
