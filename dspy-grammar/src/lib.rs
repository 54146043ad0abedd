//! The one grammar of DSPy string signatures, e.g. `"question, context: list[str] -> answer: bool"`.
//!
//! Both the `signature!` macro (at compile time) and the runtime signature parser call
//! [`parse`], so the two can never drift apart. Types may be written the Rust way
//! (`String`, `i64`, `Vec<T>`, `Option<T>`, `HashMap<String, T>`) or DSPy's Python way
//! (`str`, `int`, `list[T]`, `Optional[T]`, `dict[str, T]`, `Literal['a', 'b']`).
//!
//! Also DSPy's naming rules that the macros and the runtime share: predictor paths
//! ([`path`]) and field prefixes ([`prefix`]).

mod doc;
mod lexer;
pub mod path;
pub mod prefix;
mod types;

pub use doc::{cleandoc, dedent, py_is_space, splitlines};
pub use prefix::infer_prefix;
pub use types::{FloatKind, IntKind, MAX_TYPE_DEPTH, MapKind, TypeExpr};

use lexer::{Lexer, Tok, TokKind};
use std::ops::Range;

/// Which side of the arrow a field is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Left of `->`.
    Input,
    /// Right of `->`.
    Output,
}

/// One field of a parsed string signature.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedField {
    /// The field's name.
    pub name: String,
    /// Its type; `str` when none is written.
    pub ty: TypeExpr,
    /// Input or output.
    pub role: Role,
    /// Byte range of the name in the source.
    pub span: Range<usize>,
    /// Byte range of the type in the source, when one is written.
    pub ty_span: Option<Range<usize>>,
}

/// A parsed string signature: inputs then outputs, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSignature {
    /// Fields left of `->`.
    pub inputs: Vec<ParsedField>,
    /// Fields right of `->`.
    pub outputs: Vec<ParsedField>,
}

/// A grammar error with the byte range it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrammarError {
    /// Byte range in the source string.
    pub span: Range<usize>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for GrammarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Field names the framework reserves: `completed` ends every ChatAdapter reply.
pub const RESERVED_FIELD_NAMES: &[&str] = &["completed"];

/// Checks a field name for use in any signature; `Err` carries the message.
pub fn check_field_name(name: &str) -> Result<(), String> {
    if RESERVED_FIELD_NAMES.contains(&name) {
        return Err(format!(
            "`{name}` is a reserved field name: `[[ ## {name} ## ]]` marks the end of every reply; rename the field"
        ));
    }
    Ok(())
}

/// DSPy's default instruction for a signature with these field names.
pub fn default_instructions<'a>(
    inputs: impl IntoIterator<Item = &'a str>,
    outputs: impl IntoIterator<Item = &'a str>,
) -> String {
    fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
        let quoted: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
        quoted.join(", ")
    }
    format!(
        "Given the fields {}, produce the fields {}.",
        list(inputs),
        list(outputs)
    )
}

/// Parses a string signature, reporting every error found (not just the first).
pub fn parse(src: &str) -> Result<ParsedSignature, Vec<GrammarError>> {
    let toks = match Lexer::new(src).tokens() {
        Ok(t) => t,
        Err(e) => return Err(vec![e]),
    };
    let arrows: Vec<usize> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == TokKind::Arrow)
        .map(|(i, _)| i)
        .collect();
    let whole = 0..src.len();
    match arrows.as_slice() {
        [] => {
            return Err(vec![GrammarError {
                span: whole,
                message: "a string signature needs `->` between its inputs and outputs, e.g. \"question -> answer\"".into(),
            }]);
        }
        [_] => {}
        [_, second, ..] => {
            return Err(vec![GrammarError {
                span: toks[*second].span.clone(),
                message: "a string signature has exactly one `->`".into(),
            }]);
        }
    }
    let arrow = arrows[0];
    let mut errors = Vec::new();
    let inputs = parse_side(src, &toks[..arrow], Role::Input, &toks[arrow], &mut errors);
    let outputs = parse_side(
        src,
        &toks[arrow + 1..],
        Role::Output,
        &toks[arrow],
        &mut errors,
    );
    let mut seen: Vec<&str> = Vec::new();
    for f in inputs.iter().chain(outputs.iter()) {
        if seen.contains(&f.name.as_str()) {
            errors.push(GrammarError {
                span: f.span.clone(),
                message: format!("duplicate field `{}`", f.name),
            });
        } else {
            seen.push(&f.name);
        }
        if let Err(message) = check_field_name(&f.name) {
            errors.push(GrammarError {
                span: f.span.clone(),
                message,
            });
        }
    }
    if errors.is_empty() {
        Ok(ParsedSignature { inputs, outputs })
    } else {
        errors.sort_by_key(|e| e.span.start);
        Err(errors)
    }
}

