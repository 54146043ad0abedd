//! Field streams for adapters that mark fields in text: ChatAdapter's `[[ ## name ## ]]`
//! headers and XMLAdapter's `<name>…</name>` elements.

use super::{FieldPiece, FieldStream, FieldText, partial_marker_len};

const OPEN: &str = "[[ ## ";
const CLOSE: &str = " ## ]]";
/// The longest header name read; a longer one is text, not a header.
const MAX_NAME: usize = 128;

/// The output index of `name` (exact, else ignoring ASCII case, as the parsers match it),
/// unless that output was already read (the first occurrence wins).
fn position(names: &[String], seen: &mut [bool], name: &str) -> Option<usize> {
    let i = names
        .iter()
        .position(|n| n == name)
        .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(name)))?;
    (!std::mem::replace(&mut seen[i], true)).then_some(i)
}

/// ChatAdapter's fields: each starts at its `[[ ## name ## ]]` header and ends at the next
/// header; `[[ ## completed ## ]]` ends the reply.
pub(crate) struct ChatFieldStream {
    names: Vec<String>,
    seen: Vec<bool>,
    buf: String,
    cur: FieldText,
    done: bool,
}

impl ChatFieldStream {
    pub(crate) fn new(names: Vec<String>) -> Self {
        ChatFieldStream {
            seen: vec![false; names.len()],
            names,
            buf: String::new(),
            cur: FieldText::default(),
            done: false,
        }
    }
}

impl FieldStream for ChatFieldStream {
    fn push(&mut self, text: &str, out: &mut Vec<FieldPiece>) {
        if self.done {
            return;
        }
        self.buf.push_str(text);
        loop {
            let Some(i) = self.buf.find(OPEN) else {
                let cut = self.buf.len() - partial_marker_len(&self.buf, OPEN);
                self.cur.text(&self.buf[..cut], out);
                self.buf.drain(..cut);
                return;
            };
            self.cur.text(&self.buf[..i], out);
            self.buf.drain(..i);
            let Some(j) = self.buf[OPEN.len()..].find(CLOSE) else {
                if self.buf.len() > OPEN.len() + MAX_NAME + CLOSE.len() {
                    // Too long for a header: the opening was text.
                    self.cur.text(OPEN, out);
                    self.buf.drain(..OPEN.len());
                    continue;
                }
                return;
            };
            let name = self.buf[OPEN.len()..OPEN.len() + j].trim().to_string();
            self.buf.drain(..OPEN.len() + j + CLOSE.len());
            self.cur.close(out);
            if name == "completed" {
                self.done = true;
                self.buf.clear();
                return;
            }
            let field = position(&self.names, &mut self.seen, &name);
            self.cur.open(field, true);
        }
    }

    fn finish(&mut self, out: &mut Vec<FieldPiece>) {
        if !self.done {
            let rest = std::mem::take(&mut self.buf);
            self.cur.text(&rest, out);
        }
        self.cur.close(out);
        self.done = true;
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
                    self.text(i, out);
                    // What `text` kept back is an unended entity: text as written.
                    let rest = self.buf[..self.buf.find(&closing).unwrap_or(0)].to_string();
                    self.cur.text(&rest, out);
                    self.buf.drain(..rest.len() + closing.len());
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
                            let may = rest.len() <= MAX_NAME
                                && self.names.iter().any(|n| n.starts_with(rest.trim()));
                            if may {
                                self.buf.drain(..lt);
                                return;
                            }
                            from = lt + 1;
                            continue;
                        };
                        let name = rest[..gt].trim();
                        match position(&self.names, &mut self.seen, name) {
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
