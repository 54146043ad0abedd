//! Reading `program! { struct …; async fn forward(&self, …) -> Result<…> { … } }` into a model,
//! every mistake collected with its span.

use crate::derive::Errors;
use proc_macro2::{Delimiter, Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, Pat, Token, Type, Visibility};

/// The raw declaration as written.
pub struct ProgramDecl {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub generics: Option<Span>,
    pub fields: Vec<syn::Field>,
    pub forward: Option<ForwardDecl>,
    /// Why `forward` could not be read, when it is there but is not Rust syntax: reported as
    /// the one error, the struct still generated with placeholders.
    pub forward_error: Option<syn::Error>,
    pub trailing: Option<Span>,
}

/// `forward` as written; its body stays tokens (call sugar is not Rust syntax yet).
pub struct ForwardDecl {
    pub attrs: Vec<Attribute>,
    pub asyncness: Option<Token![async]>,
    pub fn_token: Token![fn],
    pub name: Ident,
    pub args: Punctuated<FnArg, Token![,]>,
    pub args_span: Span,
    pub output: Option<Type>,
    pub body: TokenStream,
}

impl Parse for ProgramDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let generics = if input.peek(Token![<]) {
            let g: syn::Generics = input.parse()?;
            Some(g.span())
        } else {
            None
        };
        let content;
        syn::braced!(content in input);
        let fields: Punctuated<syn::Field, Token![,]> =
            content.parse_terminated(syn::Field::parse_named, Token![,])?;
        // `forward` and what follows it are read on their own, so that a syntax error there
        // leaves the struct standing.
        let rest: TokenStream = input.parse()?;
        let (mut forward, mut forward_error, mut trailing) = (None, None, None);
        if !rest.is_empty() {
            let read = |input: ParseStream| {
                let f = input.parse::<ForwardDecl>()?;
                let trailing = (!input.is_empty()).then(|| input.span());
                // Whatever is left is reported, not parsed.
                let _: TokenStream = input.parse()?;
                Ok((f, trailing))
            };
            match syn::parse::Parser::parse2(read, rest) {
                Ok((f, t)) => (forward, trailing) = (Some(f), t),
                Err(e) => forward_error = Some(e),
            }
        }
        Ok(ProgramDecl {
            attrs,
            vis,
            name,
            generics,
            fields: fields.into_iter().collect(),
            forward,
            forward_error,
            trailing,
        })
    }
}

impl Parse for ForwardDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let _: Visibility = input.parse()?;
        let asyncness: Option<Token![async]> = input.parse()?;
        let fn_token: Token![fn] = input.parse()?;
        let name: Ident = input.parse()?;
        let content;
        let paren = syn::parenthesized!(content in input);
        let args = content.parse_terminated(FnArg::parse, Token![,])?;
        let output = if input.peek(Token![->]) {
            input.parse::<Token![->]>()?;
            Some(input.parse::<Type>()?)
        } else {
            None
        };
        let body = input.step(|cursor| match cursor.group(Delimiter::Brace) {
            Some((inside, _, rest)) => Ok((inside.token_stream(), rest)),
            None => Err(cursor.error("expected `{ … }`, the body of `forward`")),
        })?;
        Ok(ForwardDecl {
            attrs,
            asyncness,
            fn_token,
            name,
            args,
            args_span: paren.span.join(),
            output,
            body,
        })
    }
}

/// A field of the program.
pub struct FieldModel {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub ty: Type,
    /// `#[skip]`: a plain field (a retriever, a constant), not a module.
    pub skip: bool,
}

/// A parameter of `forward`.
pub struct ArgModel {
    pub ident: Ident,
    pub ty: Type,
}

/// Everything code generation needs.
pub struct ProgramModel {
    pub attrs: Vec<Attribute>,
    /// `#[artifact("path")]`: a compiled artifact to embed and check at build time.
    pub artifact: Option<syn::LitStr>,
    pub vis: Visibility,
    pub name: Ident,
    pub fields: Vec<FieldModel>,
    pub forward_attrs: Vec<Attribute>,
    pub args: Vec<ArgModel>,
    /// `forward`'s return type as written, and the `T` of its `Result<T>`.
    pub output: Type,
    pub ok: Type,
    pub body: TokenStream,
    /// Whether `forward` is missing or unusable, so the items generated are placeholders:
    /// the struct, its input and its impls exist (uses elsewhere add no errors of their own)
    /// and `call` never runs a body.
    pub placeholder: bool,
}

