//! JSONAdapter's (and BAMLAdapter's) fields: the values of the reply object's keys, a string
//! value decoded as it arrives and any other value as written.

use super::{FieldPiece, FieldStream, FieldText};

enum State {
    /// Before the object's `{` (a code fence, prose).
    Start,
    /// Before a key, or the object's end.
    ExpectKey,
    /// In a key.
    Key {
        name: String,
        escaped: bool,
    },
    /// After a key, before its `:`.
    AfterKey {
        name: String,
    },
    /// After the `:`.
    ExpectValue {
        field: Option<usize>,
    },
    /// In a string value; `escape` holds an escape not yet complete.
    Str {
        escape: Option<String>,
    },
    /// In another value: its nesting depth and whether inside a string in it.
    Raw {
        depth: usize,
        in_str: bool,
        escaped: bool,
    },
    /// After a value, before `,` or `}`.
    AfterValue,
    Done,
}

/// Reads a JSON object's output values as they stream.
pub(crate) struct JsonFieldStream {
    names: Vec<String>,
    seen: Vec<bool>,
    state: State,
    cur: FieldText,
    /// Text decided in this push, handed out at its end (one piece per push and field).
    pending: String,
}

impl JsonFieldStream {
    pub(crate) fn new(names: Vec<String>) -> Self {
        JsonFieldStream {
            seen: vec![false; names.len()],
            names,
            state: State::Start,
            cur: FieldText::default(),
            pending: String::new(),
        }
    }

    fn flush(&mut self, out: &mut Vec<FieldPiece>) {
        if !self.pending.is_empty() {
            let text = std::mem::take(&mut self.pending);
            self.cur.text(&text, out);
        }
    }

    fn close(&mut self, out: &mut Vec<FieldPiece>) {
        self.flush(out);
        self.cur.close(out);
    }

    fn step(&mut self, c: char, out: &mut Vec<FieldPiece>) {
        match &mut self.state {
            State::Start => {
                if c == '{' {
                    self.state = State::ExpectKey;
                }
            }
            State::ExpectKey => match c {
                '"' => {
                    self.state = State::Key {
                        name: String::new(),
                        escaped: false,
                    }
                }
                '}' => self.state = State::Done,
                _ => {}
            },
            State::Key { name, escaped } => match (c, *escaped) {
                ('\\', false) => *escaped = true,
                ('"', false) => {
                    let name = std::mem::take(name);
                    self.state = State::AfterKey { name };
                }
                (c, _) => {
                    name.push(c);
                    *escaped = false;
                }
            },
            State::AfterKey { name } => {
                if c == ':' {
                    let field = self.names.iter().position(|n| n == name);
                    let field = field.filter(|&i| !std::mem::replace(&mut self.seen[i], true));
                    self.state = State::ExpectValue { field };
                }
            }
            State::ExpectValue { field } => {
                if c.is_whitespace() {
                    return;
                }
                let field = *field;
                if c == '"' {
                    self.cur.open(field, false);
                    self.state = State::Str { escape: None };
                } else {
                    self.cur.open(field, true);
                    let depth = usize::from(c == '[' || c == '{');
                    self.pending.push(c);
                    self.state = State::Raw {
                        depth,
                        in_str: false,
                        escaped: false,
                    };
                    if depth == 0 && c == '}' {
                        self.close(out);
                        self.state = State::Done;
                    }
                }
            }
            State::Str { escape } => match escape {
                Some(esc) => {
                    esc.push(c);
                    if let Some(decoded) = decode_escape(esc) {
                        self.pending.push_str(&decoded);
                        *escape = None;
                    }
                }
                None => match c {
                    '\\' => *escape = Some(String::from('\\')),
                    '"' => {
                        self.close(out);
                        self.state = State::AfterValue;
                    }
                    c => self.pending.push(c),
                },
            },
            State::Raw {
                depth,
                in_str,
                escaped,
            } => {
                if *in_str {
                    match (c, *escaped) {
                        ('\\', false) => *escaped = true,
                        ('"', false) => *in_str = false,
                        _ => *escaped = false,
                    }
                    self.pending.push(c);
                    return;
                }
                match c {
                    '"' => *in_str = true,
                    '[' | '{' => *depth += 1,
                    ']' | '}' if *depth > 0 => {
                        *depth -= 1;
                        if *depth == 0 {
                            self.pending.push(c);
                            self.close(out);
                            self.state = State::AfterValue;
                            return;
                        }
                    }
                    ',' | '}' if *depth == 0 => {
                        self.close(out);
                        self.state = match c {
                            ',' => State::ExpectKey,
                            _ => State::Done,
                        };
                        return;
                    }
                    _ => {}
                }
                self.pending.push(c);
            }
            State::AfterValue => match c {
                ',' => self.state = State::ExpectKey,
                '}' => self.state = State::Done,
                _ => {}
            },
            State::Done => {}
        }
    }
}

