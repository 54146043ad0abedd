//! The dspy runtime: signatures, adapters, the LM interface and modules.
//!
//! Use it through the `dspy` crate, which adds the macros and a prelude.

pub mod adapter;
pub mod agent;
pub mod context;
pub mod data;
pub mod demo;
pub mod error;
pub mod evaluate;
pub mod format;
#[cfg(target_os = "linux")]
pub mod interpreter;
pub mod lm;
pub mod media;
pub mod module;
pub mod optimize;
pub mod program;
pub mod retrieve;
pub mod settings;
pub mod signature;
pub mod state;
pub mod strategy;
pub mod stream;
pub mod tool;

pub use adapter::{Adapter, BamlAdapter, ChatAdapter, JsonAdapter, TwoStepAdapter, XmlAdapter};
pub use agent::{AgentOutput, ReActV2};
pub use context::{
    Callback, current_adapter, current_lm, track_usage, with_adapter, with_callbacks, with_lm,
};
pub use data::Example;
pub use demo::Demo;
pub use error::{Error, ParseError, ParseErrorKind, Result};
pub use evaluate::metrics::{Feedback, Metric, Score};
pub use evaluate::{EvalResult, Evaluate};
pub use lm::{
    HttpLm, LanguageModel, Lm, LmConfig, LmError, LmRequest, LmResponse, Message, ScriptedLm, Usage,
};
pub use media::{Audio, File, Image, MediaError};
pub use module::{
    ChainOfThought, DynPredict, Module, Predict, Prediction, Predictor, ReAct, ReActOutput,
    Reasoned, render_messages,
};
#[cfg(target_os = "linux")]
pub use module::{CodeAct, CodeActOutput, ProgramOfThought, Rlm, RlmOutput};
pub use optimize::LabeledFewShot;
pub use program::{Params, ParamsExt, Program, render_prompts};
pub use retrieve::{Passage, Retrieve, Retriever};
pub use settings::{configure, configure_adapter};
pub use signature::{
    CotCompatible, DynSignature, FieldMeta, History, InputFields, Reasoning, Signature,
    SignatureMeta,
};
pub use strategy::{BestOfN, MultiChainComparison, Parallel, Refine};
pub use stream::{StreamEvent, Streaming, stream};
pub use tool::{Tool, ToolCalls, ToolError};

/// What the macros' generated code refers to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::format::write_serialize;
    pub use crate::program::{field_mut, into_field, visit_field};
    pub use crate::signature::{FieldDecl, Role, SignatureMeta};
    pub use schemars;
    pub use serde;
    pub use std::sync::OnceLock;
}

/// Entry points for the fuzz targets in `fuzz/`: the parsers of outside data that are not
/// public on their own. Not a stable API.
#[doc(hidden)]
pub mod __fuzz {
    use crate::lm::http::{Delta, Provider};
    use crate::lm::{LmError, LmResponse, Usage};
    use serde_json::Value;
    use std::collections::VecDeque;

    /// A structured output's value so far, from the start of its JSON text (streaming).
    pub fn partial_value(text: &str) -> Option<Value> {
        crate::adapter::stream::partial_value(text)
    }

    /// The lenient JSON reader: one whole value.
    pub fn lenient_parse(text: &str) -> Result<Value, String> {
        crate::adapter::lenient_json::parse(text)
    }

    /// The lenient JSON reader: the first value opening with `open` (`[` or `{`).
    pub fn lenient_find_value(text: &str, open: char) -> Option<Value> {
        crate::adapter::lenient_json::find_value(text, open)
    }

    /// The lenient JSON reader: the first object.
    pub fn lenient_find_object(text: &str) -> Option<Value> {
        crate::adapter::lenient_json::find_object(text)
    }

    /// The lenient JSON reader: a bare number.
    pub fn lenient_number(text: &str) -> Option<Value> {
        crate::adapter::lenient_json::number_value(text)
    }

    /// An OpenAI chat-completions response body.
    pub fn openai_response(body: &[u8]) -> Result<LmResponse, LmError> {
        crate::lm::openai::parse_response(body)
    }

    /// An OpenAI error body's message.
    pub fn openai_error_message(body: &[u8]) -> String {
        crate::lm::openai::error_message(body)
    }

    /// An OpenAI stream chunk's data.
    pub fn openai_stream_delta(data: &str) -> Result<Option<(String, Option<Usage>)>, LmError> {
        crate::lm::openai::stream_delta(data)
    }

    /// An Anthropic Messages response body.
    pub fn anthropic_response(body: &[u8]) -> Result<LmResponse, LmError> {
        crate::lm::anthropic::parse_response(body)
    }

    /// An Anthropic stream event's data.
    pub fn anthropic_stream_delta(data: &str) -> Result<Option<(String, Option<Usage>)>, LmError> {
        crate::lm::anthropic::stream_delta(data)
    }

    /// The server-sent-event splitter that [`crate::lm::TextStream`] reads through.
    pub struct SseBuffer(crate::lm::sse::SseBuffer);

    impl SseBuffer {
        /// A buffer refusing an unfinished event over `limit` bytes.
        pub fn new(limit: usize) -> SseBuffer {
            SseBuffer(crate::lm::sse::SseBuffer::new(limit))
        }

        /// Appends a chunk.
        pub fn push(&mut self, chunk: &[u8]) {
            self.0.push(chunk)
        }

        /// The next complete event.
        pub fn next_event(&mut self) -> Result<Option<&[u8]>, LmError> {
            self.0.next_event()
        }

        /// Whether only whitespace is left.
        pub fn rest_is_blank(&self) -> bool {
            self.0.rest_is_blank()
        }
    }

    /// What one event gave, as the stream reads it.
    #[derive(Debug, Default, PartialEq)]
    pub struct Event {
        /// The text deltas and usage, in order.
        pub deltas: Vec<(String, Option<Usage>)>,
        /// Whether the stream is done.
        pub done: bool,
        /// Whether reading stops here (`[DONE]`).
        pub stop: bool,
    }

    /// One event read as an OpenAI stream's, or an Anthropic one's (`anthropic`).
    pub fn read_event(anthropic: bool, event: &[u8]) -> Result<Event, LmError> {
        let provider = if anthropic {
            Provider::Anthropic
        } else {
            Provider::OpenAi
        };
        let mut done = false;
        let mut pending: VecDeque<Delta> = VecDeque::new();
        let stop = crate::lm::http::read_event(provider, event, &mut done, &mut pending)?;
        Ok(Event {
            deltas: pending.into_iter().map(|d| (d.text, d.usage)).collect(),
            done,
            stop,
        })
    }
}