/// Checks the declaration. The model is always made, with placeholders where the declaration
/// is wrong (see [`ProgramModel::placeholder`]), so that an error is reported once.
pub fn check(decl: ProgramDecl) -> (ProgramModel, Errors) {
    let mut errors = Errors::default();
    if let Some(span) = decl.generics {
        errors.add(span, "a program cannot be generic");
    }
    if let Some(span) = decl.trailing {
        errors.add(
            span,
            "unexpected tokens: program! takes one struct and its `async fn forward`",
        );
    }
    let mut artifact = None;
    let mut attrs = Vec::new();
    for a in decl.attrs {
        if a.path().is_ident("artifact") {
            match a.parse_args::<syn::LitStr>() {
                Ok(lit) if artifact.is_none() => artifact = Some(lit),
                Ok(lit) => errors.add(lit.span(), "`#[artifact(…)]` is given twice"),
                Err(_) => errors.add(
                    a.span(),
                    "expected `#[artifact(\"path/to/compiled.json\")]`, relative to this file",
                ),
            }
        } else {
            attrs.push(a);
        }
    }
    let mut fields = Vec::new();
    for f in decl.fields {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        if fields.iter().any(|g: &FieldModel| g.ident == ident) {
            errors.add(ident.span(), format!("duplicate field `{ident}`"));
            continue;
        }
        let mut skip = false;
        let mut attrs = Vec::new();
        for a in f.attrs {
            if a.path().is_ident("skip") {
                match a.meta {
                    syn::Meta::Path(_) => skip = true,
                    _ => errors.add(a.span(), "`#[skip]` takes no arguments"),
                }
            } else if a.path().is_ident("doc") || a.path().is_ident("allow") {
                attrs.push(a);
            } else {
                let path = a.path();
                let shown = quote::quote!(#path).to_string().replace(' ', "");
                errors.add(
                    a.span(),
                    format!(
                        "unknown attribute `#[{shown}]` on a program field: expected `#[skip]` \
                         (a plain field, not a module) or a doc comment"
                    ),
                );
            }
        }
        fields.push(FieldModel {
            attrs,
            vis: f.vis,
            ident,
            ty: f.ty,
            skip,
        });
    }
    let mut model = ProgramModel {
        attrs,
        artifact,
        vis: decl.vis,
        name: decl.name,
        fields,
        forward_attrs: Vec::new(),
        args: Vec::new(),
        output: syn::parse_quote!(::dspy::Result<()>),
        ok: syn::parse_quote!(()),
        body: TokenStream::new(),
        placeholder: true,
    };
    if let Some(e) = decl.forward_error {
        errors.push(e);
        return (model, errors);
    }
    let Some(fwd) = decl.forward else {
        errors.add(
            model.name.span(),
            "program! needs `async fn forward(&self, …) -> dspy::Result<…> { … }` after the struct",
        );
        return (model, errors);
    };
    if fwd.name != "forward" {
        errors.add(
            fwd.name.span(),
            format!(
                "expected `forward`, found `{}`: a program's body is `async fn forward(&self, …)`",
                fwd.name
            ),
        );
    }
    if fwd.asyncness.is_none() {
        errors.add(
            fwd.fn_token.span,
            "`forward` must be async: `async fn forward(&self, …)`",
        );
    }
    let mut receiver = false;
    for (i, arg) in fwd.args.iter().enumerate() {
        match arg {
            FnArg::Receiver(r) if i == 0 => {
                if r.reference.is_none() || r.mutability.is_some() {
                    errors.add(r.span(), "`forward` takes `&self`");
                }
                receiver = true;
            }
            FnArg::Receiver(r) => errors.add(r.span(), "`self` must come first"),
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                    if model.args.iter().any(|a| a.ident == p.ident) {
                        errors.add(p.ident.span(), format!("duplicate parameter `{}`", p.ident));
                    } else {
                        model.args.push(ArgModel {
                            ident: p.ident.clone(),
                            ty: (*t.ty).clone(),
                        });
                    }
                }
                other => errors.add(
                    other.span(),
                    "a parameter of `forward` must be a plain name (it becomes a field of the \
                     program's input struct)",
                ),
            },
        }
    }
    if !receiver {
        errors.add(
            fwd.args_span,
            "`forward` takes `&self` first: `forward(&self, …)`",
        );
    }
    model.forward_attrs = fwd.attrs;
    match fwd.output {
        None => errors.add(
            fwd.args_span,
            "`forward` must return `dspy::Result<T>`: add `-> dspy::Result<…>`",
        ),
        Some(output) => match result_ok(&output) {
            Some(ok) => {
                model.ok = ok;
                model.output = output;
                model.body = fwd.body;
                model.placeholder = false;
            }
            None => {
                let shown = quote::quote!(#output).to_string();
                errors.add(
                    output.span(),
                    format!("`forward` must return `dspy::Result<T>`, found `{shown}`"),
                );
                // Uses of the program's output still see the type that was written.
                model.output = syn::parse_quote!(::dspy::Result<#output>);
                model.ok = output;
            }
        },
    }
    (model, errors)
}

/// The `T` of `Result<T>` / `Result<T, E>` (any path ending in `Result`).
fn result_ok(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}
