//! Saved program files: parsing and validating a program JSON into programs' parameters. What
//! loads must save again and load back to the same state.
#![no_main]

use dspy::ParamsExt;
use dspy::prelude::*;
use dspy::state::{dump_state, load_str};
use dspy_fuzz::{Classifier, MultiHop};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut classifier = Classifier {
        classify: Predict::new(),
    };
    check(&mut classifier, text);
    let mut multihop = MultiHop {
        hops: vec![ChainOfThought::new(), ChainOfThought::new()],
        answer: ChainOfThought::new(),
    };
    check(&mut multihop, text);
});

fn check<P: Params>(program: &mut P, text: &str) {
    if load_str(program, text).is_err() {
        return;
    }
    let saved = dump_state(program);
    let again = serde_json::to_string(&saved).expect("a state serializes");
    if let Err(e) = load_str(program, &again) {
        panic!("a loaded program's own state does not load: {e}\n{again}");
    }
    assert_eq!(dump_state(program), saved, "state changed on a round trip");
    let _ = program.named_predictors();
}
