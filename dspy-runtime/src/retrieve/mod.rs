//! Retrieval: the [`Retriever`] trait, the [`Retrieve`] module (DSPy's `dspy.Retrieve`), an
//! in-process BM25 index and an embedding index (exact or HNSW), both saved to and loaded from
//! disk.

mod bm25;
mod embedding;

pub use bm25::Bm25Index;
pub use embedding::{EmbeddingIndex, HnswParams};

use crate::context::{RetrievalEntry, record_retrieval, run_module};
use crate::error::Result;
use crate::lm::BoxFuture;
use crate::module::{Module, Predictor};
use crate::program::Params;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One retrieved passage: where it sits in the corpus, its text and its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Its position in the corpus the index was built from.
    pub id: usize,
    /// The text.
    pub text: String,
    /// The retriever's score (higher is better).
    pub score: f32,
}

/// Finds the passages that best match a query.
pub trait Retriever: Send + Sync + 'static {
    /// The best `k` passages for `query`, best first.
    fn retrieve<'a>(&'a self, query: &'a str, k: usize) -> BoxFuture<'a, Result<Vec<Passage>>>;
}

/// The input of [`Retrieve`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RetrieveInput {
    /// What to search for.
    pub query: String,
}

/// A module that retrieves `k` passages per query (DSPy's `dspy.Retrieve(k)`). It holds no
/// predictors; its calls are module events, so callbacks see the queries and passages, and a
/// traced run records them: a metric run inside one (BootstrapFewShot's) reads them with
/// [`crate::context::retrievals`], GEPA's feedback with
/// [`crate::optimize::gepa::program_retrievals`].
#[derive(Clone)]
pub struct Retrieve {
    retriever: Arc<dyn Retriever>,
    k: usize,
}

impl Retrieve {
    /// Retrieves `k` passages per query from `retriever`.
    pub fn new(retriever: impl Retriever, k: usize) -> Self {
        Retrieve {
            retriever: Arc::new(retriever),
            k,
        }
    }

    /// [`Retrieve::new`] with an already shared retriever.
    pub fn from_arc(retriever: Arc<dyn Retriever>, k: usize) -> Self {
        Retrieve { retriever, k }
    }

    /// How many passages a call returns at most.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The best `k` passages for `query`.
    pub async fn call(&self, query: impl Into<String>) -> Result<Vec<Passage>> {
        self.forward(RetrieveInput {
            query: query.into(),
        })
        .await
    }
}

impl Module for Retrieve {
    type Input = RetrieveInput;
    type Output = Vec<Passage>;

    async fn forward(&self, input: RetrieveInput) -> Result<Vec<Passage>> {
        let k = self.k;
        let body = |input: RetrieveInput| async move {
            let passages = self.retriever.retrieve(&input.query, k).await?;
            record_retrieval(|| RetrievalEntry {
                query: input.query,
                k,
                passages: passages
                    .iter()
                    .filter_map(|p| serde_json::to_value(p).ok())
                    .collect(),
            });
            Ok(passages)
        };
        run_module("Retrieve", input, body, passages_as_fields).await
    }
}

fn passages_as_fields(p: &Vec<Passage>) -> Option<serde_json::Map<String, serde_json::Value>> {
    let passages = serde_json::to_value(p).ok()?;
    Some(serde_json::Map::from_iter([(
        "passages".to_string(),
        passages,
    )]))
}

/// A retriever holds no predictors.
impl Params for Retrieve {
    fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(String, &'a dyn Predictor)) {}
    fn visit_params_mut<'a>(
        &'a mut self,
        _: &str,
        _: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
    }
}
