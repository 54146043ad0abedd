//! DSPy's XMLAdapter: every field between `<name>` and `</name>`, and structured outputs (lists,
//! dicts, objects) as nested XML (`<tags><item>…</item></tags>`).

use super::{
    Adapter, INCOMPLETE_DEMO_PREFIX, JsonAdapter, MISSING_FIELD, ParsedOutput, Prepared, coerce,
    field_description, ordered_demos, py_strip, task_description,
};
use crate::demo::Demo;
use crate::error::{Error, ParseError, ParseErrorKind};
use crate::format::{python_str, write_field_value};
use crate::lm::Message;
use crate::signature::{FieldKind, FieldMeta, InputFields, SignatureMeta};
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) mod tree;

use tree::Element;

/// Formats fields as XML elements and parses replies written that way. Renders byte for byte
/// what DSPy 3.4.1's `XMLAdapter` renders. Parsing is more forgiving than DSPy's (which needs
/// the whole reply to be well-formed XML): each output is found by its tags, unknown text
/// around them is ignored, a field's text is coerced as ChatAdapter coerces it, and a
/// structured field may also be written as JSON. On failure it falls back once to
/// [`JsonAdapter`], as DSPy's does.
#[derive(Clone)]
pub struct XmlAdapter {
    fallback: Option<Arc<dyn Adapter>>,
}

impl Default for XmlAdapter {
    fn default() -> Self {
        XmlAdapter {
            fallback: Some(Arc::new(JsonAdapter::default())),
        }
    }
}

impl std::fmt::Debug for XmlAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlAdapter")
            .field("json_fallback", &self.fallback.is_some())
            .finish()
    }
}

impl XmlAdapter {
    /// An XMLAdapter that falls back to JSONAdapter once on a parse failure.
    pub fn new() -> Self {
        Self::default()
    }

    /// An XMLAdapter that reports parse failures without a second try.
    pub fn without_fallback() -> Self {
        XmlAdapter { fallback: None }
    }
}

impl Adapter for XmlAdapter {
    fn field_stream(
        &self,
        sig: &crate::signature::SignatureMeta,
    ) -> Option<Box<dyn super::stream::FieldStream>> {
        Some(Box::new(super::stream::XmlFieldStream::new(
            super::stream::output_names(sig),
        )))
    }

    fn name(&self) -> &'static str {
        "XMLAdapter"
    }

    fn prepare(&self, sig: &SignatureMeta, instructions: &str, demos: &[Demo]) -> Prepared {
        let system = format!(
            "{}\n{}\n{}",
            field_description(sig),
            structure(sig),
            task_description(instructions)
        );
        let mut messages = vec![Message::system(system)];
        for (demo, complete) in ordered_demos(sig, demos) {
            let prefix = if complete { "" } else { INCOMPLETE_DEMO_PREFIX };
            let Ok(user) = user_content(sig, prefix, "", |_, f, out| {
                Ok::<_, std::convert::Infallible>(demo.write_value(f, out))
            });
            messages.push(Message::user(user));
            messages.push(Message::assistant(assistant_content(sig, demo)));
        }
        Prepared {
            messages,
            request_suffix: output_requirements(sig),
        }
    }

    fn format_request(
        &self,
        sig: &SignatureMeta,
        prepared: &Prepared,
        inputs: &dyn InputFields,
    ) -> Result<String, Error> {
        user_content(sig, "", &prepared.request_suffix, |i, f, out| {
            inputs.write_input(i, f, out).map_err(|e| {
                Error::Serialize(format!("input `{}` of {}: {e}", f.name(), sig.name()))
            })
        })
    }

    fn parse(&self, sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseError> {
        parse_fields(sig, completion).map_err(|kind| ParseError::new(self.name(), kind, completion))
    }

    fn fallback(&self) -> Option<&Arc<dyn Adapter>> {
        self.fallback.as_ref()
    }

    fn format_assistant(&self, sig: &SignatureMeta, outputs: &Demo) -> String {
        assistant_content(sig, outputs)
    }
}

