//! The scripted task both GEPA test files use: question `k` belongs to category `k % m`, and
//! the task LM answers it right only when its instruction holds that category's rule
//! (`rule cN.`); reflection LMs read the rules the feedback names.

use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse};
use dspy::prelude::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Answer the question.
#[derive(Signature)]
pub struct Qa {
    #[input]
    pub question: String,
    #[output]
    pub answer: String,
}

/// A question with its answer.
pub type Labelled = QaExample;

/// The category `N` of a question `… (cN) …`.
pub fn category(text: &str) -> Option<usize> {
    text.split("(c")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|n| n.parse().ok())
}

/// `n` questions from `from`, of categories `k % categories`, all answered `yes`.
pub fn questions(from: usize, n: usize, categories: usize) -> Vec<Labelled> {
    (from..from + n)
        .map(|k| {
            Example::new(
                QaInput {
                    question: format!("Question {k} (c{}): is it so?", k % categories),
                },
                QaOutput {
                    answer: "yes".into(),
                },
            )
        })
        .collect()
}

/// An LM reply of `text`.
pub use super::lm_reply as reply;

/// Answers `yes` when the system prompt holds the question's rule, else `no`; each call
/// takes `delay` when one is set.
#[derive(Default)]
pub struct Task {
    pub calls: AtomicUsize,
    pub delay: Option<Duration>,
}

impl LanguageModel for Task {
    fn model(&self) -> &str {
        "test/task"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let system = request.messages[0].content.to_string();
        let user = last_message(&request);
        let right = category(&user).is_some_and(|c| system.contains(&format!("rule c{c}.")));
        let answer = if right { "yes" } else { "no" };
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        match self.delay {
            Some(d) => Box::pin(async move {
                tokio::time::sleep(d).await;
                reply(text).await
            }),
            None => reply(text),
        }
    }
}

/// The text of a request's last message.
pub fn last_message(request: &LmRequest) -> String {
    request
        .messages
        .last()
        .map(|m| m.content.to_string())
        .unwrap_or_default()
}

/// The `current_instruction` field of a reflection prompt (DSPy's ProposeInstruction).
pub fn current_instruction(user: &str) -> String {
    user.split("[[ ## current_instruction ## ]]\n")
        .nth(1)
        .and_then(|s| s.split("\n\n[[ ## examples_with_feedback ## ]]").next())
        .unwrap_or("")
        .to_string()
}

/// The rules (`rule cN`) a reflection prompt names that `current` lacks, in order.
pub fn missing_rules(user: &str, current: &str) -> BTreeSet<String> {
    user.match_indices("rule c")
        .filter_map(|(i, _)| user[i..].split('.').next().map(str::to_string))
        .filter(|r| !current.contains(&format!("{r}.")))
        .collect()
}
