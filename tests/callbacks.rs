//! The call context and its callbacks: every event of a program run, nested as the calls are;
//! per-module, scoped and process-wide callbacks; usage, history and traces for an LM that
//! records nothing itself; the context carried into a spawned task.

use dspy::context::{
    self, Call, Callback, EvaluateEnd, EvaluateStart, FormatEnd, FormatStart, LmEnd, ModuleEnd,
    ModuleStart, ParseEnd, ParseStart, ToolEnd, ToolStart,
};
use dspy::lm::{BoxFuture, LmError, LmRequest, LmResponse, Usage};
use dspy::prelude::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

use crate::common;
use common::two_step::{TwoStepInput, two_step};
use common::{Qa, QaInput, reply};

/// One event as recorded: kind, start or end, name, own id, parent id, predictor seen.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    what: String,
    name: String,
    id: u64,
    parent: Option<u64>,
    predictor: bool,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl Recorder {
    fn push(&self, what: &str, call: &Call<'_>) {
        self.0.lock().unwrap().push(Seen {
            what: what.into(),
            name: call.name.to_string(),
            id: call.id,
            parent: call.parent,
            predictor: call.predictor.is_some(),
        });
    }
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
    fn whats(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .map(|s| format!("{} {}", s.what, s.name))
            .collect()
    }
}

impl Callback for Recorder {
    fn on_module_start(&self, call: &Call<'_>, e: &ModuleStart<'_>) {
        assert!(!e.inputs.is_empty());
        self.push("module+", call);
    }
    fn on_module_end(&self, call: &Call<'_>, e: &ModuleEnd<'_>) {
        let what = match e.outputs {
            Ok(Some(_)) => "module-",
            Ok(None) => "module- (no fields)",
            Err(_) => "module- (error)",
        };
        self.push(what, call);
    }
    fn on_lm_start(&self, call: &Call<'_>, r: &LmRequest) {
        assert!(!r.messages.is_empty());
        self.push("lm+", call);
    }
    fn on_lm_end(&self, call: &Call<'_>, e: &LmEnd<'_>) {
        self.push(
            if e.response.is_ok() {
                "lm-"
            } else {
                "lm- (error)"
            },
            call,
        );
    }
    fn on_adapter_format_start(&self, call: &Call<'_>, _: &FormatStart<'_>) {
        self.push("format+", call);
    }
    fn on_adapter_format_end(&self, call: &Call<'_>, e: &FormatEnd<'_>) {
        assert!(!e.messages.is_empty());
        self.push("format-", call);
    }
    fn on_adapter_parse_start(&self, call: &Call<'_>, _: &ParseStart<'_>) {
        self.push("parse+", call);
    }
    fn on_adapter_parse_end(&self, call: &Call<'_>, e: &ParseEnd<'_>) {
        self.push(
            if e.result.is_ok() {
                "parse-"
            } else {
                "parse- (error)"
            },
            call,
        );
    }
    fn on_tool_start(&self, call: &Call<'_>, _: &ToolStart<'_>) {
        self.push("tool+", call);
    }
    fn on_tool_end(&self, call: &Call<'_>, _: &ToolEnd<'_>) {
        self.push("tool-", call);
    }
    fn on_evaluate_start(&self, call: &Call<'_>, e: &EvaluateStart) {
        assert_eq!(e.examples, 2);
        self.push("evaluate+", call);
    }
    fn on_evaluate_end(&self, call: &Call<'_>, e: &EvaluateEnd) {
        assert_eq!(e.evaluated, 2);
        self.push("evaluate-", call);
    }
}

fn keyed_lm() -> ScriptedLm {
    ScriptedLm::keyed([
        (
            "[[ ## question ## ]]\nWhat is 2+2?",
            "[[ ## query ## ]]\nsum of two and two\n\n[[ ## completed ## ]]",
        ),
        (
            "sum of two and two",
            "[[ ## reasoning ## ]]\nArithmetic.\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]",
        ),
    ])
}

