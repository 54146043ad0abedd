//! `#[tool]`: an ordinary function (sync or async) made available to agents as
//! `<name>_tool() -> dspy::Tool`. The doc comment is the description, each argument's doc
//! comment its description, the argument types give the JSON schema (schemars).

use crate::derive::Errors;
use crate::model::doc_text;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;

/// Attributes an argument may carry, moved onto the generated argument struct.
const ARG_ATTRS: &[&str] = &["doc", "serde", "schemars"];

/// The checked form of a `#[tool]` function.
pub struct ToolModel {
    /// The function with the argument attributes taken off (rustc rejects them there).
    pub item: syn::ItemFn,
    /// The tool's name (the function's, or `name = "…"`).
    pub name: String,
    /// The description (the doc comment, or `desc = "…"`).
    pub desc: String,
    /// Each argument: its name, type and the attributes moved to the struct field.
    pub args: Vec<(syn::Ident, syn::Type, Vec<syn::Attribute>)>,
    /// Whether the function returns a `Result` (its error is the tool's error).
    pub returns_result: bool,
}

/// `name = "…"`, `desc = "…"`.
fn parse_attr(attr: TokenStream, errors: &mut Errors) -> (Option<String>, Option<String>) {
    let (mut name, mut desc) = (None, None);
    if attr.is_empty() {
        return (name, desc);
    }
    let parser = syn::meta::parser(|meta| {
        let value = || -> syn::Result<String> {
            let s: syn::LitStr = meta.value()?.parse()?;
            Ok(s.value())
        };
        if meta.path.is_ident("name") {
            let v = value()?;
            if !is_identifier(&v) {
                return Err(meta.error(format!(
                    "a tool name is letters, digits, `_` and `-` (an LM calls it by name), got {v:?}"
                )));
            }
            name = Some(v);
        } else if meta.path.is_ident("desc") {
            desc = Some(value()?);
        } else {
            return Err(
                meta.error("unknown #[tool] option: expected `name = \"…\"` or `desc = \"…\"`")
            );
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        errors.push(e);
    }
    (name, desc)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Parses and checks `#[tool(…)] fn …`, collecting every error.
pub fn check(attr: TokenStream, item: TokenStream) -> (Option<ToolModel>, Errors) {
    let mut errors = Errors::default();
    let (name, desc) = parse_attr(attr, &mut errors);
    let mut item: syn::ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => {
            errors.add(
                e.span(),
                "#[tool] goes on a function: `fn name(arg: Type, …) -> Output`",
            );
            return (None, errors);
        }
    };
    let sig = &item.sig;
    if !sig.generics.params.is_empty() {
        errors.add(
            sig.generics.span(),
            "a tool cannot be generic: its arguments need one JSON schema",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.add(v.span(), "a tool cannot be variadic");
    }
    let mut args = Vec::new();
    for input in item.sig.inputs.iter_mut() {
        let arg = match input {
            syn::FnArg::Receiver(r) => {
                errors.add(
                    r.span(),
                    "#[tool] goes on a free function, not a method: call the method from one",
                );
                continue;
            }
            syn::FnArg::Typed(arg) => arg,
        };
        let (moved, kept): (Vec<_>, Vec<_>) = arg
            .attrs
            .drain(..)
            .partition(|a| ARG_ATTRS.iter().any(|n| a.path().is_ident(n)));
        arg.attrs = kept;
        let ident = match &*arg.pat {
            syn::Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => p.ident.clone(),
            other => {
                errors.add(
                    other.span(),
                    "a tool argument is a plain name (`city: String`): the LM passes it by name",
                );
                continue;
            }
        };
        match &*arg.ty {
            syn::Type::Reference(r) => errors.add(
                r.span(),
                "a tool's arguments come from JSON: take an owned type (`String`, not `&str`)",
            ),
            syn::Type::ImplTrait(t) => errors.add(
                t.span(),
                "a tool argument needs a concrete type, for its JSON schema",
            ),
            _ => {}
        }
        args.push((ident, (*arg.ty).clone(), moved));
    }
    let returns_result = match &item.sig.output {
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        syn::ReturnType::Default => false,
    };
    let model = ToolModel {
        name: name.unwrap_or_else(|| item.sig.ident.to_string()),
        desc: desc.or_else(|| doc_text(&item.attrs)).unwrap_or_default(),
        args,
        returns_result,
        item,
    };
    (Some(model), errors)
}

/// The expansion of `#[tool(…)] fn …`, errors included.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (model, errors) = check(attr, item.clone());
    let Some(m) = model else {
        let errors = errors.into_compile_error();
        return quote! { #item #errors };
    };
    let item = &m.item;
    let vis = &item.vis;
    let fn_ident = &item.sig.ident;
    let maker = format_ident!("{}_tool", fn_ident);
    let doc = format!(
        "The [`{fn_ident}`] tool, for agents: `{}` (made by `#[tool]`).",
        m.name
    );
    if !errors.is_empty() {
        // Report our errors, and keep the maker so that its uses do not add more.
        let errors = errors.into_compile_error();
        return quote! {
            #item
            #[doc = #doc]
            #vis fn #maker() -> ::dspy::Tool { ::core::unreachable!() }
            #errors
        };
    }
    let (name, desc) = (&m.name, &m.desc);
    let fields = m.args.iter().map(|(ident, ty, attrs)| {
        quote! { #(#attrs)* #ident: #ty, }
    });
    let idents: Vec<_> = m.args.iter().map(|(i, _, _)| i).collect();
    let args = format_ident!("__DspyToolArgs", span = Span::mixed_site());
    let value = format_ident!("__dspy_args", span = Span::mixed_site());
    let call = quote! { #fn_ident(#(#value.#idents),*) };
    let wrap = |call: TokenStream| {
        if m.returns_result {
            call
        } else {
            quote! { ::core::result::Result::<_, ::core::convert::Infallible>::Ok(#call) }
        }
    };
    let make = if item.sig.asyncness.is_some() {
        let done = wrap(quote! { #call.await });
        quote! { ::dspy::Tool::typed(#name, #desc, |#value: #args| async move { #done }) }
    } else {
        let done = wrap(call);
        quote! { ::dspy::Tool::typed_blocking(#name, #desc, |#value: #args| #done) }
    };
    quote! {
        #item
        #[doc = #doc]
        #vis fn #maker() -> ::dspy::Tool {
            #[derive(::dspy::__private::serde::Deserialize, ::dspy::__private::schemars::JsonSchema)]
            #[serde(crate = "::dspy::__private::serde")]
            #[schemars(crate = "::dspy::__private::schemars")]
            struct #args { #(#fields)* }
            #make
        }
    }
}

#[cfg(test)]
mod tests;
