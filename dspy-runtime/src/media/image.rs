//! `Image`: DSPy's `dspy.Image`.

use super::{
    MAX_MEDIA_BYTES, MediaError, abbreviate, check_len, data_uri, is_url, marked, sniff, unmark,
};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::path::Path;

/// An image input: a base64 data URI, or an `http(s)`/`gs` URL the provider fetches. In the
/// prompt it is an `image_url` content part, as DSPy sends it; a text-only model refuses it
/// before any call.
///
/// ```
/// # use dspy_runtime::media::Image;
/// let photo = Image::url("https://example.org/cat.png")?;
/// let tiny = Image::from_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")?;
/// assert!(tiny.as_url().starts_with("data:image/gif;base64,"));
/// # Ok::<(), dspy_runtime::media::MediaError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Image {
    url: String,
}

impl Image {
    /// An image at a URL (`http`, `https` or `gs`; sent as is), or a `data:` URI.
    pub fn url(url: impl Into<String>) -> Result<Image, MediaError> {
        let url = url.into().trim().to_string();
        if url.starts_with("data:") || is_url(&url, &["http", "https", "gs"]) {
            Ok(Image { url })
        } else {
            Err(MediaError::BadSource(format!(
                "an image source must be an http(s) or gs URL or a data URI, got {:?} (read a \
                 local file with Image::from_path)",
                super::abbreviate(&url)
            )))
        }
    }

    /// Reads an image file of at most [`MAX_MEDIA_BYTES`]; its bytes must be an image.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Image, MediaError> {
        Image::from_path_max(path, MAX_MEDIA_BYTES)
    }

    /// Reads an image file of at most `max_bytes`.
    pub fn from_path_max(path: impl AsRef<Path>, max_bytes: usize) -> Result<Image, MediaError> {
        let path = path.as_ref();
        let bytes = super::read_limited(path, max_bytes)?;
        Image::encode(&bytes, &path.display().to_string())
    }

    /// An image from its bytes (PNG, JPEG, GIF, WebP, BMP, TIFF, ICO, HEIC, AVIF or SVG), of
    /// at most [`MAX_MEDIA_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Image, MediaError> {
        check_len(bytes, MAX_MEDIA_BYTES)?;
        Image::encode(bytes, "the bytes given")
    }

    /// Downloads an image (at most [`MAX_MEDIA_BYTES`]) and keeps it as a data URI, so the
    /// provider need not reach the URL. Like DSPy's `Image.from_url`, it fetches whatever
    /// host the URL names: check untrusted URLs first.
    pub async fn download(url: &str) -> Result<Image, MediaError> {
        let (bytes, content_type) = super::download(url, MAX_MEDIA_BYTES).await?;
        // The bytes must be an image whatever the server says; its type names them if it can.
        let sniffed =
            sniff::image(&bytes).ok_or_else(|| not_an_image(&super::shown(url), &bytes))?;
        let mime = content_type
            .filter(|t| t.starts_with("image/"))
            .unwrap_or_else(|| sniffed.to_string());
        Ok(Image {
            url: data_uri(&mime, &bytes),
        })
    }

    fn encode(bytes: &[u8], what: &str) -> Result<Image, MediaError> {
        let mime = sniff::image(bytes).ok_or_else(|| not_an_image(what, bytes))?;
        Ok(Image {
            url: data_uri(mime, bytes),
        })
    }

    /// The data URI or URL.
    pub fn as_url(&self) -> &str {
        &self.url
    }

    /// The OpenAI content parts DSPy sends for it.
    pub fn parts(&self) -> Value {
        json!([{"type": "image_url", "image_url": {"url": self.url}}])
    }
}

fn not_an_image(what: &str, bytes: &[u8]) -> MediaError {
    let head = &bytes[..bytes.len().min(8)];
    MediaError::WrongKind {
        what: what.to_string(),
        expected: "an image",
        found: match bytes.is_empty() {
            true => "it is empty".into(),
            false => format!(
                "its first bytes {head:02x?} match no PNG, JPEG, GIF, WebP, BMP, TIFF, ICO, HEIC, AVIF or SVG signature"
            ),
        },
    }
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({})", abbreviate(&self.url))
    }
}

impl Serialize for Image {
    /// As DSPy serializes it into a prompt: the content parts between DSPy's markers.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&marked(&self.parts()))
    }
}

impl<'de> Deserialize<'de> for Image {
    /// From what [`Serialize`] writes, a URL or data URI, or `{"url": ...}`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Image, D::Error> {
        let v = Value::deserialize(d)?;
        let url = match &v {
            Value::String(s) => match unmark(s) {
                Some(part) => part
                    .pointer("/image_url/url")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                None => Some(s.clone()),
            },
            Value::Object(m) => m.get("url").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        let url = url.ok_or_else(|| {
            serde::de::Error::custom("an Image is a URL, a data URI or {\"url\": ...}")
        })?;
        Image::url(url).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Image {
    fn schema_name() -> Cow<'static, str> {
        "Image".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "x-dspy-type": "Image"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_dspy_writes_it_and_reads_back() {
        let img = Image::url("https://x.org/a.png").unwrap();
        let s = serde_json::to_value(&img).unwrap();
        let payload = crate::lm::content::unmarked(s.as_str().unwrap())
            .unwrap()
            .to_string();
        assert_eq!(
            payload,
            "[{\"type\": \"image_url\", \"image_url\": {\"url\": \"https://x.org/a.png\"}}]"
        );
        assert_eq!(serde_json::from_value::<Image>(s).unwrap(), img);
        // DSPy's own serialization reads back too.
        let dspy =
            format!("<<CUSTOM-TYPE-START-IDENTIFIER>>{payload}<<CUSTOM-TYPE-END-IDENTIFIER>>");
        assert_eq!(serde_json::from_value::<Image>(dspy.into()).unwrap(), img);
        let from_obj: Image =
            serde_json::from_value(json!({"url": "https://x.org/a.png"})).unwrap();
        assert_eq!(from_obj, img);
    }

    #[test]
    fn bad_sources_are_errors() {
        let e = Image::url("/etc/passwd").unwrap_err();
        assert!(e.to_string().contains("Image::from_path"), "{e}");
        assert!(serde_json::from_value::<Image>(json!(3)).is_err());
        let e = Image::from_bytes(b"<html>hi</html>").unwrap_err();
        assert!(
            matches!(
                e,
                MediaError::WrongKind {
                    expected: "an image",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn debug_hides_the_data() {
        let img = Image::from_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        assert_eq!(
            format!("{img:?}"),
            "Image(data:image/gif;base64,<20 chars>)"
        );
    }
}
