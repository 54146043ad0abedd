//! `program!`: parse and check the declaration, rewrite `forward`'s call sugar, generate the
//! struct, its input struct, and the `Module`, `Params` and `Program` impls.

mod artifact;
mod parse;
mod sugar;
#[cfg(test)]
mod tests;

use parse::ProgramModel;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// The expansion of `program! { … }`, errors included.
pub fn expand(input: TokenStream, base: Option<&std::path::Path>) -> TokenStream {
    let decl = match syn::parse2::<parse::ProgramDecl>(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let (m, mut errors) = parse::check(decl);
    let calls = sugar::call_order(&m.body, &m.fields);
    let mut call_errors = crate::derive::Errors::default();
    let mut body = sugar::rewrite(m.body.clone(), &m.fields, &mut call_errors);
    if m.placeholder || !call_errors.is_empty() {
        // The body is not valid Rust as written (or there is none): report our errors, not
        // rustc's on the rest.
        let args = m.args.iter().map(|a| &a.ident);
        body = quote! { let _ = (#(&#args,)*); ::core::unreachable!() };
        errors.extend(call_errors);
    }
    let code = generate(&m, &calls, body);
    let embedded = artifact::expand(&m, base, &mut errors);
    let errors = errors.into_compile_error();
    quote! { #code #embedded #errors }
}

/// The struct's attributes with `Clone` taken out of its derives (`program!` implements it).
fn without_derived_clone(attrs: &[syn::Attribute]) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter_map(|a| {
            if !a.path().is_ident("derive") {
                return Some(quote! { #a });
            }
            let Ok(paths) = a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            ) else {
                return Some(quote! { #a });
            };
            let kept: Vec<_> = paths
                .iter()
                .filter(|p| p.segments.last().is_none_or(|s| s.ident != "Clone"))
                .collect();
            (!kept.is_empty()).then(|| quote! { #[derive(#(#kept),*)] })
        })
        .collect()
}

fn generate(m: &ProgramModel, calls: &[String], body: TokenStream) -> TokenStream {
    let (vis, name) = (&m.vis, &m.name);
    let attrs = without_derived_clone(&m.attrs);
    let clone_types = m.fields.iter().map(|f| &f.ty);
    let clones = m.fields.iter().map(|f| {
        let (i, span) = (&f.ident, f.ty.span());
        quote_spanned! {span=> #i: ::core::clone::Clone::clone(&self.#i) }
    });
    let input_ident = format_ident!("{}Input", name);
    let name_str = name.to_string();
    let fields = m.fields.iter().map(|f| {
        let (a, v, i, t) = (&f.attrs, &f.vis, &f.ident, &f.ty);
        quote! { #(#a)* #v #i: #t }
    });
    let arg_names: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let arg_types: Vec<_> = m.args.iter().map(|a| &a.ty).collect();
    let (output, ok) = (&m.output, &m.ok);
    let forward_attrs = &m.forward_attrs;
    let input_doc = format!("The input of [`{name_str}`]: the parameters of its `forward`.");
    let modules: Vec<_> = m.fields.iter().filter(|f| !f.skip).collect();
    let visit = modules.iter().map(|f| {
        let (i, span) = (&f.ident, f.ty.span());
        let key = i.to_string();
        quote_spanned! {span=>
            ::dspy::__private::visit_field(&self.#i, path, #key, f);
        }
    });
    let visit_mut = modules.iter().map(|f| {
        let (i, span) = (&f.ident, f.ty.span());
        let key = i.to_string();
        quote_spanned! {span=>
            ::dspy::__private::field_mut::FieldMut(&mut self.#i).visit_mut(path, #key, f);
        }
    });
    let shape_names: Vec<String> = modules.iter().map(|f| f.ident.to_string()).collect();
    let shape_types: Vec<&syn::Type> = modules.iter().map(|f| &f.ty).collect();
    let await_span = output.span();
    let run = quote_spanned! {await_span=> self.call(#(#arg_names),*).await };
    quote! {
        #(#attrs)*
        #vis struct #name { #(#fields,)* }

        #[doc = #input_doc]
        #[derive(
            ::core::clone::Clone,
            ::core::fmt::Debug,
            ::dspy::__private::serde::Serialize,
            ::dspy::__private::serde::Deserialize,
        )]
        #[serde(crate = "::dspy::__private::serde")]
        #vis struct #input_ident { #(pub #arg_names: #arg_types,)* }

        impl #name {
            /// Runs the program: the body of its `forward`.
            #(#forward_attrs)*
            #vis async fn call(&self, #(#arg_names: #arg_types),*) -> #output {
                #body
            }
        }

        const _: () = {
            // Clone when every field is (a higher-ranked bound is not checked until used), so an
            // optimizer can copy the program; a field that is not Clone is named where one needs it.
            impl ::core::clone::Clone for #name
            where
                #(for<'__dspy> #clone_types: ::core::clone::Clone,)*
            {
                fn clone(&self) -> Self {
                    #name { #(#clones,)* }
                }
            }

            impl ::dspy::Module for #name {
                type Input = #input_ident;
                type Output = #ok;
                fn forward(
                    &self,
                    input: #input_ident,
                ) -> impl ::core::future::Future<Output = ::dspy::Result<#ok>> + ::core::marker::Send {
                    ::dspy::context::run_module(
                        #name_str,
                        input,
                        move |input: #input_ident| {
                            let #input_ident { #(#arg_names),* } = input;
                            async move { #run }
                        },
                        |output: &#ok| {
                            #[allow(unused_imports)]
                            use ::dspy::context::probe::{ViaNothing as _, ViaSerialize as _};
                            (&::dspy::context::probe::Probe(output)).fields()
                        },
                    )
                }
            }

            impl ::dspy::Params for #name {
                fn visit_params<'a>(
                    &'a self,
                    path: &str,
                    f: &mut dyn FnMut(::std::string::String, &'a dyn ::dspy::Predictor),
                ) {
                    let _ = (&path, &f);
                    #(#visit)*
                }
                fn visit_params_mut<'a>(
                    &'a mut self,
                    path: &str,
                    f: &mut dyn FnMut(::std::string::String, &'a mut dyn ::dspy::Predictor),
                ) {
                    #[allow(unused_imports)]
                    use ::dspy::__private::field_mut::{ViaNothing as _, ViaParams as _};
                    let _ = (&path, &f);
                    #(#visit_mut)*
                }
            }

            // Checked where it is needed (an artifact), so a field that is not a module is
            // reported once, by `Params`.
            impl ::dspy::program::StaticShape for #name
            where
                #(for<'__dspy> #shape_types: ::dspy::program::StaticShape,)*
            {
                const SHAPE: ::dspy::program::Shape = ::dspy::program::Shape::Program(&[
                    #((#shape_names, &<#shape_types as ::dspy::program::StaticShape>::SHAPE)),*
                ]);
            }

            impl ::dspy::Program for #name {
                const NAME: &'static str = #name_str;
                const CALLS: &'static [&'static str] = &[#(#calls),*];
            }
        };
    }
}
