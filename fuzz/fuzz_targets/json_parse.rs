//! JSONAdapter reply parsing (a JSON object, leniently read) for typed and string signatures.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static ADAPTER: std::sync::OnceLock<dspy::JsonAdapter> = std::sync::OnceLock::new();
    dspy_fuzz::parse_reply(ADAPTER.get_or_init(dspy::JsonAdapter::new), data);
});
