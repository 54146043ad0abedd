//! Tools as host functions of a sandbox session (how RLM and CodeAct let code call them): each
//! call runs the tool in the caller's context, so it is traced and observed like any tool
//! call, and a tool's error is raised in Python as `HostError`.

use crate::context::Context;
use crate::interpreter::{HostFunction, InterpreterError, Session};
use crate::tool::Tool;
use std::sync::Arc;

/// Defines each of `tools` in `session` under its name, its arguments as parameters.
pub(crate) async fn define_tools(
    session: &mut Session,
    tools: &[Tool],
    context: &Context,
) -> Result<(), InterpreterError> {
    for tool in tools {
        let params: Vec<&str> = tool.args().keys().map(String::as_str).collect();
        let (t, ctx) = (tool.clone(), context.clone());
        let f: HostFunction = Arc::new(move |args| {
            let (t, ctx) = (t.clone(), ctx.clone());
            Box::pin(async move { ctx.run(t.call(args)).await.map_err(|e| e.detail()) })
        });
        session
            .define(tool.name(), &params, tool.desc().unwrap_or(""), f)
            .await?;
    }
    Ok(())
}
