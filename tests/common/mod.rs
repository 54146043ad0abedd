//! Fixtures shared by the integration tests.
#![allow(dead_code)]

use dspy::Signature;

/// Answer the question in one short sentence.
#[derive(Signature)]
pub struct Qa {
    #[input]
    pub question: String,
    #[output]
    pub answer: String,
}

/// The reference cases' input.
pub fn sky() -> QaInput {
    QaInput {
        question: "Why is the sky blue?".into(),
    }
}

/// A ChatAdapter reply for `Qa`.
pub fn reply(answer: &str) -> String {
    format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]")
}
pub mod dspy_py;
pub mod gepa_task;
pub mod logs;
pub mod server;

/// An LM response of `text` with fixed token counts (10 prompt, 3 completion): what the scripted LMs of
/// the optimizer tests answer.
pub fn lm_reply(
    text: String,
) -> dspy::lm::BoxFuture<'static, Result<dspy::lm::LmResponse, dspy::lm::LmError>> {
    Box::pin(async move {
        Ok(dspy::lm::LmResponse {
            outputs: vec![text],
            usage: dspy::lm::Usage {
                prompt_tokens: 10,
                completion_tokens: 3,
            },
            cache_hit: false,
            ..Default::default()
        })
    })
}
