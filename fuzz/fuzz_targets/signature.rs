//! String signatures: the grammar, then everything a parsed signature is used for (schemas,
//! prompts, the structured-output format, parsing a reply against it).
#![no_main]

use dspy::{Adapter, ChatAdapter, DynSignature, JsonAdapter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The reply to parse against it follows a `\0`.
    let (src, reply) = text.split_once('\0').unwrap_or((text, ""));
    let grammar = dspy_grammar::parse(src);
    let Ok(sig) = DynSignature::parse(src) else {
        return;
    };
    assert!(
        grammar.is_ok(),
        "DynSignature accepted what the grammar refused"
    );
    let meta = sig.meta();
    let _ = meta.structured_output_format();
    let chat = ChatAdapter::without_fallback();
    let json = JsonAdapter::new();
    let _ = chat.prepare(meta, "Do it.", &[]);
    let _ = json.prepare(meta, "", &[]);
    let _ = chat.parse(meta, reply);
    let _ = json.parse(meta, reply);
});
