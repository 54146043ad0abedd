//! Programs: modules made of modules. [`Params`] walks a program's predictors by their stable
//! paths (DSPy's `named_predictors`: `answer`, `query.predict`, `hops[0].predict`), which is
//! all an optimizer, `save` and `load` need; `program!` implements it for its structs.

mod dry_run;
mod graph;
mod params;
mod shape;
mod sugar;

pub use crate::signature::Placeholder;
pub use dry_run::render_prompts;
pub use graph::{Graph, Stage};
pub(crate) use params::params_of_field;
pub use params::{ModuleField, Params, ParamsExt, join_path};
#[doc(hidden)]
pub use params::{field_mut, visit_field};
pub use shape::{Shape, StaticShape, fits};
pub use sugar::{IntoField, into_field};

use crate::module::Module;

/// A program declared with `program!`: a module whose stages are known statically.
pub trait Program: Module + Params {
    /// The program's name.
    const NAME: &'static str;
    /// The module fields `forward` calls, in the order the calls appear in its body.
    const CALLS: &'static [&'static str];

    /// The module tree (each predictor's path and signature) and the order of calls.
    fn graph(&self) -> Graph {
        Graph::of(self)
    }
}
