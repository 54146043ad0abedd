//! What a file is, from its first bytes (its signature), not from its name.

/// The media type of an image format recognised by its signature: PNG, JPEG, GIF, WebP, BMP,
/// TIFF, ICO, HEIC, AVIF, or SVG (text that opens an `<svg` element).
pub(crate) fn image(bytes: &[u8]) -> Option<&'static str> {
    let b = bytes;
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if b.starts_with(b"BM") && b.len() >= 14 {
        Some("image/bmp")
    } else if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else if b.starts_with(b"\0\0\x01\0") && b.len() >= 6 {
        Some("image/vnd.microsoft.icon")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        match &b[8..12] {
            b"heic" | b"heix" | b"mif1" | b"msf1" => Some("image/heic"),
            b"avif" | b"avis" => Some("image/avif"),
            _ => None,
        }
    } else if is_svg(b) {
        Some("image/svg+xml")
    } else {
        None
    }
}

/// Whether the text opens (after an XML declaration, comments or a doctype) an `<svg` element.
fn is_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let Ok(text) =
        std::str::from_utf8(head).or_else(|e| std::str::from_utf8(&head[..e.valid_up_to()]))
    else {
        return false;
    };
    let text = text.trim_start_matches('\u{feff}').trim_start();
    text.starts_with('<') && text.contains("<svg")
}

/// The audio format (as OpenAI's `input_audio` names it) recognised by its signature: WAV,
/// MP3, OGG, FLAC, AIFF, AAC (ADTS) or MP4/M4A.
pub(crate) fn audio(bytes: &[u8]) -> Option<&'static str> {
    let b = bytes;
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some("wav")
    } else if b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xff && b[1] & 0xe6 == 0xe2) {
        Some("mp3")
    } else if b.starts_with(b"OggS") {
        Some("ogg")
    } else if b.starts_with(b"fLaC") {
        Some("flac")
    } else if b.len() >= 12 && &b[..4] == b"FORM" && (&b[8..12] == b"AIFF" || &b[8..12] == b"AIFC")
    {
        Some("aiff")
    } else if b.len() >= 2 && b[0] == 0xff && b[1] & 0xf6 == 0xf0 {
        Some("aac")
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" && matches!(&b[8..11], b"M4A" | b"mp4" | b"iso")
    {
        Some("mp4")
    } else {
        None
    }
}

/// The media type Python's `mimetypes` gives a file name's extension, for the common ones.
pub(crate) fn mime_of_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "heic" => "image/heic",
        "avif" => "image/avif",
        "wav" => "audio/x-wav",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "aif" | "aiff" => "audio/x-aiff",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "py" => "text/x-python",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_by_signature() {
        assert_eq!(image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(image(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(image(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            image(b"<?xml version=\"1.0\"?>\n<svg xmlns=\"\"/>"),
            Some("image/svg+xml")
        );
        assert_eq!(image(b"<html><body>not an image</body></html>"), None);
        assert_eq!(image(b"%PDF-1.4"), None);
        assert_eq!(image(b""), None);
    }

    #[test]
    fn audio_by_signature() {
        assert_eq!(audio(b"RIFF\x24\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(audio(b"ID3\x04\0"), Some("mp3"));
        assert_eq!(audio(b"fLaC\0"), Some("flac"));
        assert_eq!(audio(b"RIFF\0\0\0\0WEBPVP8 "), None);
        assert_eq!(audio(b"hello"), None);
    }

    #[test]
    fn names_to_media_types() {
        assert_eq!(mime_of_name("a/b/Photo.JPG"), Some("image/jpeg"));
        assert_eq!(mime_of_name("clip.wav"), Some("audio/x-wav"));
        assert_eq!(mime_of_name("noext"), None);
    }
}
