//! Field types of the grammar, in both Rust and DSPy (Python) spellings.

use crate::GrammarError;
use crate::lexer::{Tok, TokKind};

/// A Rust integer type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`, also what `int` means
    I64,
    /// `i128`
    I128,
    /// `isize`
    Isize,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `u128`
    U128,
    /// `usize`
    Usize,
}

const INTS: &[(&str, IntKind)] = &[
    ("i8", IntKind::I8),
    ("i16", IntKind::I16),
    ("i32", IntKind::I32),
    ("i64", IntKind::I64),
    ("i128", IntKind::I128),
    ("isize", IntKind::Isize),
    ("u8", IntKind::U8),
    ("u16", IntKind::U16),
    ("u32", IntKind::U32),
    ("u64", IntKind::U64),
    ("u128", IntKind::U128),
    ("usize", IntKind::Usize),
];

impl IntKind {
    /// The Rust spelling, e.g. `i64`.
    pub fn rust_name(self) -> &'static str {
        INTS.iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("i64")
    }

    /// Whether the type has no negative values.
    pub fn is_unsigned(self) -> bool {
        self.rust_name().starts_with('u')
    }
}

/// A Rust float type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatKind {
    /// `f32`
    F32,
    /// `f64`, also what `float` means
    F64,
}

/// Which map a `dict[str, T]` becomes in Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// `std::collections::HashMap`, what `dict` means
    HashMap,
    /// `std::collections::BTreeMap`
    BTreeMap,
}

/// A field type as the grammar understands it.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeExpr {
    /// `str` / `String`
    Str,
    /// `bool`
    Bool,
    /// `int` / a Rust integer
    Int(IntKind),
    /// `float` / `f32` / `f64`
    Float(FloatKind),
    /// `list[T]` / `Vec<T>`
    List(Box<TypeExpr>),
    /// `dict[str, T]` / `HashMap<String, T>` / `BTreeMap<String, T>`
    Map(MapKind, Box<TypeExpr>),
    /// `Optional[T]` / `Option<T>`
    Optional(Box<TypeExpr>),
    /// `Literal['a', 'b']`: one of these strings
    Literal(Vec<String>),
    /// A user type, by its path (e.g. `Person`, `crate::types::Person`)
    Named(String),
}

impl TypeExpr {
    /// The type's name in DSPy's vocabulary, e.g. `list[str]`, `Union[int, NoneType]`.
    pub fn dspy_name(&self) -> String {
        match self {
            TypeExpr::Str => "str".into(),
            TypeExpr::Bool => "bool".into(),
            TypeExpr::Int(_) => "int".into(),
            TypeExpr::Float(_) => "float".into(),
            TypeExpr::List(t) => format!("list[{}]", t.dspy_name()),
            TypeExpr::Map(_, t) => format!("dict[str, {}]", t.dspy_name()),
            TypeExpr::Optional(t) => format!("Union[{}, NoneType]", t.dspy_name()),
            TypeExpr::Literal(values) => {
                let quoted: Vec<String> = values.iter().map(|v| python_quote(v)).collect();
                format!("Literal[{}]", quoted.join(", "))
            }
            TypeExpr::Named(path) => path.rsplit("::").next().unwrap_or(path).to_string(),
        }
    }
}

/// Quotes a string the way Python's `repr` does inside a `Literal[...]`.
pub fn python_quote(s: &str) -> String {
    let single = s.contains('\'');
    let double = s.contains('"');
    match (single, double) {
        (true, false) => format!("\"{s}\""),
        (true, true) => format!("'{}'", s.replace('\'', "\\'")),
        _ => format!("'{s}'"),
    }
}

/// How deeply types may nest (`list[list[...]]` counts each level): far beyond any real
/// signature, and low enough that parsing, and every walk over the type after it, stays well
/// within the stack whatever string a program is handed.
pub const MAX_TYPE_DEPTH: usize = 32;

pub(crate) struct TypeParser<'a> {
    src: &'a str,
    toks: &'a [Tok],
    pos: usize,
    /// Types open around the one being parsed.
    depth: usize,
}

const KNOWN: &str = "str, int, float, bool, list[T], dict[str, T], Optional[T], Literal['a', ...], \
String, i8..i128, u8..u128, f32, f64, Vec<T>, Option<T>, HashMap<String, T>, BTreeMap<String, T>, \
or a user type whose name starts with an uppercase letter";

impl<'a> TypeParser<'a> {
    pub fn new(src: &'a str, toks: &'a [Tok]) -> Self {
        TypeParser {
            src,
            toks,
            pos: 0,
            depth: 0,
        }
    }

