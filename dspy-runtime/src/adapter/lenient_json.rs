//! A forgiving JSON reader for LM output: trailing commas, single quotes, Python literals
//! (`True`, `None`), bare keys, comments, code fences, prose around the value.

use serde_json::{Map, Number, Value};

/// Parses `text` as one JSON value, allowing fences and surrounding whitespace.
///
/// Text that is one value on its own is that value, fences and all: a fence may be text
/// inside a string (`{"answer": "```rust ...```"}`). Otherwise the inside of the fence.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let whole = text.trim();
    let body = strip_fences(text);
    if body.len() == whole.len() {
        return parse_all(whole);
    }
    parse_all(whole).or_else(|_| parse_all(body))
}

fn parse_all(body: &str) -> Result<Value, String> {
    let mut p = Parser::new(body);
    let v = p.value()?;
    p.skip_ws();
    if p.pos < p.src.len() {
        return Err(format!("unexpected text after the value at byte {}", p.pos));
    }
    Ok(v)
}

/// Parses the first value starting with `open` (`[` or `{`) found in `text` (inside a fence
/// first, then in the whole text).
pub(crate) fn find_value(text: &str, open: char) -> Option<Value> {
    let whole = text.trim();
    let body = strip_fences(text);
    first_value(body, open).or_else(|| {
        if body.len() != whole.len() {
            first_value(whole, open)
        } else {
            None
        }
    })
}

fn first_value(body: &str, open: char) -> Option<Value> {
    for (i, _) in body.match_indices(open) {
        let mut p = Parser::new(&body[i..]);
        if let Ok(v) = p.value() {
            return Some(v);
        }
    }
    None
}

/// The first JSON object in `text` (whole text first, then any `{...}` inside it).
pub(crate) fn find_object(text: &str) -> Option<Value> {
    match parse(text) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => find_value(text, '{'),
    }
}

/// The inside of a ```` ```json ... ``` ```` block, or the trimmed text.
pub(crate) fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    if let Some(start) = t.find("```") {
        let after = &t[start + 3..];
        let after = after.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
        let end = after.find("```").unwrap_or(after.len());
        return after[..end].trim();
    }
    t
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 128;

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        loop {
            let rest = &self.src[self.pos..];
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                self.pos += trimmed.find("*/").map(|i| i + 2).unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.pos))
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        let v = match self.peek() {
            Some('{') => self.object(),
            Some('[') => self.array(),
            Some(q @ ('"' | '\'')) => self.string(q).map(Value::String),
            Some(c) if c == '-' || c == '+' || c == '.' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_alphabetic() => {
                let word = self.word();
                match word {
                    "true" | "True" => Ok(Value::Bool(true)),
                    "false" | "False" => Ok(Value::Bool(false)),
                    "null" | "None" => Ok(Value::Null),
                    _ => self.err(&format!("unexpected word `{word}`")),
                }
            }
            Some(c) => self.err(&format!("unexpected `{c}`")),
            None => self.err("unexpected end"),
        };
        self.depth -= 1;
        v
    }

    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                self.bump();
            } else {
                break;
            }
        }
        &self.src[start..self.pos]
    }

    fn object(&mut self) -> Result<Value, String> {
        self.bump();
        let mut map = Map::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') => {
                    self.bump();
                    return Ok(Value::Object(map));
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some(q @ ('"' | '\'')) => {
                    let key = self.string(q)?;
                    self.member(&mut map, key)?;
                }
                Some(c) if c.is_alphabetic() || c == '_' => {
                    let key = self.word().to_string();
                    self.member(&mut map, key)?;
                }
                _ => return self.err("expected a key or `}`"),
            }
        }
    }

    fn member(&mut self, map: &mut Map<String, Value>, key: String) -> Result<(), String> {
        self.skip_ws();
        if self.bump() != Some(':') {
            return self.err("expected `:`");
        }
        let v = self.value()?;
        map.insert(key, v);
        Ok(())
    }

    fn array(&mut self) -> Result<Value, String> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(']') => {
                    self.bump();
                    return Ok(Value::Array(items));
                }
                Some(',') => {
                    self.bump();
                }
                None => return self.err("unterminated array"),
                _ => items.push(self.value()?),
            }
        }
    }

    fn string(&mut self, quote: char) -> Result<String, String> {
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return self.err("unterminated string"),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('u') => {
                        let c = self.unicode_escape()?;
                        out.push(c);
                    }
                    Some(c) => out.push(c),
                    None => return self.err("unterminated escape"),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let hex = self
            .src
            .get(self.pos..self.pos + 4)
            .ok_or("truncated \\u escape")?;
        let n = u32::from_str_radix(hex, 16).map_err(|_| format!("bad \\u escape `{hex}`"))?;
        self.pos += 4;
        Ok(n)
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.src[self.pos..].starts_with("\\u") {
            self.pos += 2;
            let lo = self.hex4()?;
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
            return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
        }
        Ok(char::from_u32(hi).unwrap_or('\u{fffd}'))
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E' | '_') {
                self.bump();
            } else {
                break;
            }
        }
        let text: String = self.src[start..self.pos]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let text = text.trim_start_matches('+');
        number_value(text).ok_or_else(|| format!("bad number `{text}` at byte {start}"))
    }
}

/// A JSON number from text: an integer when it is one, else a float.
pub(crate) fn number_value(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forgiving_syntax() {
        assert_eq!(
            parse("{'a': True, b: None, \"c\": [1, 2,],}").unwrap(),
            json!({"a": true, "b": null, "c": [1, 2]})
        );
        assert_eq!(
            parse("```json\n{\"answer\": \"Paris.\"}\n```").unwrap(),
            json!({"answer": "Paris."})
        );
        assert_eq!(parse("[1, /* two */ 2] // done").unwrap(), json!([1, 2]));
    }

    #[test]
    fn objects_inside_prose() {
        assert_eq!(
            find_object("Answer: {\"answer\": \"Paris\", }").unwrap(),
            json!({"answer": "Paris"})
        );
        assert_eq!(find_object("no object here"), None);
    }

    #[test]
    fn errors_and_limits() {
        assert!(parse("[1, 2").is_err());
        assert!(parse("\"open").is_err());
        assert!(parse(&"[".repeat(1000)).is_err());
        assert!(parse("{\"a\": 1} trailing").is_err());
    }

    #[test]
    fn unicode_escapes() {
        assert_eq!(parse(r#""\u00e9\ud83d\ude00""#).unwrap(), json!("é😀"));
    }

    #[test]
    fn fences_inside_strings_are_text() {
        // Found by fuzz/fuzz_targets/lenient_json.rs: strict JSON refused because a string in
        // it holds a code fence.
        assert_eq!(parse(r#"{"``` {": []}"#).unwrap(), json!({"``` {": []}));
        let reply = "{\"answer\": \"Use ```rust\\nfn main() {}\\n``` here.\"}";
        let answer = json!({"answer": "Use ```rust\nfn main() {}\n``` here."});
        assert_eq!(parse(reply).unwrap(), answer);
        assert_eq!(find_object(reply).unwrap(), answer);
        assert_eq!(parse(r#""``` 1 ```""#).unwrap(), json!("``` 1 ```"));
        assert_eq!(find_value("[\"```\", 1]", '[').unwrap(), json!(["```", 1]));
        // A real fence still wins.
        assert_eq!(parse("```json\n[1]\n```").unwrap(), json!([1]));
    }
}
