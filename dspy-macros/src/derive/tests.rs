//! `#[derive(Signature)]`'s reading and checking, fed token streams.

use super::parse;
use crate::model::{Role, SignatureModel};
use quote::quote;
use syn::DeriveInput;

fn read(tokens: proc_macro2::TokenStream) -> (Option<SignatureModel>, Vec<String>) {
    let input: DeriveInput = syn::parse2(tokens).expect("a Rust item");
    let (model, errors) = parse(&input);
    (model, errors.messages())
}

fn names(m: &SignatureModel, role: Role) -> Vec<String> {
    m.fields
        .iter()
        .filter(|f| f.role == role)
        .map(|f| f.ident.to_string())
        .collect()
}

#[test]
fn reads_roles_descriptions_and_instructions() {
    let (model, errors) = read(quote! {
        /// Answer the question.
        ///
        ///   Briefly:
        ///     - one line
        struct Qa {
            /// Some context.
            #[input]
            context: Vec<String>,
            #[input(desc = "the question")]
            question: String,
            #[output]
            #[serde(rename = "a")]
            answer: String,
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let m = model.unwrap();
    assert_eq!(
        m.instructions.as_deref(),
        Some("Answer the question.\n\nBriefly:\n  - one line")
    );
    assert_eq!(names(&m, Role::Input), ["context", "question"]);
    assert_eq!(names(&m, Role::Output), ["answer"]);
    assert_eq!(m.fields[0].desc.as_deref(), Some("Some context."));
    assert_eq!(m.fields[1].desc.as_deref(), Some("the question"));
    // serde and doc attributes carry over to the generated structs.
    assert_eq!(m.fields[2].attrs.len(), 1);
    assert!(m.complete);
}

#[test]
fn every_mistake_is_one_error() {
    let (model, errors) = read(quote! {
        struct Qa {
            #[input(desc = "the question", weight = 2)]
            question: &'static str,
            #[output]
            completed: bool,
            untagged: String,
        }
    });
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors[0].starts_with("unsupported field type: a reference"));
    assert!(errors[1].starts_with("unknown key `weight` in #[input(...)]"));
    assert!(errors[2].starts_with("`completed` is a reserved field name"));
    assert_eq!(errors[3], "field `untagged` needs #[input] or #[output]");
    // The reserved field stays, so the generated structs match the struct.
    let m = model.unwrap();
    assert_eq!(names(&m, Role::Output), ["completed"]);
    assert!(!m.complete);
}

#[test]
fn roles_given_twice() {
    let (_, errors) = read(quote! {
        struct Qa {
            #[input]
            #[input]
            a: String,
            #[input]
            #[output]
            b: String,
        }
    });
    assert_eq!(
        errors,
        [
            "`a` is marked #[input] twice",
            "`b` is marked both #[input] and #[output]; a field is one or the other",
        ]
    );
}

#[test]
fn not_a_struct_still_gives_a_placeholder() {
    for item in [
        quote! { enum Qa { A(String) } },
        quote! { struct Qa(String); },
    ] {
        let (model, errors) = read(item);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let m = model.expect("a placeholder model");
        assert!(m.fields.is_empty() && !m.complete);
    }
    let (model, errors) = read(quote! { struct Qa<T> { #[output] a: T } });
    assert!(model.is_none());
    assert_eq!(errors, ["a signature cannot be generic"]);
}

#[test]
fn labels_name_the_enum_to_generate() {
    let (model, errors) = read(quote! {
        struct Classify {
            #[input]
            text: String,
            #[output(labels = ["business", "sport"], desc = "the section")]
            topic: Topic,
            #[output(labels = ["low", "high"])]
            urgency: Option<Urgency>,
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let m = model.unwrap();
    let literal = |i: usize| {
        let (ident, values) = m.fields[i].literal.as_ref().unwrap();
        (ident.to_string(), values.clone())
    };
    assert_eq!(
        literal(1),
        ("Topic".into(), vec!["business".into(), "sport".into()])
    );
    assert_eq!(
        literal(2),
        ("Urgency".into(), vec!["low".into(), "high".into()])
    );
    assert_eq!(m.fields[1].desc.as_deref(), Some("the section"));
}

#[test]
fn label_mistakes() {
    let (_, errors) = read(quote! {
        struct Classify {
            #[output(labels = ["a", "b"])]
            topic: String,
            #[output(labels = ["low", "low", 3, "Very high", "very_high"], labels = ["x"])]
            urgency: Urgency,
        }
    });
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[0].contains("write the field's type as the enum's name, e.g. `topic: Topic`"));
    assert_eq!(errors[1], "the label \"low\" is given twice");
    assert!(errors[2].starts_with("labels are string literals"));
    assert!(errors[3].contains("would both be the variant `VeryHigh`"));
    assert_eq!(errors[4], "`labels` is given twice");
}

#[test]
fn expansion_keeps_impls_in_an_anonymous_const() {
    let input: DeriveInput = syn::parse2(quote! {
        struct Qa { #[input] q: String, #[output] completed: bool }
    })
    .unwrap();
    let (model, errors) = parse(&input);
    let code = crate::expand::expand(model.as_ref(), errors).to_string();
    assert!(code.contains("struct QaInput"), "{code}");
    assert!(code.contains("struct QaOutput"), "{code}");
    assert!(
        code.contains("const _ : () = { impl :: dspy :: Signature for Qa"),
        "{code}"
    );
    assert_eq!(code.matches("compile_error").count(), 1, "{code}");
}
