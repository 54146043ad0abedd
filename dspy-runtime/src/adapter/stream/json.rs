//! JSONAdapter's (and BAMLAdapter's) fields: the values of the reply object's keys, a string
//! value decoded as it arrives (escapes as the parser reads them) and any other value as
//! written.

use super::{FieldPiece, FieldStream, FieldText};

/// Where an escape in a string stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Escape {
    /// After a backslash.
    Start,
    /// In `\uXXXX`: the hex digits so far and their value.
    Hex { digits: u8, value: u32 },
    /// After a high surrogate, before a `\` that may open its pair.
    AfterHigh(u32),
    /// After a high surrogate and a backslash.
    HighSlash(u32),
    /// In the low surrogate's `\uXXXX`.
    Low { high: u32, digits: u8, value: u32 },
}

enum State {
    /// Before the object's `{` (a code fence, prose).
    Start,
    /// Before a key, or the object's end.
    ExpectKey,
    /// In a key quoted with `quote`.
    Key {
        name: String,
        escaped: bool,
        quote: char,
    },
    /// After a key, before its `:`.
    AfterKey {
        name: String,
    },
    /// After the `:`.
    ExpectValue {
        field: Option<usize>,
    },
    /// In a string value quoted with `quote`.
    Str {
        escape: Option<Escape>,
        quote: char,
    },
    /// In another value: its nesting depth, and the quote of a string inside it.
    Raw {
        depth: usize,
        quote: Option<char>,
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

    /// The output a key names: exact, else ignoring ASCII case (as the parser looks it up);
    /// the first occurrence streams.
    fn field(&mut self, name: &str) -> Option<usize> {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| n.eq_ignore_ascii_case(name)))?;
        (!std::mem::replace(&mut self.seen[i], true)).then_some(i)
    }

    fn step(&mut self, c: char, out: &mut Vec<FieldPiece>) {
        match &mut self.state {
            State::Start => {
                if c == '{' {
                    self.state = State::ExpectKey;
                }
            }
            State::ExpectKey => match c {
                '"' | '\'' => {
                    self.state = State::Key {
                        name: String::new(),
                        escaped: false,
                        quote: c,
                    }
                }
                '}' => self.state = State::Done,
                _ => {}
            },
            State::Key {
                name,
                escaped,
                quote,
            } => match (c, *escaped) {
                ('\\', false) => *escaped = true,
                (c, false) if c == *quote => {
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
                    let name = std::mem::take(name);
                    let field = self.field(&name);
                    self.state = State::ExpectValue { field };
                }
            }
            State::ExpectValue { field } => {
                if c.is_whitespace() {
                    return;
                }
                let field = *field;
                if c == '"' || c == '\'' {
                    self.cur.open(field, false);
                    self.state = State::Str {
                        escape: None,
                        quote: c,
                    };
                } else {
                    self.cur.open(field, true);
                    self.state = State::Raw {
                        depth: 0,
                        quote: None,
                        escaped: false,
                    };
                    self.step(c, out);
                }
            }
            State::Str { escape, quote } => {
                let quote = *quote;
                match escape.take() {
                    Some(e) => {
                        let (decoded, next, again) = escape_step(e, c);
                        self.pending.extend(decoded.into_iter().flatten());
                        if let State::Str { escape, .. } = &mut self.state {
                            *escape = next;
                        }
                        if again {
                            self.step(c, out);
                        }
                    }
                    None => match c {
                        '\\' => *escape = Some(Escape::Start),
                        c if c == quote => {
                            self.close(out);
                            self.state = State::AfterValue;
                        }
                        c => self.pending.push(c),
                    },
                }
            }
            State::Raw {
                depth,
                quote,
                escaped,
            } => {
                if let Some(q) = *quote {
                    match (c, *escaped) {
                        ('\\', false) => *escaped = true,
                        (c, false) if c == q => *quote = None,
                        _ => *escaped = false,
                    }
                    self.pending.push(c);
                    return;
                }
                match c {
                    '"' | '\'' => *quote = Some(c),
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

/// What an escape step decodes to: up to two chars.
type Decoded = [Option<char>; 2];

/// One char of an escape, read as the lenient parser reads it: the chars it decodes to (if
/// it ends), what is left of the escape, and whether `c` itself must be read again (it ended
/// an escape without belonging to it). A lone or broken surrogate is U+FFFD.
fn escape_step(e: Escape, c: char) -> (Decoded, Option<Escape>, bool) {
    const BAD: char = '\u{fffd}';
    let one = |c: char| [Some(c), None];
    const NONE: Decoded = [None, None];
    let hex = c.to_digit(16);
    match e {
        Escape::Start => match c {
            'n' => (one('\n'), None, false),
            't' => (one('\t'), None, false),
            'r' => (one('\r'), None, false),
            'b' => (one('\u{8}'), None, false),
            'f' => (one('\u{c}'), None, false),
            'u' => (
                NONE,
                Some(Escape::Hex {
                    digits: 0,
                    value: 0,
                }),
                false,
            ),
            c => (one(c), None, false),
        },
        Escape::Hex { digits, value } => match hex {
            // Not an escape the parser reads (it fails the whole reply): as written.
            None => (one(BAD), None, true),
            Some(h) => {
                let value = value << 4 | h;
                match digits + 1 {
                    4 if (0xD800..0xDC00).contains(&value) => {
                        (NONE, Some(Escape::AfterHigh(value)), false)
                    }
                    4 => (one(char::from_u32(value).unwrap_or(BAD)), None, false),
                    d => (NONE, Some(Escape::Hex { digits: d, value }), false),
                }
            }
        },
        Escape::AfterHigh(high) => match c {
            '\\' => (NONE, Some(Escape::HighSlash(high)), false),
            _ => (one(BAD), None, true),
        },
        // The backslash opens another escape: the surrogate is lone (U+FFFD), then that
        // escape.
        Escape::HighSlash(high) => match c {
            'u' => (
                NONE,
                Some(Escape::Low {
                    high,
                    digits: 0,
                    value: 0,
                }),
                false,
            ),
            c => {
                let ([d, _], next, again) = escape_step(Escape::Start, c);
                ([Some(BAD), d], next, again)
            }
        },
        Escape::Low {
            high,
            digits,
            value,
        } => match hex {
            None => (one(BAD), None, true),
            Some(h) => {
                let value = value << 4 | h;
                match digits + 1 {
                    4 => {
                        let code = 0x10000
                            + ((high - 0xD800) << 10)
                            + (value.wrapping_sub(0xDC00) & 0x3FF);
                        (one(char::from_u32(code).unwrap_or(BAD)), None, false)
                    }
                    d => (
                        NONE,
                        Some(Escape::Low {
                            high,
                            digits: d,
                            value,
                        }),
                        false,
                    ),
                }
            }
        },
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
        self.close(out);
        self.state = State::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{every_cut, joined};
    use super::*;

    #[test]
    fn values_of_every_kind_join_at_every_cut() {
        let reply = "```json\n{\"reasoning\": \"line\\nnext, {not} [json]\", \"other\": {\"x\": [1, \"]\"]}, \"tags\": [\"a\", \"b,c\"], \"n\": 42 }\n```";
        for cut in every_cut(reply) {
            let names = ["reasoning", "tags", "n"].map(String::from).to_vec();
            let got = joined(Box::new(JsonFieldStream::new(names)), &cut, 3);
            assert_eq!(
                got,
                vec![
                    ("line\nnext, {not} [json]".to_string(), true),
                    ("[\"a\", \"b,c\"]".to_string(), true),
                    ("42".to_string(), true),
                ],
                "cut {cut:?}"
            );
        }
    }

    #[test]
    fn escapes_decode_as_the_parser_reads_them() {
        let decode = |esc: &str| {
            let mut s = JsonFieldStream::new(vec!["a".into()]);
            let mut out = Vec::new();
            s.push(&format!("{{\"a\": \"{esc}\"}}"), &mut out);
            out.into_iter().map(|p| p.text).collect::<String>()
        };
        assert_eq!(decode("\\u00e9\\ud83d\\ude00"), "é😀");
        assert_eq!(decode("\\ud83d\\n"), "\u{fffd}\n");
        assert_eq!(decode("\\ud83dx"), "\u{fffd}x");
        assert_eq!(decode("\\udc00"), "\u{fffd}");
        assert_eq!(decode("\\q\\/\\\\"), "q/\\");
        // Not an escape the parser reads: U+FFFD, and the string still ends at its quote.
        assert_eq!(decode("\\u12é"), "\u{fffd}é");
        assert_eq!(decode("\\u1"), "\u{fffd}");
    }
}
