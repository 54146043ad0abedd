//! Data: typed examples, JSONL and CSV loaders (plain or bzip2-compressed), seeded splits, and
//! loaders for the real datasets the examples use ([`datasets`]).

pub mod datasets;
mod read;

pub use read::{read_csv, read_jsonl};

use crate::demo::Demo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A labelled example: what a program takes, and what it should answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example<I, L> {
    /// The program's input.
    pub input: I,
    /// The expected output (the gold label).
    pub label: L,
}

impl<I, L> Example<I, L> {
    /// An example from an input and its label.
    pub fn new(input: I, label: L) -> Self {
        Example { input, label }
    }
}

impl<I: Serialize, L: Serialize> Example<I, L> {
    /// The example as a demo: the input's fields followed by the label's.
    pub fn demo(&self) -> crate::Result<Demo> {
        let mut fields = Demo::from_serialize(&self.input)?.into_map();
        fields.extend(Demo::from_serialize(&self.label)?.into_map());
        Ok(Demo::from_map(fields))
    }
}

impl<I: DeserializeOwned, L: DeserializeOwned> Example<I, L> {
    /// Reads an example from any value whose fields hold both the input's and the label's (a
    /// dataset's row type, say): `rows.iter().map(Example::from_fields)`.
    pub fn from_fields(row: &impl Serialize) -> crate::Result<Self> {
        let record =
            serde_json::to_value(row).map_err(|e| crate::Error::Serialize(e.to_string()))?;
        Self::from_record(&record).map_err(|e| {
            crate::Error::Serialize(format!("the row does not hold an example's fields: {e}"))
        })
    }

    /// Reads an example from one flat record holding both the input's and the label's fields
    /// (one JSONL line, one CSV row); other keys are ignored unless the types deny them.
    pub fn from_record(record: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(Example {
            input: I::deserialize(record)?,
            label: L::deserialize(record)?,
        })
    }
}

/// Something went wrong reading a data file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file is missing or unreadable.
    #[error("{path}: {source}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
        /// How to get the file, when known.
        hint: Option<&'static str>,
    },
    /// A record does not fit the expected type.
    #[error("{path}:{line}: {message}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The 1-based line (JSONL) or record (CSV, the header being record 1) number.
        line: u64,
        /// What was expected and what came.
        message: String,
    },
    /// A saved index (e.g. a BM25 index) cannot be read back.
    #[error("{path}: not a usable index: {message}")]
    Index {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Examples from a dataset's rows, each holding an input's and a label's fields
/// ([`Example::from_fields`]).
pub fn examples<I, L, R>(rows: &[R]) -> crate::Result<Vec<Example<I, L>>>
where
    I: DeserializeOwned,
    L: DeserializeOwned,
    R: Serialize,
{
    rows.iter().map(Example::from_fields).collect()
}

/// A seeded train / dev / test split.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits<T> {
    /// The training examples (what optimizers learn from).
    pub train: Vec<T>,
    /// The development examples (what optimizers and evaluations score on).
    pub dev: Vec<T>,
    /// Everything else, held out.
    pub test: Vec<T>,
}

/// Shuffles `items` with `seed` and cuts the first `train` into `train`, the next `dev` into
/// `dev` and the rest into `test`; sizes larger than what remains are cut to what remains.
/// The same items and seed give the same split.
pub fn split<T>(mut items: Vec<T>, train: usize, dev: usize, seed: u64) -> Splits<T> {
    fastrand::Rng::with_seed(seed).shuffle(&mut items);
    let train_n = train.min(items.len());
    let mut rest = items.split_off(train_n);
    let dev_n = dev.min(rest.len());
    let test = rest.split_off(dev_n);
    Splits {
        train: items,
        dev: rest,
        test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct In {
        question: String,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Out {
        answer: u32,
    }

    #[test]
    fn example_reads_both_halves_of_a_flat_record() {
        let ex: Example<In, Out> =
            Example::from_record(&json!({"question": "2+2?", "answer": 4, "extra": 1})).unwrap();
        assert_eq!(ex.input.question, "2+2?");
        assert_eq!(ex.label.answer, 4);
        let demo = ex.demo().unwrap();
        let keys: Vec<&str> = demo.fields().keys().map(String::as_str).collect();
        assert_eq!(keys, ["question", "answer"]);
        let err = Example::<In, Out>::from_record(&json!({"question": "q", "answer": "four"}))
            .unwrap_err();
        assert!(err.to_string().contains("expected u32"), "{err}");
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let a = split((0..100).collect::<Vec<u32>>(), 20, 30, 7);
        let b = split((0..100).collect::<Vec<u32>>(), 20, 30, 7);
        assert_eq!(a, b);
        assert_eq!((a.train.len(), a.dev.len(), a.test.len()), (20, 30, 50));
        let mut all: Vec<u32> = a
            .train
            .iter()
            .chain(&a.dev)
            .chain(&a.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_ne!(
            a.train,
            split((0..100).collect::<Vec<u32>>(), 20, 30, 8).train
        );
        let small = split(vec![1, 2, 3], 2, 5, 0);
        assert_eq!(
            (small.train.len(), small.dev.len(), small.test.len()),
            (2, 1, 0)
        );
    }
}
