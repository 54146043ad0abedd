//! LM response bodies: OpenAI chat completions and Anthropic messages, their error bodies and
//! their stream chunks' data.
#![no_main]

use dspy::__fuzz::{
    anthropic_response, anthropic_stream_delta, openai_error_message, openai_response,
    openai_stream_delta,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = openai_response(data);
    let _ = anthropic_response(data);
    let _ = openai_error_message(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = openai_stream_delta(text);
        let _ = anthropic_stream_delta(text);
    }
});
