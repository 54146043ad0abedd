//! Turning an LM's text (or JSON) for one field into a value of the field's type: coerce what
//! is unambiguous and record it, validate against the field's schema, report the rest.

use super::Coercion;
use super::lenient_json::{self, number_value};
use super::words::parse_number_words;
use crate::error::{ParseErrorKind, excerpt};
use crate::signature::{FieldKind, FieldMeta};
use serde_json::{Map, Value};

/// The value of field `f` from its section text (ChatAdapter).
pub(crate) fn from_text(
    f: &FieldMeta,
    text: &str,
    log: &mut Vec<Coercion>,
) -> Result<Value, ParseErrorKind> {
    if text.trim().is_empty() {
        // Present but empty: `""` for a string (as DSPy's `str(value)`), else none or an error.
        if takes_text(f) {
            return validate(f, Value::String(String::new()));
        }
        if f.is_nullable() {
            return Ok(Value::Null);
        }
        return Err(field_error(f, text));
    }
    let value = match f.kind() {
        FieldKind::Str => Value::String(text.to_string()),
        FieldKind::Bool => parse_bool(text).ok_or_else(|| field_error(f, text))?,
        FieldKind::Int => parse_number(f, text, log)?,
        FieldKind::Float => as_float(parse_number(f, text, log)?),
        FieldKind::Literal(choices) => match_literal(f, choices, text, log)?,
        FieldKind::Json => {
            let parsed = lenient_json::parse(text)
                .ok()
                .or_else(|| bare_sequence(f, text, log))
                .or_else(|| expected_open(f).and_then(|open| lenient_json::find_value(text, open)));
            match parsed {
                Some(v) if is_tool_calls(f) => tool_calls(f, v, log),
                Some(v) => coerce_deep(f.schema(), f.schema(), v, f, log),
                None if f.schema().get("type").and_then(Value::as_str) == Some("string")
                    || f.is_nullable() =>
                {
                    // Plain text for an optional field: `None`, or text coerced toward the
                    // inner type (a near-miss label of an `Optional[Literal[…]]`).
                    match nullable_text(f, text)? {
                        Value::Null => Value::Null,
                        v => coerce_deep(f.schema(), f.schema(), v, f, log),
                    }
                }
                None => return Err(field_error(f, text)),
            }
        }
    };
    validate(f, value)
}

/// The value of field `f` from a parsed JSON object (JSONAdapter).
pub(crate) fn from_json(
    f: &FieldMeta,
    value: Value,
    log: &mut Vec<Coercion>,
) -> Result<Value, ParseErrorKind> {
    let value = match (f.kind(), value) {
        (FieldKind::Str, v @ Value::String(_)) => v,
        (FieldKind::Str, Value::Null) if !f.is_nullable() => return Err(field_error(f, "null")),
        (FieldKind::Str, v @ (Value::Number(_) | Value::Bool(_))) => {
            let mut s = String::new();
            crate::format::write_field_value(&v, false, &mut s);
            note(
                log,
                f,
                &v.to_string(),
                Value::String(s.clone()),
                "scalar as string",
            );
            Value::String(s)
        }
        (_, Value::String(s)) => return from_text(f, &s, log),
        (FieldKind::Json, v) if is_tool_calls(f) => tool_calls(f, v, log),
        (FieldKind::Json, v) => coerce_deep(f.schema(), f.schema(), v, f, log),
        (_, v) => coerce_deep(f.schema(), f.schema(), v, f, log),
    };
    validate(f, value)
}

/// Schema keywords that constrain a value of the right type (the rest check the type itself).
const CONSTRAINT_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "enum",
    "const",
];

/// Whether `f` holds tool calls (`dspy::ToolCalls`: an object whose one property is
/// `tool_calls`).
fn is_tool_calls(f: &FieldMeta) -> bool {
    f.schema()
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.len() == 1 && p.contains_key("tool_calls"))
}

/// Tool calls in any shape DSPy reads (a list, one call, OpenAI's `function` form, arguments
/// as a JSON string) as `{"tool_calls": [{"name", "args"}]}`, recorded when reshaped.
fn tool_calls(f: &FieldMeta, v: Value, log: &mut Vec<Coercion>) -> Value {
    let Some(calls) = crate::tool::calls::read_calls(&v) else {
        return v;
    };
    let calls: Vec<Value> = calls
        .into_iter()
        .map(|(name, args)| serde_json::json!({"name": name, "args": args}))
        .collect();
    let shaped = serde_json::json!({ "tool_calls": calls });
    if shaped != v {
        note(log, f, &v.to_string(), shaped.clone(), "tool calls shape");
    }
    shaped
}