fn parse_side(
    src: &str,
    toks: &[Tok],
    role: Role,
    arrow: &Tok,
    errors: &mut Vec<GrammarError>,
) -> Vec<ParsedField> {
    let side = match role {
        Role::Input => "input",
        Role::Output => "output",
    };
    if toks.is_empty() {
        errors.push(GrammarError {
            span: arrow.span.clone(),
            message: format!("no {side} fields: write at least one name on this side of `->`"),
        });
        return Vec::new();
    }
    let mut fields = Vec::new();
    let parts: Vec<&[Tok]> = split_top_level_commas(toks);
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        if part.is_empty() {
            let at = comma_near(toks, i);
            let message = if i == last {
                "trailing comma: remove it, or add a field after it".to_string()
            } else {
                "empty field name: two commas in a row, or a comma before the first field"
                    .to_string()
            };
            errors.push(GrammarError { span: at, message });
            continue;
        }
        match parse_field(src, part, role) {
            Ok(f) => fields.push(f),
            Err(e) => errors.push(e),
        }
    }
    fields
}

/// The span of the comma that ends (or precedes) the `i`th part.
fn comma_near(toks: &[Tok], i: usize) -> Range<usize> {
    let commas: Vec<&Tok> = top_level_commas(toks).collect();
    commas
        .get(i)
        .or_else(|| commas.get(i.saturating_sub(1)))
        .map(|t| t.span.clone())
        .unwrap_or_else(|| toks[0].span.clone())
}

fn top_level_commas(toks: &[Tok]) -> impl Iterator<Item = &Tok> {
    let mut depth = 0i32;
    toks.iter().filter(move |t| {
        match t.kind {
            TokKind::Open(_) => depth += 1,
            TokKind::Close(_) => depth -= 1,
            TokKind::Comma if depth == 0 => return true,
            _ => {}
        }
        false
    })
}

fn split_top_level_commas(toks: &[Tok]) -> Vec<&[Tok]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            TokKind::Open(_) => depth += 1,
            TokKind::Close(_) => depth -= 1,
            TokKind::Comma if depth == 0 => {
                parts.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&toks[start..]);
    parts
}

fn parse_field(src: &str, toks: &[Tok], role: Role) -> Result<ParsedField, GrammarError> {
    let name_tok = &toks[0];
    let TokKind::Ident = name_tok.kind else {
        return Err(GrammarError {
            span: name_tok.span.clone(),
            message: format!(
                "expected a field name, found `{}`",
                &src[name_tok.span.clone()]
            ),
        });
    };
    let name = src[name_tok.span.clone()].to_string();
    if !is_identifier(&name) {
        return Err(GrammarError {
            span: name_tok.span.clone(),
            message: format!("`{name}` is not a valid field name"),
        });
    }
    let rest = &toks[1..];
    if rest.is_empty() {
        return Ok(ParsedField {
            name,
            ty: TypeExpr::Str,
            role,
            span: name_tok.span.clone(),
            ty_span: None,
        });
    }
    if rest[0].kind != TokKind::Colon {
        return Err(GrammarError {
            span: rest[0].span.clone(),
            message: format!(
                "expected `:` or `,` after field `{name}`, found `{}`",
                &src[rest[0].span.clone()]
            ),
        });
    }
    let ty_toks = &rest[1..];
    if ty_toks.is_empty() {
        return Err(GrammarError {
            span: rest[0].span.clone(),
            message: format!("missing type after `{name}:`"),
        });
    }
    let ty_span = ty_toks[0].span.start..ty_toks[ty_toks.len() - 1].span.end;
    let mut p = types::TypeParser::new(src, ty_toks);
    let ty = p.parse_type()?;
    p.expect_end()?;
    Ok(ParsedField {
        name,
        ty,
        role,
        span: name_tok.span.clone(),
        ty_span: Some(ty_span),
    })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

#[cfg(test)]
mod tests;