    fn text(&self, t: &Tok) -> &'a str {
        &self.src[t.span.clone()]
    }

    fn err(&self, t: &Tok, message: String) -> GrammarError {
        GrammarError {
            span: t.span.clone(),
            message,
        }
    }

    fn end_span(&self) -> std::ops::Range<usize> {
        self.toks
            .last()
            .map(|t| t.span.end..t.span.end)
            .unwrap_or(0..0)
    }

    fn next(&mut self) -> Result<&'a Tok, GrammarError> {
        let t = self.toks.get(self.pos).ok_or_else(|| GrammarError {
            span: self.end_span(),
            message: "unexpected end of type".into(),
        })?;
        self.pos += 1;
        Ok(t)
    }

    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    pub fn expect_end(&self) -> Result<(), GrammarError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(self.err(t, format!("unexpected `{}` after the type", self.text(t)))),
        }
    }

    fn expect(&mut self, kind: TokKind, what: &str) -> Result<&'a Tok, GrammarError> {
        let t = self.next()?;
        if t.kind == kind {
            Ok(t)
        } else {
            Err(self.err(t, format!("expected {what}, found `{}`", self.text(t))))
        }
    }

    /// `name[` or `name<`: which bracket opened, so the matching close can be checked.
    fn open(&mut self, name: &str) -> Result<char, GrammarError> {
        let t = self.next()?;
        match t.kind {
            TokKind::Open(c @ ('[' | '<')) => Ok(c),
            _ => Err(self.err(
                t,
                format!("`{name}` needs a type argument, e.g. `{name}[str]`"),
            )),
        }
    }

    fn close(&mut self, open: char) -> Result<(), GrammarError> {
        let want = if open == '[' { ']' } else { '>' };
        let t = self.next()?;
        if t.kind == TokKind::Close(want) {
            Ok(())
        } else {
            Err(self.err(t, format!("expected `{want}`, found `{}`", self.text(t))))
        }
    }

    pub fn parse_type(&mut self) -> Result<TypeExpr, GrammarError> {
        if self.depth == MAX_TYPE_DEPTH {
            let span = self
                .peek()
                .map(|t| t.span.clone())
                .unwrap_or_else(|| self.end_span());
            return Err(GrammarError {
                span,
                message: format!(
                    "type nested more than {MAX_TYPE_DEPTH} deep; flatten it, or use a struct in a typed signature"
                ),
            });
        }
        self.depth += 1;
        let ty = self.parse_one();
        self.depth -= 1;
        ty
    }

    fn parse_one(&mut self) -> Result<TypeExpr, GrammarError> {
        let first = self.next()?;
        match first.kind {
            TokKind::Ident => {}
            TokKind::Open('(') => {
                return Err(self.err(
                    first,
                    "tuples are not supported as field types; use a struct".into(),
                ));
            }
            TokKind::Str => {
                return Err(self.err(
                    first,
                    format!(
                        "expected a type, found the string {}; for a choice of values write Literal[{}]",
                        self.text(first),
                        self.text(first)
                    ),
                ));
            }
            _ => {
                return Err(self.err(
                    first,
                    format!("expected a type, found `{}`", self.text(first)),
                ));
            }
        }
        // A path: Ident (:: Ident)*
        let mut path = self.text(first).to_string();
        let mut last = first;
        while self.peek().map(|t| t.kind) == Some(TokKind::PathSep) {
            self.pos += 1;
            let seg = self.expect(TokKind::Ident, "a path segment after `::`")?;
            path.push_str("::");
            path.push_str(self.text(seg));
            last = seg;
        }
        let name = self.text(last);
        let is_path = path.contains("::");
        let ty = match name {
            "str" | "String" => TypeExpr::Str,
            "bool" => TypeExpr::Bool,
            "int" => TypeExpr::Int(IntKind::I64),
            "float" | "f64" => TypeExpr::Float(FloatKind::F64),
            "f32" => TypeExpr::Float(FloatKind::F32),
            n if INTS.iter().any(|(k, _)| *k == n) => {
                let kind = INTS
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, k)| *k)
                    .unwrap_or(IntKind::I64);
                TypeExpr::Int(kind)
            }
            "list" | "List" | "Vec" => {
                let open = self.open(name)?;
                let inner = self.parse_type()?;
                self.close(open)?;
                TypeExpr::List(Box::new(inner))
            }
            "Optional" | "Option" => {
                let open = self.open(name)?;
                let inner = self.parse_type()?;
                self.close(open)?;
                TypeExpr::Optional(Box::new(inner))
            }
            "dict" | "Dict" | "HashMap" | "BTreeMap" => {
                let kind = if name == "BTreeMap" {
                    MapKind::BTreeMap
                } else {
                    MapKind::HashMap
                };
                let open = self.open(name)?;
                let key_tok = self.peek();
                let key = self.parse_type()?;
                if key != TypeExpr::Str {
                    let span = key_tok
                        .map(|t| t.span.clone())
                        .unwrap_or_else(|| self.end_span());
                    return Err(GrammarError {
                        span,
                        message: format!(
                            "map keys must be strings (`str` / `String`), found {}",
                            key.dspy_name()
                        ),
                    });
                }
                self.expect(TokKind::Comma, "`,` between the key and value types")?;
                let value = self.parse_type()?;
                self.close(open)?;
                TypeExpr::Map(kind, Box::new(value))
            }
            "Literal" => {
                let open = self.open(name)?;
                let mut values = Vec::new();
                loop {
                    let t = self.next()?;
                    match t.kind {
                        TokKind::Str => values.push(unquote(self.text(t))),
                        TokKind::Close(_) if !values.is_empty() => {
                            self.pos -= 1;
                            break;
                        }
                        _ => {
                            return Err(self.err(
                                t,
                                format!("Literal takes quoted strings, found `{}`", self.text(t)),
                            ));
                        }
                    }
                    match self.peek().map(|t| t.kind) {
                        Some(TokKind::Comma) => self.pos += 1,
                        _ => break,
                    }
                }
                self.close(open)?;
                TypeExpr::Literal(values)
            }
            n if n.chars().next().is_some_and(char::is_uppercase) || is_path => {
                if let Some(t) = self.peek()
                    && matches!(t.kind, TokKind::Open(_))
                {
                    return Err(self.err(
                        t,
                        format!("generic type `{path}` is not supported in a string signature; use #[derive(Signature)]"),
                    ));
                }
                TypeExpr::Named(path)
            }
            _ => {
                return Err(GrammarError {
                    span: first.span.start..last.span.end,
                    message: format!("unknown type `{path}`; expected one of {KNOWN}"),
                });
            }
        };
        Ok(ty)
    }
}

fn unquote(lit: &str) -> String {
    let inner = &lit[1..lit.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(d) = chars.next() {
                out.push(d);
            }
        } else {
            out.push(c);
        }
    }
    out
}
