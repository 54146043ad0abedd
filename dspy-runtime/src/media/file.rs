//! `File`: DSPy's `dspy.File`.

use super::{MAX_MEDIA_BYTES, MediaError, check_len, data_uri, marked, sniff, unmark};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::path::Path;

/// A file input (a PDF, a text file, ...): its data as a data URI, a provider's file id, or
/// both, with an optional file name. In the prompt it is a `file` content part, as DSPy sends
/// it (Anthropic gets a `document`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct File {
    file_data: Option<String>,
    file_id: Option<String>,
    filename: Option<String>,
}

impl File {
    /// Reads a file of at most [`MAX_MEDIA_BYTES`]; its name is the path's last component and
    /// its type comes from its extension (`application/octet-stream` when unknown), as DSPy's
    /// `File.from_path` does.
    pub fn from_path(path: impl AsRef<Path>) -> Result<File, MediaError> {
        File::from_path_max(path, MAX_MEDIA_BYTES)
    }

    /// Reads a file of at most `max_bytes`.
    pub fn from_path_max(path: impl AsRef<Path>, max_bytes: usize) -> Result<File, MediaError> {
        let path = path.as_ref();
        let bytes = super::read_limited(path, max_bytes)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mime = name.as_deref().and_then(sniff::mime_of_name);
        Ok(File {
            file_data: Some(data_uri(mime.unwrap_or("application/octet-stream"), &bytes)),
            file_id: None,
            filename: name,
        })
    }

    /// A file from its bytes and media type (at most [`MAX_MEDIA_BYTES`]).
    pub fn from_bytes(bytes: &[u8], mime: &str) -> Result<File, MediaError> {
        check_len(bytes, MAX_MEDIA_BYTES)?;
        Ok(File {
            file_data: Some(data_uri(mime, bytes)),
            ..File::default()
        })
    }

    /// A file already uploaded to the provider.
    pub fn from_file_id(id: impl Into<String>) -> File {
        File {
            file_id: Some(id.into()),
            ..File::default()
        }
    }

    /// The same file under `name`.
    pub fn with_filename(mut self, name: impl Into<String>) -> File {
        self.filename = Some(name.into());
        self
    }

    /// The data URI, if it carries its data.
    pub fn file_data(&self) -> Option<&str> {
        self.file_data.as_deref()
    }

    /// The provider's file id, if any.
    pub fn file_id(&self) -> Option<&str> {
        self.file_id.as_deref()
    }

    /// The file name, if any.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The OpenAI content parts DSPy sends for it.
    pub fn parts(&self) -> Value {
        let mut file = Map::new();
        for (key, value) in [
            ("file_data", &self.file_data),
            ("file_id", &self.file_id),
            ("filename", &self.filename),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                file.insert(key.into(), v.into());
            }
        }
        json!([{"type": "file", "file": file}])
    }

    fn from_object(o: &Value) -> Option<File> {
        let get = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let file = File {
            file_data: get("file_data"),
            file_id: get("file_id"),
            filename: get("filename"),
        };
        (file != File::default()).then_some(file)
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field(
                "file_data",
                &self.file_data.as_deref().map(super::abbreviate),
            )
            .field("file_id", &self.file_id)
            .field("filename", &self.filename)
            .finish()
    }
}

impl Serialize for File {
    /// As DSPy serializes it into a prompt: the content parts between DSPy's markers.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&marked(&self.parts()))
    }
}

impl<'de> Deserialize<'de> for File {
    /// From what [`Serialize`] writes, a data URI, or an object with `file_data`, `file_id`
    /// or `filename`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<File, D::Error> {
        let v = Value::deserialize(d)?;
        let file = match &v {
            Value::String(s) => match unmark(s) {
                Some(part) => part.get("file").and_then(File::from_object),
                None if s.starts_with("data:") => Some(File {
                    file_data: Some(s.clone()),
                    ..File::default()
                }),
                None => None,
            },
            Value::Object(_) => File::from_object(&v),
            _ => None,
        };
        file.ok_or_else(|| {
            serde::de::Error::custom(
                "a File is a data URI or an object with file_data, file_id or filename",
            )
        })
    }
}

impl JsonSchema for File {
    fn schema_name() -> Cow<'static, str> {
        "File".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "x-dspy-type": "File"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_round_trip() {
        let f = File::from_bytes(b"%PDF-1.4", "application/pdf")
            .unwrap()
            .with_filename("a.pdf");
        assert_eq!(
            f.parts(),
            json!([{"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ=", "filename": "a.pdf"}}])
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(serde_json::from_value::<File>(v).unwrap(), f);
        assert!(serde_json::from_value::<File>(json!({"other": 1})).is_err());
        let id: File = serde_json::from_value(json!({"file_id": "file-1"})).unwrap();
        assert_eq!(id, File::from_file_id("file-1"));
    }
}
