//! Optimizers: they fill a program's parameter slots (demos, instructions) from data.

mod labeled;

pub use labeled::LabeledFewShot;
