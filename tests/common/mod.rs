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
pub mod arith;
pub mod dspy_py;
pub mod finetune_server;
pub mod gepa_task;
pub mod logs;
pub mod server;
pub mod two_step;

/// The first output field a prompt's system message lists (`Your output fields are: 1. …`):
/// what an in-process proposer LM answers.
pub fn first_output_field(system: &str) -> String {
    system
        .split("Your output fields are:\n1. `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .unwrap_or("")
        .to_string()
}

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

/// Streams `p` on "What is the capital of France?": the joined `answer` chunks, their number,
/// and the prediction. Every chunk must be the `self` predictor's `answer`.
pub async fn stream_capital(p: &dspy::Predict<Qa>) -> (String, usize, dspy::Prediction<QaOutput>) {
    let mut events = dspy::stream(
        p,
        QaInput {
            question: "What is the capital of France?".into(),
        },
    );
    let (mut answer, mut chunks) = (String::new(), 0);
    loop {
        match events.next().await.expect("a stream ends with Done") {
            dspy::StreamEvent::Chunk(c) => {
                assert_eq!((c.predictor.as_str(), c.field.as_str()), ("self", "answer"));
                answer.push_str(&c.text);
                chunks += 1;
            }
            dspy::StreamEvent::Done(result) => return (answer, chunks, result.unwrap()),
            _ => {}
        }
    }
}

/// A greedy (temperature 0) chat request: a system and a user message, `max_tokens` out.
pub fn greedy_chat(system: &str, user: &str, max_tokens: u32) -> dspy::lm::LmRequest {
    use dspy::lm::{LmConfig, LmRequest, Message};
    LmRequest {
        messages: vec![
            Message::system(system.to_string()),
            Message::user(user.to_string()),
        ],
        config: std::sync::Arc::new(LmConfig {
            max_tokens: Some(max_tokens),
            temperature: Some(0.0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The libtest name of test `name` in the module `module_path!()` names, for re-running one test
/// of this binary in a child process: `integration::cache_crash` → `cache_crash::name`.
pub fn test_name(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

/// A command that runs test `name` of the module `module_path!()` names, alone, in a child
/// process of this test binary (its output not captured); the caller adds the environment
/// that makes it the child.
pub fn rerun(module_path: &str, name: &str) -> std::process::Command {
    let mut command = std::process::Command::new(
        std::env::current_exe().unwrap_or_else(|e| panic!("this test binary's path: {e}")),
    );
    command.args([
        "--exact",
        test_name(module_path, name).as_str(),
        "--nocapture",
    ]);
    command
}
