//! [`TracingSpans`]: a callback that turns calls into `tracing` spans, nested as the calls are
//! (module → LM request, adapter format and parse), with OpenTelemetry's GenAI attribute names
//! on LM requests.

use super::callback::{
    Call, CallId, CallKind, Callback, EvaluateEnd, EvaluateStart, FormatEnd, FormatStart, LmEnd,
    ModuleEnd, ModuleStart, ParseEnd, ParseStart, ToolEnd, ToolStart,
};
use crate::lm::LmRequest;
use std::collections::HashMap;
use std::sync::Mutex;
use tracing::Span;

/// Opens a `tracing` span per call and closes it at the call's end, so a subscriber (a log, an
/// OpenTelemetry exporter) sees each run as a tree with durations. Register it like any
/// callback: `dspy::context::configure_callbacks([Arc::new(TracingSpans::new()) as _])`.
#[derive(Default)]
pub struct TracingSpans {
    open: Mutex<HashMap<CallId, Span>>,
}

impl TracingSpans {
    /// A callback with no open spans.
    pub fn new() -> Self {
        Self::default()
    }

    fn open(&self, call: &Call<'_>) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let parent = call.parent.and_then(|p| open.get(&p).cloned());
        let span = match call.kind {
            CallKind::Lm => tracing::info_span!(
                parent: parent.as_ref().and_then(Span::id),
                "chat",
                otel.name = format!("chat {}", call.name),
                gen_ai.operation.name = "chat",
                gen_ai.request.model = call.name,
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                dspy.cache_hit = tracing::field::Empty,
                dspy.latency_ms = tracing::field::Empty,
                dspy.error = tracing::field::Empty,
            ),
            kind => tracing::info_span!(
                parent: parent.as_ref().and_then(Span::id),
                "dspy",
                otel.name = format!("{kind:?} {}", call.name),
                dspy.kind = ?kind,
                dspy.name = call.name,
                dspy.error = tracing::field::Empty,
            ),
        };
        open.insert(call.id, span);
    }

    fn close(&self, call: &Call<'_>, error: Option<&dyn std::fmt::Display>) -> Option<Span> {
        let span = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&call.id)?;
        if let Some(e) = error {
            span.record("dspy.error", tracing::field::display(e));
        }
        Some(span)
    }
}

impl Callback for TracingSpans {
    fn on_module_start(&self, call: &Call<'_>, _: &ModuleStart<'_>) {
        self.open(call);
    }
    fn on_module_end(&self, call: &Call<'_>, end: &ModuleEnd<'_>) {
        self.close(call, end.outputs.as_ref().err().map(|e| *e as _));
    }
    fn on_lm_start(&self, call: &Call<'_>, _: &LmRequest) {
        self.open(call);
    }
    fn on_lm_end(&self, call: &Call<'_>, end: &LmEnd<'_>) {
        let error = end.response.as_ref().err().map(|e| *e as _);
        if let Some(span) = self.close(call, error)
            && let Ok(r) = end.response
        {
            span.record("gen_ai.usage.input_tokens", r.usage.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", r.usage.completion_tokens);
            span.record("dspy.cache_hit", r.cache_hit);
            span.record("dspy.latency_ms", end.latency.as_secs_f64() * 1e3);
        }
    }
    fn on_adapter_format_start(&self, call: &Call<'_>, _: &FormatStart<'_>) {
        self.open(call);
    }
    fn on_adapter_format_end(&self, call: &Call<'_>, _: &FormatEnd<'_>) {
        self.close(call, None);
    }
    fn on_adapter_parse_start(&self, call: &Call<'_>, _: &ParseStart<'_>) {
        self.open(call);
    }
    fn on_adapter_parse_end(&self, call: &Call<'_>, end: &ParseEnd<'_>) {
        self.close(call, end.result.as_ref().err().map(|e| *e as _));
    }
    fn on_tool_start(&self, call: &Call<'_>, _: &ToolStart<'_>) {
        self.open(call);
    }
    fn on_tool_end(&self, call: &Call<'_>, end: &ToolEnd<'_>) {
        self.close(call, end.result.as_ref().err().map(|e| *e as _));
    }
    fn on_evaluate_start(&self, call: &Call<'_>, _: &EvaluateStart) {
        self.open(call);
    }
    fn on_evaluate_end(&self, call: &Call<'_>, _: &EvaluateEnd) {
        self.close(call, None);
    }
}
