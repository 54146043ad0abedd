//! DSPy's JSONAdapter: inputs as sections, outputs as one JSON object.

use super::{
    Adapter, MISSING_FIELD, ParsedOutput, Prepared, coerce, field_placeholders, lenient_json,
    messages,
};
use crate::demo::Demo;
use crate::error::{ParseError, ParseErrorKind};
use crate::format::py_json_indented;
use crate::lm::{Capabilities, ResponseFormat};
use crate::signature::SignatureMeta;
use crate::signature::schema::{pydantic_sorted, python_title, takes_title};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Asks for the outputs as one JSON object, with a strict JSON-schema `response_format` for
/// models that support structured outputs (JSON mode for those that support only that).
///
/// Parsing finds the object in fenced or prose-wrapped replies and tolerates trailing commas,
/// single quotes and Python literals.
#[derive(Clone, Debug, Default)]
pub struct JsonAdapter {
    _private: (),
}

impl JsonAdapter {
    /// A JSONAdapter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Adapter for JsonAdapter {
    fn field_stream(
        &self,
        sig: &crate::signature::SignatureMeta,
    ) -> Option<Box<dyn super::stream::FieldStream>> {
        Some(Box::new(super::stream::JsonFieldStream::new(
            super::stream::output_names(sig),
        )))
    }

    fn name(&self) -> &'static str {
        "JSONAdapter"
    }

    fn prepare(&self, sig: &SignatureMeta, instructions: &str, demos: &[Demo]) -> Prepared {
        let placeholders: Map<String, Value> = sig
            .outputs()
            .iter()
            .map(|f| {
                (
                    f.name().to_string(),
                    Value::String(format!("{{{}}}{}", f.name(), f.note())),
                )
            })
            .collect();
        let mut outputs = String::new();
        py_json_indented(&Value::Object(placeholders), false, &mut outputs);
        let structure = format!(
            "All interactions will be structured in the following way, with the appropriate values filled in.\n\n\
             Inputs will have the following structure:\n\n{}\n\n\
             Outputs will be a JSON object with the following fields.\n\n{}",
            field_placeholders(sig.inputs()),
            outputs
        );
        prepared(sig, &structure, instructions, demos)
    }

    fn response_format(
        &self,
        sig: &SignatureMeta,
        caps: Capabilities,
    ) -> Option<Arc<ResponseFormat>> {
        if !caps.response_format {
            return None;
        }
        let open_mapping = sig.outputs().iter().any(|f| {
            f.schema().get("type").and_then(Value::as_str) == Some("object")
                && f.schema().get("properties").is_none()
        });
        if open_mapping || !caps.response_schema {
            return Some(Arc::new(ResponseFormat::JsonObject));
        }
        Some(sig.structured_output_format())
    }

    fn parse(&self, sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseError> {
        parse_object(sig, completion).map_err(|kind| ParseError::new(self.name(), kind, completion))
    }

    fn format_assistant(&self, sig: &SignatureMeta, outputs: &Demo) -> String {
        assistant_content(sig, outputs)
    }

    fn native_tool_calls(&self) -> bool {
        true
    }
}

/// JSONAdapter's messages around a given field structure, and its output requirements.
pub(super) fn prepared(
    sig: &SignatureMeta,
    structure: &str,
    instructions: &str,
    demos: &[Demo],
) -> Prepared {
    let mut suffix = String::from("Respond with a JSON object in the following order of fields: ");
    for (i, f) in sig.outputs().iter().enumerate() {
        if i > 0 {
            suffix.push_str(", then ");
        }
        suffix.push_str(&format!("`{}`{}", f.name(), f.requirement()));
    }
    suffix.push('.');
    Prepared {
        messages: messages(sig, structure, instructions, demos, assistant_content),
        request_suffix: suffix,
    }
}

/// A demo's outputs as DSPy's JSONAdapter writes them: an indented JSON object.
fn assistant_content(sig: &SignatureMeta, demo: &Demo) -> String {
    let values: Map<String, Value> = sig
        .outputs()
        .iter()
        .map(|f| {
            let v = demo
                .get(f.name())
                .cloned()
                .unwrap_or_else(|| Value::String(MISSING_FIELD.into()));
            (f.name().to_string(), v)
        })
        .collect();
    let mut content = String::new();
    py_json_indented(&Value::Object(values), false, &mut content);
    content
}

