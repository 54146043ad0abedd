//! Fine-tuning the embedded model in-process (SmolLM2-135M, `scripts/fetch-models smollm2`):
//! a run killed after a checkpoint resumes from it, lowers the loss on its own data and writes a
//! GGUF that loads and answers, with the base model's context length; a finished run is found,
//! not redone; bad input is a clear error.
#![cfg(feature = "local")]

use crate::common;

use dspy::lm::local_train::{self, Ftype, TrainConfig};
use dspy::lm::{LanguageModel, LocalLm, Message};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn base() -> PathBuf {
    dspy::lm::local::locate_in(&dspy::lm::local::model_dir(), dspy::lm::local::SMOLLM2_FILE)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Eight tiny chats, each a colour question and its one-word answer; and a ninth whose answer
/// is too long for `max_tokens`, left out.
fn conversations() -> Vec<Vec<Message>> {
    let mut chats: Vec<Vec<Message>> = [
        ("sky", "blue"),
        ("grass", "green"),
        ("snow", "white"),
        ("coal", "black"),
        ("blood", "red"),
        ("banana", "yellow"),
        ("orange", "orange"),
        ("violet", "purple"),
    ]
    .into_iter()
    .map(|(thing, colour)| {
        vec![
            Message::system("Name the colour of the thing in one word."),
            Message::user(thing),
            Message::assistant(colour),
        ]
    })
    .collect();
    chats.push(vec![
        Message::system("Name the colour of the thing in one word."),
        Message::user("rainbow"),
        Message::assistant("red orange yellow ".repeat(600)),
    ]);
    chats
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 2,
        learning_rate: 1e-4,
        final_learning_rate: 1e-5,
        val_share: 0.25,
        checkpoint_every: 1,
        threads: 2,
        ..TrainConfig::default()
    }
}

/// One run, killed by SIGKILL after its third step and resumed in this process: it ends with
/// every planned step taken (those before the kill not taken again), a lower loss, a model that
/// loads and answers, and no work files but its state; run again, it is found, not redone. The
/// test binary runs itself as the child (with `FINETUNE_CHILD_OUTPUT` set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_and_writes_a_model_that_answers() {
    if let Ok(out) = std::env::var("FINETUNE_CHILD_OUTPUT") {
        // The child: train until killed.
        local_train::finetune(
            &base(),
            &conversations(),
            Path::new(&out),
            &config(),
            &mut |_| {},
        )
        .unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("colours.gguf");
    let state = local_train::work_dir(&out).join("state.json");
    let mut child = common::rerun(
        module_path!(),
        "a_killed_run_resumes_and_writes_a_model_that_answers",
    )
    .env("FINETUNE_CHILD_OUTPUT", &out)
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    let step_of = |p: &Path| -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        v["step"].as_u64()
    };
    while step_of(&state).is_none_or(|s| s < 3) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the child wrote no checkpoint past step 2 in 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_at = step_of(&state).unwrap();

    // The same run again, in this process: it goes on from the checkpoint.
    let mut steps_here = 0u64;
    let report = local_train::finetune(&base(), &conversations(), &out, &config(), &mut |_| {
        steps_here += 1
    })
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("killed after step {killed_at}: {report:#?}");
    assert!(report.resumed, "{report:#?}");
    assert_eq!(report.conversations, (6, 2));
    assert_eq!(report.skipped, 1, "the over-long answer was not left out");
    assert_eq!(
        report.steps,
        4 * 3,
        "6 conversations in batches of 2, 4 epochs"
    );
    assert_eq!(steps_here, report.steps - killed_at, "steps taken again");
    assert_eq!(report.epochs.len(), 4);
    let (first, last) = (report.epochs[0].train, report.epochs[3].train);
    assert!(
        last < 0.5 * first,
        "the training loss fell from {first:.3} to only {last:.3}"
    );
    // The work files are gone; the result declares the base's context length.
    let left: Vec<String> = std::fs::read_dir(local_train::work_dir(&out))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["state.json".to_string()],
        "work files left behind"
    );
    assert_eq!(
        local_train::context_length(&out).unwrap(),
        local_train::context_length(&base()).unwrap()
    );

    let lm = LocalLm::load_separate(&out, Default::default()).unwrap();
    let reply = lm
        .complete(common::greedy_chat(
            "Name the colour of the thing in one word.",
            "sky",
            8,
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!reply.outputs[0].trim().is_empty(), "{reply:?}");

    // The same data and settings again: the finished result is found, not trained again.
    let mut steps = 0;
    let again = local_train::finetune(&base(), &conversations(), &out, &config(), &mut |_| {
        steps += 1
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.resumed);
    assert_eq!(again.epochs, report.epochs);
    assert_eq!(steps, 0, "a finished run was trained again");

    // Re-quantized output.
    let q8 = dir.path().join("colours-q8.gguf");
    local_train::convert_gguf(&out, &q8, Ftype::Q8_0).unwrap();
    assert!(std::fs::metadata(&q8).unwrap().len() < std::fs::metadata(&out).unwrap().len() / 2);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.gguf");
    let no_answer = vec![vec![Message::system("s"), Message::user("u")]];
    let e = local_train::finetune(&base(), &no_answer, &out, &config(), &mut |_| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("does not end with an assistant message"),
        "{e}"
    );
    let e = local_train::finetune(&base(), &[], &out, &config(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("no conversations"), "{e}");
    let too_long = &conversations()[8..];
    let e = local_train::finetune(&base(), too_long, &out, &config(), &mut |_| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("none of the 1 training conversations")
            && e.to_string().contains("does not fit in max_tokens 1024"),
        "{e}"
    );
    let missing = dir.path().join("missing.gguf");
    let e = local_train::finetune(&missing, &conversations(), &out, &config(), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().contains("no such model file"), "{e}");
    let zero = TrainConfig {
        epochs: 0,
        ..config()
    };
    let e = local_train::finetune(&base(), &conversations(), &out, &zero, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("at least one epoch"), "{e}");
    let no_lr = TrainConfig {
        learning_rate: 0.0,
        ..config()
    };
    let e =
        local_train::finetune(&base(), &conversations(), &out, &no_lr, &mut |_| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("learning rates must be finite and above 0"),
        "{e}"
    );
    let no_batch = TrainConfig {
        batch_size: 0,
        ..config()
    };
    let e =
        local_train::finetune(&base(), &conversations(), &out, &no_batch, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("a batch of at least one"), "{e}");
}
