//! `dspy::stream`: output fields in chunks that join to the parsed values, with each adapter,
//! structured outputs growing item by item, paths and status messages in a program, SSE from
//! a real server on 127.0.0.1 cut at every offset, and a stream that stops mid-field.

use crate::common;

use common::two_step::{TwoStepInput, two_step};
use common::{Qa, QaInput};
use dspy::prelude::*;
use dspy::stream::{Status, StreamEvent};
use dspy::{LmError, signature};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a stream gave: each (predictor, field)'s joined chunks and whether its last chunk
/// came, partial values in order, statuses, and the result.
struct Seen<O> {
    fields: BTreeMap<(String, String), (String, bool)>,
    partials: Vec<(String, serde_json::Value)>,
    statuses: Vec<Status>,
    result: dspy::Result<O>,
}

async fn read<O>(mut events: dspy::Streaming<'_, O>) -> Seen<O> {
    let mut fields: BTreeMap<(String, String), (String, bool)> = BTreeMap::new();
    let (mut partials, mut statuses) = (Vec::new(), Vec::new());
    loop {
        match events.next().await.expect("a stream ends with Done") {
            StreamEvent::Chunk(c) => {
                let entry = fields.entry((c.predictor, c.field)).or_default();
                assert!(!entry.1, "a chunk after the field's last one");
                entry.0.push_str(&c.text);
                entry.1 |= c.last;
            }
            StreamEvent::Partial(p) => partials.push((p.field, p.value)),
            StreamEvent::Status(Status::Retry { predictor, adapter }) => {
                // The fallback's attempt streams its fields afresh.
                fields.retain(|(p, _), _| *p != predictor);
                partials.clear();
                statuses.push(Status::Retry { predictor, adapter });
            }
            StreamEvent::Status(s) => statuses.push(s),
            StreamEvent::Done(result) => {
                assert!(events.next().await.is_none(), "nothing after Done");
                return Seen {
                    fields,
                    partials,
                    statuses,
                    result,
                };
            }
            _ => {}
        }
    }
}

fn key(predictor: &str, field: &str) -> (String, String) {
    (predictor.to_string(), field.to_string())
}

fn sky() -> QaInput {
    QaInput {
        question: "Why is the sky blue?".into(),
    }
}

#[tokio::test]
async fn chain_of_thought_streams_each_field_and_chunks_join_to_the_prediction() {
    let reply = "[[ ## reasoning ## ]]\nSunlight scatters; blue scatters most.\n\n[[ ## answer ## ]]\nRayleigh  scattering.\n\n[[ ## completed ## ]]";
    for piece in [1, 3, 7, 1000] {
        let lm = ScriptedLm::new([reply]).streaming(piece);
        let cot = ChainOfThought::<Qa>::new().with_lm(lm);
        let seen = read(dspy::stream(&cot, sky())).await;
        let pred = seen.result.unwrap();
        assert_eq!(
            seen.fields[&key("predict", "reasoning")],
            (pred.reasoning.clone(), true)
        );
        assert_eq!(
            seen.fields[&key("predict", "answer")],
            (pred.answer.clone(), true)
        );
        assert_eq!(pred.answer, "Rayleigh  scattering.");
    }
}

signature!(
    /// Tag the text.
    Tags = "text: str -> tags: list[str], summary: str"
);

/// Streams `reply` through `adapter` in 2-char pieces: the summary's chunks join to the
/// parsed summary, and the tags list grows one item at a time.
async fn streams_with(reply: &str, adapter: impl Adapter) {
    let name = adapter.name();
    let lm = ScriptedLm::new([reply]).streaming(2);
    let p = Predict::<Tags>::new().with_lm(lm).with_adapter(adapter);
    let seen = read(dspy::stream(&p, TagsInput { text: "t".into() })).await;
    let pred = seen.result.unwrap();
    assert_eq!(
        seen.fields[&key("self", "summary")],
        (pred.summary.clone(), true),
        "{name}"
    );
    let grown: Vec<usize> = seen
        .partials
        .iter()
        .map(|(f, v)| {
            assert_eq!(f, "tags");
            v.as_array().unwrap().len()
        })
        .collect();
    assert_eq!(grown, [0, 1, 2, 3], "{name}");
    assert_eq!(
        seen.partials.last().unwrap().1,
        serde_json::json!(pred.tags)
    );
}

#[tokio::test]
async fn every_adapter_streams_and_a_list_grows_item_by_item() {
    streams_with(
        "[[ ## tags ## ]]\n[\"sky\", \"light, blue\", \"physics\"]\n\n[[ ## summary ## ]]\nWhy the sky is blue.\n\n[[ ## completed ## ]]",
        ChatAdapter::new(),
    )
    .await;
    streams_with(
        "{\"tags\": [\"sky\", \"light, blue\", \"physics\"], \"summary\": \"Why the \\\"sky\\\" is blue.\"}",
        JsonAdapter::new(),
    )
    .await;
    streams_with(
        "<tags>[\"sky\", \"light, blue\", \"physics\"]</tags>\n<summary>Why the sky &amp; sea are blue.</summary>",
        XmlAdapter::new(),
    )
    .await;
}

