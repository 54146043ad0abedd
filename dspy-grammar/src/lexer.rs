//! Tokens of the string-signature grammar, with byte spans.

use crate::GrammarError;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokKind {
    Ident,
    Str,
    Arrow,
    Comma,
    Colon,
    PathSep,
    Open(char),
    Close(char),
}

#[derive(Clone, Debug)]
pub(crate) struct Tok {
    pub kind: TokKind,
    pub span: Range<usize>,
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer { src }
    }

    pub fn tokens(&self) -> Result<Vec<Tok>, GrammarError> {
        let mut out = Vec::new();
        let bytes = self.src.as_bytes();
        let mut it = self.src.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let kind = match c {
                c if c.is_whitespace() => continue,
                '-' if bytes.get(i + 1) == Some(&b'>') => {
                    it.next();
                    out.push(Tok {
                        kind: TokKind::Arrow,
                        span: i..i + 2,
                    });
                    continue;
                }
                ':' if bytes.get(i + 1) == Some(&b':') => {
                    it.next();
                    out.push(Tok {
                        kind: TokKind::PathSep,
                        span: i..i + 2,
                    });
                    continue;
                }
                ',' => TokKind::Comma,
                ':' => TokKind::Colon,
                '[' | '<' | '(' => TokKind::Open(c),
                ']' | '>' | ')' => TokKind::Close(c),
                '\'' | '"' => {
                    let mut end = None;
                    let mut escaped = false;
                    for (j, d) in it.by_ref() {
                        if escaped {
                            escaped = false;
                        } else if d == '\\' {
                            escaped = true;
                        } else if d == c {
                            end = Some(j + 1);
                            break;
                        }
                    }
                    let Some(end) = end else {
                        return Err(GrammarError {
                            span: i..self.src.len(),
                            message: format!("unterminated string literal starting with {c}"),
                        });
                    };
                    out.push(Tok {
                        kind: TokKind::Str,
                        span: i..end,
                    });
                    continue;
                }
                c if c == '_' || c.is_alphanumeric() || c == '.' => {
                    let mut end = i + c.len_utf8();
                    while let Some(&(j, d)) = it.peek() {
                        if d == '_' || d.is_alphanumeric() || d == '.' {
                            end = j + d.len_utf8();
                            it.next();
                        } else {
                            break;
                        }
                    }
                    out.push(Tok {
                        kind: TokKind::Ident,
                        span: i..end,
                    });
                    continue;
                }
                other => {
                    return Err(GrammarError {
                        span: i..i + other.len_utf8(),
                        message: format!("unexpected character `{other}` in signature"),
                    });
                }
            };
            out.push(Tok {
                kind,
                span: i..i + c.len_utf8(),
            });
        }
        Ok(out)
    }
}
