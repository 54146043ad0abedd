//! Field streams for adapters that mark fields in text: ChatAdapter's `[[ ## name ## ]]`
//! headers and XMLAdapter's `<name>…</name>` elements.

use super::{FieldPiece, FieldStream, FieldText, partial_marker_len};

use super::super::chat::MAX_HEADER_LINE;
/// The longest unfinished tag held back because it may open an output.
const MAX_TAG: usize = 128;

/// The output index of `name` by `matches`, unless that output was already read (the first
/// occurrence wins, as in the parsers).
fn position(
    names: &[String],
    seen: &mut [bool],
    name: &str,
    case_insensitive: bool,
) -> Option<usize> {
    let i = names.iter().position(|n| n == name).or_else(|| {
        case_insensitive
            .then(|| names.iter().position(|n| n.eq_ignore_ascii_case(name)))
            .flatten()
    })?;
    (!std::mem::replace(&mut seen[i], true)).then_some(i)
}

/// ChatAdapter's fields, read line by line as its parser reads them: a line that is a
/// `[[ ## name ## ]]` header (by the parser's own test) opens a field, which runs to the next
/// header. A line that may still become a header is held until it is decided; any other text
/// streams as it comes.
pub(crate) struct ChatFieldStream {
    names: Vec<String>,
    seen: Vec<bool>,
    /// The current line's text not yet handed out.
    line: String,
    /// The current line cannot be a header: its text streams as it comes.
    plain: bool,
    /// The current line is a long header whose rest streams as it comes.
    header_rest: bool,
    cur: FieldText,
}

impl ChatFieldStream {
    pub(crate) fn new(names: Vec<String>) -> Self {
        ChatFieldStream {
            seen: vec![false; names.len()],
            names,
            line: String::new(),
            plain: false,
            header_rest: false,
            cur: FieldText::default(),
        }
    }

    /// Opens the field a header names (none for an unknown or repeated one).
    fn open(&mut self, name: &str, out: &mut Vec<FieldPiece>) {
        self.cur.close(out);
        let field = position(&self.names, &mut self.seen, name, true);
        self.cur.open(field, true);
    }

    /// Decides whether the unfinished current line can still be a header, and streams it
    /// when it cannot.
    fn partial_line(&mut self, out: &mut Vec<FieldPiece>) {
        if !self.plain {
            let t = self.line.trim_start();
            let may_be_header = t.is_empty() || "[[".starts_with(t) || t.starts_with("[[");
            if may_be_header && self.line.len() <= MAX_HEADER_LINE {
                return;
            }
            self.plain = true;
            if may_be_header {
                // Too long to wait for: decided on its first bytes, as `end_line` decides.
                let line = std::mem::take(&mut self.line);
                match header_of(&line) {
                    Some((name, rest)) => {
                        self.open(name, out);
                        self.header_rest = true;
                        self.line.push_str(rest);
                    }
                    None => self.line = line,
                }
            }
        }
        // Hand out the line but a last `\r` (a `\r\n` ends a line as a `\n` does).
        let upto = self.line.len() - usize::from(self.line.ends_with('\r'));
        self.cur.text(&self.line[..upto], out);
        self.line.drain(..upto);
    }

    /// The current line ended (at a newline, or at the reply's end).
    fn end_line(&mut self, newline: bool, out: &mut Vec<FieldPiece>) {
        let line = std::mem::take(&mut self.line);
        let line = match newline {
            true => line.strip_suffix('\r').unwrap_or(&line),
            false => &line,
        };
        match header_of(line).filter(|_| !self.plain) {
            Some((name, rest)) => {
                self.open(name, out);
                self.cur.text(rest.trim_end(), out);
            }
            None => self.cur.text(line, out),
        }
        // A header line's text ends trimmed, as the parser trims it.
        if std::mem::take(&mut self.header_rest) {
            self.cur.held_ws.clear();
        }
        if newline {
            self.cur.text("\n", out);
        }
        self.plain = false;
    }
}

/// The header a line opens, and the rest of the line with its start trimmed (the parser's
/// own test, which reads only the line's first bytes: a line held back while it grows is
/// decided alike however it arrives).
fn header_of(line: &str) -> Option<(&str, &str)> {
    let (name, rest_at) = super::super::chat::header_at(line)?;
    Some((name, line[rest_at..].trim_start()))
}

impl FieldStream for ChatFieldStream {
    fn push(&mut self, text: &str, out: &mut Vec<FieldPiece>) {
        let mut rest = text;
        while let Some(nl) = rest.find('\n') {
            self.line.push_str(&rest[..nl]);
            self.end_line(true, out);
            rest = &rest[nl + 1..];
        }
        self.line.push_str(rest);
        self.partial_line(out);
    }

    fn finish(&mut self, out: &mut Vec<FieldPiece>) {
        if !self.line.is_empty() {
            self.end_line(false, out);
        }
        self.cur.close(out);
    }
}

/// XMLAdapter's fields: the text of each output's `<name>` element, entities decoded; text
/// outside the outputs' elements is skipped.
pub(crate) struct XmlFieldStream {
    names: Vec<String>,
    seen: Vec<bool>,
    buf: String,
    cur: FieldText,
    /// The closing tag of the open field.
    closing: Option<String>,
}

