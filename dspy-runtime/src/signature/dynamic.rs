//! Signatures parsed at run time from the same grammar the `signature!` macro uses.

use super::{FieldMeta, MetaRef, Role, SignatureMeta};
use crate::error::{Error, Result};
use dspy_grammar::{FloatKind, TypeExpr};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A signature known only at run time, e.g. `DynSignature::parse("question -> answer: bool")`.
///
/// Accepts Rust spellings (`Vec<String>`) and DSPy's Python ones (`list[str]`,
/// `dict[str, int]`, `Optional[int]`, `Literal['a', 'b']`); user types need a typed signature.
#[derive(Clone, Debug)]
pub struct DynSignature {
    meta: Arc<SignatureMeta>,
}

impl DynSignature {
    /// Parses a string signature; the instructions default to DSPy's for string signatures.
    pub fn parse(src: &str) -> Result<DynSignature> {
        let parsed = dspy_grammar::parse(src).map_err(|errors| {
            let msgs: Vec<String> = errors
                .iter()
                .map(|e| {
                    format!(
                        "{} (at `{}`)",
                        e.message,
                        src.get(e.span.clone()).unwrap_or("")
                    )
                })
                .collect();
            Error::Signature(format!("`{src}`: {}", msgs.join("; ")))
        })?;
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for f in parsed.inputs.iter().chain(parsed.outputs.iter()) {
            let schema = expr_schema(&f.ty).map_err(|ty| {
                Error::Signature(format!(
                    "`{src}`: unknown type `{ty}` for field `{}`: a runtime signature can use only built-in types; use a typed signature for user types",
                    f.name
                ))
            })?;
            let field = FieldMeta::new(
                f.name.clone().into(),
                f.role,
                None,
                schema.clone(),
                Map::new(),
                schema,
            );
            match f.role {
                Role::Input => inputs.push(field),
                Role::Output => outputs.push(field),
            }
        }
        Ok(DynSignature {
            meta: Arc::new(SignatureMeta::new("StringSignature", None, inputs, outputs)),
        })
    }

    /// The same signature with other instructions, cleaned as DSPy's `Signature.instructions`
    /// is (Python's `inspect.cleandoc`, see [`dspy_grammar::cleandoc`]); an empty string means
    /// DSPy's default instructions, as in DSPy.
    pub fn with_instructions(self, instructions: impl Into<String>) -> DynSignature {
        let instructions: String = instructions.into();
        let m = &self.meta;
        DynSignature {
            meta: Arc::new(SignatureMeta::new(
                m.name().to_string(),
                (!instructions.is_empty()).then(|| dspy_grammar::cleandoc(&instructions)),
                m.inputs().to_vec(),
                m.outputs().to_vec(),
            )),
        }
    }

    /// The same signature with a description on field `name`.
    pub fn with_desc(self, name: &str, desc: impl Into<String>) -> Result<DynSignature> {
        let desc = desc.into();
        let m = &self.meta;
        if m.field(name).is_none() {
            return Err(Error::Signature(format!("no field named `{name}`")));
        }
        let map = |fields: &[FieldMeta]| -> Vec<FieldMeta> {
            fields
                .iter()
                .map(|f| {
                    if f.name() == name {
                        f.clone().with_desc(desc.clone())
                    } else {
                        f.clone()
                    }
                })
                .collect()
        };
        Ok(DynSignature {
            meta: Arc::new(SignatureMeta::new(
                m.name().to_string(),
                Some(m.instructions().to_string()),
                map(m.inputs()),
                map(m.outputs()),
            )),
        })
    }

    /// The metadata.
    pub fn meta(&self) -> &SignatureMeta {
        &self.meta
    }

    pub(crate) fn meta_ref(&self) -> MetaRef {
        MetaRef::Shared(self.meta.clone())
    }
}

/// The pydantic-shaped schema of a built-in type; `Err(name)` for a user type.
fn expr_schema(ty: &TypeExpr) -> std::result::Result<Value, String> {
    Ok(match ty {
        TypeExpr::Str => json!({"type": "string"}),
        TypeExpr::Bool => json!({"type": "boolean"}),
        TypeExpr::Int(kind) if kind.is_unsigned() => json!({"type": "integer", "minimum": 0}),
        TypeExpr::Int(_) => json!({"type": "integer"}),
        TypeExpr::Float(FloatKind::F32 | FloatKind::F64) => json!({"type": "number"}),
        TypeExpr::List(t) => json!({"type": "array", "items": expr_schema(t)?}),
        // pydantic writes `dict[str, Any]` as `additionalProperties: true`.
        TypeExpr::Map(_, t) if matches!(&**t, TypeExpr::Named(p) if p == "Any") => {
            json!({"type": "object", "additionalProperties": true})
        }
        TypeExpr::Map(_, t) => json!({"type": "object", "additionalProperties": expr_schema(t)?}),
        TypeExpr::Optional(t) => json!({"anyOf": [expr_schema(t)?, {"type": "null"}]}),
        TypeExpr::Literal(values) => json!({"type": "string", "enum": values}),
        TypeExpr::Named(path) if path == "Any" => json!({}),
        TypeExpr::Named(path) => return Err(path.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_spellings_get_dspy_type_names() {
        let s = DynSignature::parse(
            "q, ctx: list[str] -> a: bool, n: Optional[int], d: dict[str, int], l: Literal['x', 'y'], r: list[dict[str, Any]]",
        )
        .unwrap();
        let names: Vec<&str> = s.meta().fields().map(|f| f.type_name()).collect();
        assert_eq!(
            names,
            [
                "str",
                "list[str]",
                "bool",
                "Union[int, NoneType]",
                "dict[str, int]",
                "Literal['x', 'y']",
                "list[dict[str, Any]]"
            ]
        );
        assert_eq!(
            s.meta().instructions(),
            "Given the fields `q`, `ctx`, produce the fields `a`, `n`, `d`, `l`, `r`."
        );
        assert!(s.meta().field("n").unwrap().is_nullable());
    }

    #[test]
    fn user_types_are_refused_at_run_time() {
        let e = DynSignature::parse("text -> person: Person").unwrap_err();
        assert!(e.to_string().contains("unknown type `Person`"), "{e}");
    }

    #[test]
    fn grammar_errors_are_reported() {
        let e = DynSignature::parse("question answer").unwrap_err();
        assert!(e.to_string().contains("needs `->`"), "{e}");
    }
}
