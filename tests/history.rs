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
