//! The one interface every optimizer has: a program, a training set (and optionally a
//! validation set) and a metric in; the program with its slots filled and a report out.

use super::SearchReport;
use super::{BootstrapFewShot, CompileReport, Knn, KnnFewShot, LabeledFewShot, RandomSearch};
use crate::data::Example;
use crate::error::Result;
use crate::evaluate::metrics::{Metric, Score};
use crate::module::Module;
use crate::program::Params;
use serde::Serialize;
use std::future::Future;

/// An optimizer: compiles a program against a training set and a metric (DSPy's
/// `Teleprompter.compile`). Settings (seed, concurrency, progress, budget, the prompt model)
/// are builder methods of each optimizer.
///
/// The metric is a closure `|example, prediction| …` returning `bool` or `f64`; optimizers
/// that fill demos without scoring ([`LabeledFewShot`], [`KnnFewShot`]) ignore it.
///
/// With `use dspy::prelude::*`:
/// `let (compiled, report) = Copro::new().breadth(4).compile(&program, &train, |ex, pred|
/// ex.label.label == pred.label).await?;` (the README's "Optimizers" section runs BootstrapFewShot
/// and RandomSearch through this trait).
pub trait Optimizer {
    /// What compiling a `P` gives: `P` itself for every optimizer but [`KnnFewShot`].
    type Compiled<P>;
    /// What the optimizer reports about a run.
    type Report;

    /// Compiles `program`, scoring candidates on `valset` when one is given (each optimizer's
    /// documentation says what it uses the training and validation sets for).
    fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: Option<&'a [Example<I, L>]>,
        metric: F,
    ) -> impl Future<Output = Result<(Self::Compiled<P>, Self::Report)>> + 'a
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a;

    /// Compiles `program` against `trainset` (DSPy's `compile(student, trainset=…)`).
    fn compile<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        metric: F,
    ) -> impl Future<Output = Result<(Self::Compiled<P>, Self::Report)>> + 'a
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        self.optimize(program, trainset, None, metric)
    }

    /// Compiles `program` against `trainset`, scoring candidates on `valset`.
    fn compile_with_valset<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: &'a [Example<I, L>],
        metric: F,
    ) -> impl Future<Output = Result<(Self::Compiled<P>, Self::Report)>> + 'a
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        self.optimize(program, trainset, Some(valset), metric)
    }
}

impl Optimizer for LabeledFewShot {
    type Compiled<P> = P;
    type Report = ();

    /// Every predictor gets up to `k` labelled examples of the training set (the same draw for
    /// each, as in DSPy); the metric and valset are not used.
    async fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        _valset: Option<&'a [Example<I, L>]>,
        _metric: F,
    ) -> Result<(P, ())>
    where
        P: Module<Input = I> + Params + Clone + 'a,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
    {
        Ok((self.compile_program(program, trainset)?, ()))
    }
}

impl Optimizer for BootstrapFewShot {
    type Compiled<P> = P;
    type Report = CompileReport;

    /// Bootstraps demos from the training set with the default teacher (the valset is not used,
    /// as in DSPy).
    fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        _valset: Option<&'a [Example<I, L>]>,
        metric: F,
    ) -> impl Future<Output = Result<(P, CompileReport)>> + 'a
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        self.bootstrap_compile(program, trainset, metric)
    }
}

impl Optimizer for RandomSearch {
    type Compiled<P> = P;
    type Report = SearchReport;

    /// Builds candidates from the training set and scores them on the valset (the training
    /// set when none is given, as in DSPy).
    fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        valset: Option<&'a [Example<I, L>]>,
        metric: F,
    ) -> impl Future<Output = Result<(P, SearchReport)>> + 'a
    where
        P: Module<Input = I> + Params + Clone + 'a,
        P::Output: Serialize,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
        F: Metric<I, L, P::Output, S> + Sync + 'a,
        S: Score + 'a,
    {
        self.search(program, trainset, valset, metric)
    }
}

impl Optimizer for KnnFewShot {
    type Compiled<P> = Knn<P>;
    type Report = ();

    /// Embeds the training set's inputs and wraps a copy of `program` so that each call gets its
    /// nearest labelled examples as demos; the metric and valset are not used.
    async fn optimize<'a, P, I, L, F, S>(
        &'a self,
        program: &'a P,
        trainset: &'a [Example<I, L>],
        _valset: Option<&'a [Example<I, L>]>,
        _metric: F,
    ) -> Result<(Knn<P>, ())>
    where
        P: Module<Input = I> + Params + Clone + 'a,
        I: Clone + Serialize + Send + Sync + 'a,
        L: Clone + Serialize + Send + Sync + 'a,
    {
        Ok((self.wrap(program.clone(), trainset).await?, ()))
    }
}