/// The text of a complete JSON escape (`\n`, `\"`, `\u00e9`, a surrogate pair), `None` while
/// it is incomplete. A bad escape is kept as written.
fn decode_escape(esc: &str) -> Option<String> {
    let b = esc.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let simple = match b[1] {
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'u' => None,
        _ => return Some(esc.to_string()),
    };
    if let Some(c) = simple {
        return Some(c.to_string());
    }
    let unit = |s: &str| u16::from_str_radix(s, 16).ok();
    if esc.len() < 6 {
        return None;
    }
    let Some(hi) = unit(&esc[2..6]) else {
        return Some(esc.to_string());
    };
    if !(0xD800..0xDC00).contains(&hi) {
        return Some(char::from_u32(u32::from(hi)).map_or_else(|| esc.to_string(), String::from));
    }
    // A high surrogate: wait for its pair.
    if esc.len() < 12 {
        return (esc.len() > 6 && !"\\u".starts_with(&esc[6..esc.len().min(8)]))
            .then(|| esc.to_string());
    }
    match (esc.get(6..8), unit(&esc[8..12])) {
        (Some("\\u"), Some(lo)) if (0xDC00..0xE000).contains(&lo) => {
            let code = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
            Some(char::from_u32(code).map_or_else(|| esc.to_string(), String::from))
        }
        _ => Some(esc.to_string()),
    }
}

impl FieldStream for JsonFieldStream {
    fn push(&mut self, text: &str, out: &mut Vec<FieldPiece>) {
        for c in text.chars() {
            self.step(c, out);
        }
        self.flush(out);
    }

    fn finish(&mut self, out: &mut Vec<FieldPiece>) {
        if let State::Str {
            escape: Some(esc), ..
        } = &self.state
        {
            self.pending.push_str(&esc.clone());
        }
        self.close(out);
        self.state = State::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{every_cut, joined};
    use super::*;

    #[test]
    fn json_values_join_to_the_parsed_values_at_every_cut() {
        let reply = "```json\n{\"reasoning\": \"A \\\"quoted\\\" \\u00e9 \\ud83d\\ude00 line\\nnext, {not} [json]\", \"other\": {\"x\": [1, \"]\"]}, \"tags\": [\"a\", \"b,c\"], \"n\": 42 }\n```";
        for cut in every_cut(reply) {
            let names = ["reasoning", "tags", "n"].map(String::from).to_vec();
            let got = joined(Box::new(JsonFieldStream::new(names)), &cut, 3);
            assert_eq!(
                got,
                vec![
                    (
                        "A \"quoted\" é 😀 line\nnext, {not} [json]".to_string(),
                        true
                    ),
                    ("[\"a\", \"b,c\"]".to_string(), true),
                    ("42".to_string(), true),
                ],
                "cut {cut:?}"
            );
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(decode_escape("\\"), None);
        assert_eq!(decode_escape("\\n").as_deref(), Some("\n"));
        assert_eq!(decode_escape("\\u00"), None);
        assert_eq!(decode_escape("\\u00e9").as_deref(), Some("é"));
        assert_eq!(decode_escape("\\ud83d"), None);
        assert_eq!(decode_escape("\\ud83d\\u"), None);
        assert_eq!(decode_escape("\\ud83d\\ude00").as_deref(), Some("😀"));
        assert_eq!(decode_escape("\\q").as_deref(), Some("\\q"));
    }
}