fn validate(f: &FieldMeta, value: Value) -> Result<Value, ParseErrorKind> {
    match f.validate(&value) {
        Ok(()) => Ok(value),
        Err(violation) if CONSTRAINT_KEYWORDS.contains(&violation.keyword.as_str()) => {
            Err(ParseErrorKind::Constraint {
                field: f.name().to_string(),
                value: excerpt(&value.to_string()),
                message: violation.to_string(),
                constraint: violation.keyword,
            })
        }
        Err(violation) => Err(ParseErrorKind::Invalid {
            field: f.name().to_string(),
            expected: expected(f),
            at: violation.at,
            problem: excerpt(&violation.problem),
        }),
    }
}

fn expected_open(f: &FieldMeta) -> Option<char> {
    let schema = f.schema();
    let ty = schema.get("type").and_then(Value::as_str).or_else(|| {
        first_non_null(schema)
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
    });
    match ty {
        Some("array") => Some('['),
        Some("object") => Some('{'),
        _ => None,
    }
}

/// Whether the field takes a string as it is: `str`, or `Optional[str]` (DSPy hands both to
/// pydantic as text).
fn takes_text(f: &FieldMeta) -> bool {
    *f.kind() == FieldKind::Str
        || (f.is_nullable()
            && first_non_null(f.schema()).and_then(|s| s.get("type"))
                == Some(&Value::from("string")))
}

/// A list written without brackets, `1, 2, 3` or `'a', 'b'`: DSPy reads it as a Python tuple
/// (`ast.literal_eval`), so a comma-separated run of literals is that list. Bare words
/// (`a, b`) are not literals, so they stay an error, as in DSPy.
fn bare_sequence(f: &FieldMeta, text: &str, log: &mut Vec<Coercion>) -> Option<Value> {
    if expected_open(f) != Some('[') || !text.contains(',') {
        return None;
    }
    let list = lenient_json::parse(&format!("[{}]", text.trim()))
        .ok()
        .filter(Value::is_array)?;
    note(log, f, text, list.clone(), "list without brackets");
    Some(list)
}

/// A float field's number as a JSON float (`3` becomes `3.0`, as pydantic makes it).
fn as_float(v: Value) -> Value {
    match &v {
        Value::Number(n) if !n.is_f64() => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(v, Value::Number),
        _ => v,
    }
}

fn first_non_null(schema: &Value) -> Option<&Value> {
    schema
        .get("anyOf")?
        .as_array()?
        .iter()
        .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
}

fn nullable_text(f: &FieldMeta, text: &str) -> Result<Value, ParseErrorKind> {
    let t = text.trim();
    if f.is_nullable() && matches!(t, "None" | "null" | "N/A") {
        return Ok(Value::Null);
    }
    Ok(Value::String(text.to_string()))
}

/// What a field's type needs, for error messages.
fn expected(f: &FieldMeta) -> String {
    match f.kind() {
        FieldKind::Str => "a string".into(),
        FieldKind::Bool => "True or False".into(),
        FieldKind::Int => "an integer".into(),
        FieldKind::Float => "a number".into(),
        FieldKind::Literal(choices) => format!("one of: {}", choices.join("; ")),
        FieldKind::Json => {
            let mut s = format!("a {} as JSON", f.type_name());
            if let Some(props) = object_properties(f.schema()) {
                s.push_str(&format!(" (an object with {})", props.join(", ")));
            }
            s
        }
    }
}

/// The property names of an object schema (through a `$ref` or `Optional`), for messages.
fn object_properties(schema: &Value) -> Option<Vec<&str>> {
    let mut s = schema;
    if let Some(inner) = first_non_null(s) {
        s = inner;
    }
    let props = resolve(schema, s).get("properties")?.as_object()?;
    Some(props.keys().map(String::as_str).collect())
}

fn field_error(f: &FieldMeta, got: &str) -> ParseErrorKind {
    ParseErrorKind::Field {
        field: f.name().to_string(),
        expected: expected(f),
        got: excerpt(got),
    }
}

