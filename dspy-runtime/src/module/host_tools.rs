//! Tools as host functions of a sandbox session (how RLM and CodeAct let code call them): each
//! call runs the tool in the caller's context, so it is traced and observed like any tool
//! call, and a tool's error is raised in Python as `HostError`.

use crate::context::Context;
use crate::interpreter::{HostFunction, InterpreterError, Session};
use crate::tool::Tool;
use std::sync::Arc;

/// Python's keywords: no host function or parameter may be one.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Whether `name` can name a host function or its parameter: an ASCII Python identifier
/// (what the sandbox accepts) that is not a keyword.
pub(crate) fn is_python_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PYTHON_KEYWORDS.contains(&name)
}

/// Why `tool` cannot be called from Python: its name or an argument's is not a Python name.
pub(crate) fn unusable_tool(tool: &Tool) -> Option<String> {
    if !is_python_name(tool.name()) {
        return Some(format!(
            "invalid tool name '{}': must be a valid Python identifier and not a keyword",
            tool.name()
        ));
    }
    tool.args().keys().find(|a| !is_python_name(a)).map(|a| {
        format!(
            "tool '{}' has an argument '{a}' that is not a valid Python identifier",
            tool.name()
        )
    })
}

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
