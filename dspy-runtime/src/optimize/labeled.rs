//! `LabeledFewShot`: demos sampled straight from labelled training examples.

use crate::demo::Demo;
use crate::error::Result;
use crate::module::Predictor;

/// Sets a predictor's demos to `k` labelled examples drawn from the training set with a seeded
/// shuffle (DSPy's `LabeledFewShot(k)` with `sample=True`; the draw differs from Python's RNG).
#[derive(Clone, Debug)]
pub struct LabeledFewShot {
    k: usize,
    seed: u64,
}

impl LabeledFewShot {
    /// Up to `k` demos, seed 0.
    pub fn new(k: usize) -> Self {
        LabeledFewShot { k, seed: 0 }
    }

    /// The same optimizer with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Gives `predictor` up to `k` demos from `trainset`; the same seed draws the same demos.
    pub fn fill<P: Predictor + ?Sized>(&self, predictor: &mut P, trainset: &[Demo]) -> Result<()> {
        let mut idx: Vec<usize> = (0..trainset.len()).collect();
        let mut rng = fastrand::Rng::with_seed(self.seed);
        rng.shuffle(&mut idx);
        let demos = idx
            .into_iter()
            .take(self.k)
            .map(|i| trainset[i].clone())
            .collect();
        predictor.set_demos(demos)
    }
}

impl LabeledFewShot {
    /// The program-level interface every optimizer shares: a copy of `program` whose every
    /// predictor holds up to `k` labelled examples of `trainset` (the same draw for each, as in
    /// DSPy).
    pub(super) fn compile_program<P, I, L>(
        &self,
        program: &P,
        trainset: &[crate::data::Example<I, L>],
    ) -> Result<P>
    where
        P: crate::program::Params + Clone,
        I: serde::Serialize,
        L: serde::Serialize,
    {
        use crate::program::ParamsExt;
        let demos: Vec<Demo> = trainset
            .iter()
            .map(crate::data::Example::demo)
            .collect::<Result<_>>()?;
        let mut compiled = program.clone();
        for (_, p) in compiled.named_predictors_mut() {
            self.fill(p, &demos)?;
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::DynPredict;

    fn trainset() -> Vec<Demo> {
        (0..10)
            .map(|i| {
                Demo::new()
                    .with("question", format!("q{i}"))
                    .with("answer", format!("a{i}"))
            })
            .collect()
    }

    #[test]
    fn draws_k_demos_reproducibly() {
        let mut a = DynPredict::parse("question -> answer").unwrap();
        let mut b = DynPredict::parse("question -> answer").unwrap();
        LabeledFewShot::new(4).fill(&mut a, &trainset()).unwrap();
        LabeledFewShot::new(4).fill(&mut b, &trainset()).unwrap();
        assert_eq!(a.demos().len(), 4);
        assert_eq!(a.demos(), b.demos());
        let mut c = DynPredict::parse("question -> answer").unwrap();
        LabeledFewShot::new(4)
            .seed(7)
            .fill(&mut c, &trainset())
            .unwrap();
        assert_ne!(a.demos(), c.demos());
        let mut all = DynPredict::parse("question -> answer").unwrap();
        LabeledFewShot::new(50).fill(&mut all, &trainset()).unwrap();
        assert_eq!(all.demos().len(), 10);
    }
}
