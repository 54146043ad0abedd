//! Field types beyond strings: options, maps, nested structs, enums as Literal choices, and
//! schemars constraints enforced on every parsed output.

use dspy::prelude::*;
use dspy::{ParseError, ParseErrorKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Topic {
    Business,
    Tech,
    Sport,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Person {
    first_name: String,
    age: Option<u32>,
}

/// Review a product.
#[derive(Signature)]
struct Review {
    #[input]
    text: String,
    /// Optional hints from the user.
    #[input]
    hints: Option<Vec<String>>,
    #[output]
    topic: Topic,
    #[output(desc = "1 to 5")]
    #[schemars(range(min = 1, max = 5))]
    stars: u8,
    #[output]
    #[schemars(length(min = 3, max = 40))]
    summary: String,
    #[output]
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    code: String,
    #[output]
    #[schemars(extend("enum" = ["low", "high"]))]
    priority: String,
    #[output]
    author: Person,
    #[output]
    counts: HashMap<String, i32>,
    #[output]
    note: Option<String>,
}

fn input() -> ReviewInput {
    ReviewInput {
        text: "Great phone, battery lasts.".into(),
        hints: Some(vec!["tech".into(), "hardware".into()]),
    }
}

const GOOD: &str = "[[ ## topic ## ]]\nTechnology\n\n[[ ## stars ## ]]\n5\n\n[[ ## summary ## ]]\nGood phone\n\n\
[[ ## code ## ]]\nPHN\n\n[[ ## priority ## ]]\nhigh\n\n[[ ## author ## ]]\n{\"first_name\": \"Ann\", \"age\": 30}\n\n\
[[ ## counts ## ]]\n{\"battery\": 1}\n\n[[ ## note ## ]]\nNone\n\n[[ ## completed ## ]]";

#[test]
fn type_names_in_dspy_vocabulary() {
    let names: Vec<(&str, &str)> = Review::meta()
        .fields()
        .map(|f| (f.name(), f.type_name()))
        .collect();
    assert_eq!(
        names,
        [
            ("text", "str"),
            ("hints", "Union[list[str], NoneType]"),
            ("topic", "Literal['business', 'tech', 'sport']"),
            ("stars", "int"),
            ("summary", "str"),
            ("code", "str"),
            ("priority", "str"),
            ("author", "Person"),
            ("counts", "dict[str, int]"),
            ("note", "Union[str, NoneType]"),
        ]
    );
    let hints = Review::meta().field("hints").unwrap();
    assert_eq!(hints.desc(), Some("Optional hints from the user."));
    let stars = Review::meta().field("stars").unwrap();
    assert_eq!(
        stars.constraints().get("maximum"),
        Some(&serde_json::json!(5))
    );
}

#[test]
fn metadata_is_computed_once() {
    assert!(std::ptr::eq(Review::meta(), Review::meta()));
}

#[test]
fn prompt_snapshot() {
    let p = Predict::<Review>::new();
    insta::assert_snapshot!(p.render_text(&input()).unwrap());
}

#[tokio::test]
async fn parses_and_coerces_every_type() {
    let lm = ScriptedLm::new([GOOD]);
    let pred = Predict::<Review>::new()
        .with_lm(lm)
        .call(input())
        .await
        .unwrap();
    assert_eq!(pred.topic, Topic::Tech);
    assert_eq!(pred.stars, 5);
    assert_eq!(
        pred.author,
        Person {
            first_name: "Ann".into(),
            age: Some(30)
        }
    );
    assert_eq!(pred.counts["battery"], 1);
    assert_eq!(pred.note, None);
    assert_eq!(pred.coercions().len(), 1);
    assert_eq!(pred.coercions()[0].field, "topic");
    assert_eq!(pred.coercions()[0].rule, "near-miss label");
}

async fn violation(from: &str, to: &str) -> ParseError {
    let lm = ScriptedLm::new([GOOD.replace(from, to)]);
    let p = Predict::<Review>::new()
        .with_lm(lm)
        .with_adapter(ChatAdapter::without_fallback());
    match p.call(input()).await {
        Err(dspy::Error::Parse(e)) => e,
        other => panic!("expected a parse error for {to:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn constraints_are_enforced_with_field_constraint_and_value() {
    let cases = [
        ("stars ## ]]\n5", "stars ## ]]\n7", "stars", "maximum", "7"),
        ("Good phone", "OK", "summary", "minLength", "\"OK\""),
        ("PHN", "phone", "code", "pattern", "\"phone\""),
        ("\nhigh\n", "\nurgent\n", "priority", "enum", "\"urgent\""),
    ];
    for (from, to, field, constraint, value) in cases {
        let e = violation(from, to).await;
        match &*e.kind {
            ParseErrorKind::Constraint {
                field: f,
                constraint: c,
                value: v,
                ..
            } => {
                assert_eq!(
                    (f.as_str(), c.as_str(), v.as_str()),
                    (field, constraint, value),
                    "{e}"
                );
            }
            other => panic!("expected a constraint error, got {other:?}"),
        }
        assert!(e.to_string().contains(&format!("field `{field}`")), "{e}");
    }
}

#[tokio::test]
async fn wrong_nested_types_name_the_field() {
    let e = violation("\"age\": 30", "\"age\": \"old\"").await;
    assert_eq!(e.field(), Some("author"), "{e}");
    assert!(e.to_string().contains("expected a Person as JSON"), "{e}");
}

#[test]
fn partial_and_invalid_demos() {
    let ok = Demo::new().with("text", "x").with("stars", 3);
    assert!(Predict::<Review>::new().with_demos([ok]).is_ok());
    // A key that is no field is ignored, as DSPy ignores it.
    let extra = Demo::new().with("text", "x").with("rating", 3);
    let p = Predict::<Review>::new().with_demos([extra]).unwrap();
    assert!(!p.render_text(&input()).unwrap().contains("rating"));
    let bad = Demo::new().with("text", "x").with("stars", 9);
    let e = Predict::<Review>::new().with_demos([bad]).unwrap_err();
    assert!(e.to_string().contains("field `stars`"), "{e}");
}

/// `#[output(labels = [...])]` and `signature!`'s `Literal[...]` are one machinery: the same
/// enum, schema, prompt and near-miss coercion.
mod labels {
    use super::*;

    mod derived {
        use dspy::Signature;

        /// Classify the headline.
        #[derive(Signature)]
        pub struct Classify {
            #[input]
            pub headline: String,
            #[output(desc = "the section", labels = ["business", "sport", "tech"])]
            pub topic: ClassifyTopic,
            #[output(labels = ["low", "high"])]
            pub urgency: Option<ClassifyUrgency>,
        }
    }

    mod string {
        dspy::signature!(
            /// Classify the headline.
            pub Classify = "headline -> topic: Literal['business', 'sport', 'tech'], urgency: Optional[Literal['low', 'high']]"
        );
    }

    #[test]
    fn renders_like_the_string_signature() {
        let d = derived::Classify::meta();
        let s = string::Classify::meta();
        let types = |m: &dspy::SignatureMeta| -> Vec<String> {
            m.fields().map(|f| f.type_name().to_string()).collect()
        };
        assert_eq!(types(d), types(s));
        assert_eq!(
            d.field("topic").unwrap().type_name(),
            "Literal['business', 'sport', 'tech']"
        );
        let input_d = derived::ClassifyInput {
            headline: "Shares rally".into(),
        };
        let input_s = string::ClassifyInput {
            headline: "Shares rally".into(),
        };
        let with_desc = Predict::<derived::Classify>::new()
            .render_text(&input_d)
            .unwrap();
        let plain = Predict::<string::Classify>::new()
            .render_text(&input_s)
            .unwrap();
        // The only difference: the derived field's description.
        assert_eq!(
            with_desc.replace("the section", ""),
            plain,
            "{with_desc}\n---\n{plain}"
        );
    }

    #[tokio::test]
    async fn near_misses_are_coerced_as_for_the_string_signature() {
        let reply =
            "[[ ## topic ## ]]\nSports\n\n[[ ## urgency ## ]]\nhigh\n\n[[ ## completed ## ]]";
        let input = derived::ClassifyInput {
            headline: "Cup final tonight".into(),
        };
        let pred = Predict::<derived::Classify>::new()
            .with_lm(ScriptedLm::new([reply]))
            .with_adapter(ChatAdapter::without_fallback())
            .call(input)
            .await
            .unwrap();
        assert_eq!(pred.topic, derived::ClassifyTopic::Sport);
        assert_eq!(pred.urgency, Some(derived::ClassifyUrgency::High));
        let s = Predict::<string::Classify>::new()
            .with_lm(ScriptedLm::new([reply]))
            .with_adapter(ChatAdapter::without_fallback())
            .call(string::ClassifyInput {
                headline: "Cup final tonight".into(),
            })
            .await
            .unwrap();
        assert_eq!(s.topic, string::ClassifyTopic::Sport);
        let rules = |c: &[dspy::adapter::Coercion]| -> Vec<String> {
            c.iter()
                .map(|c| format!("{}: {}", c.field, c.rule))
                .collect()
        };
        assert_eq!(rules(pred.coercions()), ["topic: near-miss label"]);
        assert_eq!(rules(pred.coercions()), rules(s.coercions()));
    }
}
