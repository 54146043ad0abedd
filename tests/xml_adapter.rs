//! XMLAdapter parsing: DSPy's own reading of nested replies, the more forgiving cases DSPy's
//! strict XML parser refuses, and a predictor that answers through it end to end. (Its prompts
//! are checked byte for byte against DSPy in tests/dspy_oracle.rs.)

use dspy::adapter::Adapter;
use dspy::prelude::*;
use serde_json::{Value, json};

fn parse(sig: &str, reply: &str) -> Result<serde_json::Map<String, Value>, String> {
    let sig = DynSignature::parse(sig).unwrap();
    XmlAdapter::new()
        .parse(sig.meta(), reply)
        .map(|p| p.fields)
        .map_err(|e| e.to_string())
}

const SIG: &str = "question -> answer, tags: list[str], n: int, d: dict[str, int]";

#[test]
fn nested_replies_read_as_dspy_reads_them() {
    // DSPy 3.4.1's XMLAdapter.parse gives {'answer': 'A & B', 'tags': ['x', 'y'], 'n': 4,
    // 'd': {'k': 1, 'bad key': 2}} for this reply.
    let reply = "<answer>\nA &amp; B\n</answer>\n<tags><item>x</item><item>y</item></tags>\n<n>4</n>\n<d><k>1</k><entry key=\"bad key\">2</entry></d>";
    assert_eq!(
        Value::Object(parse(SIG, reply).unwrap()),
        json!({"answer": "A & B", "tags": ["x", "y"], "n": 4, "d": {"k": 1, "bad key": 2}})
    );
    // Empty elements: an empty list and an empty dict.
    let reply = "<answer>ok</answer><tags></tags><n>0</n><d />";
    assert_eq!(
        Value::Object(parse(SIG, reply).unwrap()),
        json!({"answer": "ok", "tags": [], "n": 0, "d": {}})
    );
}

#[test]
fn replies_dspy_refuses_are_read() {
    // Text around the elements, a JSON list inside one, a bare `&`, an unclosed last element.
    let reply = "Here you go:\n<answer>Tom & Jerry</answer>\n<tags>[\"a\", \"b\"]</tags>\n<n> 7 </n>\n<d><k>1</k><j>2";
    assert_eq!(
        Value::Object(parse(SIG, reply).unwrap()),
        json!({"answer": "Tom & Jerry", "tags": ["a", "b"], "n": 7, "d": {"k": 1, "j": 2}})
    );
    // An optional field may be left out; a Literal is matched as ChatAdapter matches it.
    let sig =
        "q -> topic: Literal['sport', 'tech'], note: Optional[str], items: Optional[list[int]]";
    let got = parse(
        sig,
        "<topic>Tech</topic><items><item>1</item><item>02</item></items>",
    )
    .unwrap();
    assert_eq!(
        Value::Object(got),
        json!({"topic": "tech", "note": null, "items": [1, 2]})
    );
}

#[test]
fn a_missing_or_mistyped_field_is_a_clear_error() {
    let e = parse(SIG, "<answer>x</answer><tags><item>a</item></tags>").unwrap_err();
    assert!(
        e.contains("XMLAdapter") && e.contains("n") && e.contains("d"),
        "{e}"
    );
    let e = parse(SIG, "<answer>x</answer><tags/><n>many</n><d/>").unwrap_err();
    assert!(e.contains("`n`"), "{e}");
}

signature!(Tagger = "text -> label: Literal['pos', 'neg'], keywords: list[str]");

#[tokio::test]
async fn a_predictor_answers_through_it_and_falls_back_to_json() {
    let lm = ScriptedLm::new([
        "<label>pos</label>\n<keywords><item>great</item><item>fun</item></keywords>",
        // Not XML at all: the JSON fallback reads it.
        "oops",
        "{\"label\": \"neg\", \"keywords\": []}",
    ]);
    let p = Predict::<Tagger>::new()
        .with_lm(lm.clone())
        .with_adapter(XmlAdapter::new());
    let out = p
        .call(TaggerInput {
            text: "A great, fun film.".into(),
        })
        .await
        .unwrap();
    assert_eq!(out.label, TaggerLabel::Pos);
    assert_eq!(out.keywords, ["great", "fun"]);
    let sent = &lm.requests()[0];
    assert!(
        sent.messages[1]
            .content
            .contains("<text>\nA great, fun film.\n</text>")
    );
    assert!(sent.messages[1].content.ends_with(
        "Respond with the corresponding output fields wrapped in XML tags `<label>`, then `<keywords>`. Use this nested XML structure: <keywords><item>...</item></keywords>"
    ));
    let out = p
        .call(TaggerInput {
            text: "Dull.".into(),
        })
        .await
        .unwrap();
    assert_eq!(out.label, TaggerLabel::Neg);
    assert_eq!(out.adapter(), "JSONAdapter");
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Place {
    city: String,
    #[serde(default)]
    zip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Person {
    name: String,
    age: Option<i64>,
    homes: Vec<Place>,
}

/// Find the person.
#[derive(Signature)]
struct FindPerson {
    #[input]
    text: String,
    #[output]
    person: Person,
}

#[tokio::test]
async fn a_nested_model_is_read_from_nested_elements() {
    let reply = "<person>\n  <name>Ann &amp; Bo</name>\n  <age></age>\n  <homes>\n    <item><city>Leeds</city><zip>LS1</zip></item>\n    <item><city>York</city></item>\n  </homes>\n</person>";
    let p = Predict::<FindPerson>::new()
        .with_lm(ScriptedLm::new([reply]))
        .with_adapter(XmlAdapter::without_fallback());
    let out = p.call(FindPersonInput { text: "…".into() }).await.unwrap();
    assert_eq!(
        out.person,
        Person {
            name: "Ann & Bo".into(),
            age: None,
            homes: vec![
                Place {
                    city: "Leeds".into(),
                    zip: Some("LS1".into())
                },
                Place {
                    city: "York".into(),
                    zip: None
                },
            ],
        }
    );
}
