//! Field values written the way DSPy (Python) writes them: `str()` for scalars, `json.dumps`
//! for lists and objects, numbered «» lists for a list given to a `str` field.

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::Value;
use std::fmt::Write as _;

/// Writes a field value as DSPy's `format_field_value` does.
pub fn write_field_value(v: &Value, str_annotated: bool, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => write_number(n, false, out),
        Value::Array(items) if str_annotated => write_numbered_list(items, out),
        Value::Array(_) | Value::Object(_) => py_json(v, false, out),
    }
}

/// DSPy's rendering of a list given to a `str` field: `N/A`, `«one»`, or `[1] «a»\n[2] «b»`.
fn write_numbered_list(items: &[Value], out: &mut String) {
    fn blob(v: &Value, out: &mut String) {
        let mut s = String::new();
        write_field_value(v, false, &mut s);
        if !s.contains('\n') && !s.contains('«') && !s.contains('»') {
            out.push('«');
            out.push_str(&s);
            out.push('»');
        } else {
            out.push_str("«««\n    ");
            out.push_str(&s.replace('\n', "\n    "));
            out.push_str("\n»»»");
        }
    }
    match items {
        [] => out.push_str("N/A"),
        [one] => blob(one, out),
        many => {
            for (i, v) in many.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let _ = write!(out, "[{}] ", i + 1);
                blob(v, out);
            }
        }
    }
}

/// Python's `json.dumps(v, ensure_ascii=...)`: separators `, ` and `: `.
pub fn py_json(v: &Value, ensure_ascii: bool, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, true, out),
        Value::String(s) => py_json_str(s, ensure_ascii, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json(item, ensure_ascii, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_json_str(k, ensure_ascii, out);
                out.push_str(": ");
                py_json(item, ensure_ascii, out);
            }
            out.push('}');
        }
    }
}

/// Python's `json.dumps(v, indent=2, ensure_ascii=...)`.
pub fn py_json_indented(v: &Value, ensure_ascii: bool, out: &mut String) {
    fn go(v: &Value, ensure_ascii: bool, depth: usize, out: &mut String) {
        let pad = |out: &mut String, d: usize| {
            out.push('\n');
            for _ in 0..d {
                out.push_str("  ");
            }
        };
        match v {
            Value::Array(items) if !items.is_empty() => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    go(item, ensure_ascii, depth + 1, out);
                }
                pad(out, depth);
                out.push(']');
            }
            Value::Object(m) if !m.is_empty() => {
                out.push('{');
                for (i, (k, item)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    py_json_str(k, ensure_ascii, out);
                    out.push_str(": ");
                    go(item, ensure_ascii, depth + 1, out);
                }
                pad(out, depth);
                out.push('}');
            }
            other => py_json(other, ensure_ascii, out),
        }
    }
    go(v, ensure_ascii, 0, out)
}

fn py_json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: &serde_json::Number, in_json: bool, out: &mut String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        py_float(f, in_json, out);
    }
}

/// Python's `repr(float)` (or `json.dumps` of it): `1.0`, `0.95`, `1e+16`, `1.5e-07`.
pub fn py_float(f: f64, in_json: bool, out: &mut String) {
    if f.is_nan() {
        out.push_str(if in_json { "NaN" } else { "nan" });
        return;
    }
    if f.is_infinite() {
        let s = match (in_json, f > 0.0) {
            (true, true) => "Infinity",
            (true, false) => "-Infinity",
            (false, true) => "inf",
            (false, false) => "-inf",
        };
        out.push_str(s);
        return;
    }
    let abs = f.abs();
    if abs == 0.0 || (1e-4..1e16).contains(&abs) {
        let start = out.len();
        let _ = write!(out, "{f}");
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
    } else {
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.abs());
    }
}

/// Writes any serializable input value as DSPy would, without building a JSON tree for
/// scalars and strings (the common case); a value that does not serialize is an error (what
/// serde said), and nothing is written.
pub fn write_serialize<T: Serialize + ?Sized>(v: &T, out: &mut String) -> Result<(), String> {
    let start = out.len();
    if v.serialize(Scalar(out)).is_err() {
        out.truncate(start);
        let value = serde_json::to_value(v).map_err(|e| e.to_string())?;
        write_field_value(&value, false, out);
    }
    Ok(())
}

/// A serializer that writes scalars and refuses compound values.
struct Scalar<'a>(&'a mut String);

#[derive(Debug)]
struct NotScalar;

impl std::fmt::Display for NotScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a scalar")
    }
}

impl std::error::Error for NotScalar {}

impl ser::Error for NotScalar {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotScalar
    }
}

macro_rules! ints {
    ($($name:ident: $t:ty),*) => {$(
        fn $name(self, v: $t) -> Result<(), NotScalar> {
            let _ = write!(self.0, "{v}");
            Ok(())
        }
    )*};
}

