//! Tools from a Model Context Protocol server over stdio (through `rmcp`, the official Rust
//! SDK), so an agent can use any MCP server as DSPy's `Tool.from_mcp_tool` lets it.
//!
//! ```no_run
//! # async fn run() -> Result<(), dspy_runtime::tool::ToolError> {
//! use dspy_runtime::tool::mcp::McpClient;
//! let mut command = tokio::process::Command::new("npx");
//! command.args(["-y", "@modelcontextprotocol/server-everything", "stdio"]);
//! let server = McpClient::spawn(command).await?;
//! let tools = server.tools().await?; // each a dspy Tool, arguments checked by its schema
//! # Ok(()) }
//! ```

use super::{Tool, ToolError};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// A running MCP server (a child process speaking JSON-RPC on stdin and stdout). Cheap to
/// clone; the server stops on [`McpClient::close`], or when the client and every tool taken
/// from it are dropped (then asynchronously, on the runtime).
#[derive(Clone)]
pub struct McpClient {
    shared: Arc<Shared>,
    server: Arc<str>,
    structured: bool,
}

struct Shared {
    peer: Peer<RoleClient>,
    service: Mutex<Option<RunningService<RoleClient, ()>>>,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("server", &self.server)
            .field("structured", &self.structured)
            .finish()
    }
}

impl McpClient {
    /// Starts `command` and completes MCP's initialize handshake with it. The child's stderr
    /// is inherited.
    pub async fn spawn(command: tokio::process::Command) -> Result<McpClient, ToolError> {
        let server: Arc<str> = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned()
            .into();
        let fail = |message: String| ToolError::Server {
            server: server.to_string(),
            message,
        };
        let transport =
            TokioChildProcess::new(command).map_err(|e| fail(format!("cannot start it: {e}")))?;
        let service = ()
            .serve(transport)
            .await
            .map_err(|e| fail(format!("the MCP handshake failed: {e}")))?;
        Ok(McpClient {
            shared: Arc::new(Shared {
                peer: service.peer().clone(),
                service: Mutex::new(Some(service)),
            }),
            server,
            structured: false,
        })
    }

    /// Stops the server: closes its input, waits for it to exit (killing it if it does not),
    /// and fails the calls of tools taken from it from then on. Closing twice is harmless.
    pub async fn close(&self) -> Result<(), ToolError> {
        let service = self
            .shared
            .service
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(service) = service {
            service
                .cancel()
                .await
                .map_err(|e| self.fail(format!("stopping it failed: {e}")))?;
        }
        Ok(())
    }

    /// The same client, whose tools answer with the server's structured content when a
    /// result has it (DSPy's `result_mode="structured"`); text otherwise.
    pub fn structured_results(mut self, on: bool) -> Self {
        self.structured = on;
        self
    }

    /// The server's tools (every page of them), as DSPy tools: name, description, the input
    /// schema's properties as arguments and its `required` list.
    pub async fn tools(&self) -> Result<Vec<Tool>, ToolError> {
        let listed = self
            .shared
            .peer
            .list_all_tools()
            .await
            .map_err(|e| self.fail(format!("listing its tools failed: {e}")))?;
        listed.into_iter().map(|t| self.tool(t)).collect()
    }

    fn fail(&self, message: String) -> ToolError {
        ToolError::Server {
            server: self.server.to_string(),
            message,
        }
    }

    fn tool(&self, listed: rmcp::model::Tool) -> Result<Tool, ToolError> {
        let name = listed.name.to_string();
        let schema = &listed.input_schema;
        let args = schema
            .get("properties")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let desc = listed
            .description
            .map(|d| d.to_string())
            .unwrap_or_default();
        let client = self.clone();
        let tool = name.clone();
        Tool::with_required(name, desc, args, required, move |args| {
            let client = client.clone();
            let tool = tool.clone();
            async move { client.call(tool, args).await }
        })
    }

    /// Calls `tool` on the server; a result marked as an error is the tool's error.
    async fn call(&self, tool: String, args: Map<String, Value>) -> Result<Value, ToolError> {
        let request = CallToolRequestParams::new(tool.clone()).with_arguments(args);
        let result = self
            .shared
            .peer
            .call_tool(request)
            .await
            .map_err(|e| ToolError::Failed {
                tool: tool.clone(),
                message: format!("the MCP call failed: {e}"),
            })?;
        convert(&tool, result, self.structured)
    }
}

/// DSPy's `_convert_mcp_tool_result`: the text parts (one as a string, several as a list),
/// or the other parts when there is no text; an error result fails with its text.
fn convert(tool: &str, result: CallToolResult, structured: bool) -> Result<Value, ToolError> {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    for part in &result.content {
        match part.as_text() {
            Some(t) => texts.push(Value::String(t.text.clone())),
            None => others.push(serde_json::to_value(part).unwrap_or(Value::Null)),
        }
    }
    let content = match texts.len() {
        1 => texts.swap_remove(0),
        _ => Value::Array(texts),
    };
    if result.is_error == Some(true) {
        let text = match &content {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Err(ToolError::Failed {
            tool: tool.to_string(),
            message: format!("Failed to call a MCP tool: {text}"),
        });
    }
    if structured && let Some(value) = result.structured_content {
        return Ok(value);
    }
    Ok(match content {
        Value::Array(a) if a.is_empty() => Value::Array(others),
        other => other,
    })
}