fn parse_object(sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseErrorKind> {
    let Some(Value::Object(mut object)) = lenient_json::find_object(completion) else {
        return Err(ParseErrorKind::NotAnObject);
    };
    let mut parsed = ParsedOutput {
        fields: Map::with_capacity(sig.outputs().len()),
        coercions: Vec::new(),
    };
    let mut missing = Vec::new();
    for f in sig.outputs() {
        let value = object.remove(f.name()).or_else(|| {
            let key = object
                .keys()
                .find(|k| k.eq_ignore_ascii_case(f.name()))?
                .clone();
            object.remove(&key)
        });
        match value {
            Some(v) => {
                let v = coerce::from_json(f, v, &mut parsed.coercions)?;
                parsed.fields.insert(f.name().to_string(), v);
            }
            None if f.is_nullable() => {
                parsed.fields.insert(f.name().to_string(), Value::Null);
            }
            None => missing.push(f.name().to_string()),
        }
    }
    if !missing.is_empty() {
        let found = parsed.fields.keys().cloned().collect();
        return Err(ParseErrorKind::MissingFields { missing, found });
    }
    Ok(parsed)
}

/// DSPy's strict structured-output schema (`DSPyProgramOutputs`) for a signature's outputs.
pub(crate) fn structured_schema(sig: &SignatureMeta) -> ResponseFormat {
    let mut properties = Map::new();
    let mut defs = Map::new();
    for f in sig.outputs() {
        let mut schema = f.schema().clone();
        let titled = takes_title(&schema);
        if let Value::Object(m) = &mut schema {
            if let Some(Value::Object(d)) = m.remove("$defs") {
                defs.extend(d);
            }
            // A top-level named type is referenced from $defs, as pydantic does.
            if m.get("type").and_then(Value::as_str) == Some("object")
                && m.contains_key("properties")
                && let Some(Value::String(title)) = m.get("title").cloned()
            {
                defs.insert(title.clone(), Value::Object(m.clone()));
                schema = serde_json::json!({"$ref": format!("#/$defs/{title}")});
            } else if titled {
                m.insert("title".into(), Value::String(python_title(f.name())));
            }
        }
        properties.insert(f.name().to_string(), schema);
    }
    let mut root = Map::new();
    if !defs.is_empty() {
        root.insert("$defs".into(), Value::Object(defs));
    }
    root.insert("additionalProperties".into(), Value::Bool(false));
    root.insert("properties".into(), Value::Object(properties));
    root.insert(
        "required".into(),
        Value::Array(
            sig.outputs()
                .iter()
                .map(|f| Value::String(f.name().to_string()))
                .collect(),
        ),
    );
    root.insert("title".into(), Value::String("DSPyProgramOutputs".into()));
    root.insert("type".into(), Value::String("object".into()));
    // pydantic's key order first; DSPy's strict-mode keys then go where it puts them.
    let mut schema = pydantic_sorted(&Value::Object(root));
    enforce_required(&mut schema);
    ResponseFormat::JsonSchema {
        name: "DSPyProgramOutputs".into(),
        schema,
        strict: true,
    }
}

/// Every object lists all its properties as required and forbids others (OpenAI strict mode).
fn enforce_required(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    if m.get("type").and_then(Value::as_str) == Some("object") {
        let names: Vec<Value> = match m.get("properties") {
            Some(Value::Object(p)) => p.keys().map(|k| Value::String(k.clone())).collect(),
            _ => {
                m.insert("properties".into(), Value::Object(Map::new()));
                Vec::new()
            }
        };
        m.insert("required".into(), Value::Array(names));
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["properties", "$defs"] {
        if let Some(Value::Object(children)) = m.get_mut(key) {
            children.values_mut().for_each(enforce_required);
        }
    }
    if let Some(items) = m.get_mut("items") {
        enforce_required(items);
    }
    if let Some(Value::Array(variants)) = m.get_mut("anyOf") {
        variants.iter_mut().for_each(enforce_required);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{FieldMeta, Role};
    use serde_json::json;

    fn person_sig() -> SignatureMeta {
        let person = json!({
            "$defs": {"Address": {"type": "object", "title": "Address",
                                  "properties": {"city": {"type": "string", "title": "City"}},
                                  "required": ["city"]}},
            "type": "object", "title": "Person",
            "properties": {
                "name": {"type": "string", "title": "Name"},
                "age": {"type": "integer", "title": "Age"},
                "home": {"$ref": "#/$defs/Address"},
            },
            "required": ["name", "age", "home"],
        });
        let field = FieldMeta::new(
            "person".into(),
            Role::Output,
            None,
            person.clone(),
            Map::new(),
            person,
        );
        SignatureMeta::new(
            "S",
            None,
            vec![FieldMeta::string("text", Role::Input, None)],
            vec![field],
        )
    }

    #[test]
    fn field_errors_name_the_field_and_shape_not_the_schema() {
        let sig = person_sig();
        let reply = r#"{"person": {"name": "Ann", "age": "thirty", "home": {"city": "Oslo"}}}"#;
        let e = JsonAdapter::new().parse(&sig, reply).unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            "field `person`: expected a Person as JSON (an object with name, age, home); \
             at /age: \"thirty\" is not of type \"integer\""
        );
        assert_eq!(e.field(), Some("person"));
        let e = JsonAdapter::new()
            .parse(&sig, r#"{"person": {"name": "Ann", "age": 30}}"#)
            .unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            "field `person`: expected a Person as JSON (an object with name, age, home); \
             \"home\" is a required property"
        );
        let e = JsonAdapter::new()
            .parse(&sig, r#"{"person": "Ann"}"#)
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(
                "field `person`: expected a Person as JSON (an object with name, age, home)"
            ),
            "{msg}"
        );
        assert!(
            !msg.contains("properties") && !msg.contains("$defs"),
            "{msg}"
        );
    }
}
