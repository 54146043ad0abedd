//! A tool's arguments as DSPy's `Tool.args` holds them: argument name → the JSON schema
//! pydantic gives the argument's type (references inlined), then its `default` and its
//! `description`.

use crate::signature::schema::{pydantic_sorted, to_pydantic};
use serde_json::{Map, Value};

/// Keys of a property that describe it rather than constrain its value.
pub(crate) const ANNOTATIONS: &[&str] = &["description", "title", "default", "examples"];

/// Deepest nesting of references inlined (a recursive type stops there).
const MAX_DEPTH: usize = 16;

/// The arguments of a tool whose arguments are the fields of one struct: its schemars root
/// schema → (argument schemas in field order, the required arguments).
pub(crate) fn args_of_struct(root: &Value) -> (Map<String, Value>, Vec<String>) {
    let empty = Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut args = Map::new();
    if let Some(props) = root.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            args.insert(name.clone(), arg_schema(prop, defs));
        }
    }
    let required = root
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (args, required)
}

/// One argument: its type's schema in pydantic's shape and key order with references
/// inlined, then `default` and `description` as DSPy appends them.
fn arg_schema(prop: &Value, defs: &Map<String, Value>) -> Value {
    let mut bare = prop.clone();
    if let Value::Object(m) = &mut bare {
        for k in ANNOTATIONS {
            m.remove(*k);
        }
    }
    let mut out = match inline(&pydantic_sorted(&to_pydantic(&bare)), defs, 0) {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("anyOf".into(), Value::Array(vec![other]));
            m
        }
    };
    for key in ["default", "description"] {
        if let Some(v) = prop.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// Replaces each `$ref` by the definition it names (pydantic-shaped, titled by its name as
/// pydantic titles models) and drops `$defs`.
fn inline(v: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(name) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
                && let Some(def) = defs.get(name)
                && depth < MAX_DEPTH
            {
                let mut d = to_pydantic(def);
                if let Value::Object(dm) = &mut d {
                    dm.entry("title")
                        .or_insert_with(|| Value::String(name.to_string()));
                }
                return inline(&pydantic_sorted(&d), defs, depth + 1);
            }
            let mut out = Map::new();
            for (k, sub) in m {
                if k != "$defs" {
                    out.insert(k.clone(), inline(sub, defs, depth));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| inline(x, defs, depth)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn struct_fields_become_dspy_shaped_args() {
        let root = json!({
            "type": "object",
            "properties": {
                "city": {"description": "The city.", "type": "string"},
                "days": {"type": "integer", "format": "uint32", "minimum": 0, "default": 3},
                "units": {"$ref": "#/$defs/Units"}
            },
            "required": ["city", "units"],
            "$defs": {"Units": {"type": "string", "enum": ["metric", "imperial"]}}
        });
        let (args, required) = args_of_struct(&root);
        assert_eq!(
            Value::Object(args),
            json!({
                "city": {"type": "string", "description": "The city."},
                "days": {"minimum": 0, "type": "integer", "default": 3},
                "units": {"enum": ["metric", "imperial"], "title": "Units", "type": "string"}
            })
        );
        assert_eq!(required, vec!["city", "units"]);
    }

    #[test]
    fn a_recursive_type_stops_inlining() {
        let root = json!({
            "properties": {"tree": {"$ref": "#/$defs/T"}},
            "$defs": {"T": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/T"}}}}}
        });
        let (args, _) = args_of_struct(&root);
        assert!(args["tree"].to_string().contains("$ref"));
    }
}
