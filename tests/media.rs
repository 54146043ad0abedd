//! Image, audio and file inputs on the wire: OpenAI content parts and Anthropic blocks sent to
//! a real server on 127.0.0.1, refusals before any call, and bad files as typed errors.

mod common;

use common::server::FakeLm;
use dspy::lm::{HttpLm, LmError, LmRequest, Message};
use dspy::media::MAX_MEDIA_BYTES;
use dspy::prelude::*;
use dspy::{Audio, File, Image, MediaError};
use serde_json::json;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/media");

/// Answer about the picture.
#[derive(Signature)]
struct Look {
    #[input]
    question: String,
    #[input]
    photo: Image,
    #[output]
    answer: String,
}

/// Answer about the recording.
#[derive(Signature)]
struct Listen {
    #[input]
    clip: Audio,
    #[output]
    answer: String,
}

fn look() -> LookInput {
    LookInput {
        question: "What colour?".into(),
        photo: Image::from_path(format!("{DIR}/dot.png")).unwrap(),
    }
}

fn openai(server: &FakeLm) -> HttpLm {
    HttpLm::builder("openai/mock")
        .api_base(server.base())
        .cache(false)
        .build()
        .unwrap()
}

fn anthropic(server: &FakeLm) -> HttpLm {
    HttpLm::builder("anthropic/claude-test")
        .api_base(server.root())
        .api_key("sk-ant-test")
        .cache(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_image_goes_to_openai_as_an_image_url_part() {
    let server = FakeLm::start().await;
    let p = Predict::<Look>::new().with_lm(openai(&server));
    p.call(look()).await.unwrap();
    let sent = &server.log()[0].body;
    let user = &sent["messages"][1];
    assert_eq!(user["role"], "user");
    let parts = user["content"].as_array().expect("content parts");
    assert_eq!(parts[0]["type"], "text");
    assert!(
        parts[0]["text"]
            .as_str()
            .unwrap()
            .ends_with("[[ ## photo ## ]]\n")
    );
    assert_eq!(parts[1]["type"], "image_url");
    assert!(
        parts[1]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
    assert_eq!(parts[2]["type"], "text");
    // The system message stays text.
    assert!(sent["messages"][0]["content"].is_string());
}

#[tokio::test]
async fn anthropic_gets_image_and_document_blocks_and_refuses_audio_before_any_call() {
    let server = FakeLm::start().await;
    let lm = anthropic(&server);
    Predict::<Look>::new()
        .with_lm(lm.clone())
        .call(look())
        .await
        .unwrap();
    let parts = server.log()[0].body["messages"][0]["content"].clone();
    assert_eq!(parts[1]["type"], "image");
    assert_eq!(parts[1]["source"]["type"], "base64");
    assert_eq!(parts[1]["source"]["media_type"], "image/png");

    let pdf = File::from_path(format!("{DIR}/note.pdf")).unwrap();
    let request = LmRequest {
        messages: vec![Message::user(
            serde_json::to_value(&pdf).unwrap().as_str().unwrap(),
        )],
        ..Default::default()
    };
    lm.complete(request).await.unwrap();
    let doc = server.log()[1].body["messages"][0]["content"][0].clone();
    assert_eq!(doc["type"], "document");
    assert_eq!(doc["source"]["media_type"], "application/pdf");

    let clip = Audio::from_path(format!("{DIR}/tone.wav")).unwrap();
    let err = Predict::<Listen>::new()
        .with_lm(lm)
        .call(ListenInput { clip })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, dspy::Error::Lm(LmError::UnsupportedInput(m)) if m.contains("no audio")),
        "{err}"
    );
    assert_eq!(
        server.requests(),
        2,
        "the audio call never reached the server"
    );
}

#[tokio::test]
async fn an_unknown_modality_is_refused_before_any_call() {
    let server = FakeLm::start().await;
    let video = "<<CUSTOM-TYPE-START-IDENTIFIER>>[{\"type\": \"video_url\", \"video_url\": {\"url\": \"https://x/v.mp4\"}}]<<CUSTOM-TYPE-END-IDENTIFIER>>";
    let request = LmRequest {
        messages: vec![Message::user(format!("[[ ## v ## ]]\n{video}"))],
        ..Default::default()
    };
    let err = openai(&server).complete(request).await.unwrap_err();
    assert!(
        matches!(&err, LmError::UnsupportedInput(m) if m.contains("`video_url`")),
        "{err}"
    );
    assert_eq!(server.requests(), 0);
}

#[test]
fn a_file_that_is_not_an_image_is_a_typed_error() {
    let err = Image::from_path(format!("{DIR}/not-an-image.png")).unwrap_err();
    assert!(
        matches!(
            &err,
            MediaError::WrongKind {
                expected: "an image",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("not-an-image.png is not an image"),
        "{err}"
    );
    let err = Image::from_path(format!("{DIR}/missing.png")).unwrap_err();
    assert!(matches!(&err, MediaError::Io { .. }), "{err}");
    // Through `?` in a program it is a dspy::Error.
    let as_dspy: dspy::Error = err.into();
    assert!(matches!(as_dspy, dspy::Error::Media(_)));
}

#[test]
fn a_file_over_the_limit_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    let mut bytes = std::fs::read(format!("{DIR}/dot.png")).unwrap();
    bytes.resize(4096, 0);
    std::fs::write(&big, &bytes).unwrap();
    let err = Image::from_path_max(&big, 1024).unwrap_err();
    assert!(
        matches!(&err, MediaError::TooLarge { limit: 1024, .. }),
        "{err}"
    );
    assert!(Image::from_path_max(&big, 4096).is_ok());
    let err = File::from_path_max(&big, 100).unwrap_err();
    assert!(matches!(&err, MediaError::TooLarge { .. }), "{err}");
    let huge = vec![0u8; MAX_MEDIA_BYTES + 1];
    assert!(matches!(
        Audio::from_bytes(&huge, "wav"),
        Err(MediaError::TooLarge { .. })
    ));
}

#[test]
fn media_inputs_read_back_from_json_examples() {
    let input: LookInput = serde_json::from_value(json!({
        "question": "q", "photo": {"url": "https://example.org/a.png"}
    }))
    .unwrap();
    assert_eq!(input.photo.as_url(), "https://example.org/a.png");
    let bad = serde_json::from_value::<LookInput>(json!({"question": "q", "photo": "/etc/passwd"}));
    assert!(bad.is_err());
}
