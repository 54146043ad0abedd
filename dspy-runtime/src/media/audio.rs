//! `Audio`: DSPy's `dspy.Audio`.

use super::{MAX_MEDIA_BYTES, MediaError, check_len, marked, sniff, unmark};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::path::Path;

/// An audio input: base64 data and its format (`wav`, `mpeg`, ...). In the prompt it is an
/// `input_audio` content part, as DSPy sends it; Anthropic and the embedded model refuse it
/// before any call.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Audio {
    data: String,
    format: String,
}

impl Audio {
    /// Audio from its bytes in `format` (`wav`, `mp3`, ...), of at most [`MAX_MEDIA_BYTES`].
    pub fn from_bytes(bytes: &[u8], format: impl Into<String>) -> Result<Audio, MediaError> {
        check_len(bytes, MAX_MEDIA_BYTES)?;
        Ok(Audio::encode(bytes, format.into()))
    }

    /// Base64 data already encoded, in `format`.
    pub fn from_base64(data: impl Into<String>, format: impl Into<String>) -> Audio {
        Audio {
            data: data.into(),
            format: format.into(),
        }
    }

    /// A `data:audio/<format>;base64,...` URI.
    pub fn data_uri(uri: &str) -> Result<Audio, MediaError> {
        let bad = || {
            MediaError::BadSource(format!(
                "not an audio data URI: {:?}",
                super::abbreviate(uri)
            ))
        };
        let rest = uri.strip_prefix("data:audio/").ok_or_else(bad)?;
        let (header, data) = rest.split_once(',').ok_or_else(bad)?;
        let format = header.split(';').next().unwrap_or("");
        if format.is_empty() {
            return Err(bad());
        }
        Ok(Audio::from_base64(data, normalize(format)))
    }

    /// Reads an audio file of at most [`MAX_MEDIA_BYTES`]. Its format comes from its name as
    /// DSPy takes it (`clip.wav` is `wav`, `clip.mp3` is `mpeg`), and its bytes must be audio.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Audio, MediaError> {
        Audio::from_path_max(path, MAX_MEDIA_BYTES)
    }

    /// Reads an audio file of at most `max_bytes`.
    pub fn from_path_max(path: impl AsRef<Path>, max_bytes: usize) -> Result<Audio, MediaError> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let mime = sniff::mime_of_name(&what).filter(|m| m.starts_with("audio/"));
        let Some(mime) = mime else {
            return Err(MediaError::WrongKind {
                what,
                expected: "audio",
                found: "its name has no audio extension (wav, mp3, ogg, flac, m4a, aac, aiff)"
                    .into(),
            });
        };
        let bytes = super::read_limited(path, max_bytes)?;
        check_audio(&bytes, &what)?;
        Ok(Audio::encode(&bytes, normalize(&mime["audio/".len()..])))
    }

    /// Downloads audio (at most [`MAX_MEDIA_BYTES`]); its bytes must be audio, and its format
    /// is its `Content-Type`'s (`audio/mpeg` is `mpeg`), else what its bytes are. It fetches
    /// whatever host the URL names: check untrusted URLs first.
    pub async fn download(url: &str) -> Result<Audio, MediaError> {
        let (bytes, content_type) = super::download(url, MAX_MEDIA_BYTES).await?;
        check_audio(&bytes, &super::shown(url))?;
        let format = match content_type
            .as_deref()
            .and_then(|t| t.strip_prefix("audio/"))
        {
            Some(f) => normalize(f),
            None => sniff::audio(&bytes).unwrap_or("wav").to_string(),
        };
        Ok(Audio::encode(&bytes, format))
    }

    fn encode(bytes: &[u8], format: String) -> Audio {
        use base64::Engine as _;
        Audio {
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
            format,
        }
    }

    /// The base64 data.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The format (`wav`, `mpeg`, ...).
    pub fn format(&self) -> &str {
        &self.format
    }

    /// The OpenAI content parts DSPy sends for it.
    pub fn parts(&self) -> Value {
        json!([{"type": "input_audio", "input_audio": {"data": self.data, "format": self.format}}])
    }
}

/// DSPy drops an `x-` prefix (`audio/x-wav` is `wav`).
fn normalize(format: &str) -> String {
    format.strip_prefix("x-").unwrap_or(format).to_string()
}

fn check_audio(bytes: &[u8], what: &str) -> Result<(), MediaError> {
    match sniff::audio(bytes) {
        Some(_) => Ok(()),
        None => Err(MediaError::WrongKind {
            what: what.to_string(),
            expected: "audio",
            found: format!(
                "its first bytes {:02x?} match no WAV, MP3, OGG, FLAC, AIFF, AAC or MP4 signature",
                &bytes[..bytes.len().min(8)]
            ),
        }),
    }
}

impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Audio({}, <{} chars>)", self.format, self.data.len())
    }
}

impl Serialize for Audio {
    /// As DSPy serializes it into a prompt: the content parts between DSPy's markers.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&marked(&self.parts()))
    }
}

impl<'de> Deserialize<'de> for Audio {
    /// From what [`Serialize`] writes, a data URI, or `{"data": ..., "audio_format": ...}`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Audio, D::Error> {
        let v = Value::deserialize(d)?;
        let pair = |o: &Value, key: &str| {
            Some(Audio::from_base64(
                o.get("data")?.as_str()?,
                o.get(key)?.as_str()?,
            ))
        };
        let audio = match &v {
            Value::String(s) => match unmark(s) {
                Some(part) => part.get("input_audio").and_then(|a| pair(a, "format")),
                None => Audio::data_uri(s).ok(),
            },
            Value::Object(_) => pair(&v, "audio_format"),
            _ => None,
        };
        audio.ok_or_else(|| {
            serde::de::Error::custom(
                "an Audio is a data:audio/... URI or {\"data\": ..., \"audio_format\": ...}",
            )
        })
    }
}

impl JsonSchema for Audio {
    fn schema_name() -> Cow<'static, str> {
        "Audio".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "x-dspy-type": "Audio"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_dspy_shapes() {
        let a = Audio::from_base64("UklGRg==", "wav");
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(serde_json::from_value::<Audio>(v).unwrap(), a);
        let d: Audio =
            serde_json::from_value(json!({"data": "UklGRg==", "audio_format": "wav"})).unwrap();
        assert_eq!(d, a);
        let u = Audio::data_uri("data:audio/x-wav;base64,UklGRg==").unwrap();
        assert_eq!(u, a);
    }

    #[test]
    fn a_file_that_is_not_audio_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clip.wav");
        std::fs::write(&p, b"just some text").unwrap();
        let e = Audio::from_path(&p).unwrap_err();
        assert!(
            matches!(
                e,
                MediaError::WrongKind {
                    expected: "audio",
                    ..
                }
            ),
            "{e}"
        );
        let e = Audio::from_path(dir.path().join("clip.xyz")).unwrap_err();
        assert!(e.to_string().contains("no audio extension"), "{e}");
        std::fs::write(&p, b"RIFF\x24\0\0\0WAVEfmt ").unwrap();
        assert_eq!(Audio::from_path(&p).unwrap().format(), "wav");
    }
}
