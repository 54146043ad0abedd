//! Weight optimization against in-process scripted LMs and a fake finetuner: BootstrapFinetune
//! turns the calls of the runs the metric accepts into chat conversations (the messages the
//! predictor sends, then the adapter's assistant message), trains one job for all predictors or
//! one per predictor, and puts the fine-tuned LM in the student's predictors; BetterTogether
//! chains a prompt and a weight optimizer and returns the best-scoring program.

use crate::common::lm_reply;
use dspy::lm::{BoxFuture, LmError, LmRequest, LmResponse, Message, MessageRole};
use dspy::optimize::finetune::{Conversation, FinetuneJob, Finetuned, Finetuner, to_jsonl};
use dspy::prelude::*;
use std::sync::{Arc, Mutex};

/// Answer the question.
#[derive(Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

signature!(Rewrite = "question -> query");

program! {
    /// Rewrites the question, then answers the rewrite.
    #[derive(Clone)]
    struct TwoStage {
        rewrite: Predict<Rewrite>,
        answer: ChainOfThought<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let q = self.rewrite(question).await?.query.clone();
        Ok(self.answer(question: q).await?.answer.clone())
    }
}

program! {
    /// Answers; asks the fallback only when the first answer is empty.
    #[derive(Clone)]
    struct WithFallback {
        answer: Predict<Qa>,
        fallback: Predict<Qa>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let first = self.answer(question: question.clone()).await?.answer.clone();
        if !first.is_empty() {
            return Ok(first);
        }
        Ok(self.fallback(question: question).await?.answer.clone())
    }
}

/// How a scripted model answers "What is N doubled?".
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Always `2N`.
    Right,
    /// Always `2N + 1`.
    Wrong,
    /// Right when 4 divides N, or when N is even and the prompt shows at least two demos:
    /// demos "teach" it, so a prompt optimizer helps.
    Learner,
    /// Refuses every call.
    Broken,
}

/// One call a scripted model received.
#[derive(Clone, Debug)]
struct Call {
    /// Every message of the request.
    messages: Vec<Message>,
    /// The `question` of the last (the actual) user message.
    question: String,
    /// What the model replied.
    reply: String,
}

/// A deterministic LM: its reply depends only on the request (so concurrent runs see the same
/// replies). It fills the output fields the last user message asks for: `reasoning` (naming
/// the model, so the tests see whose output a conversation holds), `query` (the question
/// rewritten) and `answer` (by its [`Mode`]); a question containing "fail" is refused.
#[derive(Clone)]
struct Model {
    name: String,
    mode: Mode,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Model {
    fn new(name: &str, mode: Mode) -> Model {
        Model {
            name: name.into(),
            mode,
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The questions of the calls, in call order.
    fn questions(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.question).collect()
    }
}

/// The `question` field of a ChatAdapter user message.
fn question_of(content: &str) -> String {
    content
        .rsplit("[[ ## question ## ]]\n")
        .next()
        .and_then(|s| s.split("\n\n").next())
        .unwrap_or("")
        .to_string()
}

/// The first number in `text` (0 if none).
fn number(text: &str) -> u64 {
    text.split(|c: char| !c.is_ascii_digit())
        .find_map(|w| w.parse().ok())
        .unwrap_or(0)
}

impl LanguageModel for Model {
    fn model(&self) -> &str {
        &self.name
    }

    fn complete(&self, request: LmRequest) -> BoxFuture<'_, Result<LmResponse, LmError>> {
        let last = request
            .messages
            .last()
            .map(|m| m.content.to_string())
            .unwrap_or_default();
        let question = question_of(&last);
        if question.contains("fail") || self.mode == Mode::Broken {
            self.calls.lock().unwrap().push(Call {
                messages: request.messages.clone(),
                question,
                reply: String::new(),
            });
            return Box::pin(async {
                Err(LmError::BadRequest {
                    status: 400,
                    message: "refused".into(),
                })
            });
        }
        let n = number(&question);
        let demos = request
            .messages
            .iter()
            .filter(|m| m.role == MessageRole::Assistant)
            .count();
        let right = match self.mode {
            Mode::Right => true,
            Mode::Wrong | Mode::Broken => false,
            Mode::Learner => n.is_multiple_of(4) || (n.is_multiple_of(2) && demos >= 2),
        };
        let mut fields = Vec::new();
        if last.contains("`[[ ## reasoning ## ]]`") {
            fields.push(format!("[[ ## reasoning ## ]]\n{} doubles {n}.", self.name));
        }
        if last.contains("`[[ ## query ## ]]`") {
            fields.push(format!("[[ ## query ## ]]\n{question} Rewritten."));
        }
        if last.contains("`[[ ## answer ## ]]`") {
            let answer = if right { 2 * n } else { 2 * n + 1 };
            fields.push(format!("[[ ## answer ## ]]\n{answer}"));
        }
        fields.push("[[ ## completed ## ]]".into());
        let reply = fields.join("\n\n");
        self.calls.lock().unwrap().push(Call {
            messages: request.messages.clone(),
            question,
            reply: reply.clone(),
        });
        lm_reply(reply)
    }
}

/// One job the fake finetuner received, and the model it returned for it.
#[derive(Clone)]
struct Job {
    name: String,
    train: Vec<Conversation>,
    seed: u64,
    lm: Model,
    /// The model the job's predictors called before it (`FinetuneJob::lm`).
    from: Option<String>,
}

/// A finetuner that records each job and "trains" a [`Model`] named `ft/<job name>` answering
/// by `mode`, or fails with `fail`.
#[derive(Clone)]
struct FakeFinetuner {
    mode: Mode,
    fail: Option<&'static str>,
    jobs: Arc<Mutex<Vec<Job>>>,
    /// Whether it lets jobs run at once.
    concurrent: bool,
    /// Jobs in flight now, and the most at once.
    in_flight: Arc<Mutex<(usize, usize)>>,
}

impl FakeFinetuner {
    fn new(mode: Mode) -> FakeFinetuner {
        FakeFinetuner {
            mode,
            fail: None,
            jobs: Arc::default(),
            concurrent: false,
            in_flight: Arc::default(),
        }
    }

