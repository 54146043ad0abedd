//! A chat program: a signature with a `History` input carries the conversation from one call
//! to the next as user and assistant turns (rendered as DSPy renders them: tests/parity.rs).

use dspy::prelude::*;

/// Answer the user.
#[derive(Signature)]
struct Reply {
    #[input]
    question: String,
    #[input]
    history: History,
    #[output]
    answer: String,
}

#[tokio::test]
async fn each_call_sees_the_turns_before_it() {
    let lm = ScriptedLm::new([
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]",
        "[[ ## answer ## ]]\nBerlin\n\n[[ ## completed ## ]]",
    ]);
    let chat = Predict::<Reply>::new().with_lm(lm.clone());
    let mut history = History::new();
    for question in ["Capital of France?", "And Germany?"] {
        let input = ReplyInput {
            question: question.into(),
            history: history.clone(),
        };
        let out = chat.call(input.clone()).await.unwrap();
        history.push(
            &ReplyInput {
                history: History::new(),
                ..input
            },
            &out.into_output(),
        );
    }
    let second = &lm.requests()[1].messages;
    let roles: Vec<&str> = second.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert!(
        second[1]
            .content
            .starts_with("[[ ## question ## ]]\nCapital of France?")
    );
    assert_eq!(
        &*second[2].content,
        "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]\n"
    );
    assert!(!second[3].content.contains("## history ##"));
    assert_eq!(history.messages.len(), 2);
    assert_eq!(
        history.messages[1].keys().collect::<Vec<_>>(),
        ["question", "answer"]
    );
}

/// A training conversation (BootstrapFinetune) of a predictor with a History input holds the
/// earlier turns as user and assistant messages, with the predictor's demos or without them:
/// the prompt the fine-tuned model will see.
#[test]
fn training_conversations_keep_the_turns_with_or_without_demos() {
    let demo = Demo::new()
        .with("question", "Capital of Italy?")
        .with("answer", "Rome");
    let chat = Predict::<Reply>::new().with_demos([demo]).unwrap();
    let mut history = History::new();
    history.push(
        &ReplyInput {
            question: "Capital of France?".into(),
            history: History::new(),
        },
        &ReplyOutput {
            answer: "Paris".into(),
        },
    );
    let input = ReplyInput {
        question: "And Germany?".into(),
        history,
    };
    let inputs = serde_json::to_value(&input).unwrap();
    let outputs = serde_json::json!({"answer": "Berlin"});
    let (inputs, outputs) = (inputs.as_object().unwrap(), outputs.as_object().unwrap());
    for (without_demos, roles) in [
        (
            false,
            &[
                "system",
                "user",
                "assistant",
                "user",
                "assistant",
                "user",
                "assistant",
            ][..],
        ),
        (
            true,
            &["system", "user", "assistant", "user", "assistant"][..],
        ),
    ] {
        let messages = chat
            .finetune_messages(inputs, outputs, without_demos)
            .unwrap();
        let got: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(got, roles, "without demos: {without_demos}");
        let n = messages.len();
        assert!(messages[n - 4].content.contains("Capital of France?"));
        assert!(messages[n - 3].content.contains("Paris"));
        assert!(messages[n - 2].content.contains("And Germany?"));
        assert!(!messages[n - 2].content.contains("## history ##"));
        assert!(messages[n - 1].content.contains("Berlin"));
        let all: String = messages.iter().map(|m| m.content.to_string()).collect();
        assert_eq!(all.contains("Capital of Italy?"), !without_demos);
    }
}