#[tokio::test]
async fn a_program_streams_with_its_predictors_paths_and_statuses() {
    let lm = ScriptedLm::new([
        "[[ ## query ## ]]\nsky colour cause\n\n[[ ## completed ## ]]",
        "[[ ## reasoning ## ]]\nScattering.\n\n[[ ## answer ## ]]\nBlue light scatters most.\n\n[[ ## completed ## ]]",
    ])
    .streaming(4);
    let program = two_step();
    let input = TwoStepInput {
        question: "Why blue?".into(),
    };
    let seen = dspy::with_lm(lm, read(dspy::stream(&program, input))).await;
    assert_eq!(seen.result.unwrap(), "Blue light scatters most.");
    let fields: Vec<_> = seen.fields.keys().cloned().collect();
    assert_eq!(
        fields,
        [
            key("answer.predict", "answer"),
            key("answer.predict", "reasoning"),
            key("rewrite", "query"),
        ]
    );
    assert_eq!(
        seen.statuses,
        [
            Status::ModuleStart {
                name: "TwoStep".into()
            },
            Status::ModuleEnd {
                name: "TwoStep".into(),
                ok: true
            },
        ]
    );
}

#[tokio::test]
async fn a_reply_that_does_not_parse_streams_again_after_a_retry_status() {
    let lm = ScriptedLm::new([
        "[[ ## reasoning ## ]]\nHalf a thought, and no answer.",
        "{\"reasoning\": \"Scattering.\", \"answer\": \"Blue.\"}",
    ])
    .streaming(3);
    let cot = ChainOfThought::<Qa>::new().with_lm(lm);
    let seen = read(dspy::stream(&cot, sky())).await;
    let pred = seen.result.unwrap();
    assert_eq!(pred.adapter(), "JSONAdapter");
    assert_eq!(
        seen.statuses,
        [Status::Retry {
            predictor: "predict".into(),
            adapter: "JSONAdapter".into()
        }]
    );
    assert_eq!(
        seen.fields[&key("predict", "reasoning")],
        ("Scattering.".to_string(), true)
    );
    assert_eq!(
        seen.fields[&key("predict", "answer")],
        ("Blue.".to_string(), true)
    );
}

#[tokio::test]
async fn an_lm_error_ends_the_stream_with_it() {
    let lm = ScriptedLm::new(Vec::<String>::new());
    let p = Predict::<Qa>::new().with_lm(lm);
    let seen = read(dspy::stream(&p, sky())).await;
    assert!(matches!(seen.result, Err(dspy::Error::Lm(_))));
    assert!(seen.fields.is_empty());
}

/// A server on 127.0.0.1 that streams `events` (each one SSE data payload's text delta) in
/// writes of `write` bytes, and ends with `[DONE]` when `done`; one connection per reply.
async fn sse_server(replies: Vec<(Vec<String>, bool)>, write: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for (deltas, done) in replies {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let mut got = Vec::new();
            // Read the request through its body.
            loop {
                let n = sock.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            let mut out = String::new();
            for d in deltas {
                let chunk = serde_json::json!({"choices": [{"delta": {"content": d}}]});
                out.push_str(&format!("data: {chunk}\n\n"));
            }
            if done {
                out.push_str("data: [DONE]\n\n");
            }
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            sock.write_all(head.as_bytes()).await.unwrap();
            for part in out.as_bytes().chunks(write) {
                sock.write_all(part).await.unwrap();
                sock.flush().await.unwrap();
            }
            let _ = sock.shutdown().await;
        }
    });
    format!("http://{addr}/v1")
}

fn http_lm(base: String) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(base)
        .cache(false)
        .retry(dspy::lm::RetryPolicy {
            max_retries: 0,
            ..Default::default()
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn sse_cut_at_every_offset_streams_the_same_fields() {
    let reply = "[[ ## reasoning ## ]]\nLight «scatters».\n\n[[ ## answer ## ]]\nBlue.\n\n[[ ## completed ## ]]";
    let cuts: Vec<usize> = (0..=reply.len())
        .filter(|&i| reply.is_char_boundary(i))
        .collect();
    // One reply per cut (two events split there), then one event per char, written in
    // 5-byte pieces so events themselves arrive split.
    let mut replies: Vec<(Vec<String>, bool)> = cuts
        .iter()
        .map(|&i| (vec![reply[..i].to_string(), reply[i..].to_string()], true))
        .collect();
    replies.push((reply.chars().map(String::from).collect(), true));
    let base = sse_server(replies.clone(), 5).await;
    let cot = ChainOfThought::<Qa>::new().with_lm(http_lm(base));
    for (deltas, _) in &replies {
        let seen = read(dspy::stream(&cot, sky())).await;
        let pred = seen
            .result
            .unwrap_or_else(|e| panic!("deltas {deltas:?}: {e}"));
        assert_eq!(pred.answer, "Blue.");
        assert_eq!(
            seen.fields[&key("predict", "reasoning")],
            ("Light «scatters».".to_string(), true),
            "deltas {deltas:?}"
        );
        assert_eq!(
            seen.fields[&key("predict", "answer")],
            ("Blue.".to_string(), true),
            "deltas {deltas:?}"
        );
    }
}

#[tokio::test]
async fn a_stream_that_stops_mid_field_is_a_typed_error() {
    let cut = vec!["[[ ## answer ## ]]\nThe sky is bl".to_string()];
    let base = sse_server(vec![(cut, false)], 64).await;
    let p = Predict::<Qa>::new().with_lm(http_lm(base));
    let seen = read(dspy::stream(&p, sky())).await;
    match seen.result {
        Err(dspy::Error::Lm(LmError::Transport(m))) => {
            assert!(m.contains("stopped before its end"), "{m}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    // What came was shown, and the field was not said to be complete.
    assert_eq!(
        seen.fields[&key("self", "answer")],
        ("The sky is bl".to_string(), false)
    );
}