impl<'a> ser::Serializer for Scalar<'a> {
    type Ok = ();
    type Error = NotScalar;
    type SerializeSeq = Impossible<(), NotScalar>;
    type SerializeTuple = Impossible<(), NotScalar>;
    type SerializeTupleStruct = Impossible<(), NotScalar>;
    type SerializeTupleVariant = Impossible<(), NotScalar>;
    type SerializeMap = Impossible<(), NotScalar>;
    type SerializeStruct = Impossible<(), NotScalar>;
    type SerializeStructVariant = Impossible<(), NotScalar>;

    ints!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
          serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
          serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<(), NotScalar> {
        self.0.push_str(if v { "True" } else { "False" });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), NotScalar> {
        // Through the shortest f32 text so 0.1f32 prints as 0.1, as serde_json does.
        let f: f64 = v.to_string().parse().unwrap_or(f64::from(v));
        py_float(f, false, self.0);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), NotScalar> {
        py_float(v, false, self.0);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), NotScalar> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), NotScalar> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), NotScalar> {
        Err(NotScalar)
    }
    fn serialize_none(self) -> Result<(), NotScalar> {
        self.0.push_str("None");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), NotScalar> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), NotScalar> {
        self.0.push_str("None");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), NotScalar> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), NotScalar> {
        self.0.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), NotScalar> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotScalar> {
        Err(NotScalar)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotScalar> {
        Err(NotScalar)
    }
}

/// Python's `repr` of a JSON value (`'text'`, `1`, `1.5`, `True`, `None`, `[…]`, `{…}`).
pub fn python_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

/// Python's `str`: text as it is, anything else as its `repr`.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => py_float(f, false, out),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_str_repr(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(v, out);
            }
            out.push(']');
        }
        Value::Object(m) => write_map_repr(m, out),
    }
}

/// Python's `repr` of a `dict` of JSON values.
pub fn python_repr_map(m: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    write_map_repr(m, &mut out);
    out
}

fn write_map_repr(m: &serde_json::Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_str_repr(k, out);
        out.push_str(": ");
        write_repr(v, out);
    }
    out.push('}');
}

/// Python's `repr` of a `str`: single quotes unless the text has one and no double quote.
fn write_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value, str_annotated: bool) -> String {
        let mut s = String::new();
        write_field_value(&v, str_annotated, &mut s);
        s
    }

    #[test]
    fn scalars_as_python_str() {
        assert_eq!(field(json!("hi"), false), "hi");
        assert_eq!(field(json!(true), false), "True");
        assert_eq!(field(json!(null), false), "None");
        assert_eq!(field(json!(1.0), false), "1.0");
        assert_eq!(field(json!(0.95), false), "0.95");
        assert_eq!(field(json!(42), false), "42");
    }

    #[test]
    fn compound_values_as_json_dumps() {
        assert_eq!(field(json!(["a", "é"]), false), r#"["a", "é"]"#);
        assert_eq!(field(json!({"a": [1, true]}), false), r#"{"a": [1, true]}"#);
    }

    #[test]
    fn lists_for_str_fields_are_numbered() {
        assert_eq!(field(json!([]), true), "N/A");
        assert_eq!(field(json!(["one"]), true), "«one»");
        assert_eq!(
            field(json!(["a", "b\nc"]), true),
            "[1] «a»\n[2] «««\n    b\n    c\n»»»"
        );
    }

    #[test]
    fn python_float_repr() {
        let r = |f: f64| {
            let mut s = String::new();
            py_float(f, false, &mut s);
            s
        };
        assert_eq!(r(1e16), "1e+16");
        assert_eq!(r(1.5e-7), "1.5e-07");
        assert_eq!(r(0.0001), "0.0001");
        assert_eq!(r(123456.0), "123456.0");
        assert_eq!(r(-2.5), "-2.5");
    }

    #[test]
    fn indented_json_like_python() {
        let mut s = String::new();
        py_json_indented(&json!({"a": "é", "b": [1, 2], "c": {}}), true, &mut s);
        assert_eq!(
            s,
            "{\n  \"a\": \"\\u00e9\",\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {}\n}"
        );
    }

    #[test]
    fn serialize_fast_path_and_fallback() {
        let mut s = String::new();
        write_serialize("plain", &mut s).unwrap();
        s.push('|');
        write_serialize(&Some(3u8), &mut s).unwrap();
        s.push('|');
        write_serialize(&vec!["a", "b"], &mut s).unwrap();
        s.push('|');
        write_serialize(&false, &mut s).unwrap();
        assert_eq!(s, r#"plain|3|["a", "b"]|False"#);
    }
}
