//! Optimizers: they fill a program's parameter slots (demos, instructions) from data.

mod bootstrap;
mod ensemble;
mod knn;
mod labeled;
mod random_search;

pub use crate::context::trace::{self, TraceEntry, trace, traced};
pub use bootstrap::{BootstrapFewShot, CompileReport};
pub use ensemble::{Ensemble, Reduce, majority, majority_by};
pub use knn::{Knn, KnnFewShot};
pub use labeled::LabeledFewShot;
pub use random_search::{Candidate, RandomSearch, SearchReport};
