//! Server-sent events split out of a byte stream: each byte is scanned once, and an event that
//! never ends is refused once it outgrows the limit.

use super::LmError;
use std::ops::Range;

/// Bytes received but not yet handed out as events.
pub(crate) struct SseBuffer {
    buf: Vec<u8>,
    /// Where the first event not yet handed out starts.
    start: usize,
    /// Where the search for the next separator resumes (bytes before it hold none).
    scan: usize,
    /// The most bytes one unfinished event may hold.
    limit: usize,
}

impl SseBuffer {
    pub fn new(limit: usize) -> SseBuffer {
        SseBuffer {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            limit,
        }
    }

    /// Appends a chunk (dropping the events already handed out first).
    pub fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, without its blank-line separator; `None` until more bytes
    /// come; an error once the unfinished event is over the limit.
    pub fn next_event(&mut self) -> Result<Option<&[u8]>, LmError> {
        match find_event_end(&self.buf, self.scan) {
            Some(Range {
                start: end,
                end: next,
            }) => {
                let event = self.start..end;
                self.start = next;
                self.scan = next;
                Ok(Some(&self.buf[event]))
            }
            None => {
                // A separator is at most 4 bytes: the last 3 may begin one.
                self.scan = self.buf.len().saturating_sub(3).max(self.start);
                let pending = self.buf.len() - self.start;
                if pending > self.limit {
                    return Err(LmError::ResponseTooLarge {
                        what: "stream event",
                        limit: self.limit,
                        received: pending,
                    });
                }
                Ok(None)
            }
        }
    }

    /// Whether nothing but whitespace is left (a clean end of stream).
    pub fn rest_is_blank(&self) -> bool {
        self.buf[self.start..].iter().all(u8::is_ascii_whitespace)
    }
}

/// The first event separator (`\n\n` or `\r\n\r\n`) at or after `from`: where it starts and
/// where the next event begins.
fn find_event_end(buf: &[u8], from: usize) -> Option<Range<usize>> {
    let mut i = from;
    while i < buf.len() {
        let rest = &buf[i..];
        if rest.starts_with(b"\n\n") {
            return Some(i..i + 2);
        }
        if rest.starts_with(b"\r\n\r\n") {
            return Some(i..i + 4);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(buf: &mut SseBuffer) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = buf.next_event().unwrap() {
            out.push(String::from_utf8_lossy(e).into_owned());
        }
        out
    }

    const STREAM: &str = "data: {\"a\":1}\n\nevent: x\r\ndata: é\r\n\r\ndata: [DONE]\n\n";

    #[test]
    fn event_boundaries() {
        assert_eq!(find_event_end(b"data: x\n\ndata: y", 0), Some(7..9));
        assert_eq!(find_event_end(b"data: x\r\n\r\n", 0), Some(7..11));
        assert_eq!(find_event_end(b"data: x\n", 0), None);
        assert_eq!(find_event_end(b"a\n\nb\n\n", 3), Some(4..6));
    }

    #[test]
    fn whole_and_split_at_every_byte_give_the_same_events() {
        let mut whole = SseBuffer::new(1 << 20);
        whole.push(STREAM.as_bytes());
        let expected = events(&mut whole);
        assert_eq!(
            expected,
            ["data: {\"a\":1}", "event: x\r\ndata: é", "data: [DONE]"]
        );
        assert!(whole.rest_is_blank());
        let mut split = SseBuffer::new(1 << 20);
        let mut got = Vec::new();
        for b in STREAM.as_bytes() {
            split.push(std::slice::from_ref(b));
            got.extend(events(&mut split));
        }
        assert_eq!(got, expected);
        assert!(split.rest_is_blank());
    }

    #[test]
    fn each_byte_is_scanned_once() {
        let mut buf = SseBuffer::new(1 << 20);
        buf.push(b"data: ");
        for _ in 0..10_000 {
            buf.push(b"xxxxxxxxxx");
            assert!(buf.next_event().unwrap().is_none());
            assert!(
                buf.scan + 3 >= buf.buf.len(),
                "the scan resumes near the end"
            );
        }
        buf.push(b"\n\n");
        assert_eq!(buf.next_event().unwrap().map(<[u8]>::len), Some(100_006));
    }

    #[test]
    fn an_endless_event_is_refused_at_the_limit() {
        let mut buf = SseBuffer::new(64);
        buf.push(b"data: ok\n\n");
        assert!(buf.next_event().unwrap().is_some());
        buf.push(&[b'x'; 60]);
        assert!(buf.next_event().unwrap().is_none());
        buf.push(&[b'x'; 10]);
        let e = buf.next_event().unwrap_err();
        assert_eq!(
            e,
            LmError::ResponseTooLarge {
                what: "stream event",
                limit: 64,
                received: 70
            }
        );
        assert!(e.to_string().contains("64"), "{e}");
    }

    #[test]
    fn an_unfinished_event_is_not_blank() {
        let mut buf = SseBuffer::new(64);
        buf.push(b"data: ok\n\ndata: cut");
        assert!(buf.next_event().unwrap().is_some());
        assert!(buf.next_event().unwrap().is_none());
        assert!(!buf.rest_is_blank());
    }
}
