//! The parsed, checked form of a signature that both macros produce.

use syn::{Attribute, Ident, Type, Visibility};

/// Input or output.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Input,
    Output,
}

/// A signature ready for code generation.
pub struct SignatureModel {
    pub vis: Visibility,
    pub ident: Ident,
    /// The instruction, or `None` for DSPy's default.
    pub instructions: Option<String>,
    pub fields: Vec<FieldModel>,
    /// Whether to declare the marker struct itself (string signatures).
    pub declare_struct: bool,
    /// Attributes for the declared struct (its docs).
    pub struct_attrs: Vec<Attribute>,
    /// Whether every field made it into `fields` (no field was dropped for an error).
    pub complete: bool,
}

/// One field.
pub struct FieldModel {
    pub ident: Ident,
    pub ty: Type,
    pub role: Role,
    pub desc: Option<String>,
    /// `serde`, `schemars` and `doc` attributes carried over to the generated struct.
    pub attrs: Vec<Attribute>,
    /// A `Literal[...]` field: the enum to generate and its values.
    pub literal: Option<(Ident, Vec<String>)>,
}

/// The doc comment's text as Python's `inspect.cleandoc` cleans a docstring (the `///` lines
/// joined by newlines), or `None` when it is blank.
pub fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            lines.push(s.value());
        }
    }
    let text = dspy_grammar::cleandoc(&lines.join("\n"));
    (!text.is_empty()).then_some(text)
}