    fn concurrent(self) -> FakeFinetuner {
        FakeFinetuner {
            concurrent: true,
            ..self
        }
    }

    /// The most jobs that were in flight at once.
    fn most_at_once(&self) -> usize {
        self.in_flight.lock().unwrap().1
    }

    fn failing(message: &'static str) -> FakeFinetuner {
        FakeFinetuner {
            fail: Some(message),
            ..FakeFinetuner::new(Mode::Right)
        }
    }

    fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().clone()
    }
}

impl Finetuner for FakeFinetuner {
    fn name(&self) -> &str {
        "fake"
    }

    fn finetune<'a>(&'a self, job: FinetuneJob<'a>) -> BoxFuture<'a, dspy::Result<Finetuned>> {
        Box::pin(async move {
            if let Some(message) = self.fail {
                return Err(dspy::Error::Optimize(message.into()));
            }
            {
                let mut f = self.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            // Lets any other job in flight start.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            self.in_flight.lock().unwrap().0 -= 1;
            let model = format!("ft/{}", job.name);
            let lm = Model::new(&model, self.mode);
            self.jobs.lock().unwrap().push(Job {
                name: job.name.to_string(),
                train: job.train.to_vec(),
                seed: job.seed,
                lm: lm.clone(),
                from: job.lm.map(|l| l.model().to_string()),
            });
            Ok(Finetuned {
                lm: lm.into(),
                model,
                details: vec![format!("{} conversations", job.train.len())],
            })
        })
    }

    fn concurrent_jobs(&self) -> bool {
        self.concurrent
    }
}

/// "What is N doubled?" for each N, with its answer, as examples of any input type.
fn doubling<I>(ns: std::ops::Range<u64>, input: impl Fn(String) -> I) -> Vec<Example<I, QaOutput>> {
    ns.map(|n| {
        Example::new(
            input(question(n)),
            QaOutput {
                answer: (2 * n).to_string(),
            },
        )
    })
    .collect()
}

fn question(n: u64) -> String {
    format!("What is {n} doubled?")
}

fn ask(n: u64) -> QaInput {
    QaInput {
        question: question(n),
    }
}

fn example(n: u64) -> QaExample {
    Example::new(
        QaInput {
            question: question(n),
        },
        QaOutput {
            answer: (2 * n).to_string(),
        },
    )
}

fn examples(ns: impl IntoIterator<Item = u64>) -> Vec<QaExample> {
    ns.into_iter().map(example).collect()
}

fn exact(ex: &QaExample, pred: &Prediction<QaOutput>) -> bool {
    pred.answer == ex.label.answer
}

fn exact_reasoned(ex: &QaExample, pred: &Prediction<Reasoned<QaOutput>>) -> bool {
    pred.answer == ex.label.answer
}

/// The question a training conversation asks (its last user message's).
fn asked(c: &Conversation) -> String {
    let user = c
        .messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::User)
        .unwrap();
    question_of(&user.content)
}

fn all_text(c: &Conversation) -> String {
    c.messages.iter().map(|m| &*m.content).collect()
}