fn note(log: &mut Vec<Coercion>, f: &FieldMeta, from: &str, to: Value, rule: &'static str) {
    log.push(Coercion {
        field: f.name().to_string(),
        from: excerpt(from),
        to,
        rule,
    });
}

/// Strips what LMs put around a scalar: whitespace, quotes, backticks, a final period.
fn bare(text: &str) -> &str {
    let mut t = text.trim();
    loop {
        let before = t;
        t = t.trim_end_matches('.').trim();
        for q in ['"', '\'', '`', '*'] {
            if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
                t = t[1..t.len() - 1].trim();
            }
        }
        if t == before {
            return t;
        }
    }
}

fn parse_bool(text: &str) -> Option<Value> {
    match bare(text).to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "t" | "1" | "on" => Some(Value::Bool(true)),
        "false" | "no" | "n" | "f" | "0" | "off" => Some(Value::Bool(false)),
        _ => None,
    }
}

fn parse_number(
    f: &FieldMeta,
    text: &str,
    log: &mut Vec<Coercion>,
) -> Result<Value, ParseErrorKind> {
    let t = bare(text);
    let int = *f.kind() == FieldKind::Int;
    let plain = t.replace('_', "");
    if let Some(v) = number_value(&plain) {
        return number_fits(f, text, v, log);
    }
    let no_commas = plain.replace(',', "");
    if no_commas != plain
        && let Some(v) = number_value(&no_commas)
    {
        note(log, f, text, v.clone(), "thousands separators");
        return number_fits(f, text, v, log);
    }
    if let Some(n) = parse_number_words(t) {
        let v = if int {
            Value::Number(n.into())
        } else {
            number_value(&format!("{n}.0")).unwrap_or(Value::Number(n.into()))
        };
        note(log, f, text, v.clone(), "number in words");
        return Ok(v);
    }
    Err(field_error(f, text))
}

/// An int field takes a float only when it is integral (`42.0`); a float field takes any number.
fn number_fits(
    f: &FieldMeta,
    text: &str,
    v: Value,
    log: &mut Vec<Coercion>,
) -> Result<Value, ParseErrorKind> {
    if *f.kind() != FieldKind::Int || v.is_i64() || v.is_u64() {
        return Ok(v);
    }
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            let int = Value::Number((x as i64).into());
            note(log, f, text, int.clone(), "integral float");
            Ok(int)
        }
        _ => Err(field_error(f, text)),
    }
}

fn normalized(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A label: exact, then case-insensitive, then an unambiguous near-miss (`sports` for `sport`).
fn match_literal(
    f: &FieldMeta,
    choices: &[String],
    text: &str,
    log: &mut Vec<Coercion>,
) -> Result<Value, ParseErrorKind> {
    let mut t = bare(text);
    for wrapper in ["Literal[", "str["] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(']')) {
            t = bare(inner);
        }
    }
    if let Some(c) = choices.iter().find(|c| c.as_str() == t) {
        return Ok(Value::String(c.clone()));
    }
    let unique = |pred: &dyn Fn(&str) -> bool| -> Option<&String> {
        let mut hits = choices.iter().filter(|c| pred(c));
        let first = hits.next()?;
        hits.next().is_none().then_some(first)
    };
    let norm = normalized(t);
    let hit = unique(&|c| c.eq_ignore_ascii_case(t))
        .map(|c| (c, "label case"))
        .or_else(|| unique(&|c| normalized(c) == norm).map(|c| (c, "label punctuation")))
        .or_else(|| {
            (norm.len() >= 3)
                .then(|| {
                    unique(&|c| {
                        let nc = normalized(c);
                        !nc.is_empty() && (norm.starts_with(&nc) || nc.starts_with(&norm))
                    })
                })
                .flatten()
                .map(|c| (c, "near-miss label"))
        });
    match hit {
        Some((c, rule)) => {
            let v = Value::String(c.clone());
            note(log, f, text, v.clone(), rule);
            Ok(v)
        }
        None => Err(field_error(f, text)),
    }
}