impl XmlFieldStream {
    pub(crate) fn new(names: Vec<String>) -> Self {
        XmlFieldStream {
            seen: vec![false; names.len()],
            names,
            buf: String::new(),
            cur: FieldText::default(),
            closing: None,
        }
    }

    /// Hands out `raw` (element text) decoded, keeping back an entity not yet ended.
    fn text(&mut self, upto: usize, out: &mut Vec<FieldPiece>) {
        let raw = &self.buf[..upto];
        let keep = match raw.rfind('&') {
            Some(amp) if !raw[amp..].contains(';') && raw.len() - amp <= 10 => raw.len() - amp,
            _ => 0,
        };
        let cut = upto - keep;
        let decoded = crate::adapter::xml::tree::unescape(&self.buf[..cut]);
        self.cur.text(&decoded, out);
        self.buf.drain(..cut);
    }
}

impl FieldStream for XmlFieldStream {
    fn push(&mut self, text: &str, out: &mut Vec<FieldPiece>) {
        self.buf.push_str(text);
        loop {
            match self.closing.clone() {
                Some(closing) => {
                    let Some(i) = self.buf.find(&closing) else {
                        let upto = self.buf.len() - partial_marker_len(&self.buf, &closing);
                        self.text(upto, out);
                        return;
                    };
                    // The element ends: its rest decoded whole (an unended entity as written).
                    let rest = crate::adapter::xml::tree::unescape(&self.buf[..i]);
                    self.cur.text(&rest, out);
                    self.buf.drain(..i + closing.len());
                    self.cur.close(out);
                    self.closing = None;
                }
                None => {
                    let mut from = 0;
                    let opened = loop {
                        let Some(lt) = self.buf[from..].find('<').map(|i| i + from) else {
                            break None;
                        };
                        let rest = &self.buf[lt + 1..];
                        let Some(gt) = rest.find('>') else {
                            // A tag not yet closed: keep it if it may name an output.
                            let may = rest.len() <= MAX_TAG
                                && self.names.iter().any(|n| n.starts_with(rest.trim()));
                            if may {
                                self.buf.drain(..lt);
                                return;
                            }
                            from = lt + 1;
                            continue;
                        };
                        // A tag longer than one held back is not an output's, whole or split.
                        if gt > MAX_TAG {
                            from = lt + 1;
                            continue;
                        }
                        let name = rest[..gt].trim();
                        // Exact names, as the parser finds elements.
                        match position(&self.names, &mut self.seen, name, false) {
                            Some(field) => break Some((field, name.to_string(), lt + 1 + gt + 1)),
                            None => from = lt + 1,
                        }
                    };
                    let Some((field, name, end)) = opened else {
                        self.buf.clear();
                        return;
                    };
                    self.buf.drain(..end);
                    self.closing = Some(format!("</{name}>"));
                    self.cur.open(Some(field), true);
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<FieldPiece>) {
        if self.closing.is_some() {
            let rest = crate::adapter::xml::tree::unescape(&std::mem::take(&mut self.buf));
            self.cur.text(&rest, out);
        }
        self.cur.close(out);
        self.closing = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{every_cut, joined};
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chat_fields_join_to_the_parsed_values_at_every_cut() {
        let reply = "[[ ## reasoning ## ]]\nParis is the capital;  [[ not a header ]] of France.\n\n[[ ## answer ## ]]\n  Paris ünd «more»\n\n[[ ## completed ## ]]\nignored";
        for cut in every_cut(reply) {
            let s = Box::new(ChatFieldStream::new(names(&["reasoning", "answer"])));
            let got = joined(s, &cut, 2);
            assert_eq!(
                got,
                vec![
                    (
                        "Paris is the capital;  [[ not a header ]] of France.".to_string(),
                        true
                    ),
                    ("Paris ünd «more»".to_string(), true),
                ],
                "cut {cut:?}"
            );
        }
    }

    #[test]
    fn chat_unknown_and_repeated_headers_are_skipped_and_a_cut_off_reply_ends_the_field() {
        let reply =
            "preamble\n[[ ## other ## ]]\nx\n[[ ## answer ## ]]\n42\n[[ ## answer ## ]]\n43";
        for cut in every_cut(reply) {
            let s = Box::new(ChatFieldStream::new(names(&["answer"])));
            assert_eq!(
                joined(s, &cut, 1),
                vec![("42".to_string(), true)],
                "cut {cut:?}"
            );
        }
        // A stream that stops mid-field: the field ends with what came.
        let s = Box::new(ChatFieldStream::new(names(&["answer"])));
        assert_eq!(
            joined(s, &["[[ ## answer ## ]]\nhal", "f [[ #"], 1),
            vec![("half [[ #".to_string(), true)]
        );
    }

    #[test]
    fn xml_fields_join_to_the_parsed_values_at_every_cut() {
        let reply = "Sure.\n<reasoning>\nA &amp; B &lt;3 &bogus; &#x263A;</reasoning>\n<answer> Paris </answer>";
        for cut in every_cut(reply) {
            let s = Box::new(XmlFieldStream::new(names(&["reasoning", "answer"])));
            assert_eq!(
                joined(s, &cut, 2),
                vec![
                    ("A & B <3 &bogus; ☺".to_string(), true),
                    ("Paris".to_string(), true),
                ],
                "cut {cut:?}"
            );
        }
    }
}
