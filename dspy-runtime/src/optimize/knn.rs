//! `KNNFewShot`: demos chosen per input — the `k` training examples nearest to it by embedding
//! (DSPy's `KNNFewShot`, with labelled neighbours as demos; see [`Knn`]).

use crate::data::Example;
use crate::demo::Demo;
use crate::error::{Error, Result};
use crate::lm::Embedder;
use crate::module::{Module, Predictor};
use crate::program::{Params, ParamsExt};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// Embeds the training set once; [`Optimizer::compile`](super::Optimizer::compile) wraps a program so that each call runs
/// a copy of it whose predictors hold the `k` nearest examples as demos.
pub struct KnnFewShot {
    k: usize,
    embedder: Arc<dyn Embedder>,
}

/// A program with per-input nearest-neighbour demos (what [`Optimizer::compile`](super::Optimizer::compile) returns).
pub struct Knn<P> {
    program: P,
    k: usize,
    embedder: Arc<dyn Embedder>,
    demos: Vec<Demo>,
    vectors: Vec<Vec<f32>>,
}

/// DSPy's text for an example: `key: value` for each input field, joined with ` | `.
fn text_of(input: &impl Serialize) -> String {
    match serde_json::to_value(input) {
        Ok(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" | "),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

impl KnnFewShot {
    /// `k` neighbours per input, embedded with `embedder` (an OpenAI-compatible endpoint such as
    /// llama-server's `/v1/embeddings`, or anything implementing [`Embedder`]).
    pub fn new(k: usize, embedder: impl Embedder) -> Self {
        KnnFewShot {
            k,
            embedder: Arc::new(embedder),
        }
    }

    /// Embeds `trainset`'s inputs and wraps `program`.
    pub(super) async fn wrap<P, I, L>(
        &self,
        program: P,
        trainset: &[Example<I, L>],
    ) -> Result<Knn<P>>
    where
        P: Module<Input = I> + Params + Clone,
        I: Serialize,
        L: Serialize,
    {
        let texts: Vec<String> = trainset.iter().map(|e| text_of(&e.input)).collect();
        let vectors = self.embedder.embed(&texts).await?;
        if vectors.len() != texts.len() {
            return Err(Error::Lm(crate::lm::LmError::InvalidResponse(format!(
                "expected {} embeddings, got {}",
                texts.len(),
                vectors.len()
            ))));
        }
        let demos = trainset.iter().map(Example::demo).collect::<Result<_>>()?;
        Ok(Knn {
            program,
            k: self.k,
            embedder: self.embedder.clone(),
            demos,
            vectors,
        })
    }
}

impl<P> Knn<P> {
    /// The indices of the `k` training examples nearest to `vector`, nearest first.
    fn nearest(&self, vector: &[f32]) -> Vec<usize> {
        let mut scored: Vec<(f32, usize)> = self
            .vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (cosine(vector, v), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(self.k).map(|(_, i)| i).collect()
    }
}

impl<P> Module for Knn<P>
where
    P: Module + Params + Clone,
    P::Input: Serialize + Sync,
{
    type Input = P::Input;
    type Output = P::Output;
    async fn forward(&self, input: P::Input) -> Result<P::Output> {
        let text = vec![text_of(&input)];
        let vector = self.embedder.embed(&text).await?;
        let vector = vector.into_iter().next().ok_or_else(|| {
            Error::Lm(crate::lm::LmError::InvalidResponse(
                "no embedding returned".into(),
            ))
        })?;
        let demos: Vec<Demo> = self
            .nearest(&vector)
            .into_iter()
            .map(|i| self.demos[i].clone())
            .collect();
        let mut program = self.program.clone();
        for (_, p) in program.named_predictors_mut() {
            // Each predictor keeps the neighbours' fields it has (a multi-stage program's
            // stages see the fields they share with the examples).
            let fitting: Vec<Demo> = demos
                .iter()
                .map(|d| {
                    Demo::from_map(
                        d.fields()
                            .iter()
                            .filter(|(k, _)| p.signature().field(k).is_some())
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                })
                .collect();
            p.set_demos(fitting)?;
        }
        program.forward(input).await
    }
}

impl<P: Params> Params for Knn<P> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        self.program.visit_params(path, f);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        self.program.visit_params_mut(path, f);
    }
}
