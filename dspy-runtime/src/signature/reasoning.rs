//! DSPy's `dspy.Reasoning`: an output that is the model's native reasoning when it reasons
//! natively, and an ordinary text field the model writes otherwise.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The model's reasoning, as an output field. On an LM whose capabilities say it reasons
/// natively (`Capabilities::with_reasoning`), the field is left out of the prompt, the call
/// asks for `reasoning_effort` (`low` unless the predictor's config says otherwise; `none`
/// turns this off), and the field is filled from the reply's reasoning
/// (`reasoning_content`, Anthropic thinking). Elsewhere it renders and parses as a `str`
/// field, as in DSPy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reasoning(pub String);

impl JsonSchema for Reasoning {
    fn schema_name() -> Cow<'static, str> {
        "Reasoning".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string"})
    }
}

impl std::ops::Deref for Reasoning {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Reasoning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Reasoning {
    fn from(s: String) -> Self {
        Reasoning(s)
    }
}

impl From<&str> for Reasoning {
    fn from(s: &str) -> Self {
        Reasoning(s.to_string())
    }
}

impl PartialEq<str> for Reasoning {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Reasoning {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}