#[tokio::test]
async fn a_program_run_is_a_tree_of_events() {
    let rec = Arc::new(Recorder::default());
    let program = two_step();
    let out = context::scope()
        .lm(keyed_lm())
        .callback_arc(rec.clone())
        .run(program.forward(TwoStepInput {
            question: "What is 2+2?".into(),
        }))
        .await
        .unwrap();
    assert_eq!(out, "4");
    assert_eq!(
        rec.whats(),
        [
            "module+ TwoStep",
            "module+ Predict",
            "format+ ChatAdapter",
            "format- ChatAdapter",
            "lm+ scripted",
            "lm- scripted",
            "parse+ ChatAdapter",
            "parse- ChatAdapter",
            "module- Predict",
            "module+ ChainOfThought",
            "format+ ChatAdapter",
            "format- ChatAdapter",
            "lm+ scripted",
            "lm- scripted",
            "parse+ ChatAdapter",
            "parse- ChatAdapter",
            "module- ChainOfThought",
            "module- TwoStep",
        ]
        .map(String::from)
    );
}

#[tokio::test]
async fn parents_link_each_step_to_its_call() {
    let rec = Arc::new(Recorder::default());
    let program = two_step();
    let input = TwoStepInput {
        question: "What is 2+2?".into(),
    };
    context::scope()
        .lm(keyed_lm())
        .callback_arc(rec.clone())
        .run(program.forward(input))
        .await
        .unwrap();
    let seen = rec.seen();
    let program_call = &seen[0];
    assert_eq!(
        (program_call.what.as_str(), program_call.name.as_str()),
        ("module+", "TwoStep")
    );
    assert_eq!(program_call.parent, None);
    assert!(!program_call.predictor);
    let predict = &seen[1];
    assert_eq!(predict.parent, Some(program_call.id), "{seen:#?}");
    assert!(predict.predictor);
    for step in &seen[2..8] {
        assert_eq!(step.parent, Some(predict.id), "{step:?}");
        assert!(step.predictor);
    }
    let cot = seen.iter().find(|s| s.name == "ChainOfThought").unwrap();
    assert_eq!(cot.parent, Some(program_call.id));
    let end = seen.last().unwrap();
    assert_eq!((end.what.as_str(), end.id), ("module-", program_call.id));
}

#[tokio::test]
async fn a_per_module_callback_sees_only_its_module() {
    let rec = Arc::new(Recorder::default());
    struct Shared(Arc<Recorder>);
    impl Callback for Shared {
        fn on_module_start(&self, c: &Call<'_>, e: &ModuleStart<'_>) {
            self.0.on_module_start(c, e)
        }
        fn on_module_end(&self, c: &Call<'_>, e: &ModuleEnd<'_>) {
            self.0.on_module_end(c, e)
        }
        fn on_lm_end(&self, c: &Call<'_>, e: &LmEnd<'_>) {
            self.0.on_lm_end(c, e)
        }
    }
    let mut program = two_step();
    program.answer = ChainOfThought::new().with_callback(Shared(rec.clone()));
    dspy::with_lm(keyed_lm(), program.call("What is 2+2?".to_string()))
        .await
        .unwrap();
    assert_eq!(
        rec.whats(),
        [
            "module+ ChainOfThought",
            "lm- scripted",
            "module- ChainOfThought"
        ]
        .map(String::from)
    );
}

