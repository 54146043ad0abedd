//! What the fuzz targets share: representative signatures and programs.

use dspy::data::datasets::Sentiment;
use dspy::prelude::*;
use dspy::{Adapter, SignatureMeta};
use std::sync::OnceLock;

/// Answer the question.
#[derive(Signature)]
pub struct Typed {
    #[input]
    pub question: String,
    #[output]
    pub answer: String,
    #[output]
    pub count: i64,
    #[output]
    pub score: f64,
    #[output]
    pub ok: bool,
    #[output]
    pub ids: Vec<i64>,
    #[output]
    pub label: Sentiment,
    #[output]
    pub maybe: Option<u8>,
}

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
    /// Places.
    pub places: Vec<String>,
    /// How sure, 0 to 1.
    pub confidence: f32,
}

/// Extract the people and places a news story names.
#[derive(Signature)]
pub struct Extract {
    #[input]
    pub text: String,
    #[output]
    pub entities: Entities,
    #[output]
    pub tags: Vec<String>,
}

/// Classify the sentiment of a movie review snippet.
#[derive(Signature)]
pub struct ReviewSentiment {
    #[input]
    pub review: String,
    #[output]
    pub sentiment: Sentiment,
}

/// Write a search query that helps answer the question.
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
    /// The classifier example's shape.
    pub struct Classifier {
        pub classify: Predict<ReviewSentiment>,
    }

    async fn forward(&self, review: String) -> dspy::Result<String> {
        Ok(format!("{:?}", self.classify(review).await?.sentiment))
    }
}

program! {
    /// The multi-hop example's shape.
    pub struct MultiHop {
        pub hops: Vec<ChainOfThought<GenerateQuery>>,
        pub answer: ChainOfThought<AnswerQuestion>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let _ = &self.hops;
        Ok(self.answer(context: Vec::new(), question).await?.answer.clone())
    }
}

/// String signatures covering the built-in types.
pub const DYN_SIGNATURES: &[&str] = &[
    "question -> answer",
    "question: str, context: list[str] -> label: Literal['yes', 'no', 'not sure'], n: int, x: float, flag: bool, xs: list[int]",
    "text -> d: dict[str, int], o: Optional[int], fs: list[float], nested: list[list[str]]",
];

/// Signatures a reply is parsed against; the first byte of an input picks one.
pub fn signatures() -> &'static [&'static SignatureMeta] {
    static SIGS: OnceLock<Vec<&'static SignatureMeta>> = OnceLock::new();
    SIGS.get_or_init(|| {
        let mut sigs: Vec<&'static SignatureMeta> = DYN_SIGNATURES
            .iter()
            .map(|s| {
                let sig: &'static DynSignature =
                    Box::leak(Box::new(DynSignature::parse(s).expect("a seed signature")));
                sig.meta()
            })
            .collect();
        sigs.push(Typed::meta());
        sigs.push(Extract::meta());
        sigs.push(ReviewSentiment::meta());
        sigs
    })
}

/// Parses `data` (first byte: the signature; the rest: the reply) with `adapter`; a typed
/// signature's parsed fields must deserialize into its output type, as `Predict` does.
pub fn parse_reply(adapter: &dyn Adapter, data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let sigs = signatures();
    let i = pick as usize % sigs.len();
    let reply = String::from_utf8_lossy(rest);
    let Ok(parsed) = adapter.parse(sigs[i], &reply) else {
        return;
    };
    let fields = serde_json::Value::Object(parsed.fields);
    let n = DYN_SIGNATURES.len();
    let typed = match i - n.min(i) {
        _ if i < n => Ok(()),
        0 => serde_json::from_value::<<Typed as Signature>::Output>(fields.clone()).map(drop),
        1 => serde_json::from_value::<<Extract as Signature>::Output>(fields.clone()).map(drop),
        _ => serde_json::from_value::<<ReviewSentiment as Signature>::Output>(fields.clone())
            .map(drop),
    };
    if let Err(e) = typed {
        panic!("parsed but does not deserialize: {e}\nfields: {fields}");
    }
}
