//! Okapi BM25 over passages in memory (k1 1.2, b 0.75, the `bm25` crate's and Lucene's
//! defaults), with lowercase alphanumeric tokens. Saved as the passages and parameters; the
//! postings are rebuilt on load, so a saved index cannot disagree with its text.

use super::{Passage, Retriever};
use crate::data::DataError;
use crate::error::Result;
use crate::lm::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// An in-process BM25 index.
#[derive(Debug)]
pub struct Bm25Index {
    passages: Vec<String>,
    k1: f32,
    b: f32,
    /// Per term: the passages that contain it and how often.
    postings: HashMap<String, Vec<(u32, u32)>>,
    /// Tokens per passage.
    lengths: Vec<u32>,
    avg_len: f32,
}

/// What a saved index file holds.
#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    k1: f32,
    b: f32,
    passages: Vec<String>,
}

const FORMAT: &str = "dspy-rs bm25 1";

/// The largest index file read (4 GiB).
const MAX_INDEX_BYTES: u64 = 4 << 30;

/// Lowercase runs of letters and digits.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

impl Bm25Index {
    /// An index over `passages` (their positions are the passages' ids).
    pub fn new(passages: Vec<String>) -> Self {
        Self::with_params(passages, 1.2, 0.75)
    }

    /// An index with other BM25 parameters.
    pub fn with_params(passages: Vec<String>, k1: f32, b: f32) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(passages.len());
        for (id, text) in passages.iter().enumerate() {
            let mut counts: HashMap<String, u32> = HashMap::new();
            let mut len = 0;
            for t in tokens(text) {
                *counts.entry(t).or_default() += 1;
                len += 1;
            }
            lengths.push(len);
            for (t, tf) in counts {
                postings.entry(t).or_default().push((id as u32, tf));
            }
        }
        let avg_len = lengths.iter().map(|&l| l as f32).sum::<f32>() / lengths.len().max(1) as f32;
        Bm25Index {
            passages,
            k1,
            b,
            postings,
            lengths,
            avg_len,
        }
    }

    /// How many passages it holds.
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The best `k` passages for `query`, best first (ties: lower id first); passages sharing no
    /// term with the query are left out.
    pub fn search(&self, query: &str, k: usize) -> Vec<Passage> {
        let n = self.passages.len() as f32;
        let mut scores: HashMap<u32, f32> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for term in tokens(query) {
            if !seen.insert(term.clone()) {
                continue;
            }
            let Some(list) = self.postings.get(&term) else {
                continue;
            };
            let df = list.len() as f32;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(id, tf) in list {
                let tf = tf as f32;
                let len = self.lengths[id as usize] as f32;
                let norm = self.k1 * (1.0 - self.b + self.b * len / self.avg_len.max(1e-9));
                *scores.entry(id).or_default() += idf * tf * (self.k1 + 1.0) / (tf + norm);
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores.into_iter().collect();
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > k && k > 0 {
            ranked.select_nth_unstable_by(k - 1, order);
            ranked.truncate(k);
        }
        ranked.sort_by(order);
        ranked.truncate(k);
        ranked
            .into_iter()
            .map(|(id, score)| Passage {
                id: id as usize,
                text: self.passages[id as usize].clone(),
                score,
            })
            .collect()
    }

    /// Writes the index to `path` (through a temporary file and a rename, so a crash leaves
    /// the old file or the new one).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let saved = Saved {
            format: FORMAT.into(),
            k1: self.k1,
            b: self.b,
            passages: self.passages.clone(),
        };
        let json =
            serde_json::to_vec(&saved).map_err(|e| crate::Error::Serialize(e.to_string()))?;
        crate::state::write_atomically(path, &json)?;
        Ok(())
    }

    /// Reads an index written by [`Bm25Index::save`]. A file that is not one (wrong format,
    /// truncated, not JSON) is a [`DataError::Index`] naming the file and what is wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::state::read_capped(path, MAX_INDEX_BYTES)?;
        let bad = |message: String| DataError::Index {
            path: path.to_path_buf(),
            message,
        };
        let saved: Saved = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if saved.format != FORMAT {
            return Err(bad(format!(
                "expected format `{FORMAT}`, found `{}`",
                saved.format
            ))
            .into());
        }
        if !(saved.k1.is_finite() && saved.b.is_finite()) {
            return Err(bad("k1 and b must be finite numbers".into()).into());
        }
        Ok(Self::with_params(saved.passages, saved.k1, saved.b))
    }
}

impl Retriever for Bm25Index {
    fn retrieve<'a>(&'a self, query: &'a str, k: usize) -> BoxFuture<'a, Result<Vec<Passage>>> {
        Box::pin(async move { Ok(self.search(query, k)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        [
            "Chelsea beat Arsenal in the cup final.",
            "The central bank raised interest rates again.",
            "Arsenal sign a new striker before the final.",
            "Rates of broadband use double in rural areas.",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn ranks_by_bm25_and_leaves_out_non_matches() {
        let index = Bm25Index::new(corpus());
        let hits = index.search("Arsenal final", 3);
        let ids: Vec<usize> = hits.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 2, "{hits:?}");
        assert!(ids.contains(&0) && ids.contains(&2));
        assert!(hits[0].score >= hits[1].score);
        assert_eq!(index.search("interest RATES", 1)[0].id, 1);
        assert!(index.search("weather", 5).is_empty());
        assert!(index.search("arsenal", 0).is_empty());
    }

    #[test]
    fn saved_and_loaded_it_ranks_the_same_and_a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        let index = Bm25Index::new(corpus());
        index.save(&path).unwrap();
        let loaded = Bm25Index::load(&path).unwrap();
        assert_eq!(
            loaded.search("arsenal final", 4),
            index.search("arsenal final", 4)
        );

        std::fs::write(&path, &std::fs::read(&path).unwrap()[..20]).unwrap();
        let e = Bm25Index::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("index.json") && e.contains("not a usable index"),
            "{e}"
        );
        std::fs::write(
            &path,
            r#"{"format": "other 9", "k1": 1.2, "b": 0.75, "passages": []}"#,
        )
        .unwrap();
        let e = Bm25Index::load(&path).unwrap_err().to_string();
        assert!(e.contains("expected format `dspy-rs bm25 1`"), "{e}");
        let e = Bm25Index::load(dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.json"), "{e}");
    }
}
