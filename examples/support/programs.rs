//! The example programs, shared by `examples/{classifier,extractor,multihop}.rs` and the prompt
//! snapshots in `tests/program_snapshots.rs`.
#![allow(dead_code)]

use dspy::data::datasets::Sentiment;
use dspy::prelude::*;
use dspy::retrieve::{Bm25Index, Retrieve};

// ---- A classifier: Rotten Tomatoes review snippets by sentiment. ----

/// Classify the sentiment of a movie review snippet.
#[derive(Signature)]
pub struct ReviewSentiment {
    #[input]
    pub review: String,
    #[output]
    pub sentiment: Sentiment,
}

program! {
    /// Review snippet → positive or negative.
    pub struct SentimentClassifier {
        pub classify: Predict<ReviewSentiment>,
    }

    async fn forward(&self, review: String) -> dspy::Result<Sentiment> {
        Ok(self.classify(review).await?.sentiment)
    }
}

impl SentimentClassifier {
    /// The uncompiled program.
    pub fn new() -> Self {
        SentimentClassifier {
            classify: Predict::new(),
        }
    }
}

// ---- An extractor with nested typed output. ----

/// A person a story names.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Person {
    /// Their name as written.
    pub name: String,
    /// Their role or title, if the story gives one.
    pub role: Option<String>,
}

/// What a story names.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Entities {
    /// People.
    pub people: Vec<Person>,
    /// Companies, institutions, teams, parties.
    pub organisations: Vec<String>,
    /// Countries, cities, venues.
    pub places: Vec<String>,
}

/// Extract the people, organisations and places a news story names.
#[derive(Signature)]
pub struct ExtractEntities {
    #[input]
    pub headline: String,
    #[input(desc = "the story's first paragraph")]
    pub text: String,
    #[output]
    pub entities: Entities,
}

program! {
    /// News story → typed entities.
    pub struct Extractor {
        pub extract: Predict<ExtractEntities>,
    }

    async fn forward(&self, headline: String, text: String) -> dspy::Result<Entities> {
        Ok(self.extract(headline, text).await?.entities.clone())
    }
}

impl Extractor {
    /// The uncompiled program (JSONAdapter: nested output is JSON anyway).
    pub fn new() -> Self {
        Extractor {
            extract: Predict::new().with_adapter(JsonAdapter::new()),
        }
    }
}

// ---- Multi-hop question answering over a BM25 retriever. ----

/// Write a short search query that finds what the question still needs.
#[derive(Signature)]
pub struct GenerateQuery {
    #[input]
    pub context: Vec<String>,
    #[input]
    pub question: String,
    #[output]
    pub query: String,
}

/// Answer the question from the context in a few words.
#[derive(Signature)]
pub struct AnswerQuestion {
    #[input]
    pub context: Vec<String>,
    #[input]
    pub question: String,
    #[output(desc = "often between 1 and 5 words")]
    pub answer: String,
}

program! {
    /// Hops of query → retrieve, then an answer from everything retrieved.
    pub struct MultiHop {
        pub hops: Vec<ChainOfThought<GenerateQuery>>,
        pub answer: ChainOfThought<AnswerQuestion>,
        /// Two passages per query from a BM25 index of the corpus.
        pub retrieve: Retrieve,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let mut context: Vec<String> = Vec::new();
        for hop in &self.hops {
            let input = GenerateQueryInput { context: context.clone(), question: question.clone() };
            let query = hop.call(input).await?.query.clone();
            for passage in self.retrieve(query).await? {
                if !context.contains(&passage.text) {
                    context.push(passage.text);
                }
            }
        }
        let pred = self.answer(context: &context, question).await?;
        Ok(pred.answer.clone())
    }
}

impl MultiHop {
    /// `hops` hops over `passages`.
    pub fn new(hops: usize, passages: Vec<String>) -> Self {
        MultiHop {
            hops: (0..hops).map(|_| ChainOfThought::new()).collect(),
            answer: ChainOfThought::new(),
            retrieve: Retrieve::new(Bm25Index::new(passages), 2),
        }
    }
}