/// The field's schema with `Optional` unwrapped, when DSPy renders the field as nested XML: a
/// list, a dict or an object (a tuple or a set stays text).
fn nested_schema(f: &FieldMeta) -> Option<&Value> {
    if *f.kind() != FieldKind::Json {
        return None;
    }
    let root = f.schema();
    let mut schema = root;
    if let Some(Value::Array(choices)) = schema.get("anyOf") {
        let real: Vec<&Value> = choices
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if real.len() != 1 || real.len() == choices.len() {
            return None;
        }
        schema = real[0];
    }
    let schema = resolve(root, schema);
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => {
            let set = schema.get("uniqueItems") == Some(&Value::Bool(true));
            (schema.get("items").is_some() && !set).then_some(schema)
        }
        Some("object") => Some(schema),
        _ => None,
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .rsplit('/')
            .next()
            .and_then(|name| root.get("$defs")?.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// DSPy's `_schema_to_xml`: the nested structure a field's schema asks for.
fn schema_xml(tag: &str, schema: &Value, root: &Value, seen: &mut Vec<String>, out: &mut String) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r).to_string();
        let target = root.get("$defs").and_then(|d| d.get(&name));
        match target {
            Some(t) if !seen.contains(&name) => {
                seen.push(name);
                schema_xml(tag, t, root, seen, out);
                seen.pop();
            }
            _ => out.push_str(&format!("<{tag}>...</{tag}>")),
        }
        return;
    }
    if let Some(Value::Array(choices)) = schema.get("anyOf") {
        let pick = choices
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) != Some("null"))
            .or(choices.first());
        if let Some(pick) = pick {
            return schema_xml(tag, pick, root, seen, out);
        }
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        out.push_str(&format!("<{tag}>"));
        let empty = Value::Object(Map::new());
        schema_xml(
            "item",
            schema.get("items").unwrap_or(&empty),
            root,
            seen,
            out,
        );
        out.push_str(&format!("</{tag}>"));
        return;
    }
    let mut children = String::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            schema_xml(name, child, root, seen, &mut children);
        }
    }
    if children.is_empty() {
        children.push_str("...");
    }
    out.push_str(&format!("<{tag}>{children}</{tag}>"));
}

fn field_schema_xml(f: &FieldMeta) -> String {
    let mut out = String::new();
    schema_xml(f.name(), f.schema(), f.schema(), &mut Vec::new(), &mut out);
    out
}

/// `All interactions will be structured…` with each field's placeholder.
fn structure(sig: &SignatureMeta) -> String {
    let placeholder = |f: &FieldMeta| {
        if nested_schema(f).is_some() && sig.outputs().iter().any(|o| o.name() == f.name()) {
            field_schema_xml(f)
        } else {
            format!("<{0}>\n{{{0}}}{1}\n</{0}>", f.name(), f.note())
        }
    };
    let group = |fields: &[FieldMeta]| {
        py_strip(
            &fields
                .iter()
                .map(placeholder)
                .collect::<Vec<_>>()
                .join("\n\n"),
        )
        .to_string()
    };
    format!(
        "All interactions will be structured in the following way, with the appropriate values filled in.\n\n{}\n\n{}",
        group(sig.inputs()),
        group(sig.outputs())
    )
}

/// DSPy's `format_user_message_content`: prefix, the present inputs as elements, the suffix.
fn user_content<E>(
    sig: &SignatureMeta,
    prefix: &str,
    suffix: &str,
    mut write: impl FnMut(usize, &FieldMeta, &mut String) -> Result<bool, E>,
) -> Result<String, E> {
    let mut fields = String::new();
    for (i, f) in sig.inputs().iter().enumerate() {
        let mark = fields.len();
        if !fields.is_empty() {
            fields.push_str("\n\n");
        }
        fields.push('<');
        fields.push_str(f.name());
        fields.push_str(">\n");
        if write(i, f, &mut fields)? {
            fields.push_str("\n</");
            fields.push_str(f.name());
            fields.push('>');
        } else {
            fields.truncate(mark);
        }
    }
    let parts = [prefix, py_strip(&fields), suffix];
    Ok(py_strip(&parts.join("\n\n")).to_string())
}

