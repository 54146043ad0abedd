//! What can go wrong calling a tool. An agent shows these to the LM as observations.

use std::time::Duration;

/// A tool call that did not give a result: bad arguments, the tool's own error, a panic or
/// a timeout. Each says which tool and what was wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The name is not one of the tools.
    #[error("there is no tool named `{tool}`; the tools are: {available}")]
    Unknown {
        /// The name asked for.
        tool: String,
        /// The tools' names, comma-separated.
        available: String,
    },
    /// The tool was given a schema that is not one.
    #[error("tool `{tool}`: invalid argument schema: {message}")]
    Schema {
        /// The tool.
        tool: String,
        /// What is wrong with it.
        message: String,
    },
    /// The arguments are not a JSON object.
    #[error(
        "tool `{tool}`: arguments must be a JSON object of argument names to values, got {got}"
    )]
    NotAnObject {
        /// The tool.
        tool: String,
        /// The arguments given (cut).
        got: String,
    },
    /// An argument the tool does not take (DSPy's message).
    #[error("tool `{tool}`: Arg {arg} is not in the tool's args.")]
    UnexpectedArg {
        /// The tool.
        tool: String,
        /// The argument.
        arg: String,
    },
    /// A required argument is missing.
    #[error("tool `{tool}`: Arg {arg} is missing.")]
    MissingArg {
        /// The tool.
        tool: String,
        /// The argument.
        arg: String,
    },
    /// An argument that breaks its schema (DSPy's message).
    #[error("tool `{tool}`: Arg {arg} is invalid: {message}")]
    InvalidArg {
        /// The tool.
        tool: String,
        /// The argument (empty when the arguments as a whole did not fit the tool's type).
        arg: String,
        /// What the schema says.
        message: String,
    },
    /// The tool ran and returned an error.
    #[error("tool `{tool}` failed: {message}")]
    Failed {
        /// The tool.
        tool: String,
        /// The tool's error.
        message: String,
    },
    /// A tool server (MCP) could not be started, spoken to, or answered with an error.
    #[error("tool server `{server}`: {message}")]
    Server {
        /// The server (its command).
        server: String,
        /// What went wrong.
        message: String,
    },
    /// The tool panicked.
    #[error("tool `{tool}` panicked: {message}")]
    Panicked {
        /// The tool.
        tool: String,
        /// The panic's message.
        message: String,
    },
    /// The tool did not finish within its time limit.
    #[error("tool `{tool}` did not finish within {after:?}")]
    TimedOut {
        /// The tool.
        tool: String,
        /// Its limit.
        after: Duration,
    },
}

impl ToolError {
    /// What went wrong, without the tool's name (an agent's observation names the tool).
    pub fn detail(&self) -> String {
        match self {
            ToolError::Unknown { tool, available } => {
                format!("there is no tool named `{tool}`; the tools are: {available}")
            }
            ToolError::Schema { message, .. } => format!("invalid argument schema: {message}"),
            ToolError::NotAnObject { got, .. } => {
                format!("arguments must be a JSON object of argument names to values, got {got}")
            }
            ToolError::UnexpectedArg { arg, .. } => format!("Arg {arg} is not in the tool's args."),
            ToolError::MissingArg { arg, .. } => format!("Arg {arg} is missing."),
            ToolError::InvalidArg { arg, message, .. } => {
                format!("Arg {arg} is invalid: {message}")
            }
            ToolError::Failed { message, .. } => message.clone(),
            ToolError::Server { server, message } => format!("tool server `{server}`: {message}"),
            ToolError::Panicked { message, .. } => format!("the tool panicked: {message}"),
            ToolError::TimedOut { after, .. } => {
                format!("the tool did not finish within {after:?}")
            }
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}