fn model_of(p: &dyn Predictor) -> Option<String> {
    p.lm().map(|lm| lm.model().to_string())
}

/// The teacher's runs the metric accepts, and only those, become conversations: each is the
/// messages the predictor sent, then the adapter's assistant message with the teacher's
/// outputs. The compiled predictor calls the fine-tuned LM.
#[tokio::test]
async fn bootstrap_finetune_trains_on_the_accepted_runs() {
    let base = Model::new("test/base", Mode::Learner);
    let student = ChainOfThought::<Qa>::new().with_lm(base.clone());
    // Without demos the base model is right on 0 and 4 only; "fail" is refused.
    let mut train = examples(0..5);
    train.push(Example::new(
        QaInput {
            question: "Please fail.".into(),
        },
        QaOutput { answer: "0".into() },
    ));
    let finetuner = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = BootstrapFinetune::new(finetuner.clone())
        .seed(7)
        .compile(&student, &train, exact_reasoned)
        .await
        .unwrap();
    assert_eq!(
        (report.tried, report.accepted, report.errors),
        (6, 2, 1),
        "{report}"
    );
    assert_eq!(report.jobs.len(), 1, "{report}");
    assert_eq!(report.jobs[0].predictors, ["predict"], "{report}");
    assert_eq!(report.jobs[0].conversations, 2, "{report}");
    assert_eq!(report.jobs[0].model, "ft/multitask", "{report}");
    assert_eq!(report.jobs[0].details, ["2 conversations"], "{report}");

    let jobs = finetuner.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].name, "multitask");
    assert_eq!(jobs[0].seed, 7);
    let train_convs = &jobs[0].train;
    let asked_in: Vec<String> = train_convs.iter().map(asked).collect();
    assert_eq!(asked_in, [question(0), question(4)]);

    // Each conversation is exactly what the predictor sent, plus the answer it got back.
    let calls = base.calls();
    for conv in train_convs {
        let call = calls
            .iter()
            .find(|c| c.question == asked(conv))
            .expect("the teacher's call");
        let (answer, sent) = conv.messages.split_last().unwrap();
        assert_eq!(sent, call.messages.as_slice());
        assert_eq!(sent[0].role, MessageRole::System);
        assert_eq!(answer.role, MessageRole::Assistant);
        assert_eq!(answer.content.trim_end(), call.reply);
        assert!(answer.content.contains("test/base doubles"), "{answer:?}");
    }
    insta::assert_snapshot!("traces_to_training_text", to_jsonl(train_convs));

    // The compiled predictor has the fine-tuned LM; the student is untouched.
    assert_eq!(model_of(&compiled).as_deref(), Some("ft/multitask"));
    assert_eq!(model_of(&student).as_deref(), Some("test/base"));
    let before = base.calls().len();
    let pred = compiled.forward(ask(7)).await.unwrap();
    assert_eq!(pred.answer, "14");
    assert_eq!(pred.reasoning, "ft/multitask doubles 7.");
    assert_eq!(jobs[0].lm.questions(), [question(7)]);
    assert_eq!(base.calls().len(), before, "the original LM was called");
}

