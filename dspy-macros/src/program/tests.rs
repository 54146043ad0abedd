//! `program!`'s parsing, checking and call sugar, fed token streams.

use super::parse::{ProgramDecl, ProgramModel, check};
use super::sugar;
use crate::derive::Errors;
use quote::{ToTokens, quote};

fn read(tokens: proc_macro2::TokenStream) -> (ProgramModel, Vec<String>) {
    let decl: ProgramDecl = syn::parse2(tokens).expect("a program declaration");
    let (model, errors) = check(decl);
    (model, errors.messages())
}

fn show(t: &impl ToTokens) -> String {
    t.to_token_stream().to_string().replace(' ', "")
}

#[test]
fn reads_fields_and_forward() {
    let (m, errors) = read(quote! {
        /// Answers with one retrieval hop.
        #[artifact("compiled.json")]
        pub struct Rag {
            answer: ChainOfThought<Qa>,
            /// Passages.
            #[skip]
            passages: Vec<String>,
        }

        async fn forward(&self, question: String, k: usize) -> dspy::Result<String> {
            let pred = self.answer(context: self.passages.clone(), question).await?;
            Ok(pred.answer.clone())
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!m.placeholder);
    assert_eq!(m.artifact.as_ref().unwrap().value(), "compiled.json");
    let fields: Vec<(String, bool)> = m
        .fields
        .iter()
        .map(|f| (f.ident.to_string(), f.skip))
        .collect();
    assert_eq!(
        fields,
        [("answer".into(), false), ("passages".into(), true)]
    );
    let args: Vec<String> = m
        .args
        .iter()
        .map(|a| format!("{}:{}", a.ident, show(&a.ty)))
        .collect();
    assert_eq!(args, ["question:String", "k:usize"]);
    assert_eq!(show(&m.ok), "String");
    assert_eq!(sugar::call_order(&m.body, &m.fields), ["answer"]);
}

#[test]
fn every_mistake_in_the_declaration_is_one_error() {
    let (m, errors) = read(quote! {
        struct Bad<T> {
            a: Predict<Qa>,
            a: Predict<Qa>,
            #[module]
            b: Predict<Qa>,
            #[skip(yes)]
            c: u8,
        }

        fn forwrd(self, (x, y): (u8, u8), z: u8, z: u8) -> dspy::Result<()> {}
    });
    assert_eq!(
        errors,
        [
            "a program cannot be generic",
            "duplicate field `a`",
            "unknown attribute `#[module]` on a program field: expected `#[skip]` (a plain field, \
             not a module) or a doc comment",
            "`#[skip]` takes no arguments",
            "expected `forward`, found `forwrd`: a program's body is `async fn forward(&self, …)`",
            "`forward` must be async: `async fn forward(&self, …)`",
            "`forward` takes `&self`",
            "a parameter of `forward` must be a plain name (it becomes a field of the program's \
             input struct)",
            "duplicate parameter `z`",
        ]
    );
    // Each name once, so the generated structs add no errors of their own.
    assert_eq!(m.fields.len(), 3);
    assert_eq!(m.args.len(), 1);
}

#[test]
fn without_a_usable_forward_the_items_are_placeholders() {
    let (m, errors) = read(quote! { struct NoForward { a: Predict<Qa> } });
    assert_eq!(
        errors,
        ["program! needs `async fn forward(&self, …) -> dspy::Result<…> { … }` after the struct"]
    );
    assert!(m.placeholder);
    assert_eq!(show(&m.ok), "()");

    let (m, errors) = read(quote! {
        struct NotResult { a: Predict<Qa> }
        async fn forward(&self, q: String) -> String { q }
    });
    assert_eq!(
        errors,
        ["`forward` must return `dspy::Result<T>`, found `String`"]
    );
    assert!(m.placeholder);
    // Uses of the output see the type that was written.
    assert_eq!(show(&m.ok), "String");
    assert_eq!(show(&m.output), "::dspy::Result<String>");

    // A `forward` that is not Rust syntax: syn's error, once, and the struct still made.
    let (m, errors) = read(quote! {
        struct BadSyntax { a: Predict<Qa> }
        async fn forward(&self, q String) -> dspy::Result<String> { Ok(q) }
    });
    assert_eq!(errors, ["expected `:`"]);
    assert!(m.placeholder);
    assert_eq!(m.name, "BadSyntax");
    assert_eq!(m.fields.len(), 1);
}

#[test]
fn call_sugar_errors() {
    let (m, errors) = read(quote! {
        struct P { a: Predict<Qa>, #[skip] r: Retriever }
        async fn forward(&self, q: String) -> dspy::Result<String> {
            let x = self.r(q);
            let y = self.a(1 + 2);
            self.helper(q)
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let mut call_errors = Errors::default();
    let body = sugar::rewrite(m.body.clone(), &m.fields, &mut call_errors);
    let messages = call_errors.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("`r` is not a module (it is marked `#[skip]`)"));
    assert!(messages[1].starts_with("expected `input_name: value` or `input_name`"));
    // A method of the program is left alone.
    assert!(body.to_string().contains("self . helper (q)"));
}

#[test]
fn a_stage_call_builds_the_stage_input() {
    let (m, _) = read(quote! {
        struct P { a: Predict<Qa> }
        async fn forward(&self, q: String) -> dspy::Result<String> {
            self.a(question: &q, context).await
        }
    });
    let mut errors = Errors::default();
    let body = show(&sugar::rewrite(m.body.clone(), &m.fields, &mut errors));
    assert!(errors.is_empty());
    assert!(body.contains("::dspy::Module::forward(&self.a,{type__DspyStageInput=<Predict<Qa>as::dspy::Module>::Input;"), "{body}");
    assert!(
        body.contains("question:::dspy::__private::into_field(&q)"),
        "{body}"
    );
    assert!(
        body.contains("context:::dspy::__private::into_field(context)"),
        "{body}"
    );
}

#[test]
fn expansion_keeps_trait_impls_in_an_anonymous_const() {
    for (input, errors) in [
        (
            quote! {
                struct P { a: Predict<Qa> }
                async fn forward(&self, q: String) -> dspy::Result<String> { Ok(q) }
            },
            0,
        ),
        (quote! { struct P { a: Predict<Qa> } }, 1),
    ] {
        let code = super::expand(input, None).to_string();
        assert_eq!(code.matches("compile_error").count(), errors, "{code}");
        assert!(code.contains("struct P {"), "{code}");
        assert!(code.contains("struct PInput"), "{code}");
        let (outside, inside) = code
            .split_once("const _ : () = {")
            .expect("an anonymous const");
        assert!(outside.contains("impl P {"), "{code}");
        for imp in [
            "impl :: core :: clone :: Clone for P",
            "impl :: dspy :: Module for P",
            "impl :: dspy :: Params for P",
            "impl :: dspy :: program :: StaticShape for P",
            "impl :: dspy :: Program for P",
        ] {
            assert!(
                inside.contains(imp) && !outside.contains(imp),
                "{imp}: {code}"
            );
        }
    }
}
