//! The quickstart's task, shared by the examples that measure on it: BBC News headlines by
//! topic as typed examples, its signature and its metric.
#![allow(dead_code)]

use dspy::data::datasets::{Headline, Topic};
use dspy::prelude::*;

/// Classify the topic of a BBC News headline.
#[derive(Signature)]
pub struct Classify {
    #[input]
    pub headline: String,
    #[output]
    pub topic: Topic,
}

/// One labelled headline.
pub type Ex = ClassifyExample;

/// A headline as a typed example.
pub fn example(h: &Headline) -> Ex {
    Example::new(
        ClassifyInput {
            headline: h.headline.clone(),
        },
        ClassifyOutput { topic: h.topic },
    )
}

/// Right topic or not.
pub fn metric(ex: &Ex, pred: &Prediction<ClassifyOutput>) -> bool {
    pred.topic == ex.label.topic
}