/// Two predictors: one `multitask` job holding both predictors' calls by default; one job per
/// predictor path with `multitask(false)`, each predictor getting its own job's LM.
#[tokio::test]
async fn multitask_trains_one_job_and_single_task_one_per_predictor() {
    let base = Model::new("test/base", Mode::Right);
    let program = TwoStage {
        rewrite: Predict::new().with_lm(base.clone()),
        answer: ChainOfThought::new().with_lm(base.clone()),
    };
    let train = doubling(0..3, |question| TwoStageInput { question });
    let metric = |ex: &Example<TwoStageInput, QaOutput>, out: &String| *out == ex.label.answer;
    let is_rewrite = |c: &Conversation| c.messages.last().unwrap().content.contains("## query ##");
    let is_answer = |c: &Conversation| {
        let a = &c.messages.last().unwrap().content;
        a.contains("## reasoning ##") && a.contains("## answer ##") && !a.contains("## query ##")
    };

    // Multitask: one job with both predictors' conversations.
    let multi = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = BootstrapFinetune::new(multi.clone())
        .compile(&program, &train, metric)
        .await
        .unwrap();
    assert_eq!(report.accepted, 3, "{report}");
    let jobs = multi.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].name, "multitask");
    assert_eq!(report.jobs[0].predictors, ["rewrite", "answer.predict"]);
    assert_eq!(jobs[0].train.len(), 6);
    assert_eq!(jobs[0].train.iter().filter(|c| is_rewrite(c)).count(), 3);
    assert_eq!(jobs[0].train.iter().filter(|c| is_answer(c)).count(), 3);
    for path in ["rewrite", "answer.predict"] {
        let p = compiled.predictor(path).unwrap();
        assert_eq!(model_of(p).as_deref(), Some("ft/multitask"), "{path}");
    }
    let before = base.calls().len();
    assert_eq!(compiled.call(question(5)).await.unwrap(), "10");
    assert_eq!(jobs[0].lm.calls().len(), 2);
    assert_eq!(base.calls().len(), before);

    // One job per predictor, each with only that predictor's calls.
    let single = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = BootstrapFinetune::new(single.clone())
        .multitask(false)
        .compile(&program, &train, metric)
        .await
        .unwrap();
    let jobs = single.jobs();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["answer.predict", "rewrite"]);
    let trained: Vec<Vec<String>> = report.jobs.iter().map(|j| j.predictors.clone()).collect();
    assert_eq!(trained, [["answer.predict"], ["rewrite"]]);
    assert_eq!(jobs[0].train.len(), 3);
    assert!(jobs[0].train.iter().all(is_answer));
    assert_eq!(jobs[1].train.len(), 3);
    assert!(jobs[1].train.iter().all(is_rewrite));
    assert_eq!(
        model_of(compiled.predictor("answer.predict").unwrap()).as_deref(),
        Some("ft/answer.predict")
    );
    assert_eq!(
        model_of(compiled.predictor("rewrite").unwrap()).as_deref(),
        Some("ft/rewrite")
    );
    assert_eq!(compiled.call(question(6)).await.unwrap(), "12");
    assert_eq!(single.most_at_once(), 1, "the jobs ran at once");
    assert_eq!(jobs[0].lm.calls().len(), 1);
    assert_eq!(jobs[1].lm.calls().len(), 1);
    assert!(jobs[1].lm.calls()[0].reply.contains("## query ##"));
}

/// A student's demos are rendered in its training conversations unless `exclude_demos`, which
/// also leaves the compiled predictor without them.
#[tokio::test]
async fn demos_are_trained_on_unless_excluded() {
    let base = Model::new("test/base", Mode::Right);
    let demo = Demo::new()
        .with("question", "What is 21 doubled?")
        .with("answer", "42");
    let student = Predict::<Qa>::new()
        .with_lm(base.clone())
        .with_demos([demo])
        .unwrap();
    let train = examples(0..2);

    let kept = FakeFinetuner::new(Mode::Right);
    let (compiled, _) = BootstrapFinetune::new(kept.clone())
        .compile(&student, &train, exact)
        .await
        .unwrap();
    let convs = &kept.jobs()[0].train;
    assert_eq!(convs.len(), 2);
    for c in convs {
        let roles: Vec<MessageRole> = c.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                MessageRole::System,
                MessageRole::User,
                MessageRole::Assistant,
                MessageRole::User,
                MessageRole::Assistant
            ]
        );
        assert!(all_text(c).contains("What is 21 doubled?"));
        assert!(c.messages[2].content.contains("42"));
    }
    assert_eq!(compiled.demos().len(), 1);

    let excluded = FakeFinetuner::new(Mode::Right);
    let (compiled, _) = BootstrapFinetune::new(excluded.clone())
        .exclude_demos(true)
        .compile(&student, &train, exact)
        .await
        .unwrap();
    let convs = &excluded.jobs()[0].train;
    assert_eq!(convs.len(), 2);
    for c in convs {
        assert_eq!(c.messages.len(), 3, "{c:?}");
        assert!(!all_text(c).contains("What is 21 doubled?"));
    }
    assert!(compiled.demos().is_empty());
    assert_eq!(model_of(&compiled).as_deref(), Some("ft/multitask"));
    // The teacher still ran with its demos.
    assert!(
        base.calls()
            .iter()
            .all(|c| c.messages.iter().any(|m| m.content.contains("21 doubled")))
    );
}

/// `teacher_lm` answers the teacher's runs of a student without its own LM: the conversations
/// hold its outputs, and the context's LM is not called.
#[tokio::test]
async fn the_teacher_lm_writes_the_training_answers() {
    let context = Model::new("test/context", Mode::Right);
    let teacher = Model::new("test/teacher", Mode::Right);
    let student = ChainOfThought::<Qa>::new();
    let finetuner = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = dspy::with_lm(
        context.clone(),
        BootstrapFinetune::new(finetuner.clone())
            .teacher_lm(teacher.clone())
            .compile(&student, &examples(0..3), exact_reasoned),
    )
    .await
    .unwrap();
    assert_eq!(report.accepted, 3, "{report}");
    assert_eq!(teacher.calls().len(), 3);
    assert!(context.calls().is_empty());
    let jobs = finetuner.jobs();
    for c in &jobs[0].train {
        let answer = &c.messages.last().unwrap().content;
        assert!(answer.contains("test/teacher doubles"), "{answer}");
    }
    // The compiled predictor's own LM wins over the context's.
    let pred = dspy::with_lm(context.clone(), compiled.forward(ask(3)))
        .await
        .unwrap();
    assert_eq!(pred.reasoning, "ft/multitask doubles 3.");
    assert!(context.calls().is_empty());
    assert_eq!(jobs[0].lm.calls().len(), 1);
}

