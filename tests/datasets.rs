//! The real datasets load with the counts their sources document (needs `scripts/fetch-data`,
//! which `scripts/test` runs).

use dspy::data::datasets::{Sentiment, Topic, bbc_articles, bbc_headlines, gsm8k, rotten_tomatoes};
use dspy::data::split;
use std::collections::{BTreeMap, HashSet};

fn need<T>(r: Result<T, dspy::data::DataError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn rotten_tomatoes_decodes_the_bz2_into_unique_labelled_snippets() {
    let reviews = need(rotten_tomatoes());
    assert_eq!(reviews.len(), 12_752);
    let mut counts = BTreeMap::new();
    for r in &reviews {
        *counts.entry(r.sentiment).or_insert(0) += 1;
        assert!(!r.review.trim().is_empty());
    }
    // 7,403 fresh and 5,405 rotten rows in the file; repeated texts are kept once.
    assert!(counts[&Sentiment::Positive] > 7_000, "{counts:?}");
    assert!(counts[&Sentiment::Negative] > 5_000, "{counts:?}");
    let unique: HashSet<&str> = reviews.iter().map(|r| r.review.as_str()).collect();
    assert_eq!(unique.len(), reviews.len());
    // Plot summaries (long, in the same file) are dropped.
    assert!(
        reviews
            .iter()
            .all(|r| !r.review.starts_with("Vijay Singh Rajput"))
    );
}

#[test]
fn bbc_headlines_cover_five_topics() {
    let rows = need(bbc_headlines());
    assert_eq!(rows.len(), 2_096);
    let topics: HashSet<Topic> = rows.iter().map(|r| r.topic).collect();
    assert_eq!(topics.len(), 5);
    let s = split(rows, 50, 100, 0);
    assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (50, 100, 1_946));
}

#[test]
fn gsm8k_reads_the_integer_after_the_hashes() {
    let problems = need(gsm8k());
    assert_eq!(problems.len(), 1_319);
    assert!(
        problems[0]
            .question
            .starts_with("Janet’s ducks lay 16 eggs per day.")
    );
    assert_eq!(problems[0].answer, "18");
    assert!(problems.iter().all(|p| p.answer.parse::<i64>().is_ok()));
    assert!(problems.iter().all(|p| !p.gold_reasoning.contains("####")));
}

#[test]
fn bbc_articles_are_whole() {
    let articles = need(bbc_articles());
    assert_eq!(articles.len(), 2_225);
    assert!(articles.iter().all(|a| !a.paragraphs.is_empty()));
    assert_eq!(articles[0].title, "Ad sales boost Time Warner profit");
}
