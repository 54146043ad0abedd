//! The [`Callback`] trait and its events: DSPy's callback events (`dspy/utils/callback.py`)
//! with typed payloads.

use crate::adapter::ParsedOutput;
use crate::demo::Demo;
use crate::error::{Error, ParseError};
use crate::lm::{LmError, LmRequest, LmResponse, Message};
use serde_json::{Map, Value};
use std::time::Duration;

/// Identifies one call (a module, LM, adapter, tool or evaluation call) for its start and end
/// events; unique in the process.
pub type CallId = u64;

/// What kind of call an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallKind {
    /// A module: a predictor or a program.
    Module,
    /// An LM request.
    Lm,
    /// An adapter formatting a prompt.
    Format,
    /// An adapter parsing a reply.
    Parse,
    /// A tool.
    Tool,
    /// An evaluation.
    Evaluate,
}

/// The call an event belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// This call.
    pub id: CallId,
    /// The call it happens inside (a program around a predictor, a predictor around its LM
    /// request), if any: exporters build the tree of a run from it.
    pub parent: Option<CallId>,
    /// What kind of call.
    pub kind: CallKind,
    /// Its name: the module's type (`Predict`, `ChainOfThought`, a program's name), the LM's
    /// model, the adapter's name, the tool's name, `Evaluate`.
    pub name: &'a str,
    /// The predictor whose call this is (a predictor's module, format, LM and parse calls);
    /// the id `Predictor::core_id` returns, which `named_predictors` maps to a path.
    pub predictor: Option<usize>,
}

/// A module call begins.
#[derive(Debug)]
pub struct ModuleStart<'a> {
    /// The inputs, by field name.
    pub inputs: &'a Map<String, Value>,
}

/// A module call ended.
#[derive(Debug)]
pub struct ModuleEnd<'a> {
    /// The inputs, by field name (as at the start, so a callback need not keep them).
    pub inputs: &'a Map<String, Value>,
    /// The outputs by field name (a predictor's parsed fields; a program's output when it
    /// serializes to an object), or the error the call ended with.
    pub outputs: Result<Option<&'a Map<String, Value>>, &'a Error>,
}

/// An LM request ended.
#[derive(Debug)]
pub struct LmEnd<'a> {
    /// What was sent.
    pub request: &'a LmRequest,
    /// What came back, or why nothing did.
    pub response: Result<&'a LmResponse, &'a LmError>,
    /// Time from request to response.
    pub latency: Duration,
    /// Dollars, when the LM has a price and the reply did not come from a cache.
    pub cost: Option<f64>,
}

/// An adapter is about to format a prompt.
#[derive(Debug)]
pub struct FormatStart<'a> {
    /// The instructions in effect.
    pub instructions: &'a str,
    /// The demos in effect.
    pub demos: &'a [Demo],
}

/// An adapter formatted a prompt.
#[derive(Debug)]
pub struct FormatEnd<'a> {
    /// The messages to send.
    pub messages: &'a [Message],
}

/// An adapter is about to parse a reply.
#[derive(Debug)]
pub struct ParseStart<'a> {
    /// The LM's reply.
    pub completion: &'a str,
}

/// An adapter parsed (or failed to parse) a reply.
#[derive(Debug)]
pub struct ParseEnd<'a> {
    /// The LM's reply.
    pub completion: &'a str,
    /// The fields, or the parse error.
    pub result: Result<&'a ParsedOutput, &'a ParseError>,
}

/// A tool call begins.
#[derive(Debug)]
pub struct ToolStart<'a> {
    /// The arguments.
    pub args: &'a Value,
}

/// A tool call ended.
#[derive(Debug)]
pub struct ToolEnd<'a> {
    /// The arguments.
    pub args: &'a Value,
    /// What the tool returned, or its error.
    pub result: Result<&'a Value, &'a Error>,
}

/// An evaluation begins.
#[derive(Debug)]
pub struct EvaluateStart {
    /// Examples to evaluate.
    pub examples: usize,
}

/// An evaluation ended.
#[derive(Debug)]
pub struct EvaluateEnd {
    /// The score, in percent (DSPy's `score`).
    pub score: f64,
    /// Examples evaluated.
    pub evaluated: usize,
    /// Calls that failed.
    pub errors: usize,
}

/// Observes calls: DSPy's `BaseCallback`. Every method has an empty default, so a callback
/// implements the events it wants. Register one for the process
/// ([`configure_callbacks`](super::configure_callbacks)), for a scope
/// ([`with_callbacks`](super::with_callbacks)), or for one predictor
/// (`Predict::with_callback`).
///
/// Events arrive on the task making the call, in order for one call (start before end);
/// calls running concurrently interleave. Methods must not block: hand slow work (an
/// exporter's network writes) to a channel.
///
/// ```
/// use dspy_runtime::context::{Call, Callback, LmEnd};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Default)]
/// struct CountTokens(AtomicU64);
///
/// impl Callback for CountTokens {
///     fn on_lm_end(&self, _call: &Call<'_>, end: &LmEnd<'_>) {
///         if let Ok(r) = end.response {
///             self.0.fetch_add(r.usage.total_tokens(), Ordering::Relaxed);
///         }
///     }
/// }
/// ```
pub trait Callback: Send + Sync + 'static {
    /// A module call begins.
    fn on_module_start(&self, _call: &Call<'_>, _event: &ModuleStart<'_>) {}
    /// A module call ended.
    fn on_module_end(&self, _call: &Call<'_>, _event: &ModuleEnd<'_>) {}
    /// An LM request is about to be sent.
    fn on_lm_start(&self, _call: &Call<'_>, _request: &LmRequest) {}
    /// An LM request ended.
    fn on_lm_end(&self, _call: &Call<'_>, _event: &LmEnd<'_>) {}
    /// An adapter is about to format a prompt.
    fn on_adapter_format_start(&self, _call: &Call<'_>, _event: &FormatStart<'_>) {}
    /// An adapter formatted a prompt.
    fn on_adapter_format_end(&self, _call: &Call<'_>, _event: &FormatEnd<'_>) {}
    /// An adapter is about to parse a reply.
    fn on_adapter_parse_start(&self, _call: &Call<'_>, _event: &ParseStart<'_>) {}
    /// An adapter parsed a reply.
    fn on_adapter_parse_end(&self, _call: &Call<'_>, _event: &ParseEnd<'_>) {}
    /// A tool call begins.
    fn on_tool_start(&self, _call: &Call<'_>, _event: &ToolStart<'_>) {}
    /// A tool call ended.
    fn on_tool_end(&self, _call: &Call<'_>, _event: &ToolEnd<'_>) {}
    /// An evaluation begins.
    fn on_evaluate_start(&self, _call: &Call<'_>, _event: &EvaluateStart) {}
    /// An evaluation ended.
    fn on_evaluate_end(&self, _call: &Call<'_>, _event: &EvaluateEnd) {}
}
