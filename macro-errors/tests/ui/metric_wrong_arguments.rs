//! A metric with the wrong argument types, given to Evaluate and to an optimizer.
use dspy::optimize::BootstrapFewShot;
use dspy::prelude::*;

/// Classify the text.
#[derive(Signature)]
struct Classify {
    #[input]
    text: String,
    #[output]
    topic: String,
}

fn wrong(ex: &Example<ClassifyInput, ClassifyOutput>, pred: &ClassifyOutput) -> bool {
    ex.label.topic == pred.topic
}

async fn run(p: Predict<Classify>, dev: Vec<Example<ClassifyInput, ClassifyOutput>>) {
    // The common case: the argument types are inferred.
    let _ = Evaluate::new(&dev)
        .run(&p, |ex, pred| ex.label.topic == pred.topic)
        .await;
    // The prediction is a `Prediction<ClassifyOutput>`, not a `ClassifyOutput`.
    let _ = Evaluate::new(&dev).run(&p, wrong).await;
    let _ = BootstrapFewShot::new()
        .compile(&p, &dev, |_ex: &ClassifyInput, _pred: &String| true)
        .await;
    // Not a `bool` or a number.
    let _ = Evaluate::new(&dev)
        .run(&p, |ex, pred| Some(ex.label.topic == pred.topic))
        .await;
    // Not a function at all.
    let _ = Evaluate::new(&dev).run(&p, "exact_match").await;
}

fn main() {
    let _ = run;
}
