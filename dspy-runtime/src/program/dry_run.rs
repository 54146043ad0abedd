//! Dry runs: a program's `forward` with every predictor recording the prompt it would send and
//! answering with placeholder outputs built from its signature, so every stage's prompt can be
//! rendered without an LM (for snapshots and review).

use super::{Params, ParamsExt};
use crate::adapter::ParsedOutput;
use crate::error::Result;
use crate::lm::Message;
use crate::module::{Module, render_messages};
use crate::signature::SignatureMeta;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static DRY_RUN: DryRun;
}

/// Each recorded call: the predictor's core id and the messages it would send.
type Records = Arc<Mutex<Vec<(usize, Vec<Message>)>>>;

/// The recorder of a dry run, shared by the predictors running inside it.
#[derive(Clone, Default)]
pub(crate) struct DryRun {
    records: Records,
}

impl DryRun {
    /// Records that the predictor core at `core` would send `messages`; returns placeholder
    /// outputs for `meta`.
    pub(crate) fn record(
        core: usize,
        meta: &SignatureMeta,
        messages: Vec<Message>,
    ) -> ParsedOutput {
        let _ = DRY_RUN.try_with(|d| {
            d.records
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((core, messages));
        });
        ParsedOutput {
            fields: meta
                .outputs()
                .iter()
                .map(|f| {
                    (
                        f.name().to_string(),
                        Placeholder::value(f.name(), f.schema()),
                    )
                })
                .collect(),
            coercions: Vec::new(),
        }
    }
}

/// Whether the current task is inside [`render_prompts`].
pub(crate) fn dry_run_active() -> bool {
    DRY_RUN.try_with(|_| ()).is_ok()
}

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

/// Runs `program` on `input` without an LM: every predictor records the prompt it would send
/// and answers with placeholders (`"<answer>"`, 0, the first label, …) that later stages see as
/// their inputs. Returns every prompt in call order under a `##### <path> #####` header, as
/// one stable text for snapshots.
pub async fn render_prompts<P>(program: &P, input: P::Input) -> Result<String>
where
    P: Module + Params,
{
    let dry = DryRun::default();
    let records = dry.records.clone();
    DRY_RUN.scope(dry, program.forward(input)).await?;
    let paths: Vec<(usize, String)> = program
        .named_predictors()
        .into_iter()
        .map(|(path, p)| (p.core_id(), path))
        .collect();
    let records = std::mem::take(&mut *records.lock().unwrap_or_else(|p| p.into_inner()));
    let mut out = String::new();
    for (i, (core, messages)) in records.iter().enumerate() {
        let path = paths
            .iter()
            .find_map(|(c, p)| (c == core).then_some(p.as_str()))
            .unwrap_or("(unnamed)");
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("##### {path} #####\n"));
        out.push_str(&render_messages(messages));
    }
    Ok(out)
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
