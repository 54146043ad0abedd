//! Every macro error, as the user sees it (trybuild; `.stderr` files beside the cases).

#[test]
fn macro_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
