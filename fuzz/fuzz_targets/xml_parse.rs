//! XMLAdapter reply parsing (elements, nested lists and dicts, entities) for typed and string
//! signatures.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static ADAPTER: std::sync::OnceLock<dspy::XmlAdapter> = std::sync::OnceLock::new();
    dspy_fuzz::parse_reply(ADAPTER.get_or_init(dspy::XmlAdapter::new), data);
});
