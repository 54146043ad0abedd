//! Procedural macros for dspy: `#[derive(Signature)]`, `signature!`, `program!` and `#[tool]`.
//!
//! A thin shim: each entry point parses its input into a `model::SignatureModel`, collecting
//! every error with its span, and `expand` turns the model into code. Use the macros through
//! the `dspy` crate.

mod derive;
mod expand;
mod model;
mod program;
mod string_sig;
mod tool;

use proc_macro::TokenStream;

/// Derives `dspy::Signature` for a struct whose fields are marked `#[input]` or `#[output]`.
///
/// The doc comment is the instruction; `desc = "..."` (or a field's doc comment) describes a
/// field. Generates `<Name>Input`, `<Name>Output` and `<Name>Example` (a labelled example:
/// `Example<<Name>Input, <Name>Output>`). `labels = ["business", "sport"]` on a
/// field generates the enum its type names (`topic: Topic`, or `Option<Topic>`, `Vec<Topic>`),
/// DSPy's `Literal['business', 'sport']`, as `signature!` does for a `Literal` field. `#[serde(...)]` and `#[schemars(...)]`
/// field attributes carry over, so schemars constraints (`range`, `length`, `regex`) are
/// enforced on every parsed output.
#[proc_macro_derive(Signature, attributes(input, output, schemars, serde))]
pub fn derive_signature(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    let (model, errors) = derive::parse(&input);
    expand::expand(model.as_ref(), errors).into()
}

/// Declares a signature from DSPy's string syntax, checked at compile time:
/// `signature!(Qa = "question, context: Vec<String> -> answer: bool");`
///
/// A doc comment before the name becomes the instruction (default: DSPy's for string
/// signatures). Types may be Rust (`Vec<String>`) or DSPy's Python spellings (`list[str]`);
/// `Literal['a', 'b']` generates an enum named `<Name><Field>`.
#[proc_macro]
pub fn signature(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as string_sig::SignatureDecl);
    let (model, errors) = string_sig::lower(&input);
    expand::expand(model.as_ref(), errors).into()
}

/// Declares a program: a struct of modules and its `async fn forward`, checked at compile time.
///
/// ```ignore
/// program! {
///     /// Answers with one retrieval hop.
///     pub struct Rag {
///         answer: ChainOfThought<AnswerWithContext>,
///         #[skip]
///         passages: Vec<String>,
///     }
///
///     async fn forward(&self, question: String) -> dspy::Result<String> {
///         let context = self.passages.clone();
///         let pred = self.answer(context, question).await?;
///         Ok(pred.answer.clone())
///     }
/// }
/// ```
///
/// Generates the struct, `<Name>Input` (the parameters of `forward`), an inherent
/// `call(&self, …)` (the body), and the `Module`, `Params` (predictor paths) and `Program`
/// (call order) impls. Inside `forward`, `self.stage(name: value, other)` calls a module field
/// with its input struct built from named values (`&x` clones); fields marked `#[skip]` are
/// plain data, not modules.
///
/// `#[artifact("compiled.json")]` on the struct embeds a compiled artifact (a file `save`d by
/// the program, or by Python DSPy), relative to the invoking file: every predictor in it is
/// checked against the program at build time, and `load_artifact()` loads it.
#[proc_macro]
pub fn program(input: TokenStream) -> TokenStream {
    // Artifact paths are relative to the file that invokes the macro, like `include_str!`.
    let file = proc_macro::Span::call_site().local_file();
    let base = file.as_deref().and_then(std::path::Path::parent).map(|d| {
        if d.is_relative() {
            // Relative to rustc's working directory, which is the macro's too.
            std::env::current_dir().unwrap_or_default().join(d)
        } else {
            d.to_path_buf()
        }
    });
    program::expand(input.into(), base.as_deref()).into()
}

/// Makes a function a tool for agents: alongside the function (left as written), generates
/// `<name>_tool() -> dspy::Tool`.
///
/// ```ignore
/// /// Adds two integers.
/// #[tool]
/// fn add(
///     /// The first.
///     a: i64,
///     b: i64,
/// ) -> i64 {
///     a + b
/// }
/// let tools = vec![add_tool()];
/// ```
///
/// The doc comment is the tool's description and each argument's doc comment the argument's;
/// the argument types (owned, deserializable, `schemars::JsonSchema`) give the JSON schema;
/// `#[serde(…)]` and `#[schemars(…)]` on an argument carry over. The function may be `async`,
/// and may return any serializable value or a `Result` whose error is the tool's error. A
/// sync function runs on tokio's blocking threads. `#[tool(name = "…", desc = "…")]` overrides
/// the name and the description.
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    tool::expand(attr.into(), item.into()).into()
}
