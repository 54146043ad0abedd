//! A program's run with its predictor calls named by path, as SIMBA and GEPA read them.

use crate::context::{RetrievalEntry, TraceEntry, traced_with};
use crate::error::Result;
use crate::program::{Params, ParamsExt};
use std::collections::HashMap;
use std::future::Future;

/// A program's run: its output, its predictor calls by path, and its retrievals.
pub(crate) type TracedRun<O> = (Result<O>, Vec<(String, TraceEntry)>, Vec<RetrievalEntry>);

/// Awaits `run` (a call of `program`), recording its predictor calls, each with its path in
/// `program`, and those whose reply failed to parse when `failed_parses` is set (calls of
/// predictors outside `program` are left out), and its retrievals.
pub(crate) async fn by_path<P, O>(
    program: &P,
    run: impl Future<Output = Result<O>>,
    failed_parses: bool,
) -> TracedRun<O>
where
    P: Params,
{
    let (out, trace, retrievals) = traced_with(run, failed_parses).await;
    let paths: HashMap<usize, String> = program
        .named_predictors()
        .into_iter()
        .map(|(path, p)| (p.core_id(), path))
        .collect();
    let trace = trace
        .into_iter()
        .filter_map(|e| paths.get(&e.predictor).map(|p| (p.clone(), e)))
        .collect();
    (out, trace, retrievals)
}
