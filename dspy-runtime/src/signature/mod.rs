//! Signatures: the typed contract of one LM call (named input fields in, output fields out).

mod dynamic;
mod field;
pub(crate) mod history;
mod placeholder;
mod reasoning;
pub(crate) mod schema;

pub use dspy_grammar::Role;
pub use dynamic::DynSignature;
pub use field::FieldMeta;
pub use history::History;
pub use placeholder::Placeholder;
pub use reasoning::Reasoning;
pub use schema::FieldKind;

use crate::lm::ResponseFormat;
use schemars::{Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

/// A typed signature, usually from `#[derive(Signature)]` or `signature!`.
///
/// Its metadata is computed once per type and lives for the whole program.
pub trait Signature: 'static {
    /// The input fields as a struct.
    type Input: InputFields + Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// The output fields as a struct.
    type Output: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static;
    /// The field names, inputs first, known at compile time (for build-time artifact checks).
    const FIELD_NAMES: &'static [&'static str] = &[];
    /// How many of [`Signature::FIELD_NAMES`] are inputs.
    const INPUTS: usize = 0;
    /// Whether [`Signature::FIELD_NAMES`] is filled in (the macros do; hand-written impls may not).
    const STATIC_FIELDS: bool = false;
    /// Field names, roles, descriptions, type names and schemas, and the instructions.
    fn meta() -> &'static SignatureMeta;
}

/// Implemented by signatures with no field named `reasoning`, which `ChainOfThought` adds.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has a field named `reasoning`, which ChainOfThought adds itself",
    label = "this signature cannot be used with ChainOfThought",
    note = "rename the signature's `reasoning` field, or use Predict"
)]
pub trait CotCompatible: Signature {}

/// Writes the input values of one call, each formatted as DSPy formats field values.
pub trait InputFields {
    /// Appends input `index` (declaration order, named `field.name`) to `out`; `false` if the
    /// value is absent, an error (what serde said) if it does not serialize.
    fn write_input(
        &self,
        index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> Result<bool, String>;
}

/// A call's inputs (the first `n` fields) followed by text inputs written as they are: how a
/// module adds inputs to a signature for one call (Refine's `hint_`, MultiChainComparison's
/// attempts).
pub(crate) struct WithTextInputs<'a, T: AsRef<str>> {
    /// The signature's own inputs.
    pub inputs: &'a (dyn InputFields + Sync),
    /// How many they are.
    pub n: usize,
    /// The added inputs' values, in field order after them.
    pub extra: &'a [T],
}

impl<T: AsRef<str>> InputFields for WithTextInputs<'_, T> {
    fn write_input(
        &self,
        index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> Result<bool, String> {
        if index < self.n {
            return self.inputs.write_input(index, field, out);
        }
        Ok(match self.extra.get(index - self.n) {
            Some(text) => {
                out.push_str(text.as_ref());
                true
            }
            None => false,
        })
    }
}

impl InputFields for Map<String, Value> {
    fn write_input(
        &self,
        _index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> Result<bool, String> {
        Ok(match self.get(field.name()) {
            Some(v) => {
                crate::format::write_field_value(v, field.kind() == &FieldKind::Str, out);
                true
            }
            None => false,
        })
    }
}

/// Everything known about a signature: its name, instructions and fields.
#[derive(Debug)]
pub struct SignatureMeta {
    name: Cow<'static, str>,
    instructions: String,
    inputs: Vec<FieldMeta>,
    outputs: Vec<FieldMeta>,
    structured: OnceLock<Arc<ResponseFormat>>,
}

/// A field as the derive macro declares it (internal to generated code).
#[doc(hidden)]
pub struct FieldDecl {
    pub name: &'static str,
    pub role: Role,
    pub desc: Option<&'static str>,
}

impl SignatureMeta {
    /// Builds metadata from parts.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        instructions: Option<String>,
        inputs: Vec<FieldMeta>,
        outputs: Vec<FieldMeta>,
    ) -> SignatureMeta {
        let instructions = instructions.unwrap_or_else(|| {
            dspy_grammar::default_instructions(
                inputs.iter().map(FieldMeta::name),
                outputs.iter().map(FieldMeta::name),
            )
        });
        SignatureMeta {
            name: name.into(),
            instructions,
            inputs,
            outputs,
            structured: OnceLock::new(),
        }
    }