/// Nothing accepted is an error naming the metric (and no job starts); a finetuner's error is
/// returned as is.
#[tokio::test]
async fn nothing_to_train_on_and_failed_jobs_are_errors() {
    let base = Model::new("test/base", Mode::Right);
    let student = Predict::<Qa>::new().with_lm(base.clone());
    let train = examples(0..3);
    let finetuner = FakeFinetuner::new(Mode::Right);
    let err = BootstrapFinetune::new(finetuner.clone())
        .compile(
            &student,
            &train,
            |_: &QaExample, _: &Prediction<QaOutput>| false,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("passed the metric"), "{err}");
    assert!(err.contains("3 runs"), "{err}");

    // Every teacher run failing: the error says why, from the first failure.
    let broken = Predict::<Qa>::new().with_lm(Model::new("test/broken", Mode::Broken));
    let err = BootstrapFinetune::new(finetuner.clone())
        .compile(&broken, &train, exact)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 failed") && err.contains("refused"), "{err}");
    assert!(finetuner.jobs().is_empty());

    let err = BootstrapFinetune::new(FakeFinetuner::failing("the GPU caught fire"))
        .compile(&student, &train, exact)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the GPU caught fire"), "{err}");
}

/// BetterTogether on `"p -> w"` with a valset where the base model is right on a quarter of the
/// questions, on half with demos: the original scores 25, `p` 50, `p -> w` what the fine-tuned
/// model makes of it.
fn better_together(finetuner: FakeFinetuner) -> BetterTogether<Predict<Qa>, QaInput, QaOutput> {
    BetterTogether::new()
        .optimizer("p", BootstrapFewShot::new())
        .optimizer("w", BootstrapFinetune::new(finetuner))
        .strategy("p -> w")
}

fn strategies(report: &dspy::optimize::finetune::BetterTogetherReport) -> Vec<&str> {
    report
        .candidates
        .iter()
        .map(|c| c.strategy.as_str())
        .collect()
}

fn scores(report: &dspy::optimize::finetune::BetterTogetherReport) -> Vec<Option<f64>> {
    report.candidates.iter().map(|c| c.score).collect()
}

#[tokio::test]
async fn better_together_returns_the_fine_tuned_program_when_it_scores_best() {
    let base = Model::new("test/base", Mode::Learner);
    let student = Predict::<Qa>::new().with_lm(base.clone());
    let finetuner = FakeFinetuner::new(Mode::Right);
    let (best, report) = better_together(finetuner.clone())
        .compile_with_valset(&student, &examples(0..12), &examples(100..108), exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "p", "p -> w"], "{report}");
    assert_eq!(
        scores(&report),
        [Some(25.0), Some(50.0), Some(100.0)],
        "{report}"
    );
    assert_eq!(report.best, 2, "{report}");
    assert!(report.error.is_none(), "{report}");
    assert_eq!(model_of(&best).as_deref(), Some("ft/multitask"));
    // The weight step trained on the prompt step's program: its demos are in the prompts.
    let jobs = finetuner.jobs();
    assert!(!best.demos().is_empty());
    assert!(
        jobs[0]
            .train
            .iter()
            .all(|c| c.messages.len() > 3 && c.messages.len() % 2 == 1)
    );
    let before = jobs[0].lm.calls().len();
    assert_eq!(best.forward(ask(9)).await.unwrap().answer, "18");
    assert_eq!(jobs[0].lm.calls().len(), before + 1);
}

#[tokio::test]
async fn better_together_keeps_an_earlier_program_that_scores_better() {
    let base = Model::new("test/base", Mode::Learner);
    let student = Predict::<Qa>::new().with_lm(base.clone());
    let (best, report) = better_together(FakeFinetuner::new(Mode::Wrong))
        .compile_with_valset(&student, &examples(0..12), &examples(100..108), exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "p", "p -> w"], "{report}");
    assert_eq!(
        scores(&report),
        [Some(25.0), Some(50.0), Some(0.0)],
        "{report}"
    );
    assert_eq!(report.best, 1, "{report}");
    assert_eq!(model_of(&best).as_deref(), Some("test/base"));
    assert!(!best.demos().is_empty());
}

