//! Call sugar inside `forward`: `self.stage(name: value, other)` becomes a call of the stage's
//! `Module::forward` with its typed input struct, each value converted by `into_field` (so
//! `&context` clones). Also records the order in which `forward` mentions its module fields.

use super::parse::FieldModel;
use crate::derive::Errors;
use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Token};

/// The module fields `self.<field>` mentions, in order of first mention.
pub fn call_order(body: &TokenStream, fields: &[FieldModel]) -> Vec<String> {
    let mut order = Vec::new();
    walk(body.clone(), fields, &mut order);
    order
}

fn walk(ts: TokenStream, fields: &[FieldModel], order: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = ts.into_iter().collect();
    for (i, t) in tokens.iter().enumerate() {
        if let TokenTree::Group(g) = t {
            walk(g.stream(), fields, order);
        }
        if let Some(name) = self_field(&tokens, i) {
            let name = name.to_string();
            let module = fields.iter().any(|f| !f.skip && f.ident == name);
            if module && !order.contains(&name) {
                order.push(name);
            }
        }
    }
}

/// `self . <ident>` starting at `i`: the ident.
fn self_field(tokens: &[TokenTree], i: usize) -> Option<&Ident> {
    match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
        (TokenTree::Ident(s), Some(TokenTree::Punct(p)), Some(TokenTree::Ident(name)))
            if s == "self" && p.as_char() == '.' && (i == 0 || !is_dot(&tokens[i - 1])) =>
        {
            Some(name)
        }
        _ => None,
    }
}

fn is_dot(t: &TokenTree) -> bool {
    matches!(t, TokenTree::Punct(p) if p.as_char() == '.')
}

/// One argument of a sugared call: `name: value` or `name`.
struct Arg {
    name: syn::Ident,
    value: Option<Expr>,
}

fn parse_args(input: ParseStream) -> syn::Result<Punctuated<Arg, Token![,]>> {
    input.parse_terminated(
        |input: ParseStream| {
            let name: syn::Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected `input_name: value` or `input_name`: a stage is called with its \
                     inputs by name",
                )
            })?;
            if input.peek(Token![:]) && !input.peek(Token![::]) {
                input.parse::<Token![:]>()?;
                let value: Expr = input.parse()?;
                Ok(Arg {
                    name,
                    value: Some(value),
                })
            } else if input.is_empty() || input.peek(Token![,]) {
                Ok(Arg { name, value: None })
            } else {
                Err(input.error(
                    "expected `input_name: value` or `input_name`: a stage is called with its \
                     inputs by name",
                ))
            }
        },
        Token![,],
    )
}

/// Rewrites every sugared stage call in `ts`.
pub fn rewrite(ts: TokenStream, fields: &[FieldModel], errors: &mut Errors) -> TokenStream {
    // Inner groups first, so the arguments below are plain Rust when parsed.
    let tokens: Vec<TokenTree> = ts
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), rewrite(g.stream(), fields, errors));
                inner.set_span(g.span());
                TokenTree::Group(inner)
            }
            other => other,
        })
        .collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while i < tokens.len() {
        let call = self_field(&tokens, i).and_then(|name| match tokens.get(i + 3) {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => Some((name, g)),
            _ => None,
        });
        let Some((name, args)) = call else {
            out.extend([tokens[i].clone()]);
            i += 1;
            continue;
        };
        match fields.iter().find(|f| f.ident == *name) {
            // Not a field: a method of the program; leave it.
            None => {
                out.extend(tokens[i..i + 4].iter().cloned());
            }
            Some(f) if f.skip => {
                errors.add(
                    name.span(),
                    format!(
                        "`{name}` is not a module (it is marked `#[skip]`): only module fields \
                         can be called as stages; use its own methods, e.g. `self.{name}.method(…)`"
                    ),
                );
                out.extend(tokens[i..i + 4].iter().cloned());
            }
            Some(f) => match parse_args.parse2(args.stream()) {
                Ok(list) => out.extend(expand_call(f, name.span(), args.span(), list)),
                Err(e) => {
                    errors.push(e);
                    out.extend(tokens[i..i + 4].iter().cloned());
                }
            },
        }
        i += 4;
    }
    out
}

fn expand_call(
    field: &FieldModel,
    name_span: Span,
    args_span: Span,
    args: Punctuated<Arg, Token![,]>,
) -> TokenStream {
    let ident = &field.ident;
    let ty = &field.ty;
    let alias = Ident::new("__DspyStageInput", name_span);
    let inits = args.into_iter().map(|a| {
        let name = &a.name;
        let value = match &a.value {
            Some(v) => quote!(#v),
            None => quote!(#name),
        };
        let span = a.value.as_ref().map_or(name.span(), Spanned::span);
        let convert = quote_spanned!(span=> ::dspy::__private::into_field(#value));
        quote!(#name: #convert)
    });
    let forward = quote_spanned!(args_span=> ::dspy::Module::forward);
    quote_spanned! {name_span=>
        #forward(&self.#ident, {
            type #alias = <#ty as ::dspy::Module>::Input;
            #alias { #(#inits),* }
        })
    }
}