    /// Builds metadata from schemars schemas (used by the macros' generated code).
    ///
    /// `schemas` returns each field's bare type schema (in `fields` order) and the root
    /// schemas of the generated input and output structs, whose properties carry constraints.
    #[doc(hidden)]
    pub fn from_derive(
        name: &'static str,
        instructions: Option<&'static str>,
        fields: &[FieldDecl],
        schemas: impl FnOnce(&mut SchemaGenerator) -> (Vec<Schema>, Schema, Schema),
    ) -> SignatureMeta {
        let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let (types, input_root, output_root) = schemas(&mut generator);
        let mut defs = generator.definitions().clone();
        for root in [&input_root, &output_root] {
            if let Some(Value::Object(d)) = root.get("$defs") {
                for (k, v) in d {
                    defs.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for (decl, bare) in fields.iter().zip(types) {
            let root = match decl.role {
                Role::Input => &input_root,
                Role::Output => &output_root,
            };
            let property = root
                .get("properties")
                .and_then(|p| p.get(decl.name))
                .cloned()
                .unwrap_or_else(|| bare.as_value().clone());
            let field = FieldMeta::from_schemas(
                decl.name.into(),
                decl.role,
                decl.desc.map(str::to_string),
                bare.as_value(),
                &property,
                &defs,
            );
            match decl.role {
                Role::Input => inputs.push(field),
                Role::Output => outputs.push(field),
            }
        }
        SignatureMeta::new(name, instructions.map(str::to_string), inputs, outputs)
    }

    /// The signature's name (the Rust type's, or `StringSignature` for a runtime one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The default instructions: the doc comment, or DSPy's for string signatures.
    pub fn instructions(&self) -> &str {
        &self.instructions
    }

    /// Input fields in declaration order.
    pub fn inputs(&self) -> &[FieldMeta] {
        &self.inputs
    }

    /// Output fields in declaration order.
    pub fn outputs(&self) -> &[FieldMeta] {
        &self.outputs
    }

    /// All fields: inputs, then outputs.
    pub fn fields(&self) -> impl Iterator<Item = &FieldMeta> {
        self.inputs.iter().chain(self.outputs.iter())
    }

    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields().find(|f| f.name() == name)
    }

    /// A copy with `field` as the first output (how ChainOfThought adds `reasoning`).
    pub fn with_leading_output(&self, field: FieldMeta) -> SignatureMeta {
        let mut outputs = Vec::with_capacity(self.outputs.len() + 1);
        outputs.push(field);
        outputs.extend(self.outputs.iter().cloned());
        SignatureMeta {
            name: self.name.clone(),
            instructions: self.instructions.clone(),
            inputs: self.inputs.clone(),
            outputs,
            structured: OnceLock::new(),
        }
    }

    /// A copy without output `name` (DSPy's `Signature.delete`).
    pub fn without_output(&self, name: &str) -> SignatureMeta {
        SignatureMeta {
            name: self.name.clone(),
            instructions: self.instructions.clone(),
            inputs: self.inputs.clone(),
            outputs: self
                .outputs
                .iter()
                .filter(|f| f.name() != name)
                .cloned()
                .collect(),
            structured: OnceLock::new(),
        }
    }

    /// The first output of type [`Reasoning`], if any.
    pub(crate) fn reasoning_output(&self) -> Option<&FieldMeta> {
        self.outputs.iter().find(|f| f.is_reasoning())
    }

    /// A copy with `fields` after the inputs (DSPy's `Signature.append` of input fields).
    pub fn with_appended_inputs(
        &self,
        fields: impl IntoIterator<Item = FieldMeta>,
    ) -> SignatureMeta {
        let mut inputs = self.inputs.clone();
        inputs.extend(fields);
        SignatureMeta {
            name: self.name.clone(),
            instructions: self.instructions.clone(),
            inputs,
            outputs: self.outputs.clone(),
            structured: OnceLock::new(),
        }
    }

    /// DSPy's strict structured-output `response_format` for the outputs, built once.
    pub fn structured_output_format(&self) -> Arc<ResponseFormat> {
        self.structured
            .get_or_init(|| Arc::new(crate::adapter::structured_schema(self)))
            .clone()
    }
}

/// A reference to signature metadata: `'static` for typed signatures, shared for runtime ones.
#[derive(Clone, Debug)]
pub enum MetaRef {
    /// From a typed signature.
    Static(&'static SignatureMeta),
    /// From a runtime signature.
    Shared(std::sync::Arc<SignatureMeta>),
}

impl std::ops::Deref for MetaRef {
    type Target = SignatureMeta;
    fn deref(&self) -> &SignatureMeta {
        match self {
            MetaRef::Static(m) => m,
            MetaRef::Shared(m) => m,
        }
    }
}