/// Coerces a JSON value toward a schema where unambiguous: numeric strings to numbers, `"true"`
/// to booleans, integral floats to integers, scalars to strings, a lone value to a list.
fn coerce_deep(
    root: &Value,
    schema: &Value,
    v: Value,
    f: &FieldMeta,
    log: &mut Vec<Coercion>,
) -> Value {
    let schema = resolve(root, schema);
    if let Some(Value::Array(variants)) = schema.get("anyOf") {
        if v.is_null() {
            return v;
        }
        return match variants
            .iter()
            .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
        {
            Some(s) if variants.len() == 2 => coerce_deep(root, s, v, f, log),
            _ => v,
        };
    }
    let ty = schema.get("type").and_then(Value::as_str);
    match (ty, v) {
        (Some("integer"), Value::String(s)) => match number_value(bare(&s)) {
            Some(n) if n.is_i64() || n.is_u64() => {
                note(log, f, &s, n.clone(), "numeric string");
                n
            }
            _ => Value::String(s),
        },
        (Some("integer"), Value::Number(n)) if !(n.is_i64() || n.is_u64()) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                let int = Value::Number((x as i64).into());
                note(log, f, &n.to_string(), int.clone(), "integral float");
                int
            }
            // An integral float no integer type holds (`1e46`): JSON Schema calls it an
            // integer, so it is handed on as its text, which validation refuses by name.
            Some(x) if x.fract() == 0.0 => Value::String(n.to_string()),
            _ => Value::Number(n),
        },
        (Some("number"), Value::String(s)) => match number_value(bare(&s)).map(as_float) {
            Some(n) => {
                note(log, f, &s, n.clone(), "numeric string");
                n
            }
            None => Value::String(s),
        },
        (Some("number"), v @ Value::Number(_)) => as_float(v),
        (Some("boolean"), Value::String(s)) => match parse_bool(&s) {
            Some(b) => {
                note(log, f, &s, b.clone(), "boolean string");
                b
            }
            None => Value::String(s),
        },
        (Some("string"), v @ (Value::Number(_) | Value::Bool(_))) => {
            let s = Value::String(match &v {
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            });
            note(log, f, &v.to_string(), s.clone(), "scalar as string");
            s
        }
        (Some("string"), Value::String(s)) => match schema.get("enum").and_then(Value::as_array) {
            Some(values) => {
                let choices: Vec<String> = values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                match_literal(f, &choices, &s, log).unwrap_or(Value::String(s))
            }
            None => Value::String(s),
        },
        (Some("array"), Value::Array(items)) => {
            let item_schema = schema.get("items").cloned().unwrap_or(Value::Bool(true));
            Value::Array(
                items
                    .into_iter()
                    .map(|i| coerce_deep(root, &item_schema, i, f, log))
                    .collect(),
            )
        }
        (Some("object"), Value::Object(m)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|s| s.is_object());
            let mut out = Map::with_capacity(m.len());
            for (k, item) in m {
                let sub = props.and_then(|p| p.get(&k)).or(extra);
                let item = match sub {
                    Some(s) => coerce_deep(root, s, item, f, log),
                    None => item,
                };
                out.insert(k, item);
            }
            Value::Object(out)
        }
        (_, v) => v,
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::DynSignature;
    use serde_json::json;

    fn field(sig: &str, name: &str) -> FieldMeta {
        DynSignature::parse(sig)
            .unwrap()
            .meta()
            .field(name)
            .unwrap()
            .clone()
    }

    #[test]
    fn near_miss_labels_are_coerced_and_recorded() {
        let f = field("h -> topic: Literal['sport', 'tech', 'business']", "topic");
        let mut log = Vec::new();
        assert_eq!(from_text(&f, "Sports", &mut log).unwrap(), json!("sport"));
        assert_eq!(
            from_text(&f, "technology", &mut log).unwrap(),
            json!("tech")
        );
        assert_eq!(
            from_text(&f, "'business'", &mut log).unwrap(),
            json!("business")
        );
        assert_eq!(
            from_text(&f, "Literal['tech']", &mut log).unwrap(),
            json!("tech")
        );
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].rule, "near-miss label");
        let e = from_text(&f, "politics", &mut log).unwrap_err();
        assert!(
            e.to_string().contains("one of: sport; tech; business"),
            "{e}"
        );
    }

    #[test]
    fn ambiguous_near_misses_are_errors() {
        let f = field("h -> x: Literal['tech', 'technique']", "x");
        let e = from_text(&f, "techn", &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("one of: tech; technique"), "{e}");
        assert_eq!(
            from_text(&f, "Tech", &mut Vec::new()).unwrap(),
            json!("tech")
        );
    }

    #[test]
    fn integers_from_floats_words_and_separators() {
        let f = field("t -> year: int", "year");
        let mut log = Vec::new();
        assert_eq!(from_text(&f, "42.0", &mut log).unwrap(), json!(42));
        assert_eq!(from_text(&f, "nineteen", &mut log).unwrap(), json!(19));
        assert_eq!(from_text(&f, "1,000", &mut log).unwrap(), json!(1000));
        assert!(from_text(&f, "42.5", &mut log).is_err());
        assert!(from_text(&f, "soon", &mut log).is_err());
    }

    #[test]
    fn float_fields_hold_floats() {
        let f = field("t -> x: float", "x");
        let v = from_text(&f, "3", &mut Vec::new()).unwrap();
        assert!(v.is_f64(), "{v}");
        let xs = field("t -> xs: list[float]", "xs");
        let v = from_json(&xs, json!([1, "2"]), &mut Vec::new()).unwrap();
        assert!(v.as_array().unwrap().iter().all(Value::is_f64), "{v}");
    }

    #[test]
    fn lists_without_brackets_are_tuples_of_literals() {
        let f = field("t -> xs: list[int]", "xs");
        let mut log = Vec::new();
        assert_eq!(
            from_text(&f, "1, 2, 3", &mut log).unwrap(),
            json!([1, 2, 3])
        );
        assert_eq!(log[0].rule, "list without brackets");
        let s = field("t -> xs: list[str]", "xs");
        assert_eq!(
            from_text(&s, "'a', \"b\"", &mut log).unwrap(),
            json!(["a", "b"])
        );
        assert!(from_text(&s, "a, b", &mut log).is_err());
        assert!(from_text(&f, "1 2 3", &mut log).is_err());
    }

    #[test]
    fn booleans_in_every_spelling() {
        let f = field("t -> ok: bool", "ok");
        for t in ["True", "true", "yes", "**Yes**", "TRUE."] {
            assert_eq!(
                from_text(&f, t, &mut Vec::new()).unwrap(),
                json!(true),
                "{t}"
            );
        }
        assert_eq!(from_text(&f, "No", &mut Vec::new()).unwrap(), json!(false));
        assert!(from_text(&f, "maybe", &mut Vec::new()).is_err());
    }

    #[test]
    fn json_fields_from_fences_prose_and_loose_syntax() {
        let f = field("t -> tags: list[str]", "tags");
        let mut log = Vec::new();
        assert_eq!(
            from_text(&f, "```json\n[\"a\", \"b\",]\n```", &mut log).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            from_text(&f, "Here: ['a', 'b'] as asked", &mut log).unwrap(),
            json!(["a", "b"])
        );
        let n = field("t -> ns: list[int]", "ns");
        assert_eq!(
            from_text(&n, "[\"1\", 2.0]", &mut log).unwrap(),
            json!([1, 2])
        );
        let e = from_text(&n, "[\"x\"]", &mut log).unwrap_err();
        assert!(e.to_string().contains("field `ns`"), "{e}");
    }

    #[test]
    fn empty_values_are_empty_strings_else_errors_unless_optional() {
        let f = field("t -> answer", "answer");
        assert_eq!(from_text(&f, "  ", &mut Vec::new()).unwrap(), json!(""));
        let n = field("t -> n: int", "n");
        let e = from_text(&n, "", &mut Vec::new()).unwrap_err();
        assert!(
            e.to_string().contains("field `n`: expected an integer"),
            "{e}"
        );
        let o = field("t -> n: Optional[int]", "n");
        assert_eq!(from_text(&o, "", &mut Vec::new()).unwrap(), Value::Null);
        assert_eq!(from_text(&o, "None", &mut Vec::new()).unwrap(), Value::Null);
        assert_eq!(from_text(&o, "7", &mut Vec::new()).unwrap(), json!(7));
    }

    #[test]
    fn optional_labels_take_near_misses_too() {
        let f = field("h -> topic: Optional[Literal['sport', 'tech']]", "topic");
        let mut log = Vec::new();
        assert_eq!(from_text(&f, "Sports", &mut log).unwrap(), json!("sport"));
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(from_text(&f, "None", &mut log).unwrap(), Value::Null);
        assert_eq!(
            from_json(&f, json!("TECH"), &mut log).unwrap(),
            json!("tech")
        );
        assert!(from_text(&f, "weather", &mut log).is_err());
    }
}
