//! The embedded sentence-embedding model (all-MiniLM-L6-v2, `scripts/fetch-models minilm`)
//! against vectors computed from the model's Hugging Face files with numpy
//! (`tests/oracle/minilm_reference.py`), and an embedding index over it.
#![cfg(feature = "local")]

use dspy::lm::{Embedder, LocalEmbedConfig, LocalEmbedder};
use dspy::retrieve::{EmbeddingIndex, HnswParams};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    text: String,
    embedding: Vec<f32>,
}

fn references() -> Vec<Reference> {
    include_str!("fixtures/minilm_reference.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn embedder() -> LocalEmbedder {
    LocalEmbedder::minilm().unwrap_or_else(|e| panic!("{e}"))
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

#[tokio::test]
async fn vectors_match_the_reference_model_in_a_batch_and_alone() {
    let refs = references();
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    let e = embedder();
    assert_eq!(e.ready().await.unwrap(), 384);
    let together = e.embed(&texts).await.unwrap();
    assert_eq!(together.len(), refs.len());
    for (r, v) in refs.iter().zip(&together) {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{}: norm {norm}", r.text);
        let c = cos(v, &r.embedding);
        assert!(c > 0.9999, "{}: cosine {c} with the reference", r.text);
    }
    // Texts packed into one batch do not see each other.
    for (t, v) in texts.iter().zip(&together) {
        let alone = e.embed(std::slice::from_ref(t)).await.unwrap();
        let c = cos(&alone[0], v);
        assert!(c > 0.99999, "{t}: cosine {c} between alone and batched");
    }
    // A paraphrase is closer than an unrelated sentence.
    assert!(cos(&together[0], &together[1]) > cos(&together[0], &together[2]) + 0.3);
}

#[tokio::test]
async fn long_and_empty_texts_are_embedded() {
    let e = embedder();
    let long = "The committee met again to discuss the budget. ".repeat(200);
    let out = e.embed(&[long, String::new()]).await.unwrap();
    assert_eq!(out.len(), 2);
    assert!(
        out.iter()
            .all(|v| v.len() == 384 && v.iter().all(|x| x.is_finite()))
    );
}

#[tokio::test]
async fn a_nul_in_a_text_is_dropped_not_an_error() {
    let e = embedder();
    let out = e
        .embed(&[
            "the cat sat\0 on the mat".into(),
            "the cat sat on the mat".into(),
        ])
        .await
        .unwrap();
    assert!(cos(&out[0], &out[1]) > 0.9999, "{}", cos(&out[0], &out[1]));
}

#[tokio::test]
async fn an_index_finds_the_paraphrase_exactly_and_approximately_and_survives_a_reload() {
    let passages: Vec<String> = [
        "Chelsea beat Arsenal in the cup final at Wembley.",
        "The central bank raised interest rates again this quarter.",
        "A new smartphone with a folding screen goes on sale.",
        "The film won best picture at the Oscars.",
    ]
    .map(String::from)
    .to_vec();
    let index = EmbeddingIndex::build(embedder(), passages).await.unwrap();
    let hits = index
        .search("borrowing costs go up as policymakers tighten", 2)
        .await
        .unwrap();
    assert_eq!(hits[0].id, 1, "{hits:?}");
    assert!(hits[0].score > hits[1].score);

    let approx = index.approximate(HnswParams::default());
    assert_eq!(
        approx.search("football match result", 1).await.unwrap()[0].id,
        0
    );
    let path = std::env::temp_dir().join(format!("dspy-minilm-{}.idx", std::process::id()));
    approx.save(&path).unwrap();
    let back = EmbeddingIndex::load(&path, embedder()).unwrap();
    assert_eq!(back.search("Academy Awards", 1).await.unwrap()[0].id, 3);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn many_texts_span_several_batches_without_mixing() {
    // 150 texts of different lengths: more than one batch by count (64) and by tokens (1024).
    let texts: Vec<String> = (0..150)
        .map(|i| {
            format!(
                "Report {i}: {}",
                "the markets moved and analysts wrote notes. ".repeat(i % 7 + 1)
            )
        })
        .collect();
    let e = embedder();
    let together = e.embed(&texts).await.unwrap();
    assert_eq!(together.len(), texts.len());
    for (i, t) in texts.iter().enumerate().step_by(7) {
        let alone = e.embed(std::slice::from_ref(t)).await.unwrap();
        let c = cos(&alone[0], &together[i]);
        assert!(
            c > 0.99999,
            "text {i}: cosine {c} between alone and batched"
        );
    }
}

#[test]
fn a_bad_configuration_is_refused_before_loading() {
    let config = LocalEmbedConfig {
        max_tokens: 1,
        ..Default::default()
    };
    let e = LocalEmbedder::load("models/all-MiniLM-L6-v2.F32.gguf", config)
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("max_tokens must be at least 2"),
        "{e}"
    );
    let missing = LocalEmbedder::load("models/none.gguf", LocalEmbedConfig::default())
        .err()
        .unwrap();
    assert!(
        missing.to_string().contains("no such model file"),
        "{missing}"
    );
}
