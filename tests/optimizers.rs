//! Optimizers against a deterministic in-process LM (its answer depends only on the question,
//! so concurrent and sequential runs see the same replies): BootstrapFewShot picks the demos a
//! sequential run picks, builds demos for every stage from traces, keeps the teacher from seeing
//! the example it is bootstrapping, and reports what it spent.

use dspy::lm::{BoxFuture, LanguageModel, LmError, LmRequest, LmResponse, Usage};
use dspy::optimize::BootstrapFewShot;
use dspy::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

/// Replies `[[ ## reasoning ## ]]` (when asked) and `[[ ## answer ## ]]` = the question's number
/// doubled, after a delay that varies by question (so concurrent runs finish out of order).
#[derive(Clone, Default)]
struct Doubler {
    prompts: Arc<Mutex<Vec<String>>>,
}

fn question_of(prompt: &str) -> String {
    prompt
        .rsplit("[[ ## question ## ]]\n")
        .next()
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or("")
        .to_string()
}

impl LanguageModel for Doubler {
    fn model(&self) -> &str {
        "test/doubler"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let last = request
            .messages
            .last()
            .map(|m| m.content.to_string())
            .unwrap_or_default();
        let all: String = request
            .messages
            .iter()
            .map(|m| m.content.to_string())
            .collect();
        self.prompts.lock().unwrap().push(all);
        let q = question_of(&last);
        let n: u64 = q
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or(0);
        let reasoning = if last.contains("[[ ## reasoning ## ]]") {
            format!("[[ ## reasoning ## ]]\nDouble {n}.\n\n")
        } else {
            String::new()
        };
        let text = format!(
            "{reasoning}[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]",
            2 * n
        );
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1 + (n * 7) % 5)).await;
            let usage = Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
            };
            Ok(LmResponse {
                outputs: vec![text],
                usage,
                cache_hit: false,
                ..Default::default()
            })
        })
    }
}

fn trainset(n: u64) -> Vec<QaExample> {
    (0..n)
        .map(|i| {
            Example::new(
                QaInput {
                    question: format!("What is {i} doubled?"),
                },
                QaOutput {
                    answer: (2 * i).to_string(),
                },
            )
        })
        .collect()
}

