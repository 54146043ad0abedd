//! What a predictor returns: the typed output plus usage, the raw reply and any coercions.

use crate::adapter::Coercion;
use crate::lm::Usage;

/// A typed output with how it was obtained. Derefs to the output, so `pred.answer` works.
#[derive(Clone)]
pub struct Prediction<O> {
    output: O,
    usage: Usage,
    raw: String,
    coercions: Vec<Coercion>,
    adapter: &'static str,
}

impl<O> Prediction<O> {
    pub(crate) fn new(
        output: O,
        usage: Usage,
        raw: String,
        coercions: Vec<Coercion>,
        adapter: &'static str,
    ) -> Self {
        Prediction {
            output,
            usage,
            raw,
            coercions,
            adapter,
        }
    }

    /// The output.
    pub fn output(&self) -> &O {
        &self.output
    }

    /// The output, by value.
    pub fn into_output(self) -> O {
        self.output
    }

    /// Tokens spent (all LM calls of this prediction, the fallback's included).
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The LM's reply as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Values changed to fit their fields (e.g. `Sports` read as `sport`).
    pub fn coercions(&self) -> &[Coercion] {
        &self.coercions
    }

    /// The adapter that parsed the reply (`ChatAdapter`, or `JSONAdapter` after a fallback).
    pub fn adapter(&self) -> &'static str {
        self.adapter
    }

    /// The same prediction with its output mapped.
    pub fn map<P>(self, f: impl FnOnce(O) -> P) -> Prediction<P> {
        Prediction {
            output: f(self.output),
            usage: self.usage,
            raw: self.raw,
            coercions: self.coercions,
            adapter: self.adapter,
        }
    }
}

impl Prediction<serde_json::Map<String, serde_json::Value>> {
    /// The fields as a typed output; fields that do not fit `O` are a parse error quoting
    /// the reply.
    pub(crate) fn typed<O: serde::de::DeserializeOwned>(
        self,
    ) -> crate::error::Result<Prediction<O>> {
        match serde_json::from_value(serde_json::Value::Object(self.output)) {
            Ok(output) => Ok(Prediction {
                output,
                usage: self.usage,
                raw: self.raw,
                coercions: self.coercions,
                adapter: self.adapter,
            }),
            Err(e) => Err(crate::error::ParseError::new(
                self.adapter,
                crate::error::ParseErrorKind::Deserialize {
                    message: e.to_string(),
                },
                &self.raw,
            )
            .into()),
        }
    }
}

/// Serializes as the output alone (what evaluation results and traces record).
impl<O: serde::Serialize> serde::Serialize for Prediction<O> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.output.serialize(serializer)
    }
}

impl<O> std::ops::Deref for Prediction<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

impl<O: std::fmt::Debug> std::fmt::Debug for Prediction<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prediction")
            .field("output", &self.output)
            .field("usage", &self.usage)
            .field("adapter", &self.adapter)
            .field("coercions", &self.coercions)
            .finish()
    }
}
