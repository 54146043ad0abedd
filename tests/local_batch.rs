//! Batched decoding on the embedded model (SmolLM2-135M): concurrent calls decoded together give
//! what one-at-a-time decoding gives, share a common prompt prefix instead of prefilling it per
//! call, each have the whole context, and a caller that goes away frees its sequence.
#![cfg(feature = "local")]

use crate::common;

use common::greedy_chat as ask;
use dspy::lm::local::{SMOLLM2_FILE, locate_in, model_dir};
use dspy::lm::{LocalConfig, LocalLm};
use dspy::prelude::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A copy of the model of its own, so that other tests' calls do not come between ours.
fn separate(sequences: usize, n_ctx: u32) -> LocalLm {
    let path = locate_in(&model_dir(), SMOLLM2_FILE).unwrap_or_else(|e| panic!("{e}"));
    let config = LocalConfig {
        sequences,
        n_ctx,
        ..Default::default()
    };
    LocalLm::load_separate(path, config).unwrap_or_else(|e| panic!("{e}"))
}

const QUESTIONS: &[&str] = &[
    "What is the capital of France?",
    "Name a colour of the rainbow.",
    "What do bees make?",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
    "Which planet is called the red planet?",
];

async fn all_at_once(lm: &LocalLm, system: &str, max_tokens: u32) -> Vec<String> {
    let calls = QUESTIONS.iter().map(|q| {
        let lm = lm.clone();
        let request = ask(system, q, max_tokens);
        async move { lm.complete(request).await }
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")).outputs.remove(0))
        .collect()
}

/// SmolLM2's Q4_1 weights are multiplied by one kernel whatever the batch's size, so with a KV
/// stream per sequence a call's tokens cannot depend on its neighbours (on models with tinyBLAS
/// or repacked weights they can: see `local_engine`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_decoded_together_answer_as_calls_decoded_alone() {
    let system = "You are a helpful assistant. Answer in one short sentence.";
    let alone = separate(1, 4096);
    let mut expected = Vec::new();
    for q in QUESTIONS {
        let r = alone.complete(ask(system, q, 24)).await.unwrap();
        expected.push(r.outputs[0].clone());
    }
    let together = separate(4, 4096);
    let first = all_at_once(&together, system, 24).await;
    assert_eq!(first, expected, "4 sequences at once vs one at a time");
    // Again, with the prompts now cached in other sequences than before.
    let second = all_at_once(&together, system, 24).await;
    assert_eq!(second, expected, "a second round, prefixes reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_prefix_is_prefilled_once() {
    let system =
        "You are a careful assistant. Think, then answer in one short sentence. ".repeat(12);
    let lm = separate(4, 8192);
    lm.ready().await.unwrap();
    let answers = all_at_once(&lm, &system, 8).await;
    assert_eq!(answers.len(), QUESTIONS.len());
    let prompt = lm.stats().prompt_tokens.load(Ordering::Relaxed) / QUESTIONS.len() as u64;
    let prefilled = lm.stats().prefilled_tokens.load(Ordering::Relaxed);
    // One prompt in full, then each other call's own question (a few dozen tokens each).
    assert!(
        prefilled < prompt + 40 * QUESTIONS.len() as u64,
        "{prefilled} tokens prefilled for {} calls of {prompt} prompt tokens",
        QUESTIONS.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_has_the_whole_context() {
    // Each call needs ~40 prompt cells + 180 completion cells of a 256-token context; four
    // run at once (880 cells in all), each in a cache stream of its own.
    let lm = separate(4, 256);
    let system = "Follow the instruction exactly.";
    let calls = (0..4).map(|i| {
        let lm = lm.clone();
        let request = ask(
            system,
            &format!("Count from {i} to 10000, separated by commas."),
            180,
        );
        async move { lm.complete(request).await }
    });
    for r in futures_util::future::join_all(calls).await {
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert!(r.usage.completion_tokens > 100, "{:?}", r.usage);
    }
    // One call too long for the context is refused at once.
    let e = lm
        .complete(ask(system, &"word ".repeat(700), 16))
        .await
        .unwrap_err();
    assert!(
        matches!(e, dspy::LmError::ContextWindowExceeded { .. }),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_call_frees_its_sequence() {
    let lm = separate(1, 4096);
    let system = "Follow the instruction exactly.";
    let count = "Count from 1 to 10000, separated by commas.";
    // Run to its end, the long call writes all its 600 tokens (else this test shows nothing).
    let full = lm.complete(ask(system, count, 600)).await.unwrap();
    assert_eq!(full.usage.completion_tokens, 600, "{:?}", full.outputs);
    let before = lm.stats().generated_tokens.load(Ordering::Relaxed);
    // The same call given up on after a moment...
    let long = lm.complete(ask(system, count, 600));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), long)
            .await
            .is_err()
    );
    // ...does not hold the only sequence for its 600 tokens.
    let short = lm.complete(ask(system, "Say hi.", 4)).await.unwrap();
    assert!(!short.outputs[0].is_empty());
    let abandoned = lm.stats().generated_tokens.load(Ordering::Relaxed)
        - before
        - short.usage.completion_tokens;
    assert!(
        abandoned < 600,
        "the abandoned call went on decoding: {abandoned} tokens"
    );
}
