//! JSON schemas of fields: from schemars' output to the form pydantic (and so DSPy) prints,
//! the type names of DSPy's vocabulary, and the key orders DSPy uses.

use serde_json::{Map, Value};

/// Keys that describe a property rather than constrain it.
const ANNOTATION_KEYS: &[&str] = &[
    "description",
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// A self-contained schema for a field's type: the type's own schema inlined (a `$ref` at the
/// top is resolved) plus the `$defs` it reaches, in pydantic's shape.
pub(crate) fn type_schema(type_schema: &Value, defs: &Map<String, Value>) -> Value {
    let mut top = match ref_name(type_schema).and_then(|n| defs.get(n).map(|d| (n, d))) {
        Some((name, def)) => {
            let mut inlined = to_pydantic(def);
            if let Value::Object(m) = &mut inlined {
                m.entry("title")
                    .or_insert_with(|| Value::String(name.to_string()));
            }
            inlined
        }
        None => to_pydantic(type_schema),
    };
    let reached = reachable_defs(&top, defs);
    if !reached.is_empty()
        && let Value::Object(m) = &mut top
    {
        m.insert("$defs".into(), Value::Object(reached));
    }
    top
}

/// The property's constraint keywords: those in the property schema that the bare type lacks.
pub(crate) fn constraint_keys(property: &Value, bare_type: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let (Some(p), bare) = (property.as_object(), bare_type.as_object()) else {
        return out;
    };
    for (k, v) in p {
        if ANNOTATION_KEYS.contains(&k.as_str()) {
            continue;
        }
        if bare.and_then(|b| b.get(k)) != Some(v) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// A schema that validates one field's value: the property schema with the `$defs` it needs.
pub(crate) fn validation_schema(property: &Value, defs: &Map<String, Value>) -> Value {
    let mut schema = property.clone();
    let reached = reachable_defs(&schema, defs);
    if let Value::Object(m) = &mut schema {
        for k in ANNOTATION_KEYS {
            m.remove(*k);
        }
        if !reached.is_empty() {
            m.insert("$defs".into(), Value::Object(reached));
        }
    }
    schema
}

/// True when a schema accepts every string and nothing in it needs checking for one.
pub(crate) fn is_plain_string(schema: &Value) -> bool {
    schema.as_object().is_some_and(|m| {
        m.get("type").and_then(Value::as_str) == Some("string")
            && m.keys()
                .all(|k| k == "type" || ANNOTATION_KEYS.contains(&k.as_str()))
    })
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
}

fn reachable_defs(schema: &Value, defs: &Map<String, Value>) -> Map<String, Value> {
    let mut names: Vec<String> = Vec::new();
    collect_refs(schema, &mut names);
    let mut i = 0;
    while i < names.len() {
        if let Some(def) = defs.get(&names[i]) {
            let mut more = Vec::new();
            collect_refs(def, &mut more);
            for n in more {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        i += 1;
    }
    names.sort();
    let mut out = Map::new();
    for n in names {
        if let Some(def) = defs.get(&n) {
            let mut d = to_pydantic(def);
            if let Value::Object(m) = &mut d {
                m.entry("title").or_insert_with(|| Value::String(n.clone()));
            }
            out.insert(n, d);
        }
    }
    out
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(n) = v.as_str().and_then(|r| r.rsplit('/').next())
                        && !out.iter().any(|o| o == n)
                    {
                        out.push(n.to_string());
                    }
                } else if k != "$defs" {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Rewrites a schemars schema into pydantic's shape: `anyOf` for nullable types, no integer
/// `format`s, titles on properties, string enums for documented unit enums.
pub(crate) fn to_pydantic(schema: &Value) -> Value {
    let Value::Object(m) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        match k.as_str() {
            "$schema" => {}
            "format"
                if matches!(
                    m.get("type").and_then(Value::as_str),
                    Some("integer" | "number")
                ) => {}
            "format"
                if m.get("type").and_then(Value::as_array).is_some_and(|t| {
                    t.iter()
                        .any(|t| matches!(t.as_str(), Some("integer" | "number")))
                }) => {}
            "properties" => {
                let mut props = Map::new();
                if let Value::Object(p) = v {
                    for (name, sub) in p {
                        let mut sub = to_pydantic(sub);
                        if takes_title(&sub)
                            && let Value::Object(sm) = &mut sub
                        {
                            sm.entry("title")
                                .or_insert_with(|| Value::String(python_title(name)));
                        }
                        props.insert(name.clone(), sub);
                    }
                }
                out.insert(k.clone(), Value::Object(props));
            }
            "$defs" => {
                out.insert(k.clone(), v.clone());
            }
            _ => {
                out.insert(k.clone(), map_children(v));
            }
        }
    }
    // {"type": ["integer", "null"], ...} -> {"anyOf": [{"type": "integer", ...}, {"type": "null"}]}
    if let Some(Value::Array(types)) = out.get("type").cloned()
        && types.len() == 2
        && types.iter().any(|t| t == "null")
    {
        let other = types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or(Value::Null);
        out.remove("type");
        let mut inner = Map::new();
        inner.insert("type".into(), other);
        let keep_outside = ["title", "description", "default"];
        let keys: Vec<String> = out.keys().cloned().collect();
        for key in keys {
            if !keep_outside.contains(&key.as_str())
                && let Some(v) = out.remove(&key)
            {
                inner.insert(key, v);
            }
        }
        let mut null = Map::new();
        null.insert("type".into(), Value::String("null".into()));
        out.insert(
            "anyOf".into(),
            Value::Array(vec![Value::Object(inner), Value::Object(null)]),
        );
    }
    // A documented unit enum: {"oneOf": [{"type": "string", "const": "a", ...}, ...]}
    if let Some(Value::Array(variants)) = out.get("oneOf")
        && !variants.is_empty()
        && variants
            .iter()
            .all(|v| v.get("const").is_some_and(Value::is_string))
    {
        let values: Vec<Value> = variants
            .iter()
            .filter_map(|v| v.get("const").cloned())
            .collect();
        out.remove("oneOf");
        out.insert("enum".into(), Value::Array(values));
        out.insert("type".into(), Value::String("string".into()));
    }
    Value::Object(out)
}

fn map_children(v: &Value) -> Value {
    match v {
        Value::Object(_) => to_pydantic(v),
        Value::Array(a) => Value::Array(a.iter().map(map_children).collect()),
        other => other.clone(),
    }
}

/// Python's `str.title()` of a field name with underscores as spaces (pydantic's default title).
pub(crate) fn python_title(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_cased = false;
    for c in name.chars() {
        let c = if c == '_' { ' ' } else { c };
        if c.is_alphabetic() {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_cased = true;
        } else {
            out.push(c);
            prev_cased = false;
        }
    }
    out
}

/// What a field's type is, as far as formatting and parsing care.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    /// A plain string.
    Str,
    /// `bool`.
    Bool,
    /// An integer.
    Int,
    /// A float.
    Float,
    /// One of these strings.
    Literal(Vec<String>),
    /// Anything else: lists, maps, options, structs; parsed as JSON.
    Json,
}

impl FieldKind {
    /// The kind of a pydantic-shaped type schema.
    pub(crate) fn of(schema: &Value) -> FieldKind {
        if let Some(values) = literal_values(schema) {
            return FieldKind::Literal(values);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => FieldKind::Str,
            Some("boolean") => FieldKind::Bool,
            Some("integer") => FieldKind::Int,
            Some("number") => FieldKind::Float,
            _ => FieldKind::Json,
        }
    }
}

fn literal_values(schema: &Value) -> Option<Vec<String>> {
    if let Some(Value::Array(values)) = schema.get("enum") {
        return values
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect();
    }
    if let Some(Value::String(c)) = schema.get("const") {
        return Some(vec![c.clone()]);
    }
    None
}

/// The schema key that names a DSPy type written as a string (media inputs).
pub(crate) const DSPY_TYPE_KEY: &str = "x-dspy-type";

/// The type's name in DSPy's vocabulary (`str`, `list[int]`, `Literal['a', 'b']`, `Person`, ...).
pub(crate) fn dspy_type_name(schema: &Value) -> String {
    if let Some(r) = ref_name(schema) {
        return r.to_string();
    }
    if let Some(values) = literal_values(schema) {
        let quoted: Vec<String> = values.iter().map(|v| dspy_grammar_quote(v)).collect();
        return format!("Literal[{}]", quoted.join(", "));
    }
    if let Some(Value::Array(variants)) = schema.get("anyOf").or_else(|| schema.get("oneOf")) {
        let names: Vec<String> = variants.iter().map(dspy_type_name).collect();
        return format!("Union[{}]", names.join(", "));
    }
    match schema.get("type").and_then(Value::as_str) {
        // A DSPy type carried as a string (`Image`, `Audio`, `File`) keeps its own name.
        Some("string") => match schema.get(DSPY_TYPE_KEY).and_then(Value::as_str) {
            Some(name) => name.into(),
            None => "str".into(),
        },
        Some("integer") => "int".into(),
        Some("number") => "float".into(),
        Some("boolean") => "bool".into(),
        Some("null") => "NoneType".into(),
        Some("array") => {
            let set = schema.get("uniqueItems") == Some(&Value::Bool(true));
            let outer = if set { "set" } else { "list" };
            match schema.get("items") {
                Some(items) if items.is_object() => format!("{outer}[{}]", dspy_type_name(items)),
                _ => outer.into(),
            }
        }
        Some("object") => {
            if schema.get("properties").is_some()
                && let Some(Value::String(title)) = schema.get("title")
            {
                return title.clone();
            }
            match schema.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("dict[str, {}]", dspy_type_name(v)),
                Some(Value::Bool(true)) => "dict[str, Any]".into(),
                _ => schema
                    .get("title")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| "dict".into()),
            }
        }
        _ => "Any".into(),
    }
}

fn dspy_grammar_quote(s: &str) -> String {
    dspy_grammar::TypeExpr::Literal(vec![s.to_string()])
        .dspy_name()
        .trim_start_matches("Literal[")
        .trim_end_matches(']')
        .to_string()
}

/// Key order of DSPy's type notes: `type` first, then the rest alphabetically, recursively.
pub(crate) fn type_first_sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| (*a != "type", *a).cmp(&(*b != "type", *b)));
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), type_first_sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(type_first_sorted).collect()),
        other => other.clone(),
    }
}

