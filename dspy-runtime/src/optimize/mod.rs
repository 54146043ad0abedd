//! Optimizers: they fill a program's parameter slots (demos, instructions) from data, all
//! through one interface, [`Optimizer`].

/// The settings every search optimizer has, as builder methods (fields `prompt_model`,
/// `concurrency`, `seed`, `budget`, `progress`).
macro_rules! search_builders {
    () => {
        /// The LM that proposes instructions or rules (DSPy's `prompt_model`); the context's
        /// LM when unset.
        pub fn prompt_model(mut self, lm: impl Into<$crate::lm::Lm>) -> Self {
            self.prompt_model = Some(lm.into());
            self
        }

        /// LM calls in flight at once.
        pub fn concurrency(mut self, n: usize) -> Self {
            self.concurrency = n.max(1);
            self
        }

        /// The seed of every random choice (proposals' rollout ids included).
        pub fn seed(mut self, seed: u64) -> Self {
            self.seed = seed;
            self
        }

        /// A limit on LM calls or dollars; once spent the run stops with the best program so
        /// far.
        pub fn budget(mut self, budget: $crate::optimize::Budget) -> Self {
            self.budget = budget;
            self
        }

        /// A progress bar (a line per step when stderr is not a terminal).
        pub fn progress(mut self, on: bool) -> Self {
            self.progress = on;
            self
        }
    };
}
use search_builders;

mod bootstrap;
mod copro;
mod ensemble;
pub mod finetune;
pub mod gepa;
mod knn;
mod labeled;
mod mipro;
mod optimizer;
pub mod propose;
mod random_search;
mod report;
mod simba;
mod spend;
mod steps;
mod traced_run;

pub use crate::context::trace::{self, TraceEntry, trace, traced};
pub use bootstrap::{BootstrapFewShot, CompileReport};
pub use copro::Copro;
pub use ensemble::{Ensemble, Reduce, majority, majority_by};
pub use finetune::{BetterTogether, BootstrapFinetune, Finetuner};
pub use gepa::{Gepa, GepaReport};
pub use knn::{Knn, KnnFewShot};
pub use labeled::LabeledFewShot;
pub use mipro::{Auto, MiproV2};
pub use optimizer::Optimizer;
pub use random_search::{Candidate, RandomSearch, SearchReport};
pub use report::{Report, Split, Trial};
pub use simba::Simba;
pub use spend::{Budget, ModelUsage};