/// DSPy's benchmark metric: every 8th example passes.
fn sparse(ex: &QaExample, pred: &Prediction<Reasoned<QaOutput>>) -> bool {
    let n: u64 = ex.label.answer.parse().unwrap_or(1) / 2;
    n.is_multiple_of(8) && pred.answer == ex.label.answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bootstrap_picks_the_sequential_demos() {
    let lm = Doubler::default();
    let student = ChainOfThought::<Qa>::new().with_lm(lm.clone());
    let train = trainset(50);
    let sequential = BootstrapFewShot::new().concurrency(1);
    let (seq, seq_report) = sequential.compile(&student, &train, sparse).await.unwrap();
    let (conc, conc_report) = BootstrapFewShot::new()
        .concurrency(8)
        .compile(&student, &train, sparse)
        .await
        .unwrap();
    assert_eq!(seq.demos(), conc.demos());
    // Four bootstrapped (examples 0, 8, 16, 24: augmented, with the teacher's reasoning) then
    // labelled ones up to 16.
    let demos = conc.demos();
    assert_eq!(demos.len(), 16);
    let boot: Vec<&str> = demos[..4]
        .iter()
        .map(|d| d.get("question").and_then(|v| v.as_str()).unwrap())
        .collect();
    assert_eq!(
        boot,
        [
            "What is 0 doubled?",
            "What is 8 doubled?",
            "What is 16 doubled?",
            "What is 24 doubled?"
        ]
    );
    for d in &demos[..4] {
        assert_eq!(d.get("augmented"), Some(&serde_json::json!(true)));
        assert!(d.get("reasoning").is_some());
    }
    for d in &demos[4..] {
        assert!(d.get("augmented").is_none());
        let q = d.get("question").and_then(|v| v.as_str()).unwrap();
        assert!(!boot.contains(&q), "{q} is bootstrapped and labelled");
    }
    // Sequential: 25 teacher runs (0..=24); concurrent: at most 7 more.
    assert_eq!(seq_report.tried, 25);
    assert!(
        conc_report.tried >= 25 && conc_report.tried <= 25 + 7,
        "{conc_report}"
    );
    assert_eq!(conc_report.usage.calls, conc_report.tried as u64);
    assert_eq!(conc_report.demos["predict"], (4, 12));
}

#[tokio::test]
async fn the_teacher_never_sees_the_example_it_bootstraps() {
    let lm = Doubler::default();
    let student = ChainOfThought::<Qa>::new().with_lm(lm.clone());
    let train = trainset(10);
    let all = |_: &QaExample, _: &Prediction<Reasoned<QaOutput>>| true;
    let (_, report) = BootstrapFewShot::new()
        .max_bootstrapped_demos(10)
        .compile(&student, &train, all)
        .await
        .unwrap();
    assert_eq!(report.bootstrapped, 10);
    // Every teacher prompt holds the 9 other examples as demos, never its own question twice.
    for prompt in lm.prompts.lock().unwrap().iter() {
        let q = question_of(prompt);
        assert_eq!(
            prompt.matches(&q).count(),
            1,
            "{q} appears as a demo of itself"
        );
    }
}

/// Double the number in the question.
#[derive(Signature)]
struct Double {
    #[input]
    question: String,
    #[output]
    answer: String,
}

program! {
    /// Two stages: the second checks the first.
    #[derive(Clone)]
    struct TwoStage {
        first: Predict<Qa>,
        second: ChainOfThought<Double>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let a = self.first(question: &question).await?.answer.clone();
        let b = self.second(question: format!("{question} ({a})")).await?.answer.clone();
        Ok(b)
    }
}

#[tokio::test]
async fn every_stage_of_a_program_gets_demos_from_traces() {
    let lm = Doubler::default();
    let program = TwoStage {
        first: Predict::new().with_lm(lm.clone()),
        second: ChainOfThought::new().with_lm(lm.clone()),
    };
    let train: Vec<Example<TwoStageInput, QaOutput>> = trainset(6)
        .into_iter()
        .map(|e| {
            Example::new(
                TwoStageInput {
                    question: e.input.question,
                },
                e.label,
            )
        })
        .collect();
    let metric = |ex: &Example<TwoStageInput, QaOutput>, out: &String| *out == ex.label.answer;
    let (compiled, report) = BootstrapFewShot::new()
        .max_bootstrapped_demos(2)
        .max_labeled_demos(3)
        .compile(&program, &train, metric)
        .await
        .unwrap();
    assert_eq!(report.bootstrapped, 2);
    assert_eq!(report.demos["first"], (2, 1));
    assert_eq!(report.demos["second.predict"], (2, 1));
    let second = compiled.second.demos();
    assert_eq!(
        second[0].get("question").and_then(|v| v.as_str()),
        Some("What is 0 doubled? (0)")
    );
    assert!(second[0].get("reasoning").is_some());
    // The student's own slots were untouched.
    assert!(program.first.demos().is_empty());
}

/// Answers right only when the prompt shows at least two demos: demos "teach" it.
#[derive(Clone, Default)]
struct Learner;

impl LanguageModel for Learner {
    fn model(&self) -> &str {
        "test/learner"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let demos = request
            .messages
            .iter()
            .filter(|m| m.role == dspy::lm::MessageRole::Assistant)
            .count();
        let last = request
            .messages
            .last()
            .map(|m| m.content.to_string())
            .unwrap_or_default();
        let n: u64 = question_of(&last)
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or(0);
        let answer = if demos >= 2 { 2 * n } else { 2 * n + 1 };
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 2,
        };
        let text = format!("[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]");
        Box::pin(async move {
            Ok(LmResponse {
                outputs: vec![text],
                usage,
                cache_hit: false,
                ..Default::default()
            })
        })
    }
}