/// A second weight step trains on from the first one's model, as DSPy fine-tunes `pred.lm`.
#[tokio::test]
async fn a_second_weight_step_trains_from_the_first_ones_model() {
    let student = Predict::<Qa>::new().with_lm(Model::new("test/base", Mode::Right));
    let finetuner = FakeFinetuner::new(Mode::Right);
    let (_, report) = BetterTogether::new()
        .optimizer("w", BootstrapFinetune::new(finetuner.clone()))
        .strategy("w -> w")
        .compile_with_valset(&student, &examples(0..6), &examples(100..104), exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "w", "w -> w"], "{report}");
    let from: Vec<Option<String>> = finetuner.jobs().into_iter().map(|j| j.from).collect();
    assert_eq!(
        from,
        [
            Some("test/base".to_string()),
            Some("ft/multitask".to_string())
        ]
    );
}

/// A program whose scoring fails (its every call refused, past `max_errors`) scores 0 with the
/// reason in its row, and the run goes on to the next step, as DSPy's `eval_candidate_program`.
#[tokio::test]
async fn a_program_whose_scoring_fails_scores_zero_and_the_run_goes_on() {
    let student = Predict::<Qa>::new().with_lm(Model::new("test/base", Mode::Learner));
    let (best, report) = BetterTogether::new()
        .optimizer(
            "w",
            BootstrapFinetune::new(FakeFinetuner::new(Mode::Broken)),
        )
        .optimizer("p", LabeledFewShot::new(4))
        .strategy("w -> p")
        .max_errors(2)
        .compile_with_valset(&student, &examples(0..12), &examples(100..108), exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "w", "w -> p"], "{report}");
    assert_eq!(
        scores(&report),
        [Some(25.0), Some(0.0), Some(0.0)],
        "{report}"
    );
    assert!(report.error.is_none(), "{report}");
    assert!(report.candidates[0].error.is_none(), "{report}");
    for c in &report.candidates[1..] {
        let error = c.error.as_deref().unwrap_or_default();
        assert!(error.contains("refused"), "{report}");
    }
    assert!(report.to_string().contains("scoring failed"), "{report}");
    assert_eq!(report.best, 0, "{report}");
    assert_eq!(model_of(&best).as_deref(), Some("test/base"));
}

/// An empty step is an error naming the strategy; an empty valset holds out `valset_ratio` of
/// the training set instead, as DSPy does.
#[tokio::test]
async fn an_empty_step_is_an_error_and_an_empty_valset_falls_back_to_the_ratio() {
    let student = Predict::<Qa>::new().with_lm(Model::new("test/base", Mode::Learner));
    let err = better_together(FakeFinetuner::new(Mode::Right))
        .strategy("p -> -> w")
        .compile(&student, &examples(0..10), exact)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("empty step") && err.contains("p -> -> w"),
        "{err}"
    );

    let (_, report) = better_together(FakeFinetuner::new(Mode::Right))
        .strategy("p->w")
        .valset_ratio(0.5)
        .compile_with_valset(&student, &examples(0..8), &[], exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "p", "p -> w"], "{report}");
    assert!(
        report.candidates.iter().all(|c| c.score.is_some()),
        "{report}"
    );
}

#[tokio::test]
async fn better_together_rejects_an_unknown_step() {
    let student = Predict::<Qa>::new().with_lm(Model::new("test/base", Mode::Right));
    let err = BetterTogether::new()
        .optimizer("p", BootstrapFewShot::new())
        .optimizer("w", BootstrapFinetune::new(FakeFinetuner::new(Mode::Right)))
        .strategy("p -> x")
        .compile(&student, &examples(0..10), exact)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`x`"), "{err}");
    assert!(err.contains("p, w"), "{err}");
}

/// A step that fails ends the run with the best program so far and the error in the report.
#[tokio::test]
async fn better_together_stops_at_a_failing_step_with_the_best_so_far() {
    let base = Model::new("test/base", Mode::Learner);
    let student = Predict::<Qa>::new().with_lm(base.clone());
    let (best, report) = better_together(FakeFinetuner::failing("out of quota"))
        .compile_with_valset(&student, &examples(0..12), &examples(100..108), exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "p"], "{report}");
    assert_eq!(scores(&report), [Some(25.0), Some(50.0)], "{report}");
    assert_eq!(report.best, 1, "{report}");
    let error = report.error.as_deref().unwrap();
    assert!(error.contains("`w`"), "{error}");
    assert!(error.contains("out of quota"), "{error}");
    assert_eq!(model_of(&best).as_deref(), Some("test/base"));
    assert!(!best.demos().is_empty());
}

