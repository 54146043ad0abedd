//! `OpenAiFinetune` against a fake fine-tuning API on 127.0.0.1 (tests/common/finetune_server.rs):
//! the upload, the job, polling to its end, the fine-tuned model's LM, failures, retries,
//! timeouts, and the key kept out of errors and Debug.

use crate::common;

use common::finetune_server::{Ending, FakeFinetune};
use dspy::lm::{LmConfig, LmRequest, Message, RetryPolicy};
use dspy::optimize::finetune::{Conversation, FinetuneJob, Finetuner, OpenAiFinetune, to_jsonl};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-test-secret-4242";

fn conversations() -> Vec<Conversation> {
    (0..3)
        .map(|i| Conversation {
            messages: vec![
                Message::system("Answer the question.\nBriefly."),
                Message::user(format!("[[ ## question ## ]]\nWhat is {i} + {i}?")),
                Message::assistant(format!(
                    "[[ ## answer ## ]]\n{}\n\n[[ ## completed ## ]]",
                    2 * i
                )),
            ],
        })
        .collect()
}

fn finetuner(server: &FakeFinetune) -> OpenAiFinetune {
    OpenAiFinetune::new("base")
        .api_base(server.base())
        .api_key(KEY)
        .suffix("suffix")
        .poll_every(Duration::from_millis(10))
        .timeout(Duration::from_secs(20))
        .retry(RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
        })
}

fn job(train: &[Conversation]) -> FinetuneJob<'_> {
    FinetuneJob {
        name: "qa",
        train,
        seed: 7,
        lm: None,
    }
}

#[tokio::test]
async fn the_whole_flow_uploads_trains_and_calls_the_fine_tuned_model() {
    let server = FakeFinetune::start(Ending::Succeed).await;
    let train = conversations();
    let f = finetuner(&server).hyperparameters(serde_json::json!({"n_epochs": 2}));
    assert_eq!(f.name(), "openai");
    let done = f.finetune(job(&train)).await.unwrap();

    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].purpose, "fine-tune");
    assert_eq!(uploads[0].filename, "qa.jsonl");
    assert_eq!(uploads[0].content, to_jsonl(&train));

    let jobs = server.job_requests();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["training_file"], "file-1");
    assert_eq!(jobs[0]["model"], "base");
    assert_eq!(jobs[0]["seed"], 7);
    assert_eq!(jobs[0]["suffix"], "suffix");
    assert_eq!(
        jobs[0]["method"],
        serde_json::json!({"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}})
    );
    // validating_files, running, succeeded.
    assert_eq!(server.count("GET", "/v1/fine_tuning/jobs/ftjob-1"), 3);
    assert!(
        server
            .log()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {KEY}"))),
        "every request carries the key"
    );

    assert_eq!(done.model, "ft:base:suffix:123");
    assert_eq!(
        &done.details[..4],
        [
            "file id: file-1",
            "job id: ftjob-1",
            "status: succeeded",
            "trained tokens: 4242",
        ]
    );
    assert!(
        done.details[4].starts_with("elapsed: "),
        "{:?}",
        done.details
    );

    let reply = done
        .lm
        .complete(LmRequest {
            messages: vec![Message::user("hi")],
            config: Arc::new(LmConfig {
                cache: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.outputs, ["hello from ft:base:suffix:123"]);
    let chats = server.chats();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["model"], "ft:base:suffix:123");
}

#[tokio::test]
async fn the_lm_hook_chooses_how_the_model_is_called() {
    let server = FakeFinetune::start(Ending::Succeed).await;
    let train = conversations();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let s = seen.clone();
    let done = finetuner(&server)
        .lm(move |model| {
            *s.lock().unwrap() = model.to_string();
            Ok(dspy::lm::ScriptedLm::new(["scripted"]).into())
        })
        .finetune(job(&train))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), "ft:base:suffix:123");
    let reply = done.lm.complete(LmRequest::default()).await.unwrap();
    assert_eq!(reply.outputs, ["scripted"]);
    assert!(server.chats().is_empty());
}

#[tokio::test]
async fn a_failed_job_is_an_error_with_the_servers_message() {
    let server = FakeFinetune::start(Ending::Fail {
        code: "invalid_training_file".into(),
        message: "line 2 has no assistant message".into(),
    })
    .await;
    let train = conversations();
    let e = finetuner(&server)
        .finetune(job(&train))
        .await
        .expect_err("a failed job gives no LM");
    let msg = e.to_string();
    assert!(
        msg.contains("ftjob-1")
            && msg.contains("line 2 has no assistant message")
            && msg.contains("invalid_training_file"),
        "{msg}"
    );
    assert!(server.chats().is_empty());
}

#[tokio::test]
async fn a_503_on_the_upload_is_retried() {
    let server = FakeFinetune::start(Ending::Succeed).await;
    server.fail_uploads(2);
    let train = conversations();
    let done = finetuner(&server).finetune(job(&train)).await.unwrap();
    assert_eq!(done.model, "ft:base:suffix:123");
    assert_eq!(server.count("POST", "/v1/files"), 3);
    assert_eq!(server.uploads().len(), 1);
    assert_eq!(server.uploads()[0].content, to_jsonl(&train));
}

#[tokio::test]
async fn the_key_never_shows_in_errors_or_debug() {
    // The server's failure message echoes the credentials it was sent.
    let server = FakeFinetune::start(Ending::Fail {
        code: "bad_request".into(),
        message: "refused for {authorization}".into(),
    })
    .await;
    let train = conversations();
    let f = finetuner(&server);
    let dbg = format!("{f:?}");
    assert!(!dbg.contains(KEY) && dbg.contains("ApiKey(***)"), "{dbg}");
    let e = f.finetune(job(&train)).await.unwrap_err();
    let (msg, dbg) = (e.to_string(), format!("{e:?}"));
    assert!(msg.contains("refused for Bearer ***"), "{msg}");
    assert!(!msg.contains(KEY) && !dbg.contains(KEY), "{msg}\n{dbg}");

    // A 4xx reply is quoted with its status, and without the key.
    let e = finetuner(&server)
        .api_base(format!("{}/missing", server.base()))
        .finetune(job(&train))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("HTTP 404") && !msg.contains(KEY), "{msg}");
}

#[tokio::test]
async fn a_job_that_never_ends_times_out_naming_its_id() {
    let server = FakeFinetune::start(Ending::Never).await;
    let train = conversations();
    let e = finetuner(&server)
        .timeout(Duration::from_millis(150))
        .finetune(job(&train))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("ftjob-1") && msg.contains("`running`"),
        "{msg}"
    );
    assert!(server.count("GET", "/v1/fine_tuning/jobs/ftjob-1") >= 2);
}

/// A timeout too long to add to the clock waits without end rather than panicking, and a zero
/// poll interval is raised to the least one (the job is not checked in a tight loop).
#[tokio::test]
async fn an_endless_timeout_and_a_zero_poll_interval_still_work() {
    let server = FakeFinetune::start(Ending::Succeed).await;
    let train = conversations();
    let done = finetuner(&server)
        .timeout(Duration::MAX)
        .poll_every(Duration::ZERO)
        .finetune(job(&train))
        .await
        .unwrap();
    assert!(done.model.starts_with("ft:"), "{}", done.model);
    let checks = server.count("GET", "/v1/fine_tuning/jobs/ftjob-1");
    assert!((1..50).contains(&checks), "{checks} checks");
}
