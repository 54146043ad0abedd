//! Placeholder values that fit a field's JSON schema: what predictors answer in a dry run.

use serde_json::{Map, Value, json};

/// Placeholder values that fit a JSON schema: `"<name>"` for strings, 0, false, the first
/// enum value, empty lists, objects with their required properties.
pub struct Placeholder;

impl Placeholder {
    /// A value for field `name` that fits `schema` (pydantic-shaped, `$defs` resolved).
    pub fn value(name: &str, schema: &Value) -> Value {
        let defs = schema.get("$defs").and_then(Value::as_object);
        Self::of(name, schema, defs, 0)
    }

    fn of(name: &str, schema: &Value, defs: Option<&Map<String, Value>>, depth: usize) -> Value {
        if depth > 16 {
            return Value::Null;
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let target = r
                .rsplit('/')
                .next()
                .and_then(|k| defs.and_then(|d| d.get(k)));
            return target.map_or(Value::Null, |t| Self::of(name, t, defs, depth + 1));
        }
        if let Some(v) = schema.get("const") {
            return v.clone();
        }
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return first.clone();
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let pick = options
                    .iter()
                    .find(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                    .or(options.first());
                return pick.map_or(Value::Null, |o| Self::of(name, o, defs, depth + 1));
            }
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ => "string",
        };
        match ty {
            "string" => Value::String(format!("<{name}>")),
            "integer" => json!(0),
            "number" => json!(0.0),
            "boolean" => json!(false),
            "array" => json!([]),
            "null" => Value::Null,
            "object" => {
                let mut m = Map::new();
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (k, v) in props {
                        if required.contains(&k.as_str()) {
                            m.insert(k.clone(), Self::of(k, v, defs, depth + 1));
                        }
                    }
                }
                Value::Object(m)
            }
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fit_their_schemas() {
        let s = json!({"type": "string"});
        assert_eq!(Placeholder::value("answer", &s), json!("<answer>"));
        let e = json!({"type": "string", "enum": ["business", "tech"]});
        assert_eq!(Placeholder::value("t", &e), json!("business"));
        let o = json!({"anyOf": [{"type": "null"}, {"type": "integer"}]});
        assert_eq!(Placeholder::value("n", &o), json!(0));
        let nested = json!({
            "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "nick": {"type": "string"}}, "required": ["name", "age"]}},
            "type": "array", "items": {"$ref": "#/$defs/Person"}
        });
        assert_eq!(Placeholder::value("people", &nested), json!([]));
        let one = json!({
            "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}},
            "$ref": "#/$defs/Person"
        });
        assert_eq!(
            Placeholder::value("p", &one),
            json!({"name": "<name>", "age": 0})
        );
    }
}
