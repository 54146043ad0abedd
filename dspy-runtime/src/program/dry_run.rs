//! Dry runs: a program's `forward` in a context where every predictor records the prompt it
//! would send (an adapter-format callback) and answers with placeholder outputs built from its
//! signature, so every stage's prompt can be rendered without an LM (for snapshots and review).

use super::{Params, ParamsExt};
use crate::context::{self, Call, Callback, FormatEnd};
use crate::error::Result;
use crate::lm::Message;
use crate::module::{Module, render_messages};
use std::sync::{Arc, Mutex};

/// Records each prompt of a dry run: the predictor's id and the messages it would send.
#[derive(Default)]
struct Recorder(Mutex<Vec<(usize, Vec<Message>)>>);

impl Callback for Recorder {
    fn on_adapter_format_end(&self, call: &Call<'_>, end: &FormatEnd<'_>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((call.predictor.unwrap_or(0), end.messages.to_vec()));
    }
}

/// Runs `program` on `input` without an LM: every predictor records the prompt it would send
/// and answers with placeholders (`"<answer>"`, 0, the first label, …) that later stages see as
/// their inputs. Returns every prompt in call order under a `##### <path> #####` header, as
/// one stable text for snapshots.
pub async fn render_prompts<P>(program: &P, input: P::Input) -> Result<String>
where
    P: Module + Params,
{
    let recorder = Arc::new(Recorder::default());
    context::scope()
        .dry_run()
        .callback_arc(recorder.clone())
        .run(program.forward(input))
        .await?;
    let paths: Vec<(usize, String)> = program
        .named_predictors()
        .into_iter()
        .map(|(path, p)| (p.core_id(), path))
        .collect();
    let records = std::mem::take(&mut *recorder.0.lock().unwrap_or_else(|p| p.into_inner()));
    let mut out = String::new();
    for (i, (core, messages)) in records.iter().enumerate() {
        let path = paths
            .iter()
            .find_map(|(c, p)| (c == core).then_some(p.as_str()))
            .unwrap_or("(unnamed)");
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("##### {path} #####\n"));
        out.push_str(&render_messages(messages));
    }
    Ok(out)
}