/// Without a valset, `compile` holds out the first `valset_ratio` of the training set: every
/// candidate is scored on those examples only, and no step sees them. With a ratio of 0 nothing
/// is scored and the last program is returned.
#[tokio::test]
async fn better_together_holds_out_a_share_of_the_trainset() {
    let base = Model::new("test/base", Mode::Learner);
    let student = Predict::<Qa>::new().with_lm(base.clone());
    let train = examples(0..20);
    let held_out = [question(0), question(1)];

    let finetuner = FakeFinetuner::new(Mode::Right);
    let (best, report) = better_together(finetuner.clone())
        .compile(&student, &train, exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "p", "p -> w"], "{report}");
    // 0 is right for every candidate, 1 only for the fine-tuned one.
    assert_eq!(
        scores(&report),
        [Some(50.0), Some(50.0), Some(100.0)],
        "{report}"
    );
    assert_eq!(report.best, 2, "{report}");
    assert_eq!(model_of(&best).as_deref(), Some("ft/multitask"));
    let jobs = finetuner.jobs();
    let evaluated = |m: &Model| {
        m.questions()
            .into_iter()
            .filter(|q| held_out.contains(q))
            .count()
    };
    // The original and `p` on the base model, `p -> w` on the fine-tuned one: 2 each.
    assert_eq!(evaluated(&base), 2 * 2);
    assert_eq!(evaluated(&jobs[0].lm), 2);
    assert_eq!(jobs[0].lm.calls().len(), 2);
    // No step saw the held-out examples: neither as demos nor as training conversations.
    for d in best.demos() {
        let q = d.get("question").and_then(|v| v.as_str()).unwrap();
        assert!(!held_out.iter().any(|h| h == q), "{q} is a demo");
    }
    for c in &jobs[0].train {
        let text = all_text(c);
        assert!(!held_out.iter().any(|h| text.contains(h.as_str())), "{c:?}");
    }

    // No validation: every score is None and the last program is returned, unscored.
    let finetuner = FakeFinetuner::new(Mode::Wrong);
    let (last, report) = better_together(finetuner.clone())
        .valset_ratio(0.0)
        .compile(&student, &train, exact)
        .await
        .unwrap();
    assert_eq!(strategies(&report), ["", "p", "p -> w"], "{report}");
    assert_eq!(scores(&report), [None, None, None], "{report}");
    assert_eq!(report.best, 2, "{report}");
    assert_eq!(model_of(&last).as_deref(), Some("ft/multitask"));
    assert!(finetuner.jobs()[0].lm.calls().is_empty());
}

/// A predictor that no accepted run called (a fallback stage) still gets the multitask model,
/// as in DSPy; trained one job per predictor, it keeps its own LM, as there is nothing to train
/// it on.
#[tokio::test]
async fn multitask_model_reaches_predictors_without_calls() {
    let base = Model::new("test/base", Mode::Right);
    let program = WithFallback {
        answer: Predict::new().with_lm(base.clone()),
        fallback: Predict::new().with_lm(base.clone()),
    };
    let train = doubling(0..2, |question| WithFallbackInput { question });
    let metric = |ex: &Example<WithFallbackInput, QaOutput>, out: &String| *out == ex.label.answer;

    let multi = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = BootstrapFinetune::new(multi.clone())
        .compile(&program, &train, metric)
        .await
        .unwrap();
    assert_eq!(
        report.jobs[0].predictors,
        ["answer", "fallback"],
        "{report}"
    );
    assert_eq!(multi.jobs()[0].train.len(), 2);
    for path in ["answer", "fallback"] {
        let p = compiled.predictor(path).unwrap();
        assert_eq!(model_of(p).as_deref(), Some("ft/multitask"), "{path}");
    }

    let single = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = BootstrapFinetune::new(single.clone())
        .multitask(false)
        .compile(&program, &train, metric)
        .await
        .unwrap();
    assert_eq!(report.jobs.len(), 1, "{report}");
    assert_eq!(report.jobs[0].predictors, ["answer"], "{report}");
    let answer = compiled.predictor("answer").unwrap();
    assert_eq!(model_of(answer).as_deref(), Some("ft/answer"));
    let fallback = compiled.predictor("fallback").unwrap();
    assert_eq!(model_of(fallback).as_deref(), Some("test/base"));
}