fn exact(ex: &QaExample, pred: &Prediction<QaOutput>) -> bool {
    pred.answer == ex.label.answer
}

#[tokio::test]
async fn random_search_keeps_the_best_candidate() {
    use dspy::optimize::RandomSearch;
    let student = Predict::<Qa>::new().with_lm(Learner);
    let train = trainset(12);
    let (best, report) = RandomSearch::new(2)
        .compile(&student, &train, exact)
        .await
        .unwrap();
    let labels: Vec<&str> = report.candidates.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels.len(), 5, "{report}");
    assert_eq!(&labels[..3], ["zero-shot", "labeled", "bootstrap"]);
    assert!(labels[3].starts_with("bootstrap seed 0 ("), "{report}");
    assert_eq!(report.candidates[0].score, 0.0, "{report}");
    assert_eq!(report.candidates[1].score, 100.0, "{report}");
    assert_eq!(report.best, 1, "the first of equal scores wins: {report}");
    assert_eq!(best.demos().len(), 12);
    let per_candidate: u64 = report.candidates.iter().map(|c| c.lm_calls).sum();
    assert_eq!(per_candidate, report.usage.calls);
}

/// The Learner, holding each call open a little while counting the calls in flight.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<std::sync::atomic::AtomicUsize>,
    peak: Arc<std::sync::atomic::AtomicUsize>,
}

impl LanguageModel for Gauge {
    fn model(&self) -> &str {
        "test/gauge"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        use std::sync::atomic::Ordering::SeqCst;
        let reply = Learner.complete(request);
        Box::pin(async move {
            let n = self.now.fetch_add(1, SeqCst) + 1;
            self.peak.fetch_max(n, SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.now.fetch_sub(1, SeqCst);
            reply.await
        })
    }
}

/// Candidates are not all run at once: the calls in flight never exceed the configured
/// concurrency (it was candidates × concurrency), and stop_at_score stops the search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_search_bounds_the_calls_in_flight() {
    use dspy::optimize::RandomSearch;
    let gauge = Gauge::default();
    let student = Predict::<Qa>::new().with_lm(gauge.clone());
    let train = trainset(12);
    let (_, report) = RandomSearch::new(3)
        .concurrency(3)
        .bootstrap(BootstrapFewShot::new().concurrency(3))
        .compile(&student, &train, exact)
        .await
        .unwrap();
    assert_eq!(report.candidates.len(), 6, "{report}");
    let peak = gauge.peak.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "peak {peak} calls in flight");

    let (_, stopped) = RandomSearch::new(3)
        .stop_at_score(100.0)
        .compile(&student, &train, exact)
        .await
        .unwrap();
    let labels: Vec<&str> = stopped
        .candidates
        .iter()
        .map(|c| c.label.as_str())
        .collect();
    assert_eq!(labels, ["zero-shot", "labeled"], "{stopped}");
    assert!(stopped.usage.calls < report.usage.calls);
}

/// The Learner, logging each call's prompt prefix (every message but the last: instructions
/// and demos) and question as the call starts, and holding the call a while.
#[derive(Clone, Default)]
struct PrefixLog {
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl LanguageModel for PrefixLog {
    fn model(&self) -> &str {
        "test/prefix-log"
    }
    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let n = request.messages.len().saturating_sub(1);
        let prefix: String = request.messages[..n]
            .iter()
            .map(|m| m.content.to_string())
            .collect();
        let question = request
            .messages
            .last()
            .map(|m| question_of(m.content.as_ref()))
            .unwrap_or_default();
        self.calls.lock().unwrap().push((prefix, question));
        let reply = Learner.complete(request);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            reply.await
        })
    }
}

