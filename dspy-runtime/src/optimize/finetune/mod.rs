//! Weight optimization (DSPy's `bootstrap_finetune.py`, `bettertogether.py`):
//! [`BootstrapFinetune`] distils a program into an LM's weights, [`BetterTogether`] chains
//! prompt and weight optimizers. A [`Finetuner`] does the training: `LocalFinetune` on the
//! embedded model in-process (feature `local`), [`OpenAiFinetune`] through an
//! OpenAI-compatible fine-tuning API.

mod better_together;
mod bootstrap;
mod data;
#[cfg(feature = "local")]
mod local;
mod openai;

pub use better_together::{
    BetterTogether, BetterTogetherReport, DynMetric, Step, StepFuture, StepReport,
};
pub use bootstrap::{BootstrapFinetune, FinetuneReport, JobReport};
pub use data::{Conversation, to_jsonl};
#[cfg(feature = "local")]
pub use local::LocalFinetune;
pub use openai::OpenAiFinetune;

use crate::error::Result;
use crate::lm::{BoxFuture, Lm};

/// One fine-tuning job: the conversations of the predictors that will share the result.
#[derive(Clone, Debug)]
pub struct FinetuneJob<'a> {
    /// A name for the job, from the predictors' paths (`multitask` when all share it).
    pub name: &'a str,
    /// The training conversations, each ending with the assistant's message to learn.
    pub train: &'a [Conversation],
    /// The optimizer's seed.
    pub seed: u64,
    /// The LM the job's predictors call now, if they have their own: a finetuner that made it
    /// (an earlier `w` step of [`BetterTogether`]) trains on from it, as DSPy fine-tunes
    /// `pred.lm`, rather than from its base model.
    pub lm: Option<&'a Lm>,
}

/// What a finished job gives: the LM to put in the trained predictors' place.
#[derive(Clone)]
pub struct Finetuned {
    /// The fine-tuned model, ready to call.
    pub lm: Lm,
    /// Where it is: a GGUF path or a hosted model's name.
    pub model: String,
    /// What the training did, one line per item (losses, tokens, time, the job's id).
    pub details: Vec<String>,
}

impl std::fmt::Debug for Finetuned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finetuned")
            .field("model", &self.model)
            .field("details", &self.details)
            .finish_non_exhaustive()
    }
}

/// Trains a model on conversations: the embedded model (`LocalFinetune`, feature `local`), a
/// hosted API ([`OpenAiFinetune`]), or your own.
pub trait Finetuner: Send + Sync {
    /// A short name for reports (`local`, `openai`).
    fn name(&self) -> &str;

    /// Runs one job to the end; the error says why it failed (a failed hosted job, a training
    /// error), and nothing of the program is changed then.
    fn finetune<'a>(&'a self, job: FinetuneJob<'a>) -> BoxFuture<'a, Result<Finetuned>>;

    /// Whether several jobs of one compilation may run at once (a hosted API: yes; training
    /// on this machine's cores: no, the default).
    fn concurrent_jobs(&self) -> bool {
        false
    }
}
