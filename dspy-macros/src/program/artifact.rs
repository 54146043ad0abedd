//! `#[artifact("compiled.json")]`: the file is read at expansion time; each predictor it holds
//! becomes a compile-time check against the program's shape, and the text is embedded with
//! `include_str!` (so editing the file rebuilds). An artifact that no longer fits is a build
//! error.

use super::parse::ProgramModel;
use crate::derive::Errors;
use dspy_grammar::path::segments;
use dspy_grammar::prefix::prefix_key;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use std::path::Path;

/// The checks and the embedding for `m`'s artifact, if it has one.
pub fn expand(m: &ProgramModel, base: Option<&Path>, errors: &mut Errors) -> TokenStream {
    let Some(lit) = &m.artifact else {
        return TokenStream::new();
    };
    let rel = lit.value();
    let path = match base {
        Some(dir) => dir.join(&rel),
        None => Path::new(&rel).to_path_buf(),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            errors.add(
                lit.span(),
                format!("cannot read the artifact `{}`: {e}", path.display()),
            );
            return TokenStream::new();
        }
    };
    let state: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            errors.add(lit.span(), format!("the artifact `{rel}` is not JSON: {e}"));
            return TokenStream::new();
        }
    };
    let Some(entries) = state.as_object() else {
        errors.add(
            lit.span(),
            format!("the artifact `{rel}` is not a saved program"),
        );
        return TokenStream::new();
    };
    let name = &m.name;
    let mut checks = Vec::new();
    for (key, entry) in entries {
        if key == "metadata" {
            continue;
        }
        let Some(fields) = entry
            .pointer("/signature/fields")
            .and_then(|f| f.as_array())
        else {
            errors.add(
                lit.span(),
                format!("the artifact `{rel}`: `{key}` has no signature.fields"),
            );
            continue;
        };
        let fields: Vec<String> = fields
            .iter()
            .map(|f| prefix_key(f.get("prefix").and_then(|p| p.as_str()).unwrap_or("")))
            .collect();
        let segs = segments(key);
        let msg = format!(
            "the compiled artifact `{rel}` does not fit `{name}`: its predictor `{key}` (fields {}) \
             is not in the program or has other fields; compile the program again and save a new \
             artifact",
            fields.join(", ")
        );
        checks.push(quote_spanned! {lit.span()=>
            const _: () = if !::dspy::program::fits(
                &<#name as ::dspy::program::StaticShape>::SHAPE,
                &[#(#segs),*],
                &[#(#fields),*],
            ) {
                ::core::panic!(#msg)
            };
        });
    }
    // Every module field that must hold a predictor has one in the file.
    for f in m.fields.iter().filter(|f| !f.skip) {
        let optional = matches!(&f.ty, syn::Type::Path(p) if p.path.segments.last()
            .is_some_and(|s| s.ident == "Option" || s.ident == "Vec"));
        let field = f.ident.to_string();
        let present = entries
            .keys()
            .any(|k| segments(k).first().is_some_and(|s| *s == field));
        if !optional && !present {
            errors.add(
                f.ident.span(),
                format!(
                    "the compiled artifact `{rel}` has no predictor for `{field}`: compile the \
                     program again and save a new artifact"
                ),
            );
        }
    }
    let abs = std::fs::canonicalize(&path).unwrap_or(path);
    let abs = abs.to_string_lossy().into_owned();
    quote! {
        #(#checks)*
        impl #name {
            /// The compiled artifact embedded at build time (checked against this program).
            pub const ARTIFACT: &'static str = ::core::include_str!(#abs);

            /// Loads the embedded compiled artifact into this program.
            pub fn load_artifact(&mut self) -> ::core::result::Result<(), ::dspy::state::StateError> {
                ::dspy::state::load_str(self, Self::ARTIFACT)
            }
        }
    }
}
