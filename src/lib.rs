//! # dspy: programming, not prompting, language models
//!
//! A Rust take on Stanford's DSPy: declare what an LM call takes and returns as a typed
//! **signature**, call it through **modules** ([`Predict`], [`ChainOfThought`]), and let
//! optimizers fill the modules' parameter slots (instructions, demos). Prompts are
//! byte-identical to DSPy 3.4.1's; replies are parsed forgivingly and validated against each
//! output's JSON schema before they reach your code.
//!
//! ```
//! use dspy::prelude::*;
//!
//! /// Answer questions with short factoid answers.
//! #[derive(Signature)]
//! struct BasicQa {
//!     #[input]
//!     question: String,
//!     #[output(desc = "often between 1 and 5 words")]
//!     answer: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dspy::Result<()> {
//! let lm = ScriptedLm::new(["[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"]);
//! dspy::configure(lm);
//! let qa = Predict::<BasicQa>::new();
//! let pred = qa.call(BasicQaInput { question: "Capital of France?".into() }).await?;
//! assert_eq!(pred.answer, "Paris");
//! # Ok(())
//! # }
//! ```

pub use dspy_macros::{Signature, program, signature, tool};
pub use dspy_runtime::*;

/// The usual imports: `use dspy::prelude::*;`.
pub mod prelude {
    pub use dspy_macros::{Signature, program, signature, tool};
    pub use dspy_runtime::optimize::{
        Auto, BetterTogether, BootstrapFewShot, BootstrapFinetune, Budget, Copro, Gepa, KnnFewShot,
        MiproV2, Optimizer, RandomSearch, Simba,
    };
    pub use dspy_runtime::strategy::{BestOfN, MultiChainComparison, Parallel, Refine};
    pub use dspy_runtime::{
        Adapter, Audio, BamlAdapter, ChainOfThought, ChatAdapter, Demo, DynPredict, DynSignature,
        EvalResult, Evaluate, Example, Feedback, File, History, HttpLm, Image, JsonAdapter,
        LabeledFewShot, LanguageModel, Lm, LmConfig, Module, Params, ParamsExt, Predict,
        Prediction, Predictor, Program, ReAct, ReActV2, Reasoned, Reasoning, ScriptedLm, Signature,
        Tool, TwoStepAdapter, XmlAdapter,
    };
    #[cfg(target_os = "linux")]
    pub use dspy_runtime::{CodeAct, ProgramOfThought, Rlm};
}

/// The README's examples, compiled and run as doctests (with every feature: the MCP example
/// needs `mcp`).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "mcp"))]
pub struct ReadmeDoctests;
