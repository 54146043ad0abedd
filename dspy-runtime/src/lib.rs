//! The dspy runtime: signatures, adapters, the LM interface and modules.
//!
//! Use it through the `dspy` crate, which adds the macros and a prelude.

pub mod adapter;
pub mod context;
pub mod data;
pub mod demo;
pub mod error;
pub mod evaluate;
pub mod format;
pub mod lm;
pub mod module;
pub mod optimize;
pub mod program;
pub mod settings;
pub mod signature;
pub mod state;

pub use adapter::{Adapter, ChatAdapter, JsonAdapter};
pub use context::{
    Callback, current_adapter, current_lm, track_usage, with_adapter, with_callbacks, with_lm,
};
pub use data::Example;
pub use demo::Demo;
pub use error::{Error, ParseError, ParseErrorKind, Result};
pub use evaluate::metrics::{Metric, Score};
pub use evaluate::{EvalResult, Evaluate};
pub use lm::{
    HttpLm, LanguageModel, Lm, LmConfig, LmError, LmRequest, LmResponse, Message, ScriptedLm, Usage,
};
pub use module::{
    ChainOfThought, DynPredict, Module, Predict, Prediction, Predictor, Reasoned, render_messages,
};
pub use optimize::LabeledFewShot;
pub use program::{Params, ParamsExt, Program, render_prompts};
pub use settings::{configure, configure_adapter};
pub use signature::{
    CotCompatible, DynSignature, FieldMeta, InputFields, Signature, SignatureMeta,
};

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
