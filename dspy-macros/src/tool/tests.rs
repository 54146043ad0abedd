//! `#[tool]`'s checks and expansion, fed token streams.

use super::{check, expand};
use quote::quote;

fn errors(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
    check(attr, item).1.messages()
}

#[test]
fn reads_the_description_the_arguments_and_the_return() {
    let (m, errs) = check(
        quote! {},
        quote! {
            /// Looks up the weather.
            ///
            /// In one city.
            pub async fn weather(
                /// The city.
                #[schemars(length(min = 1))]
                city: String,
                days: Option<u32>,
            ) -> Result<String, std::io::Error> { todo!() }
        },
    );
    assert!(errs.is_empty(), "{:?}", errs.messages());
    let m = m.unwrap();
    assert_eq!(m.name, "weather");
    assert_eq!(m.desc, "Looks up the weather.\n\nIn one city.");
    assert!(m.returns_result);
    let names: Vec<String> = m.args.iter().map(|(i, _, _)| i.to_string()).collect();
    assert_eq!(names, ["city", "days"]);
    assert_eq!(
        m.args[0].2.len(),
        2,
        "the doc and schemars attributes move to the struct"
    );
    // … and leave the function, where rustc rejects them.
    let item = quote::ToTokens::to_token_stream(&m.item).to_string();
    assert!(
        !item.contains("schemars") && !item.contains("The city"),
        "{item}"
    );
}

#[test]
fn options_rename_and_describe() {
    let (m, errs) = check(
        quote! { name = "lookup", desc = "Finds things." },
        quote! { fn find(q: String) -> Vec<String> { vec![] } },
    );
    assert!(errs.is_empty());
    let m = m.unwrap();
    assert_eq!(
        (m.name.as_str(), m.desc.as_str()),
        ("lookup", "Finds things.")
    );
    assert!(!m.returns_result);
}

#[test]
fn every_mistake_is_reported_at_once() {
    let errs = errors(
        quote! { label = "x" },
        quote! {
            fn bad<T>(&self, (a, b): (u8, u8), s: &str, t: impl Clone) -> T { todo!() }
        },
    );
    assert_eq!(errs.len(), 6, "{errs:?}");
    assert!(errs[0].contains("unknown #[tool] option"), "{errs:?}");
    assert!(errs[1].contains("cannot be generic"), "{errs:?}");
    assert!(errs[2].contains("not a method"), "{errs:?}");
    assert!(errs[3].contains("plain name"), "{errs:?}");
    assert!(errs[4].contains("owned type"), "{errs:?}");
    assert!(errs[5].contains("concrete type"), "{errs:?}");
}

#[test]
fn a_bad_name_and_a_non_function_are_errors() {
    assert!(errors(quote! { name = "two words" }, quote! { fn f() {} })[0].contains("tool name"));
    assert!(errors(quote! {}, quote! { struct S; })[0].contains("goes on a function"));
}

#[test]
fn the_maker_wraps_a_plain_return_and_awaits_an_async_one() {
    let sync = expand(
        quote! {},
        quote! { fn add(a: i64, b: i64) -> i64 { a + b } },
    )
    .to_string();
    assert!(sync.contains("fn add_tool"), "{sync}");
    assert!(sync.contains("typed_blocking"), "{sync}");
    assert!(sync.contains("Infallible"), "{sync}");
    let asynchronous = expand(
        quote! {},
        quote! { async fn get(url: String) -> Result<String, String> { Ok(url) } },
    )
    .to_string();
    assert!(
        asynchronous.contains(":: dspy :: Tool :: typed ("),
        "{asynchronous}"
    );
    assert!(asynchronous.contains(". await"), "{asynchronous}");
    assert!(!asynchronous.contains("Infallible"), "{asynchronous}");
}

#[test]
fn on_an_error_the_maker_is_still_declared() {
    let out = expand(quote! {}, quote! { fn f(s: &str) {} }).to_string();
    assert!(out.contains("fn f_tool"), "{out}");
    assert!(out.contains("compile_error"), "{out}");
}