/// Candidates run concurrently, but each candidate's evaluation calls (which share its demos
/// as a prompt prefix) reach the LM back to back: the prefix changes a few times per candidate,
/// not on every few calls as when the candidates' calls interleave (35 of 143 changes
/// before; 5 is the least there can be).
#[tokio::test]
async fn random_search_sends_each_candidates_calls_together() {
    use dspy::optimize::RandomSearch;
    let log = PrefixLog::default();
    let student = Predict::<Qa>::new().with_lm(log.clone());
    let train = trainset(8);
    // Validation questions the training set does not ask, to tell evaluation calls apart.
    let val: Vec<QaExample> = trainset(124).split_off(100);
    let (_, report) = RandomSearch::new(3)
        .concurrency(4)
        .bootstrap(BootstrapFewShot::new().max_rounds(1))
        .compile_with_valset(&student, &train, &val, exact)
        .await
        .unwrap();
    assert_eq!(report.candidates.len(), 6, "{report}");
    let calls = log.calls.lock().unwrap();
    let evals: Vec<&String> = calls
        .iter()
        .filter(|(_, q)| {
            q.split_whitespace()
                .find_map(|w| w.parse::<u64>().ok())
                .is_some_and(|n| n >= 100)
        })
        .map(|(p, _)| p)
        .collect();
    assert_eq!(evals.len(), 6 * 24);
    let switches = evals.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches <= 6 * 2,
        "{switches} prefix changes over {} evaluation calls of 6 candidates",
        evals.len()
    );
}

#[tokio::test]
async fn ensemble_takes_the_majority() {
    use dspy::optimize::{Ensemble, majority_by};
    let voter = |answer: &str| {
        Predict::<Qa>::new().with_lm(ScriptedLm::fixed(format!(
            "[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
        )))
    };
    let ensemble = Ensemble::new(
        vec![voter("b"), voter("a"), voter("a")],
        majority_by(|p: &Prediction<QaOutput>| p.answer.clone()),
    );
    let q = || QaInput {
        question: "?".into(),
    };
    assert_eq!(ensemble.forward(q()).await.unwrap().answer, "a");
    assert_eq!(
        ensemble.paths(),
        ["programs[0]", "programs[1]", "programs[2]"]
    );
    let tie = Ensemble::new(vec![voter("x"), voter("y")], dspy::optimize::majority);
    assert_eq!(tie.forward(q()).await.unwrap().answer, "x");
    let broken = Ensemble::new(
        vec![Predict::<Qa>::new().with_lm(ScriptedLm::new(Vec::<String>::new()))],
        dspy::optimize::majority,
    );
    assert!(broken.forward(q()).await.is_err());
}

/// Embeds "What is N doubled?" as a point on the unit circle at angle N / 10.
struct Angle;

impl dspy::lm::Embedder for Angle {
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Vec<Vec<f32>>, LmError>> {
        let out = texts
            .iter()
            .map(|t| {
                let n: f32 = t
                    .split_whitespace()
                    .find_map(|w| w.parse().ok())
                    .unwrap_or(0.0);
                vec![(n / 10.0).cos(), (n / 10.0).sin()]
            })
            .collect();
        Box::pin(async move { Ok(out) })
    }
}

#[tokio::test]
async fn knn_shows_the_nearest_examples() {
    use dspy::optimize::KnnFewShot;
    let lm = Doubler::default();
    let student = Predict::<Qa>::new().with_lm(lm.clone());
    let (knn, ()) = KnnFewShot::new(3, Angle)
        .compile(&student, &trainset(20), |_, _| true)
        .await
        .unwrap();
    let pred = knn
        .forward(QaInput {
            question: "What is 11 doubled?".into(),
        })
        .await
        .unwrap();
    assert_eq!(pred.answer, "22");
    let prompt = lm.prompts.lock().unwrap().last().cloned().unwrap();
    for near in [
        "What is 10 doubled?",
        "What is 11 doubled?",
        "What is 12 doubled?",
    ] {
        assert!(prompt.contains(near), "{near} missing");
    }
    assert!(!prompt.contains("What is 3 doubled?"));
}

