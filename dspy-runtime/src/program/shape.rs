//! A program's shape at compile time, so that `program!`'s `#[artifact("…")]` can refuse, as a
//! build error, a compiled artifact that no longer fits the program.

use crate::module::{ChainOfThought, DynPredict, Predict};
use crate::signature::Signature;
use dspy_grammar::path::{COT_PREDICTOR, LIST_ITEM};
use dspy_grammar::prefix::matches_prefix_key;

/// What a module field holds, as far as the compiler knows.
#[derive(Debug)]
pub enum Shape {
    /// One predictor: its signature's fields (inputs first) and whether it is a ChainOfThought
    /// (saved under `.predict`, with `reasoning` after the inputs).
    Predictor {
        /// Field names, inputs first.
        fields: &'static [&'static str],
        /// How many are inputs.
        inputs: usize,
        /// ChainOfThought: `.predict` and a `reasoning` field.
        reasoning: bool,
        /// Whether `fields` is known (signatures made by the macros).
        known: bool,
    },
    /// A `Vec` of one shape (`[i]` in paths).
    List(&'static Shape),
    /// A program: its module fields.
    Program(&'static [(&'static str, &'static Shape)]),
    /// Known only at run time (`DynPredict`).
    Dynamic,
}

/// Types whose [`Shape`] is known at compile time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a module: it holds no predictors",
    label = "not a module",
    note = "mark a plain field of a program (a retriever, a constant) with `#[skip]`"
)]
pub trait StaticShape {
    /// The shape.
    const SHAPE: Shape;
}

impl<S: Signature> StaticShape for Predict<S> {
    const SHAPE: Shape = Shape::Predictor {
        fields: S::FIELD_NAMES,
        inputs: S::INPUTS,
        reasoning: false,
        known: S::STATIC_FIELDS,
    };
}

impl<S: Signature> StaticShape for ChainOfThought<S> {
    const SHAPE: Shape = Shape::Predictor {
        fields: S::FIELD_NAMES,
        inputs: S::INPUTS,
        reasoning: true,
        known: S::STATIC_FIELDS,
    };
}

impl StaticShape for DynPredict {
    const SHAPE: Shape = Shape::Dynamic;
}

impl<T: StaticShape> StaticShape for Vec<T> {
    const SHAPE: Shape = Shape::List(&T::SHAPE);
}

impl<T: StaticShape> StaticShape for Option<T> {
    const SHAPE: Shape = T::SHAPE;
}

impl<T: StaticShape> StaticShape for Box<T> {
    const SHAPE: Shape = T::SHAPE;
}

/// Ensembles and nearest-neighbour wrappers are checked when loaded, not at build time.
impl<P: crate::module::Module> StaticShape for crate::optimize::Ensemble<P> {
    const SHAPE: Shape = Shape::Dynamic;
}

impl<P> StaticShape for crate::optimize::Knn<P> {
    const SHAPE: Shape = Shape::Dynamic;
}

/// A retriever holds no predictors.
impl StaticShape for crate::retrieve::Retrieve {
    const SHAPE: Shape = Shape::Program(&[]);
}

/// So are the inference-time strategies.
impl<M: crate::module::Module> StaticShape for crate::strategy::BestOfN<M> {
    const SHAPE: Shape = Shape::Dynamic;
}
impl<M: crate::module::Module> StaticShape for crate::strategy::Refine<M> {
    const SHAPE: Shape = Shape::Dynamic;
}
impl<S: Signature> StaticShape for crate::strategy::MultiChainComparison<S> {
    const SHAPE: Shape = Shape::Dynamic;
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether a predictor saved at `path` (its [`dspy_grammar::path::segments`]) whose fields have
/// these [`dspy_grammar::prefix::prefix_key`]s fits `shape`.
pub const fn fits(shape: &Shape, path: &[&str], fields: &[&str]) -> bool {
    match shape {
        Shape::Dynamic => true,
        Shape::List(inner) => match path.split_first() {
            Some((first, rest)) if str_eq(first, LIST_ITEM) => fits(inner, rest, fields),
            _ => false,
        },
        Shape::Program(children) => {
            let Some((first, rest)) = path.split_first() else {
                return false;
            };
            let mut i = 0;
            while i < children.len() {
                if str_eq(children[i].0, first) {
                    return fits(children[i].1, rest, fields);
                }
                i += 1;
            }
            false
        }
        Shape::Predictor {
            fields: ours,
            inputs,
            reasoning,
            known,
        } => {
            let rest_ok = if *reasoning {
                path.len() == 1 && str_eq(path[0], COT_PREDICTOR)
            } else {
                path.is_empty()
            };
            if !rest_ok {
                return false;
            }
            if !*known {
                return true;
            }
            let total = ours.len() + if *reasoning { 1 } else { 0 };
            if fields.len() != total {
                return false;
            }
            let (mut i, mut j) = (0, 0);
            while j < fields.len() {
                let ok = if *reasoning && j == *inputs {
                    str_eq(fields[j], "reasoning")
                } else {
                    let ok = matches_prefix_key(ours[i], fields[j]);
                    i += 1;
                    ok
                };
                if !ok {
                    return false;
                }
                j += 1;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COT: Shape = Shape::Predictor {
        fields: &["context", "question", "query"],
        inputs: 2,
        reasoning: true,
        known: true,
    };
    const PROGRAM: Shape = Shape::Program(&[("hops", &Shape::List(&COT))]);

    #[test]
    fn paths_and_fields() {
        let file = ["context", "question", "reasoning", "query"];
        assert!(fits(&PROGRAM, &["hops", "[]", "predict"], &file));
        assert!(!fits(&PROGRAM, &["hop", "[]", "predict"], &file));
        assert!(!fits(&PROGRAM, &["hops", "predict"], &file));
        assert!(!fits(&PROGRAM, &["hops", "[]"], &file));
        assert!(!fits(
            &PROGRAM,
            &["hops", "[]", "predict"],
            &["context", "question", "query"]
        ));
    }
}