#[tokio::test]
async fn failures_end_their_calls_with_the_error() {
    let rec = Arc::new(Recorder::default());
    let lm = ScriptedLm::new(["no markers at all", "still nothing"]);
    let p = Predict::<Qa>::new().with_lm(lm);
    let err = context::scope()
        .callback_arc(rec.clone())
        .run(p.call(QaInput {
            question: "q".into(),
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, dspy::Error::Parse(_)), "{err}");
    let whats = rec.whats();
    // ChatAdapter, then its JSON fallback, both failing; the module ends with the error.
    assert_eq!(whats.first().unwrap(), "module+ Predict");
    assert!(whats.contains(&"parse- (error) ChatAdapter".to_string()));
    assert!(whats.contains(&"parse- (error) JSONAdapter".to_string()));
    assert_eq!(whats.last().unwrap(), "module- (error) Predict");

    let rec = Arc::new(Recorder::default());
    let lm = ScriptedLm::new(Vec::<String>::new());
    lm.push_error(LmError::Timeout(std::time::Duration::from_secs(1)));
    let p = Predict::<Qa>::new().with_lm(lm);
    let _ = context::scope()
        .callback_arc(rec.clone())
        .run(p.call(QaInput {
            question: "q".into(),
        }))
        .await
        .unwrap_err();
    assert!(rec.whats().contains(&"lm- (error) scripted".to_string()));
}

/// An LM that reports usage but records nothing anywhere.
struct Silent;

impl LanguageModel for Silent {
    fn model(&self) -> &str {
        "silent"
    }
    fn complete(&self, _request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        Box::pin(async {
            Ok(LmResponse {
                outputs: vec![reply("quiet")],
                usage: Usage {
                    prompt_tokens: 7,
                    completion_tokens: 3,
                },
                cache_hit: false,
                ..Default::default()
            })
        })
    }
}

#[tokio::test]
async fn usage_history_and_traces_for_any_lm() {
    let p = Predict::<Qa>::new().with_lm(Silent);
    let ((), report) = dspy::track_usage(async {
        let ((), inner) = dspy::track_usage(async {
            p.call(QaInput {
                question: "unique question for the history test".into(),
            })
            .await
            .unwrap();
        })
        .await;
        assert_eq!(inner.calls, 1);
        p.call(QaInput {
            question: "second".into(),
        })
        .await
        .unwrap();
    })
    .await;
    assert_eq!(report.calls, 2);
    assert_eq!(report.usage.prompt_tokens, 14);
    assert_eq!(report.usage.completion_tokens, 6);

    let history = dspy::lm::History::global().render(50);
    assert!(
        history.contains("unique question for the history test"),
        "{history}"
    );
    assert!(history.contains("quiet"));

    let (result, trace) = dspy::optimize::traced(async {
        p.call(QaInput {
            question: "traced".into(),
        })
        .await
        .unwrap();
        dspy::optimize::trace().map(|t| t.len())
    })
    .await;
    assert_eq!(result, Some(1), "the trace is readable inside the run");
    assert_eq!(trace.len(), 1);
    assert_eq!(trace[0].inputs["question"], json!("traced"));
    assert_eq!(trace[0].outputs["answer"], json!("quiet"));
    assert_eq!(dspy::optimize::trace(), None);
}

#[tokio::test]
async fn the_context_crosses_into_a_spawned_task_when_carried() {
    let rec = Arc::new(Recorder::default());
    let handle = context::scope()
        .lm(ScriptedLm::fixed(reply("spawned")))
        .callback_arc(rec.clone())
        .run(async {
            let carried = tokio::spawn(context::current().run(async {
                Predict::<Qa>::new()
                    .call(QaInput {
                        question: "x".into(),
                    })
                    .await
                    .map(|p| p.answer.clone())
            }));
            let bare = tokio::spawn(async { context::current().is_dry_run() });
            (carried.await.unwrap(), bare.await.unwrap())
        })
        .await;
    assert_eq!(handle.0.unwrap(), "spawned");
    assert!(!handle.1);
    assert!(rec.whats().contains(&"lm- scripted".to_string()));
}

#[tokio::test]
async fn tools_and_evaluations_have_events() {
    let rec = Arc::new(Recorder::default());
    let args = json!({"city": "Paris"});
    let out = context::scope()
        .callback_arc(rec.clone())
        .run(context::run_tool("weather", &args, async {
            Ok(json!("sunny"))
        }))
        .await
        .unwrap();
    assert_eq!(out, json!("sunny"));
    assert_eq!(
        rec.whats(),
        ["tool+ weather", "tool- weather"].map(String::from)
    );

    let rec = Arc::new(Recorder::default());
    let devset = vec![
        dspy::Example::new(
            QaInput {
                question: "a".into(),
            },
            json!({"answer": "quiet"}),
        ),
        dspy::Example::new(
            QaInput {
                question: "b".into(),
            },
            json!({"answer": "loud"}),
        ),
    ];
    let p = Predict::<Qa>::new().with_lm(Silent);
    let result = context::scope()
        .callback_arc(rec.clone())
        .run(
            Evaluate::new(&devset)
                .progress(false)
                .run(&p, |ex, pred| ex.label["answer"] == pred.answer),
        )
        .await
        .unwrap();
    assert_eq!(result.score, 50.0);
    let seen = rec.seen();
    assert_eq!(seen.first().unwrap().what, "evaluate+");
    assert_eq!(seen.last().unwrap().what, "evaluate-");
    let eval_id = seen[0].id;
    let modules: Vec<&Seen> = seen.iter().filter(|s| s.what == "module+").collect();
    assert_eq!(modules.len(), 2);
    assert!(modules.iter().all(|m| m.parent == Some(eval_id)));
}

#[tokio::test]
async fn keyed_script_answers_concurrent_callers_by_input() {
    let lm = ScriptedLm::keyed([
        ("[[ ## question ## ]]\none", reply("1")),
        ("[[ ## question ## ]]\ntwo", reply("2")),
    ]);
    let p = Predict::<Qa>::new().with_lm(lm.clone());
    let inputs = ["two", "one", "two", "one", "three"].map(|q| QaInput { question: q.into() });
    let out = p.batch(inputs).await;
    let answers: Vec<String> = out
        .iter()
        .map(|r| match r {
            Ok(p) => p.answer.clone(),
            Err(e) => e.to_string(),
        })
        .collect();
    assert_eq!(&answers[..4], ["2", "1", "2", "1"]);
    assert!(answers[4].contains("none of the keys"), "{}", answers[4]);
    assert_eq!(lm.requests().len(), 5);
}

#[tokio::test]
async fn spans_callback_makes_a_span_tree() {
    let logs = common::logs::Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    context::scope()
        .lm(keyed_lm())
        .callback(context::TracingSpans::new())
        .run(two_step().forward(TwoStepInput {
            question: "What is 2+2?".into(),
        }))
        .await
        .unwrap();
    let text = logs.text();
    // The LM span closes inside its predictor's span, inside the program's.
    let lm_line = text
        .lines()
        .find(|l| l.contains("gen_ai.operation.name=\"chat\""))
        .unwrap_or_else(|| panic!("no LM span in:\n{text}"));
    assert!(lm_line.contains("dspy{"), "{lm_line}");
    assert!(lm_line.contains("gen_ai.usage.input_tokens="), "{lm_line}");
    assert!(lm_line.contains("dspy.name=\"TwoStep\""), "{lm_line}");
    assert!(
        text.contains("otel.name=\"Module ChainOfThought\""),
        "{text}"
    );
}

#[tokio::test]
async fn scopes_apply_where_they_run_so_any_nesting_order_counts() {
    // `with_lm` built before `track_usage` enters its scope must not drop the tracker.
    let p = Predict::<Qa>::new();
    let (answer, report) = dspy::track_usage(dspy::with_lm(
        Silent,
        p.call(QaInput {
            question: "nested".into(),
        }),
    ))
    .await;
    assert_eq!(answer.unwrap().answer, "quiet");
    assert_eq!(report.calls, 1);

    // A scope's LM-call limit holds across concurrent modules.
    let ((), report) = dspy::track_usage(context::scope().max_in_flight(1).lm(Silent).run(async {
        let out = p
            .batch((0..4).map(|i| QaInput {
                question: format!("q{i}"),
            }))
            .await;
        assert!(out.iter().all(Result::is_ok));
    }))
    .await;
    assert_eq!(report.calls, 4);
}
