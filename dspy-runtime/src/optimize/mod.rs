//! Optimizers: they fill a program's parameter slots (demos, instructions) from data, all
//! through one interface, [`Optimizer`].

mod bootstrap;
mod copro;
mod ensemble;
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

pub use crate::context::trace::{self, TraceEntry, trace, traced};
pub use bootstrap::{BootstrapFewShot, CompileReport};
pub use copro::Copro;
pub use ensemble::{Ensemble, Reduce, majority, majority_by};
pub use knn::{Knn, KnnFewShot};
pub use labeled::LabeledFewShot;
pub use mipro::{Auto, MiproV2};
pub use optimizer::Optimizer;
pub use random_search::{Candidate, RandomSearch, SearchReport};
pub use report::{Report, Split, Trial};
pub use simba::Simba;
pub use spend::{Budget, ModelUsage};
