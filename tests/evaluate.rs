//! Evaluate and batch against a real HTTP server on 127.0.0.1: scores, order, errors,
//! max_errors, the concurrency bound, and the table / JSON / CSV / append outputs.

use crate::common;

use common::server::{FakeLm, Fault};
use common::{Qa, QaExample, QaInput, QaOutput};
use dspy::evaluate::Evaluate;
use dspy::lm::RetryPolicy;
use dspy::prelude::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn lm(server: &FakeLm) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .retry(RetryPolicy {
            max_retries: 0,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        })
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// `n` examples; the server answers `echo: <question>`, so every third label is wrong.
fn devset(n: usize) -> Vec<QaExample> {
    (0..n)
        .map(|i| {
            let q = format!("q{i}");
            let answer = if i % 3 == 0 {
                "wrong".to_string()
            } else {
                format!("echo: {q}")
            };
            Example::new(QaInput { question: q }, QaOutput { answer })
        })
        .collect()
}

fn metric(ex: &QaExample, pred: &Prediction<QaOutput>) -> bool {
    pred.answer == ex.label.answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_every_example_in_order_with_bounded_concurrency() {
    let server = FakeLm::start().await;
    server.set_latency(Duration::from_millis(20));
    let program = Predict::<Qa>::new().with_lm(lm(&server));
    let dev = devset(60);
    let result = Evaluate::new(&dev)
        .concurrency(8)
        .progress(false)
        .run(&program, metric)
        .await
        .unwrap();
    assert!(result.is_complete());
    assert_eq!(result.outcomes.len(), 60);
    assert_eq!(result.errors, 0);
    // 40 of 60 labels match the echo.
    assert_eq!(result.sum, 40.0);
    assert_eq!(result.score, 66.67);
    for (i, o) in result.outcomes.iter().enumerate() {
        assert_eq!(o.index, i);
        assert_eq!(o.prediction.as_ref().unwrap().answer, format!("echo: q{i}"));
        assert_eq!(o.score, if i % 3 == 0 { 0.0 } else { 1.0 });
    }
    assert_eq!(server.requests(), 60);
    assert_eq!(server.state.peak_in_flight.load(Ordering::SeqCst), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_score_the_failure_score_and_max_errors_stops_early() {
    let server = FakeLm::start().await;
    // Questions q5 and q7 get a 400 (not retried).
    server.set_plan(|req, _| {
        let body = req.body.to_string();
        (body.contains("q5\\n") || body.contains("q7\\n")).then_some(Fault::Status(400, None))
    });
    let program = Predict::<Qa>::new().with_lm(lm(&server));
    let dev = devset(12);
    let result = Evaluate::new(&dev)
        .concurrency(4)
        .failure_score(0.25)
        .progress(false)
        .run(&program, metric)
        .await
        .unwrap();
    assert!(result.is_complete());
    assert_eq!(result.errors, 2);
    let failed: Vec<usize> = result
        .outcomes
        .iter()
        .filter(|o| o.prediction.is_err())
        .map(|o| o.index)
        .collect();
    assert_eq!(failed, [5, 7]);
    assert_eq!(result.outcomes[5].score, 0.25);
    assert!(
        result.outcomes[5]
            .prediction
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("400")
    );
    // 12 examples: 0,3,6,9 wrong; 5,7 failed (0.25 each); 6 right.
    assert_eq!(result.sum, 6.5);

    // Every call fails: with max_errors 2 the third failure stops new starts.
    server.set_plan(|_, _| Some(Fault::Status(400, None)));
    let before = server.requests();
    let dev = devset(50);
    let result = Evaluate::new(&dev)
        .concurrency(2)
        .max_errors(2)
        .progress(false)
        .run(&program, metric)
        .await
        .unwrap();
    assert!(!result.is_complete());
    let why = result.stopped.as_deref().unwrap();
    assert!(why.contains("max_errors = 2"), "{why}");
    let ran = server.requests() - before;
    assert!((3..=4).contains(&ran), "{ran} calls");
    assert_eq!(result.outcomes.len() as u64, ran);
    assert_eq!(result.score, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_json_csv_and_append_file() {
    let server = FakeLm::start().await;
    server.set_plan(|req, _| {
        req.body
            .to_string()
            .contains("q1\\n")
            .then_some(Fault::Status(400, None))
    });
    let program = Predict::<Qa>::new().with_lm(lm(&server));
    let dev = devset(3);
    let dir = tempfile::tempdir().unwrap();
    let append = dir.path().join("outcomes.jsonl");
    let result = Evaluate::new(&dev)
        .progress(false)
        .append_to(&append)
        .run(&program, metric)
        .await
        .unwrap();

    let table = result.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "| # | question | expected answer | predicted answer | score |"
    );
    assert_eq!(lines[2], "| 0 | q0 | wrong | echo: q0 | 0 |");
    assert!(
        lines[3].starts_with("| 1 | q1 | echo: q1 | ERROR: "),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "| 2 | q2 | echo: q2 | echo: q2 | 1 |");
    assert!(
        lines[5].starts_with("Average Metric: 1.00 / 3 (33.3%), 1 error (0 unparsed), 0 coerced, "),
        "{}",
        lines[5]
    );

    let json_path = dir.path().join("result.json");
    result.save_json(&json_path).unwrap();
    let text = std::fs::read_to_string(&json_path).unwrap();
    assert!(text.ends_with("}\n"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["score"], 33.33);
    assert_eq!(v["outcomes"][2]["prediction"]["answer"], "echo: q2");
    assert!(v["outcomes"][1]["error"].as_str().unwrap().contains("400"));

    let csv_path = dir.path().join("result.csv");
    result.save_csv(&csv_path).unwrap();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("#,question,expected answer,predicted answer,score")
    );
    assert_eq!(csv.lines().nth(3), Some("2,q2,echo: q2,echo: q2,1"));

    // The append file has one line per finished example, whatever the order they finished in.
    let appended = std::fs::read_to_string(&append).unwrap();
    let mut seen: Vec<u64> = appended
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_keeps_input_order_and_per_item_errors() {
    let server = FakeLm::start().await;
    server.set_latency(Duration::from_millis(5));
    server.set_plan(|req, _| {
        req.body
            .to_string()
            .contains("q3\\n")
            .then_some(Fault::Status(400, None))
    });
    let program = Predict::<Qa>::new().with_lm(lm(&server));
    let inputs = (0..20).map(|i| QaInput {
        question: format!("q{i}"),
    });
    let results = program.batch_with(inputs, 5).await;
    assert_eq!(results.len(), 20);
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(p) => assert_eq!(p.answer, format!("echo: q{i}")),
            Err(e) => {
                assert_eq!(i, 3);
                assert!(matches!(e, dspy::Error::Lm(_)), "{e}");
            }
        }
    }
    assert!(results[3].is_err());
    assert_eq!(server.state.peak_in_flight.load(Ordering::SeqCst), 5);
}

/// Unparsed and coerced runs, LM calls and the answers are counted; a comparison table shows
/// them side by side.
#[tokio::test]
async fn results_count_unparsed_coerced_and_answers() {
    signature!(Topic = "headline -> topic: Literal['sport', 'tech']");
    let lm = ScriptedLm::keyed([
        ("goal", "[[ ## topic ## ]]\nSports\n\n[[ ## completed ## ]]"),
        ("chip", "[[ ## topic ## ]]\ntech\n\n[[ ## completed ## ]]"),
        ("noise", "I cannot decide."),
    ]);
    let example = |h: &str, t: &str| {
        Example::new(
            TopicInput { headline: h.into() },
            serde_json::json!({ "topic": t }),
        )
    };
    let dev = vec![
        example("a late goal", "sport"),
        example("a new chip", "tech"),
        example("noise", "tech"),
        example("another goal", "sport"),
    ];
    let p = Predict::<Topic>::new().with_lm(lm);
    let r = Evaluate::new(&dev)
        .progress(false)
        .run(&p, |ex, pred| {
            serde_json::to_value(pred.topic).unwrap() == ex.label["topic"]
        })
        .await
        .unwrap();
    assert_eq!(r.score, 75.0);
    assert_eq!((r.errors, r.unparsed(), r.coerced()), (1, 1, 2));
    assert_eq!(r.outcomes[0].coercions, 1, "`Sports` read as `sport`");
    // Two calls for the unparsed one: ChatAdapter, then its JSON fallback.
    assert_eq!(r.usage.calls, 5);
    let answers: Vec<(String, usize)> = r.answers().into_iter().collect();
    assert_eq!(
        answers,
        [
            ("(failed)".into(), 1),
            ("sport".into(), 2),
            ("tech".into(), 1)
        ]
    );
    assert!(
        r.summary()
            .contains("1 error (1 unparsed), 2 coerced, 5 LM calls"),
        "{}",
        r.summary()
    );
    let table = dspy::evaluate::compare(&[("first", &r), ("again", &r)]);
    assert!(table.contains("| first | 0.75 | 1 | 2 | 5 |"), "{table}");
    assert!(
        table.contains("again  {\"(failed)\": 1, \"sport\": 2, \"tech\": 1}"),
        "{table}"
    );
    let json = r.to_json();
    assert_eq!(
        (json["unparsed"].as_u64(), json["coerced"].as_u64()),
        (Some(1), Some(2))
    );
}

/// An input or label that does not serialize fails the evaluation before any LM call.
#[tokio::test]
async fn an_unserializable_label_fails_before_any_call() {
    struct Broken;
    impl serde::Serialize for Broken {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("broken on purpose"))
        }
    }
    let lm = ScriptedLm::new([common::reply("x")]);
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    let dev = vec![Example::new(
        QaInput {
            question: "q".into(),
        },
        Broken,
    )];
    let err = Evaluate::new(&dev)
        .progress(false)
        .run(&p, |_, _| true)
        .await
        .unwrap_err();
    assert!(matches!(err, dspy::Error::Serialize(_)), "{err}");
    assert!(
        err.to_string()
            .contains("example 0's label: broken on purpose"),
        "{err}"
    );
    assert_eq!(lm.remaining(), 1, "no call was spent");
}

/// The append file failing stops the evaluation from starting more examples.
#[cfg(unix)]
#[tokio::test]
async fn a_failing_append_file_stops_the_evaluation() {
    // /dev/full accepts the open and fails every write (ENOSPC).
    let dev = devset(40);
    let lm = ScriptedLm::fixed(common::reply("echo: q1"));
    let p = Predict::<Qa>::new().with_lm(lm);
    let err = Evaluate::new(&dev)
        .concurrency(1)
        .progress(false)
        .append_to("/dev/full")
        .run(&p, metric)
        .await
        .unwrap_err();
    assert!(matches!(err, dspy::Error::Io(_)), "{err}");
    assert!(err.to_string().contains("/dev/full"), "{err}");
}
