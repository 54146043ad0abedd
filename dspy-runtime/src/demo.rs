//! Demos: worked examples shown to the LM before the real input.

use crate::error::{Error, Result};
use crate::signature::{FieldKind, FieldMeta, InputFields, Signature, SignatureMeta};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One demo: field name to value. Some fields may be missing (a partial demo); DSPy then writes
/// "Not supplied for this particular example." for the missing outputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Demo(Map<String, Value>);

impl Demo {
    /// An empty demo; add fields with [`Demo::with`].
    pub fn new() -> Demo {
        Demo::default()
    }

    /// A complete demo from a typed signature's input and output.
    pub fn typed<S: Signature>(input: &S::Input, output: &S::Output) -> Result<Demo> {
        let mut demo = Demo::from_serialize(input)?;
        demo.0.extend(Demo::from_serialize(output)?.0);
        Ok(demo)
    }

    /// A partial demo from a typed signature's input alone, plus the outputs added with [`Demo::with`].
    pub fn from_input<S: Signature>(input: &S::Input) -> Result<Demo> {
        Demo::from_serialize(input)
    }

    /// A demo from any value that serializes to a JSON object.
    pub fn from_serialize(value: &impl Serialize) -> Result<Demo> {
        match serde_json::to_value(value) {
            Ok(Value::Object(m)) => Ok(Demo(m)),
            Ok(other) => Err(Error::Demo(format!(
                "expected an object of fields, got {other}"
            ))),
            Err(e) => Err(Error::Demo(e.to_string())),
        }
    }

    /// A demo from a map of fields.
    pub fn from_map(fields: Map<String, Value>) -> Demo {
        Demo(fields)
    }

    /// This demo with field `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Demo {
        self.0.insert(name.into(), value.into());
        self
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// All fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The fields, by value.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Checks the demo against a signature: every value of a field fits the field. Keys that
    /// are not fields (a dataset's extra columns, DSPy's `augmented` mark) are ignored, as
    /// DSPy ignores them: they are kept, saved, and never rendered.
    pub fn check(&self, sig: &SignatureMeta) -> Result<()> {
        for (k, v) in &self.0 {
            let Some(f) = sig.field(k) else {
                continue;
            };
            if !v.is_null()
                && let Err(violation) = f.validate(v)
            {
                return Err(Error::Demo(format!(
                    "field `{k}` of {}: {v} breaks `{}` ({violation})",
                    sig.name(),
                    violation.keyword
                )));
            }
        }
        Ok(())
    }
}

impl Demo {
    /// Writes field `field`'s value as DSPy formats it; `false` if the demo lacks it.
    pub(crate) fn write_value(&self, field: &FieldMeta, out: &mut String) -> bool {
        match self.0.get(field.name()) {
            Some(v) => {
                crate::format::write_field_value(v, *field.kind() == FieldKind::Str, out);
                true
            }
            None => false,
        }
    }
}

impl InputFields for Demo {
    fn write_input(
        &self,
        _index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> Result<bool, String> {
        Ok(self.write_value(field, out))
    }
}
