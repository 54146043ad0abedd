//! One field of a signature, with everything formatting and parsing need precomputed.

use super::Role;
use super::schema::{self, FieldKind};
use crate::format::py_json;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// A signature field: name, role, description, DSPy type name, schema, constraints.
#[derive(Clone)]
pub struct FieldMeta {
    name: Cow<'static, str>,
    role: Role,
    desc: Option<String>,
    type_name: String,
    kind: FieldKind,
    schema: Value,
    constraints: Map<String, Value>,
    nullable: bool,
    /// DSPy's `translate_field_type` note, e.g. `        # note: the value you produce ...`.
    note: String,
    /// DSPy's output requirement, e.g. ` (must be formatted as a valid Python int)`.
    requirement: String,
    constraints_text: String,
    validator: Option<Arc<Result<jsonschema::Validator, String>>>,
}

impl std::fmt::Debug for FieldMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldMeta")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("desc", &self.desc)
            .field("type_name", &self.type_name)
            .field("schema", &self.schema)
            .field("constraints", &self.constraints)
            .finish()
    }
}

impl FieldMeta {
    /// Builds a field from its bare type schema and its property schema (with constraints),
    /// both as schemars produced them, and the definitions they refer to.
    pub(crate) fn from_schemas(
        name: Cow<'static, str>,
        role: Role,
        desc: Option<String>,
        bare_type: &Value,
        property: &Value,
        defs: &Map<String, Value>,
    ) -> FieldMeta {
        let type_schema = schema::type_schema(bare_type, defs);
        let constraints = schema::constraint_keys(property, bare_type);
        let validation = schema::validation_schema(property, defs);
        FieldMeta::new(name, role, desc, type_schema, constraints, validation)
    }

    /// Builds a field from a pydantic-shaped type schema.
    pub(crate) fn new(
        name: Cow<'static, str>,
        role: Role,
        desc: Option<String>,
        type_schema: Value,
        constraints: Map<String, Value>,
        validation: Value,
    ) -> FieldMeta {
        let kind = FieldKind::of(&type_schema);
        let type_name = schema::dspy_type_name(&type_schema);
        let nullable = allows_null(&type_schema);
        let note = match (role, &kind) {
            (Role::Input, _) | (_, FieldKind::Str) => String::new(),
            (_, FieldKind::Bool) => "must be True or False".into(),
            (_, FieldKind::Int) => "must be a single int value".into(),
            (_, FieldKind::Float) => "must be a single float value".into(),
            (_, FieldKind::Literal(values)) => format!(
                "must exactly match (no extra characters) one of: {}",
                values.join("; ")
            ),
            (_, FieldKind::Json) => {
                let mut s = String::from("must adhere to the JSON schema: ");
                py_json(&schema::type_first_sorted(&type_schema), false, &mut s);
                s
            }
        };
        let note = if note.is_empty() {
            note
        } else {
            format!("        # note: the value you produce {note}")
        };
        let reasoning = kind == FieldKind::Str
            && type_schema.get("title").and_then(Value::as_str) == Some("Reasoning");
        // DSPy asks for a `Reasoning` (not `str`) field "as a valid Python str".
        let requirement = if kind == FieldKind::Str && !reasoning {
            String::new()
        } else {
            format!(" (must be formatted as a valid Python {type_name})")
        };
        let constraints_text = constraints_text(&constraints);
        let validator = if schema::is_plain_string(&validation) {
            None
        } else {
            Some(Arc::new(
                jsonschema::validator_for(&validation).map_err(|e| e.to_string()),
            ))
        };
        FieldMeta {
            name,
            role,
            desc,
            type_name,
            kind,
            schema: type_schema,
            constraints,
            nullable,
            note,
            requirement,
            constraints_text,
            validator,
        }
    }

    /// Whether the field is a [`Reasoning`](super::Reasoning) (a `str` named `Reasoning`).
    pub(crate) fn is_reasoning(&self) -> bool {
        self.kind == FieldKind::Str
            && self.schema.get("title").and_then(Value::as_str) == Some("Reasoning")
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input or output.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The description, if one was given.
    pub fn desc(&self) -> Option<&str> {
        self.desc.as_deref()
    }

    /// The type's name in DSPy's vocabulary, e.g. `list[str]`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// How the value is formatted and parsed.
    pub fn kind(&self) -> &FieldKind {
        &self.kind
    }

    /// The type's JSON schema in pydantic's shape (self-contained, with `$defs` if needed).
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Constraint keywords on this field beyond its type (`minimum`, `maxLength`, `pattern`, ...).
    pub fn constraints(&self) -> &Map<String, Value> {
        &self.constraints
    }

    /// Whether `null` is a valid value (an `Option`), so a missing output becomes `None`.
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    pub(crate) fn note(&self) -> &str {
        &self.note
    }

    pub(crate) fn requirement(&self) -> &str {
        &self.requirement
    }

    pub(crate) fn constraints_text(&self) -> &str {
        &self.constraints_text
    }

    /// Checks a value against the field's schema; the first violation if it does not fit.
    pub(crate) fn validate(&self, value: &Value) -> Result<(), Violation> {
        let Some(v) = &self.validator else {
            return Ok(());
        };
        match v.as_ref() {
            Ok(validator) => match validator.validate(value) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let path = e.schema_path().to_string();
                    Err(Violation {
                        keyword: path.rsplit('/').next().unwrap_or("schema").to_string(),
                        at: e.instance_path().to_string(),
                        problem: e.to_string(),
                    })
                }
            },
            Err(e) => Err(Violation {
                keyword: "schema".into(),
                at: String::new(),
                problem: format!("the field's schema is invalid: {e}"),
            }),
        }
    }

    /// A copy with another description.
    pub fn with_desc(mut self, desc: impl Into<String>) -> FieldMeta {
        self.desc = Some(desc.into());
        self
    }

    /// A plain `str` field (as ChainOfThought's `reasoning`).
    pub fn string(
        name: impl Into<Cow<'static, str>>,
        role: Role,
        desc: Option<String>,
    ) -> FieldMeta {
        let schema = serde_json::json!({"type": "string"});
        FieldMeta::new(name.into(), role, desc, schema.clone(), Map::new(), schema)
    }
}

/// The first way a value breaks a field's schema.
#[derive(Debug)]
pub(crate) struct Violation {
    /// The schema keyword broken, e.g. `type`, `maximum`.
    pub keyword: String,
    /// Where in the value, as a JSON pointer (empty for the value itself).
    pub at: String,
    /// The validator's message.
    pub problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "at {}: {}", self.at, self.problem)
        }
    }
}

fn allows_null(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            m.get("type").and_then(Value::as_str) == Some("null")
                || m.get("anyOf")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(allows_null))
        }
        _ => false,
    }
}

/// DSPy's rendering of pydantic constraints, e.g. `greater than or equal to: 1`.
fn constraints_text(constraints: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for (k, v) in constraints {
        let label = match k.as_str() {
            "minimum" => "greater than or equal to: ",
            "exclusiveMinimum" => "greater than: ",
            "maximum" => "less than or equal to: ",
            "exclusiveMaximum" => "less than: ",
            "minLength" | "minItems" => "minimum length: ",
            "maxLength" | "maxItems" => "maximum length: ",
            "multipleOf" => "a multiple of the given number: ",
            "pattern" => "matching the pattern: ",
            "enum" => "one of: ",
            _ => continue,
        };
        let value = match v {
            Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join("; "),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("{label}{value}"));
    }
    parts.join(", ")
}
