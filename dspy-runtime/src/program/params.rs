//! Walking a program's predictors by path.

use crate::demo::Demo;
use crate::module::{ChainOfThought, DynPredict, Predict, Predictor, ReAct};
use crate::signature::Signature;

/// Something that holds predictors: a predictor, a program, or a collection of them.
///
/// Paths follow DSPy's `named_predictors`: a field's name, `.predict` inside a ChainOfThought,
/// `[i]` for the items of a `Vec`, `.` between nested programs; a lone predictor is `self`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a module: it holds no predictors",
    label = "not a module",
    note = "mark a plain field of a program (a retriever, a constant) with `#[skip]`"
)]
pub trait Params {
    /// Calls `f` with the path and the predictor of each predictor inside, in field order.
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor));
    /// [`Params::visit_params`], mutably.
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    );
}

pub use dspy_grammar::path::join as join_path;

/// `Params` for a wrapper module whose predictors are those of one field, under the path
/// `name` (DSPy's attribute name): `params_of_field!([M: Module + Params] BestOfN<M>, module, "module")`.
macro_rules! params_of_field {
    ([$($generics:tt)*] $ty:ty, $field:ident, $name:literal) => {
        impl<$($generics)*> $crate::program::Params for $ty {
            fn visit_params<'a>(
                &'a self,
                path: &str,
                f: &mut dyn FnMut(String, &'a dyn $crate::module::Predictor),
            ) {
                self.$field.visit_params(&$crate::program::join_path(path, $name), f);
            }
            fn visit_params_mut<'a>(
                &'a mut self,
                path: &str,
                f: &mut dyn FnMut(String, &'a mut dyn $crate::module::Predictor),
            ) {
                self.$field.visit_params_mut(&$crate::program::join_path(path, $name), f);
            }
        }
    };
}
use dspy_grammar::path::{COT_PREDICTOR, canonical, item, leaf};
pub(crate) use params_of_field;

/// The type of a module field of a `program!`: anything that holds predictors ([`Params`]).
/// The generated code visits each module field through it, so a field that is not a module is
/// one error, named for what to do.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a module, so it cannot be a field of a program",
    label = "not a module",
    note = "a program's fields are modules (`Predict<…>`, `ChainOfThought<…>`, `DynPredict`, programs, or a `Vec`, `Option` or `Box` of them); mark a plain field (a retriever, a constant) with `#[skip]`"
)]
pub trait ModuleField: Params {}

impl<T: Params + ?Sized> ModuleField for T {}

/// Visits the module field `name` of the program at `path` (`program!`'s `Params` impl).
#[doc(hidden)]
pub fn visit_field<'a, T: ModuleField + ?Sized>(
    field: &'a T,
    path: &str,
    name: &str,
    f: &mut dyn FnMut(String, &'a dyn Predictor),
) {
    field.visit_params(&join_path(path, name), f);
}

/// [`visit_field`], mutably, dispatched without a bound (autoref specialization): a field that
/// is not a module is reported once, by [`visit_field`], not again here.
#[doc(hidden)]
pub mod field_mut {
    use super::{Params, Predictor, join_path};

    /// Wraps a module field for [`ViaParams`] / [`ViaNothing`] dispatch.
    pub struct FieldMut<'a, T: ?Sized>(pub &'a mut T);

    /// Chosen when the field is a module.
    pub trait ViaParams<'a> {
        /// Visits the field's predictors.
        fn visit_mut(
            self,
            path: &str,
            name: &str,
            f: &mut dyn FnMut(String, &'a mut dyn Predictor),
        );
    }

    impl<'a, T: Params + ?Sized> ViaParams<'a> for FieldMut<'a, T> {
        fn visit_mut(
            self,
            path: &str,
            name: &str,
            f: &mut dyn FnMut(String, &'a mut dyn Predictor),
        ) {
            self.0.visit_params_mut(&join_path(path, name), f);
        }
    }

    /// Chosen otherwise (the program does not compile then: [`super::visit_field`] says why).
    pub trait ViaNothing<'a> {
        /// Nothing.
        fn visit_mut(
            self,
            path: &str,
            name: &str,
            f: &mut dyn FnMut(String, &'a mut dyn Predictor),
        );
    }

    impl<'a, T: ?Sized> ViaNothing<'a> for &FieldMut<'a, T> {
        fn visit_mut(self, _: &str, _: &str, _: &mut dyn FnMut(String, &'a mut dyn Predictor)) {}
    }
}

impl<S: Signature> Params for Predict<S> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        f(leaf(path), self);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        f(leaf(path), self);
    }
}

