//! Code generation: the input and output structs, literal enums, and the `Signature` impl.

use crate::derive::Errors;
use crate::model::{FieldModel, Role, SignatureModel};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The generated code for `model` (if any) followed by every collected error.
pub fn expand(model: Option<&SignatureModel>, errors: Errors) -> TokenStream {
    let errors = errors.into_compile_error();
    let Some(m) = model else { return errors };
    let code = generate(m);
    quote! { #code #errors }
}

fn generate(m: &SignatureModel) -> TokenStream {
    let vis = &m.vis;
    let name = &m.ident;
    let name_str = name.to_string();
    let input_ident = format_ident!("{}Input", name);
    let output_ident = format_ident!("{}Output", name);
    let example_ident = format_ident!("{}Example", name);
    let inputs: Vec<&FieldModel> = m.fields.iter().filter(|f| f.role == Role::Input).collect();
    let outputs: Vec<&FieldModel> = m.fields.iter().filter(|f| f.role == Role::Output).collect();

    let struct_def = |ident: &syn::Ident, fields: &[&FieldModel], what: &str| {
        let doc = format!("The {what} fields of [`{name_str}`].");
        let defs = fields.iter().map(|f| {
            let (attrs, id, ty) = (&f.attrs, &f.ident, &f.ty);
            quote! { #(#attrs)* #vis #id: #ty }
        });
        quote! {
            #[doc = #doc]
            #[derive(
                ::core::clone::Clone,
                ::core::fmt::Debug,
                ::dspy::__private::serde::Serialize,
                ::dspy::__private::serde::Deserialize,
                ::dspy::__private::schemars::JsonSchema,
            )]
            #[serde(crate = "::dspy::__private::serde")]
            #[schemars(crate = "::dspy::__private::schemars")]
            #vis struct #ident { #(#defs,)* }
        }
    };
    let input_struct = struct_def(&input_ident, &inputs, "input");
    let output_struct = struct_def(&output_ident, &outputs, "output");

    let enums = m
        .fields
        .iter()
        .filter_map(|f| f.literal.as_ref())
        .map(|(ident, values)| {
            let variants = values.iter().map(|v| {
                let variant =
                    format_ident!("{}", crate::string_sig::pascal(v), span = ident.span());
                quote! { #[serde(rename = #v)] #variant }
            });
            let doc = format!("The choices of a `Literal` field of [`{name_str}`].");
            quote! {
                #[doc = #doc]
                #[derive(
                    ::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug,
                    ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash,
                    ::dspy::__private::serde::Serialize,
                    ::dspy::__private::serde::Deserialize,
                    ::dspy::__private::schemars::JsonSchema,
                )]
                #[serde(crate = "::dspy::__private::serde")]
                #[schemars(crate = "::dspy::__private::schemars")]
                #vis enum #ident { #(#variants,)* }
            }
        });

    let marker = if m.declare_struct {
        let attrs = &m.struct_attrs;
        quote! {
            #(#attrs)*
            #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
            #vis struct #name;
        }
    } else {
        quote! {}
    };

    let instructions = match &m.instructions {
        Some(s) => quote! { ::core::option::Option::Some(#s) },
        None => quote! { ::core::option::Option::None },
    };
    let decls = inputs.iter().chain(outputs.iter()).map(|f| {
        let field_name = f.ident.to_string();
        let field_name = field_name
            .strip_prefix("r#")
            .unwrap_or(&field_name)
            .to_string();
        let role = match f.role {
            Role::Input => quote! { ::dspy::__private::Role::Input },
            Role::Output => quote! { ::dspy::__private::Role::Output },
        };
        let desc = match &f.desc {
            Some(d) => quote! { ::core::option::Option::Some(#d) },
            None => quote! { ::core::option::Option::None },
        };
        quote! { ::dspy::__private::FieldDecl { name: #field_name, role: #role, desc: #desc } }
    });
    let type_schemas = inputs.iter().chain(outputs.iter()).map(|f| {
        let ty = &f.ty;
        quote! { g.subschema_for::<#ty>() }
    });
    let writes = inputs.iter().enumerate().map(|(i, f)| {
        let id = &f.ident;
        quote! { #i => ::dspy::__private::write_serialize(&self.#id, out).map(|()| true), }
    });
    let cot = if m.fields.iter().any(|f| f.ident == "reasoning") {
        quote! {}
    } else {
        quote! { impl ::dspy::CotCompatible for #name {} }
    };
    let split = if m.declare_struct || !m.complete {
        quote! {}
    } else {
        let in_ids: Vec<_> = inputs.iter().map(|f| &f.ident).collect();
        let out_ids: Vec<_> = outputs.iter().map(|f| &f.ident).collect();
        quote! {
            impl ::core::convert::From<#name> for (#input_ident, #output_ident) {
                fn from(whole: #name) -> Self {
                    (#input_ident { #(#in_ids: whole.#in_ids,)* }, #output_ident { #(#out_ids: whole.#out_ids,)* })
                }
            }
            impl ::core::convert::From<(#input_ident, #output_ident)> for #name {
                fn from((input, output): (#input_ident, #output_ident)) -> Self {
                    #name { #(#in_ids: input.#in_ids,)* #(#out_ids: output.#out_ids,)* }
                }
            }
        }
    };

    let field_names: Vec<String> = inputs
        .iter()
        .chain(&outputs)
        .map(|f| f.ident.to_string())
        .collect();
    let n_inputs = inputs.len();
    let example_doc =
        format!("A labelled example of [`{name_str}`]: its inputs and the expected outputs.");
    quote! {
        #marker
        #(#enums)*
        #input_struct
        #output_struct
        #[doc = #example_doc]
        #vis type #example_ident = ::dspy::Example<#input_ident, #output_ident>;
        const _: () = {
            impl ::dspy::Signature for #name {
                type Input = #input_ident;
                type Output = #output_ident;
                const FIELD_NAMES: &'static [&'static str] = &[#(#field_names),*];
                const INPUTS: usize = #n_inputs;
                const STATIC_FIELDS: bool = true;
                fn meta() -> &'static ::dspy::SignatureMeta {
                    static META: ::dspy::__private::OnceLock<::dspy::SignatureMeta> = ::dspy::__private::OnceLock::new();
                    META.get_or_init(|| {
                        ::dspy::SignatureMeta::from_derive(
                            #name_str,
                            #instructions,
                            &[#(#decls),*],
                            |g| (
                                ::std::vec![#(#type_schemas),*],
                                g.root_schema_for::<#input_ident>(),
                                g.root_schema_for::<#output_ident>(),
                            ),
                        )
                    })
                }
            }
            #cot
            impl ::dspy::InputFields for #input_ident {
                fn write_input(
                    &self,
                    index: usize,
                    _field: &::dspy::FieldMeta,
                    out: &mut ::std::string::String,
                ) -> ::core::result::Result<bool, ::std::string::String> {
                    match index {
                        #(#writes)*
                        _ => ::core::result::Result::Ok(false),
                    }
                }
            }
            #split
        };
    }
}