/// Key order of pydantic's schemas (its `GenerateJsonSchema.sort`): keys alphabetical,
/// recursively, except directly under a key named `properties` or `default`.
pub(crate) fn pydantic_sorted(v: &Value) -> Value {
    fn go(v: &Value, parent: Option<&str>) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                if !matches!(parent, Some("properties" | "default")) {
                    keys.sort();
                }
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), go(&m[k], Some(k)));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| go(x, parent)).collect()),
            other => other.clone(),
        }
    }
    go(v, None)
}

/// Whether pydantic titles a property with this schema: not when it is a reference to a
/// model or enum, directly or through `Optional` (its `field_title_should_be_set`).
pub(crate) fn takes_title(schema: &Value) -> bool {
    let Some(m) = schema.as_object() else {
        return true;
    };
    if m.contains_key("$ref") {
        return false;
    }
    match m.get("anyOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([inner, null] | [null, inner]) if is_null_type(null) && !is_null_type(inner) => {
            takes_title(inner)
        }
        _ => true,
    }
}

fn is_null_type(schema: &Value) -> bool {
    schema
        .as_object()
        .is_some_and(|m| m.len() == 1 && m.get("type") == Some(&Value::from("null")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_becomes_any_of_and_int_formats_go() {
        let s = to_pydantic(&json!({"type": ["integer", "null"], "format": "int64"}));
        assert_eq!(s, json!({"anyOf": [{"type": "integer"}, {"type": "null"}]}));
        assert_eq!(dspy_type_name(&s), "Union[int, NoneType]");
    }

    #[test]
    fn names_in_dspy_vocabulary() {
        assert_eq!(
            dspy_type_name(&json!({"type": "array", "items": {"type": "string"}})),
            "list[str]"
        );
        assert_eq!(
            dspy_type_name(&json!({"type": "object", "additionalProperties": {"type": "integer"}})),
            "dict[str, int]"
        );
        assert_eq!(
            dspy_type_name(&json!({"type": "string", "enum": ["a", "b"]})),
            "Literal['a', 'b']"
        );
        assert_eq!(
            dspy_type_name(&json!({"type": "object", "title": "Person", "properties": {}})),
            "Person"
        );
    }

    #[test]
    fn titles_follow_python_title() {
        assert_eq!(python_title("first_name"), "First Name");
        assert_eq!(python_title("myURL"), "Myurl");
        assert_eq!(python_title("answer"), "Answer");
    }

    #[test]
    fn type_first_then_alphabetical() {
        let s = type_first_sorted(&json!({"items": {"type": "string"}, "type": "array"}));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"type":"array","items":{"type":"string"}}"#
        );
    }

    #[test]
    fn constraints_are_what_the_property_adds() {
        let c = constraint_keys(
            &json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 5, "description": "d"}),
            &json!({"type": "integer", "format": "int64"}),
        );
        assert_eq!(Value::Object(c), json!({"minimum": 1, "maximum": 5}));
    }
}