impl Params for DynPredict {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        f(leaf(path), self);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        f(leaf(path), self);
    }
}

/// DSPy's ChainOfThought holds its predictor in a field named `predict`.
impl<S: Signature> Params for ChainOfThought<S> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        f(join_path(path, COT_PREDICTOR), self);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        f(join_path(path, COT_PREDICTOR), self);
    }
}

/// DSPy's ReAct holds `react` (a Predict) and `extract` (a ChainOfThought).
impl<S: Signature> Params for ReAct<S> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        f(join_path(path, "react"), self.react());
        f(
            join_path(&join_path(path, "extract"), COT_PREDICTOR),
            self.extract(),
        );
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        let (react, extract) = self.parts_mut();
        f(join_path(path, "react"), react);
        f(
            join_path(&join_path(path, "extract"), COT_PREDICTOR),
            extract,
        );
    }
}

impl<T: Params> Params for Vec<T> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        for (i, it) in self.iter().enumerate() {
            it.visit_params(&item(path, i), f);
        }
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        for (i, it) in self.iter_mut().enumerate() {
            it.visit_params_mut(&item(path, i), f);
        }
    }
}

impl<T: Params> Params for Option<T> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        if let Some(item) = self {
            item.visit_params(path, f);
        }
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        if let Some(item) = self {
            item.visit_params_mut(path, f);
        }
    }
}

impl<T: Params + ?Sized> Params for Box<T> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn Predictor)) {
        (**self).visit_params(path, f);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn Predictor),
    ) {
        (**self).visit_params_mut(path, f);
    }
}

/// Reading and writing predictors by path, for anything that holds them.
pub trait ParamsExt: Params {
    /// Every predictor with its path, in field order (DSPy's `named_predictors`).
    fn named_predictors(&self) -> Vec<(String, &dyn Predictor)> {
        let mut out = Vec::new();
        self.visit_params("", &mut |path, p| out.push((path, p)));
        out
    }

    /// [`ParamsExt::named_predictors`], mutably.
    fn named_predictors_mut(&mut self) -> Vec<(String, &mut dyn Predictor)> {
        let mut out = Vec::new();
        self.visit_params_mut("", &mut |path, p| out.push((path, p)));
        out
    }

    /// The predictor at `path` (`query.predict`; `hops.0.answer` or `hops[0].answer`).
    fn predictor(&self, path: &str) -> Option<&dyn Predictor> {
        let path = canonical(path);
        self.named_predictors()
            .into_iter()
            .find_map(|(p, pred)| (p == path).then_some(pred))
    }

    /// The predictor at `path`, mutably.
    fn predictor_mut(&mut self, path: &str) -> Option<&mut dyn Predictor> {
        let path = canonical(path);
        self.named_predictors_mut()
            .into_iter()
            .find_map(|(p, pred)| (p == path).then_some(pred))
    }

    /// Sets the demos of the predictor at `path`; errors name the path, or list the paths there
    /// are when it does not exist.
    fn set_demos_at(&mut self, path: &str, demos: Vec<Demo>) -> crate::Result<()> {
        let known = self.paths();
        match self.predictor_mut(path) {
            Some(p) => p
                .set_demos(demos)
                .map_err(|e| crate::Error::Demo(format!("predictor `{path}`: {e}"))),
            None => Err(crate::Error::Demo(format!(
                "no predictor at `{path}` (predictors: {})",
                known.join(", ")
            ))),
        }
    }

    /// The paths of every predictor, in field order.
    fn paths(&self) -> Vec<String> {
        self.named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    /// Saves every predictor's demos and instructions in DSPy's format (see [`crate::state::save`]).
    fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), crate::state::StateError> {
        crate::state::save(self, path)
    }

    /// Loads a file saved by [`ParamsExt::save`] or by Python DSPy (see [`crate::state::load`]).
    fn load(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), crate::state::StateError> {
        crate::state::load(self, path)
    }
}

impl<T: Params + ?Sized> ParamsExt for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_name_their_items_like_dspy() {
        let mut v = vec![
            DynPredict::parse("q -> a").unwrap(),
            DynPredict::parse("q -> a").unwrap(),
        ];
        let paths: Vec<String> = v.named_predictors().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["[0]", "[1]"]);
        v.predictor_mut("[1]")
            .unwrap()
            .set_instructions("second".into());
        assert_eq!(v[1].instructions(), "second");
        let lone = DynPredict::parse("q -> a").unwrap();
        assert_eq!(lone.paths(), ["self"]);
    }
}