/// A demo's (or a turn's) outputs as DSPy's XMLAdapter writes them.
fn assistant_content(sig: &SignatureMeta, demo: &Demo) -> String {
    let mut parts = Vec::with_capacity(sig.outputs().len());
    for f in sig.outputs() {
        let value = demo.get(f.name());
        if let (Some(v @ (Value::Array(_) | Value::Object(_))), Some(_)) = (value, nested_schema(f))
        {
            parts.push(value_xml(v, f.name(), None));
            continue;
        }
        let mut text = String::new();
        match value {
            Some(v) => write_field_value(v, *f.kind() == FieldKind::Str, &mut text),
            None => text.push_str(MISSING_FIELD),
        }
        if *f.kind() == FieldKind::Str {
            text = text.replace('&', "&amp;").replace('<', "&lt;");
        }
        parts.push(format!("<{0}>\n{text}\n</{0}>", f.name()));
    }
    py_strip(&parts.join("\n\n")).to_string()
}

/// `Respond with the corresponding output fields wrapped in XML tags …`.
fn output_requirements(sig: &SignatureMeta) -> String {
    let tags: Vec<String> = sig
        .outputs()
        .iter()
        .map(|f| format!("`<{}>`", f.name()))
        .collect();
    let mut out = format!(
        "Respond with the corresponding output fields wrapped in XML tags {}.",
        tags.join(", then ")
    );
    let schemas: Vec<String> = sig
        .outputs()
        .iter()
        .filter(|f| nested_schema(f).is_some())
        .map(field_schema_xml)
        .collect();
    if !schemas.is_empty() {
        out.push_str(" Use this nested XML structure: ");
        out.push_str(&schemas.join(" "));
    }
    out
}

/// Python's `str.isidentifier` for ASCII and the common Unicode letters.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Python's `xml.sax.saxutils.quoteattr`.
fn quote_attr(s: &str) -> String {
    let e = s
        .replace('&', "&amp;")
        .replace('>', "&gt;")
        .replace('<', "&lt;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;");
    if e.contains('"') {
        if e.contains('\'') {
            format!("\"{}\"", e.replace('"', "&quot;"))
        } else {
            format!("'{e}'")
        }
    } else {
        format!("\"{e}\"")
    }
}

/// DSPy's `_value_to_xml`: a JSON value as nested elements.
fn value_xml(value: &Value, tag: &str, key: Option<&str>) -> String {
    let attrs = key.map_or(String::new(), |k| format!(" key={}", quote_attr(k)));
    match value {
        Value::Array(items) => {
            let children: String = items.iter().map(|i| value_xml(i, "item", None)).collect();
            if children.is_empty() {
                format!("<{tag}{attrs} />")
            } else {
                format!("<{tag}{attrs}>{children}</{tag}>")
            }
        }
        Value::Object(map) => {
            let mut children = String::new();
            for (name, child) in map {
                let mut first = name.chars();
                let head: String = first.next().into_iter().collect();
                let rest = first.as_str().replace(['-', '.'], "_");
                if is_identifier(&(head + &rest)) {
                    children.push_str(&value_xml(child, name, None));
                } else {
                    children.push_str(&value_xml(child, "entry", Some(name)));
                }
            }
            format!("<{tag}{attrs}>{children}</{tag}>")
        }
        Value::Null => format!("<{tag}{attrs} />"),
        other => {
            let text = python_str(other).replace('&', "&amp;").replace('<', "&lt;");
            format!("<{tag}{attrs}>{text}</{tag}>")
        }
    }
}

