//! Optimizers: they fill a program's parameter slots (demos, instructions) from data.

mod bootstrap;
mod labeled;
pub mod trace;

pub use bootstrap::{BootstrapFewShot, CompileReport};
pub use labeled::LabeledFewShot;
pub use trace::{TraceEntry, trace, traced};
