//! DSPy's BAMLAdapter: JSONAdapter with a compact, BAML-style rendering of each output's type
//! (`string[]`, `"a" or "b"`, `int or null`, models as commented `{ name: type, }` blocks).

use super::{Adapter, JsonAdapter, ParsedOutput, Prepared};
use crate::demo::Demo;
use crate::error::{Error, ParseError};
use crate::format::py_json_indented;
use crate::lm::{Capabilities, ResponseFormat};
use crate::signature::{FieldMeta, InputFields, SignatureMeta};
use serde_json::Value;
use std::sync::Arc;

const INDENTATION: &str = "  ";

/// Asks for the outputs as one JSON object, as [`JsonAdapter`] does, but describes each output's
/// type in BAML's compact form instead of a JSON schema, with the models' and fields' doc
/// comments as `#` comments. Renders byte for byte what DSPy 3.4.1's `BAMLAdapter` renders;
/// parses as JSONAdapter parses. Model-typed inputs are written as indented JSON.
#[derive(Clone, Debug, Default)]
pub struct BamlAdapter {
    json: JsonAdapter,
}

impl BamlAdapter {
    /// A BAMLAdapter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Adapter for BamlAdapter {
    fn field_stream(
        &self,
        sig: &crate::signature::SignatureMeta,
    ) -> Option<Box<dyn super::stream::FieldStream>> {
        Some(Box::new(super::stream::JsonFieldStream::new(
            super::stream::output_names(sig),
        )))
    }

    fn name(&self) -> &'static str {
        "BAMLAdapter"
    }

    fn prepare(&self, sig: &SignatureMeta, instructions: &str, demos: &[Demo]) -> Prepared {
        super::json::prepared(sig, &structure(sig), instructions, demos)
    }

    fn format_request(
        &self,
        sig: &SignatureMeta,
        prepared: &Prepared,
        inputs: &dyn InputFields,
    ) -> Result<String, Error> {
        super::user_content(sig, "", Some(&prepared.request_suffix), |i, f, out| {
            let mark = out.len();
            let present = inputs.write_input(i, f, out).map_err(|e| {
                Error::Serialize(format!("input `{}` of {}: {e}", f.name(), sig.name()))
            })?;
            // A model instance is written as pydantic's `model_dump_json(indent=2)`.
            if present
                && is_model(f.schema(), f.schema())
                && let Ok(v) = serde_json::from_str::<Value>(&out[mark..])
            {
                out.truncate(mark);
                py_json_indented(&v, false, out);
            }
            Ok(present)
        })
    }

    fn response_format(
        &self,
        sig: &SignatureMeta,
        caps: Capabilities,
    ) -> Option<Arc<ResponseFormat>> {
        self.json.response_format(sig, caps)
    }

    fn parse(&self, sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseError> {
        self.json.parse(sig, completion).map_err(|mut e| {
            e.adapter = self.name();
            e
        })
    }

    fn format_assistant(&self, sig: &SignatureMeta, outputs: &Demo) -> String {
        self.json.format_assistant(sig, outputs)
    }

    fn native_tool_calls(&self) -> bool {
        true
    }
}

/// The field structure: inputs as `[[ ## name ## ]]` placeholders, each output with its type.
fn structure(sig: &SignatureMeta) -> String {
    let mut sections = vec![
        "All interactions will be structured in the following way, with the appropriate values filled in.\n"
            .to_string(),
    ];
    for f in sig.inputs() {
        sections.push(format!("[[ ## {} ## ]]", f.name()));
        sections.push(format!("{{{}}}", f.name()));
        sections.push(String::new());
    }
    for f in sig.outputs() {
        sections.push(format!("[[ ## {} ## ]]", f.name()));
        sections.push(format!(
            "Output field `{}` should be of type: {}\n",
            f.name(),
            field_type(f)
        ));
    }
    sections.push("[[ ## completed ## ]]".to_string());
    sections.join("\n")
}

fn field_type(f: &FieldMeta) -> String {
    render(f.schema(), f.schema(), 0, &mut Vec::new())
}

/// The definition a `$ref` names, with its name.
fn definition<'a>(root: &'a Value, schema: &Value) -> Option<(&'a str, &'a Value)> {
    let r = schema.get("$ref")?.as_str()?;
    let name = r.rsplit('/').next()?;
    let (key, def) = root.get("$defs")?.as_object()?.get_key_value(name)?;
    Some((key.as_str(), def))
}

/// Whether `schema` is a model (an object with named properties).
fn is_model(schema: &Value, root: &Value) -> bool {
    let schema = definition(root, schema).map_or(schema, |(_, d)| d);
    schema.get("type").and_then(Value::as_str) == Some("object")
        && schema.get("properties").is_some()
}

fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// DSPy's `_render_type_str`.
fn render(schema: &Value, root: &Value, indent: usize, seen: &mut Vec<String>) -> String {
    if let Some((name, def)) = definition(root, schema) {
        return match is_model(def, root) {
            true => model(name, def, root, indent, seen),
            false => render(def, root, indent, seen),
        };
    }
    if let Some(Value::Array(choices)) = schema.get("anyOf") {
        let is_null = |c: &Value| c.get("type").and_then(Value::as_str) == Some("null");
        let parts: Vec<String> = choices
            .iter()
            .filter(|c| !is_null(c))
            .map(|c| render(c, root, indent, seen))
            .collect();
        let joined = parts.join(" or ");
        return if choices.iter().any(is_null) {
            format!("{joined} or null")
        } else {
            joined
        };
    }
    if let Some(Value::Array(members)) = schema.get("enum") {
        return members.iter().map(literal).collect::<Vec<_>>().join(" or ");
    }
    if let Some(c) = schema.get("const") {
        return literal(c);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => "string".into(),
        Some("integer") => "int".into(),
        Some("number") => "float".into(),
        Some("boolean") => "boolean".into(),
        Some("null") => "NoneType".into(),
        Some("array") => {
            let empty = Value::Object(Default::default());
            let items = schema.get("items").unwrap_or(&empty);
            if is_model(items, root) {
                let inner = render(items, root, indent + 1, seen);
                format!("[\n{inner}\n{}]", INDENTATION.repeat(indent))
            } else {
                format!("{}[]", render(items, root, indent, seen))
            }
        }
        Some("object") if schema.get("properties").is_some() => {
            model("", schema, root, indent, seen)
        }
        Some("object") => match schema.get("additionalProperties") {
            Some(v @ Value::Object(_)) => {
                format!("dict[string, {}]", render(v, root, indent, seen))
            }
            _ => "dict".into(),
        },
        _ => "Any".into(),
    }
}

/// Comment lines for a docstring, each line stripped, empty lines left out.
fn comments(doc: &str, indent: &str, lines: &mut Vec<String>) {
    for line in doc.trim().split('\n') {
        let line = line.trim();
        if !line.is_empty() {
            lines.push(format!("{indent}# {line}"));
        }
    }
}

/// DSPy's `_build_simplified_schema`: a model as a commented `{ name: type, }` block.
fn model(name: &str, def: &Value, root: &Value, indent: usize, seen: &mut Vec<String>) -> String {
    if !name.is_empty() && seen.iter().any(|s| s == name) {
        // DSPy refuses recursive models; name the model rather than recurse.
        return name.to_string();
    }
    seen.push(name.to_string());
    let current = INDENTATION.repeat(indent);
    let next = INDENTATION.repeat(indent + 1);
    let mut lines = Vec::new();
    if indent == 0
        && let Some(doc) = def.get("description").and_then(Value::as_str)
    {
        comments(doc, &current, &mut lines);
    }
    lines.push(format!("{current}{{"));
    let props = def.get("properties").and_then(Value::as_object);
    match props {
        Some(props) if !props.is_empty() => {
            for (field, prop) in props {
                if let Some(desc) = prop.get("description").and_then(Value::as_str) {
                    lines.push(format!("{next}# {desc}"));
                }
                let inner = match prop.get("anyOf").and_then(Value::as_array) {
                    Some(choices) => {
                        let real: Vec<&Value> = choices
                            .iter()
                            .filter(|c| c.get("type").and_then(Value::as_str) != Some("null"))
                            .collect();
                        if real.len() == 1 { real[0] } else { prop }
                    }
                    None => prop,
                };
                if let Some((_, d)) = definition(root, inner)
                    && let Some(doc) = d.get("description").and_then(Value::as_str)
                {
                    comments(doc, &next, &mut lines);
                }
                let rendered = render(prop, root, indent + 1, seen);
                lines.push(format!("{next}{field}: {rendered},"));
            }
        }
        _ => lines.push(format!("{next}# No fields defined")),
    }
    lines.push(format!("{current}}}"));
    seen.pop();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_model_met_twice_renders_and_a_recursive_one_stops() {
        // DSPy's BAMLAdapter refuses both ("cannot handle recursive pydantic models"), the
        // first wrongly: `home` and `work` share a model without any recursion.
        let root = json!({
            "type": "object",
            "properties": {
                "home": {"$ref": "#/$defs/Place"},
                "work": {"$ref": "#/$defs/Place"},
                "boss": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}
            },
            "$defs": {
                "Place": {"type": "object", "properties": {"city": {"type": "string"}}},
                "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}
            }
        });
        let out = render(&root, &root, 0, &mut Vec::new());
        assert_eq!(out.matches("city: string,").count(), 2, "{out}");
        assert!(out.contains("next: Node,"), "{out}");
    }
}