fn parse_fields(sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseErrorKind> {
    let outputs = sig.outputs();
    let mut parsed = ParsedOutput {
        fields: Map::with_capacity(outputs.len()),
        coercions: Vec::new(),
    };
    let mut missing = Vec::new();
    for f in outputs {
        let Some(inner) = tree::find_element(completion, f.name()) else {
            if f.is_nullable() {
                parsed.fields.insert(f.name().to_string(), Value::Null);
            } else {
                missing.push(f.name().to_string());
            }
            continue;
        };
        let value = match nested_schema(f) {
            Some(_) if inner.contains('<') || py_strip(inner).is_empty() => {
                let element = tree::parse(f.name(), inner);
                let raw = element_value(std::slice::from_ref(&element), f.schema(), f.schema());
                match raw {
                    Value::String(s) => coerce::from_text(f, &s, &mut parsed.coercions)?,
                    v => coerce::from_json(f, v, &mut parsed.coercions)?,
                }
            }
            _ => {
                let text = tree::unescape(py_strip(inner));
                coerce::from_text(f, &text, &mut parsed.coercions)?
            }
        };
        parsed.fields.insert(f.name().to_string(), value);
    }
    if !missing.is_empty() {
        let found = parsed.fields.keys().cloned().collect();
        return Err(ParseErrorKind::MissingFields { missing, found });
    }
    Ok(parsed)
}

/// DSPy's `_elements_to_value`: elements to a JSON value (text leaves) guided by the schema.
fn element_value(elements: &[Element], schema: &Value, root: &Value) -> Value {
    let Some(first) = elements.first() else {
        return Value::Null;
    };
    let mut schema = resolve(root, schema);
    if let Some(Value::Array(choices)) = schema.get("anyOf") {
        let nullable = choices
            .iter()
            .any(|c| c.get("type").and_then(Value::as_str) == Some("null"));
        if nullable && first.children.is_empty() && first.text.trim().is_empty() {
            return Value::Null;
        }
        let real: Vec<&Value> = choices
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let Some(&pick) = real.first() {
            schema = resolve(root, pick);
            if !first.children.is_empty() {
                let structured = real.iter().find(|c| {
                    resolve(root, c).get("type").and_then(Value::as_str) != Some("string")
                });
                if let Some(&s) = structured {
                    schema = resolve(root, s);
                }
            }
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let empty = Value::Object(Map::new());
    if ty == Some("array") {
        let items_schema = schema.get("items").unwrap_or(&empty);
        if elements.len() == 1 && first.children.is_empty() {
            let text = first.text.trim();
            if text.is_empty() {
                return Value::Array(Vec::new());
            }
            if text.starts_with('[') {
                return Value::String(text.to_string());
            }
        }
        let items: Vec<&Element> = if elements.len() == 1 {
            let named: Vec<&Element> = first
                .children
                .iter()
                .filter(|c| c.key() == "item")
                .collect();
            if named.is_empty() {
                elements.iter().collect()
            } else {
                named
            }
        } else {
            elements.iter().collect()
        };
        return Value::Array(
            items
                .into_iter()
                .map(|e| element_value(std::slice::from_ref(e), items_schema, root))
                .collect(),
        );
    }
    if ty == Some("string") && !first.children.is_empty() {
        return Value::String(first.inner.clone());
    }
    if first.children.is_empty() {
        if ty == Some("object") && first.text.trim().is_empty() {
            return Value::Object(Map::new());
        }
        let values: Vec<Value> = elements
            .iter()
            .map(|e| Value::String(e.text.trim().to_string()))
            .collect();
        return match <[Value; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let extra = schema
        .get("additionalProperties")
        .filter(|s| s.is_object())
        .unwrap_or(&empty);
    let mut out = Map::new();
    for (name, group) in tree::group(&first.children) {
        let sub = props.and_then(|p| p.get(&name)).unwrap_or(extra);
        out.insert(name, element_value(&group, sub, root));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_nested_xml_as_dspy_writes_them() {
        let v = serde_json::json!({"k": 1, "bad key": [true, null, 1.5], "a-b": "x<y&z", "e": []});
        assert_eq!(
            value_xml(&v, "d", None),
            "<d><k>1</k><entry key=\"bad key\"><item>True</item><item /><item>1.5</item></entry>\
             <a-b>x&lt;y&amp;z</a-b><e /></d>"
        );
        assert_eq!(quote_attr("it's \"q\""), "\"it's &quot;q&quot;\"");
        assert_eq!(quote_attr("say \"hi\"\n"), "'say \"hi\"&#10;'");
    }
}
