//! `signature!`'s lowering of the string grammar, fed token streams.

use super::{SignatureDecl, lower, pascal};
use crate::model::{Role, SignatureModel};
use quote::{ToTokens, quote};

fn read(tokens: proc_macro2::TokenStream) -> (Option<SignatureModel>, Vec<String>) {
    let decl: SignatureDecl = syn::parse2(tokens).expect("a declaration");
    let (model, errors) = lower(&decl);
    (model, errors.messages())
}

fn types(m: &SignatureModel) -> Vec<(String, Role, String)> {
    m.fields
        .iter()
        .map(|f| {
            let ty = f.ty.to_token_stream().to_string().replace(' ', "");
            (f.ident.to_string(), f.role, ty)
        })
        .collect()
}

#[test]
fn lowers_fields_and_types() {
    let (model, errors) = read(quote! {
        /// Answer it.
        pub Qa = "question, context: list[str] -> answer: bool, n: Optional[int]"
    });
    assert!(errors.is_empty(), "{errors:?}");
    let m = model.unwrap();
    assert!(m.declare_struct && m.complete);
    assert_eq!(m.instructions.as_deref(), Some("Answer it."));
    assert_eq!(
        types(&m),
        [
            (
                "question".into(),
                Role::Input,
                "::std::string::String".into()
            ),
            (
                "context".into(),
                Role::Input,
                "::std::vec::Vec<::std::string::String>".into()
            ),
            ("answer".into(), Role::Output, "bool".into()),
            (
                "n".into(),
                Role::Output,
                "::std::option::Option<i64>".into()
            ),
        ]
    );
}

#[test]
fn a_literal_becomes_an_enum_named_for_the_signature_and_field() {
    let (model, errors) = read(quote! { Label = "text -> topic_name: list[Literal['a', 'b c']]" });
    assert!(errors.is_empty(), "{errors:?}");
    let m = model.unwrap();
    let (ident, values) = m.fields[1].literal.as_ref().unwrap();
    assert_eq!(ident.to_string(), "LabelTopicName");
    assert_eq!(values, &["a", "b c"]);
    assert_eq!(types(&m)[1].2, "::std::vec::Vec<LabelTopicName>");
}

#[test]
fn every_grammar_error_is_reported_with_a_placeholder() {
    let (model, errors) = read(quote! { Qa = "a: integer, b, b -> completed" });
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("in signature \"a: integer, b, b -> completed\": "))
    );
    assert!(errors[0].contains("unknown type `integer`"));
    assert!(errors[1].contains("duplicate field `b`"));
    assert!(errors[2].contains("reserved"));
    let m = model.expect("the struct is still declared");
    assert!(m.declare_struct && m.fields.is_empty() && !m.complete);
}

#[test]
fn only_doc_comments_before_the_name() {
    let (_, errors) = read(quote! { #[derive(Debug)] Qa = "q -> a" });
    assert_eq!(
        errors,
        ["only doc comments may precede a string signature's name"]
    );
    assert!(syn::parse2::<SignatureDecl>(quote! { Qa = "q -> a" extra }).is_err());
}

#[test]
fn pascal_case_names() {
    assert_eq!(pascal("topic_name"), "TopicName");
    assert_eq!(pascal("Very high"), "VeryHigh");
    assert_eq!(pascal("3d"), "V3d");
    assert_eq!(pascal(""), "V");
}
