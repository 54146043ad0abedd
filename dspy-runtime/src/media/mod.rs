//! Image, audio and file inputs (DSPy's `dspy.Image`, `dspy.Audio`, `dspy.File`): read from a
//! path, bytes, a data URI or a URL under a size limit, checked to be what they claim, and
//! rendered into a prompt as DSPy renders them (OpenAI content parts between DSPy's markers,
//! which a request turns into the provider's parts).

mod audio;
mod file;
mod image;
pub(crate) mod sniff;

pub use audio::Audio;
pub use file::File;
pub use image::Image;

use crate::lm::content::{marked, unmarked};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most bytes read for one image, clip or file unless a call says otherwise (20 MiB:
/// OpenAI's limit for one image).
pub const MAX_MEDIA_BYTES: usize = 20 << 20;

/// Why a media input could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The input is over the size limit; nothing past the limit was read.
    #[error(
        "{what} is over the size limit of {limit} bytes ({size}); pass a larger limit to the `_max` constructor"
    )]
    TooLarge {
        /// The file, URL or `bytes`.
        what: String,
        /// The limit, in bytes.
        limit: usize,
        /// Its size, or `more than the limit` when it was cut off.
        size: String,
    },
    /// The bytes are not the kind of media asked for.
    #[error("{what} is not {expected}: {found}")]
    WrongKind {
        /// The file, URL or `bytes`.
        what: String,
        /// `an image` or `audio`.
        expected: &'static str,
        /// What its bytes or type say it is.
        found: String,
    },
    /// A source string that is neither a data URI nor a URL of a supported scheme, or a
    /// serialized value of the wrong shape.
    #[error("{0}")]
    BadSource(String),
    /// A download failed.
    #[error("cannot download {url}: {message}")]
    Download {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
}

/// Reads at most `limit` bytes of the regular file at `path`; more is an error.
fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, MediaError> {
    let io = |e: std::io::Error| MediaError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(MediaError::Io {
            path: path.to_path_buf(),
            message: "not a regular file".into(),
        });
    }
    let too_large = |size: String| MediaError::TooLarge {
        what: path.display().to_string(),
        limit,
        size,
    };
    if meta.len() > limit as u64 {
        return Err(too_large(format!("{} bytes", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .map_err(io)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limit {
        return Err(too_large("more than the limit".into()));
    }
    Ok(bytes)
}

/// Fails when `bytes` is over `limit`.
fn check_len(bytes: &[u8], limit: usize) -> Result<(), MediaError> {
    match bytes.len() > limit {
        true => Err(MediaError::TooLarge {
            what: "the bytes given".into(),
            limit,
            size: format!("{} bytes", bytes.len()),
        }),
        false => Ok(()),
    }
}

/// A URL as errors show it: without its query (a presigned URL's signature stays out of logs).
fn shown(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

/// Downloads `url` (HTTP or HTTPS) under `limit` bytes: its body and `Content-Type`.
async fn download(url: &str, limit: usize) -> Result<(Vec<u8>, Option<String>), MediaError> {
    let fail = |message: String| MediaError::Download {
        url: shown(url),
        message,
    };
    if !is_url(url, &["http", "https"]) {
        return Err(MediaError::BadSource(format!(
            "a download needs an http(s) URL, got {:?}",
            shown(url)
        )));
    }
    let client = crate::lm::shared_client().map_err(|e| fail(e.to_string()))?;
    let mut response = client
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status().as_u16())));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    let too_large = |size: String| MediaError::TooLarge {
        what: shown(url),
        limit,
        size,
    };
    if let Some(len) = response.content_length()
        && len > limit as u64
    {
        return Err(too_large(format!("{len} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large("more than the limit".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, content_type))
}

/// Whether `s` is a URL with one of `schemes` and a host.
fn is_url(s: &str, schemes: &[&str]) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    schemes.contains(&scheme.to_ascii_lowercase().as_str()) && !host.is_empty()
}

/// `data:<mime>;base64,<data>`.
fn data_uri(mime: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    let mut s = format!("data:{mime};base64,");
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut s);
    s
}

/// The single part inside a marked string, if `s` is one.
fn unmark(s: &str) -> Option<Value> {
    match serde_json::from_str(unmarked(s)?) {
        Ok(Value::Array(mut parts)) if parts.len() == 1 => parts.pop(),
        _ => None,
    }
}

/// A data URI's short form for `Debug`: its type and length, not its data.
fn abbreviate(uri: &str) -> String {
    match uri.split_once(',') {
        Some((head, data)) if uri.starts_with("data:") => format!("{head},<{} chars>", data.len()),
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(is_url("https://x.org/a.png", &["http", "https"]));
        assert!(!is_url("https:///a.png", &["http", "https"]));
        assert!(!is_url("file:///etc/passwd", &["http", "https", "gs"]));
        assert!(!is_url("/etc/passwd", &["http", "https"]));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.png");
        std::fs::write(&p, vec![0u8; 100]).unwrap();
        let e = read_limited(&p, 10).unwrap_err();
        assert!(matches!(e, MediaError::TooLarge { limit: 10, .. }), "{e}");
        assert!(e.to_string().contains("100 bytes"), "{e}");
        let e = read_limited(dir.path(), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
