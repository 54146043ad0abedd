//! `signature!(Name = "inputs -> outputs")`: the string grammar at compile time.

use crate::derive::Errors;
use crate::model::{FieldModel, Role, SignatureModel, doc_text};
use dspy_grammar::{FloatKind, MapKind, TypeExpr};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitStr, Token, Visibility};

/// `#[doc] pub Name = "..."`
pub struct SignatureDecl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    lit: LitStr,
}

impl Parse for SignatureDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let ident: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let lit: LitStr = input.parse()?;
        let _ = input.parse::<Option<Token![;]>>()?;
        if !input.is_empty() {
            return Err(input.error("expected `Name = \"inputs -> outputs\"` and nothing after it"));
        }
        Ok(SignatureDecl {
            attrs,
            vis,
            ident,
            lit,
        })
    }
}

/// Parses the string with the shared grammar and builds the model.
pub fn lower(decl: &SignatureDecl) -> (Option<SignatureModel>, Errors) {
    let mut errors = Errors::default();
    for attr in &decl.attrs {
        if !attr.path().is_ident("doc") {
            errors.add(
                proc_macro2::Span::call_site(),
                "only doc comments may precede a string signature's name",
            );
        }
    }
    let src = decl.lit.value();
    let span = decl.lit.span();
    let parsed = match dspy_grammar::parse(&src) {
        Ok(p) => p,
        Err(errs) => {
            for e in errs {
                let at = src.get(e.span.clone()).filter(|s| !s.is_empty());
                let msg = match at {
                    Some(text) if !e.message.contains(text) => {
                        format!("{} (at `{text}`)", e.message)
                    }
                    _ => e.message,
                };
                errors.add(span, format!("in signature \"{src}\": {msg}"));
            }
            return (Some(placeholder(decl)), errors);
        }
    };
    let mut fields = Vec::new();
    for f in parsed.inputs.iter().chain(parsed.outputs.iter()) {
        let role = match f.role {
            dspy_grammar::Role::Input => Role::Input,
            dspy_grammar::Role::Output => Role::Output,
        };
        let ident = field_ident(&f.name, span);
        let mut literal = None;
        let ty_tokens = rust_type(&f.ty, span, &mut |values: &[String]| {
            let enum_ident = format_ident!("{}{}", decl.ident, pascal(&f.name), span = span);
            literal = Some((enum_ident.clone(), values.to_vec()));
            quote_spanned!(span=> #enum_ident)
        });
        match syn::parse2(ty_tokens) {
            Ok(ty) => fields.push(FieldModel {
                ident,
                ty,
                role,
                desc: None,
                attrs: Vec::new(),
                literal,
            }),
            Err(e) => errors.add(span, format!("field `{}`: {e}", f.name)),
        }
    }
    let model = SignatureModel {
        vis: decl.vis.clone(),
        ident: decl.ident.clone(),
        instructions: doc_text(&decl.attrs),
        fields,
        declare_struct: true,
        struct_attrs: decl.attrs.clone(),
        complete: true,
    };
    (Some(model), errors)
}

/// The declared struct with no fields, so uses of the name do not add errors of their own.
fn placeholder(decl: &SignatureDecl) -> SignatureModel {
    SignatureModel {
        vis: decl.vis.clone(),
        ident: decl.ident.clone(),
        instructions: None,
        fields: Vec::new(),
        declare_struct: true,
        struct_attrs: decl.attrs.clone(),
        complete: false,
    }
}

fn field_ident(name: &str, span: Span) -> Ident {
    syn::parse_str::<Ident>(name)
        .map(|mut i| {
            i.set_span(span);
            i
        })
        .unwrap_or_else(|_| Ident::new_raw(name, span))
}

/// `snake_case` to `PascalCase`; other characters split words.
pub fn pascal(s: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if upper {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

fn rust_type(
    ty: &TypeExpr,
    span: Span,
    literal: &mut dyn FnMut(&[String]) -> TokenStream,
) -> TokenStream {
    match ty {
        TypeExpr::Str => quote_spanned!(span=> ::std::string::String),
        TypeExpr::Bool => quote_spanned!(span=> bool),
        TypeExpr::Int(k) => {
            let i = Ident::new(k.rust_name(), span);
            quote_spanned!(span=> #i)
        }
        TypeExpr::Float(FloatKind::F32) => quote_spanned!(span=> f32),
        TypeExpr::Float(FloatKind::F64) => quote_spanned!(span=> f64),
        TypeExpr::List(t) => {
            let t = rust_type(t, span, literal);
            quote_spanned!(span=> ::std::vec::Vec<#t>)
        }
        TypeExpr::Optional(t) => {
            let t = rust_type(t, span, literal);
            quote_spanned!(span=> ::std::option::Option<#t>)
        }
        TypeExpr::Map(MapKind::HashMap, t) => {
            let t = rust_type(t, span, literal);
            quote_spanned!(span=> ::std::collections::HashMap<::std::string::String, #t>)
        }
        TypeExpr::Map(MapKind::BTreeMap, t) => {
            let t = rust_type(t, span, literal);
            quote_spanned!(span=> ::std::collections::BTreeMap<::std::string::String, #t>)
        }
        TypeExpr::Literal(values) => literal(values),
        TypeExpr::Named(path) => match syn::parse_str::<syn::Path>(path) {
            Ok(p) => respan(quote::ToTokens::into_token_stream(p), span),
            // Not a Rust path: leave the text so the caller reports it as a type error.
            Err(_) => path.parse().unwrap_or_default(),
        },
    }
}

/// Gives every token `span`, so rustc's errors about a type point at the string.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut ng = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                t = proc_macro2::TokenTree::Group(ng);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests;