#[tokio::test]
async fn a_teacher_lm_teaches_a_student_without_one() {
    // The student's predictor has no LM of its own: the teacher LM answers the bootstrap runs.
    let teacher = Doubler::default();
    let student = ChainOfThought::<Qa>::new();
    let all = |_: &QaExample, _: &Prediction<Reasoned<QaOutput>>| true;
    let (compiled, report) = BootstrapFewShot::new()
        .max_bootstrapped_demos(2)
        .concurrency(1)
        .teacher_lm(teacher.clone())
        .compile(&student, &trainset(4), all)
        .await
        .unwrap();
    assert_eq!(report.bootstrapped, 2);
    assert_eq!(teacher.prompts.lock().unwrap().len(), 2);
    assert_eq!(
        compiled.demos()[0].get("reasoning"),
        Some(&serde_json::json!("Double 0."))
    );
}

signature!(GenQuery = "question -> query");
signature!(AnswerFromQuery = "query, question -> answer");

program! {
    /// A query stage whose signature has no `answer`, then an answer stage.
    struct QueryThenAnswer {
        query: Predict<GenQuery>,
        answer: Predict<AnswerFromQuery>,
    }

    async fn forward(&self, question: String) -> dspy::Result<Prediction<AnswerFromQueryOutput>> {
        let query = self.query(question: &question).await?.query.clone();
        self.answer(query, question).await
    }
}

/// DSPy's defaults on a two-stage program: the labelled examples (`question`, `answer`) fit only
/// the answer stage; the query stage ignores `answer` (as DSPy does) and renders no demo it
/// cannot complete, so compiling succeeds and each stage's prompt shows its own fields only.
#[tokio::test]
async fn default_bootstrap_on_two_stages_with_labels_for_the_last() {
    let lm = ScriptedLm::keyed([
        (
            "`[[ ## answer ## ]]`",
            "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]",
        ),
        (
            "`[[ ## query ## ]]`",
            "[[ ## query ## ]]\nlook it up\n\n[[ ## completed ## ]]",
        ),
    ]);
    let program = QueryThenAnswer {
        query: Predict::new(),
        answer: Predict::new(),
    };
    let train: Vec<Example<QueryThenAnswerInput, AnswerFromQueryOutput>> = (0..6)
        .map(|i| {
            Example::new(
                QueryThenAnswerInput {
                    question: format!("question {i}"),
                },
                AnswerFromQueryOutput {
                    answer: if i % 2 == 0 {
                        "42".into()
                    } else {
                        format!("{i}")
                    },
                },
            )
        })
        .collect();
    let (compiled, report) = dspy::with_lm(
        lm,
        BootstrapFewShot::new()
            .compile(&program, &train, |ex, pred| ex.label.answer == pred.answer),
    )
    .await
    .unwrap();
    assert_eq!(report.bootstrapped, 3, "{report}");
    assert_eq!(report.demos["query"], (3, 3), "{report}");
    assert_eq!(report.demos["answer"], (3, 3), "{report}");
    let prompts = dspy::render_prompts(
        &compiled,
        QueryThenAnswerInput {
            question: "new".into(),
        },
    )
    .await
    .unwrap();
    let (query_stage, answer_stage) = prompts.split_once("##### answer #####").unwrap();
    // The query stage shows its three bootstrapped demos; the labelled ones lack a query.
    assert_eq!(
        query_stage.matches("look it up").count(),
        3,
        "{query_stage}"
    );
    assert!(
        !query_stage.contains("[[ ## answer ## ]]\n"),
        "{query_stage}"
    );
    // The answer stage shows the bootstrapped demos and the labelled ones (partial: no query).
    assert_eq!(
        answer_stage.matches("[[ ## answer ## ]]\n42").count(),
        3,
        "{answer_stage}"
    );
    assert!(
        answer_stage
            .matches("though some input or output fields are not supplied")
            .count()
            == 3,
        "{answer_stage}"
    );
}