/// As DSPy, a run is kept when its metric is not 0 (a negative score too, not NaN); and in
/// multitask, predictors with different LMs get one job each, every job on all conversations.
#[tokio::test]
async fn acceptance_is_non_zero_and_multitask_trains_one_job_per_lm() {
    let student = Predict::<Qa>::new().with_lm(Model::new("test/base", Mode::Right));
    let train = examples(0..4);
    let by_sign = |ex: &QaExample, _: &Prediction<QaOutput>| match number(&ex.input.question) {
        0 => 0.0,
        1 => -1.0,
        2 => f64::NAN,
        _ => 0.5,
    };
    let (_, report) = BootstrapFinetune::new(FakeFinetuner::new(Mode::Right))
        .compile(&student, &train, by_sign)
        .await
        .unwrap();
    assert_eq!(report.accepted, 2, "{report}");

    let program = TwoStage {
        rewrite: Predict::new().with_lm(Model::new("test/a", Mode::Right)),
        answer: ChainOfThought::new().with_lm(Model::new("test/b", Mode::Right)),
    };
    let train = doubling(0..3, |question| TwoStageInput { question });
    let metric = |ex: &Example<TwoStageInput, QaOutput>, out: &String| *out == ex.label.answer;
    let finetuner = FakeFinetuner::new(Mode::Right);
    let (compiled, report) = BootstrapFinetune::new(finetuner.clone())
        .compile(&program, &train, metric)
        .await
        .unwrap();
    let jobs = finetuner.jobs();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["multitask-test/a", "multitask-test/b"], "{report}");
    assert!(jobs.iter().all(|j| j.train.len() == 6), "{report}");
    let from: Vec<Option<String>> = jobs.iter().map(|j| j.from.clone()).collect();
    assert_eq!(from, [Some("test/a".into()), Some("test/b".into())]);
    assert_eq!(
        model_of(compiled.predictor("rewrite").unwrap()).as_deref(),
        Some("ft/multitask-test/a")
    );
    assert_eq!(
        model_of(compiled.predictor("answer.predict").unwrap()).as_deref(),
        Some("ft/multitask-test/b")
    );
}

/// A budget on the teacher's calls: once spent, no further teacher run starts, training goes on
/// with the runs accepted so far, and the report says why it stopped.
#[tokio::test]
async fn a_spent_budget_stops_the_teacher_and_trains_on_what_it_has() {
    let base = Model::new("test/base", Mode::Right);
    let student = Predict::<Qa>::new().with_lm(base.clone());
    let finetuner = FakeFinetuner::new(Mode::Right);
    let (_, report) = BootstrapFinetune::new(finetuner.clone())
        .concurrency(1)
        .budget(dspy::optimize::Budget::lm_calls(3))
        .compile(&student, &examples(0..10), exact)
        .await
        .unwrap();
    assert_eq!((report.tried, report.accepted), (3, 3), "{report}");
    assert_eq!(base.calls().len(), 3);
    let stopped = report.stopped.as_deref().unwrap_or_default();
    assert!(
        stopped.contains("3 LM calls (limit 3)") && stopped.contains("7 of 10 examples not run"),
        "{report}"
    );
    assert!(
        report.to_string().contains("teacher stopped early"),
        "{report}"
    );
    assert_eq!(finetuner.jobs()[0].train.len(), 3);
}

/// A finetuner that allows it (a hosted API) runs a compilation's jobs at once, as DSPy's
/// threads do; the results still go to their own predictors.
#[tokio::test]
async fn jobs_run_at_once_where_the_finetuner_allows() {
    let base = Model::new("test/base", Mode::Right);
    let program = TwoStage {
        rewrite: Predict::new().with_lm(base.clone()),
        answer: ChainOfThought::new().with_lm(base.clone()),
    };
    let train = doubling(0..2, |question| TwoStageInput { question });
    let metric = |ex: &Example<TwoStageInput, QaOutput>, out: &String| *out == ex.label.answer;
    let finetuner = FakeFinetuner::new(Mode::Right).concurrent();
    let (compiled, report) = BootstrapFinetune::new(finetuner.clone())
        .multitask(false)
        .compile(&program, &train, metric)
        .await
        .unwrap();
    assert_eq!(finetuner.most_at_once(), 2, "{report}");
    let trained: Vec<Vec<String>> = report.jobs.iter().map(|j| j.predictors.clone()).collect();
    assert_eq!(trained, [["answer.predict"], ["rewrite"]]);
    assert_eq!(
        model_of(compiled.predictor("rewrite").unwrap()).as_deref(),
        Some("ft/rewrite")
    );
    assert_eq!(
        model_of(compiled.predictor("answer.predict").unwrap()).as_deref(),
        Some("ft/answer.predict")
    );
}
