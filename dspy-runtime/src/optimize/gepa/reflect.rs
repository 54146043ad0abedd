//! Reflection: the reflective dataset (for each predictor, what it was given, what it said and
//! the metric's feedback on the run) and the proposer that turns it into a new instruction.

use super::merge::Candidate;
use crate::error::{Error, Result};
use crate::lm::{BoxFuture, Lm};
use crate::optimize::propose::{self, gepa::propose_instruction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One example of the reflective dataset, as DSPy builds it: keys `Inputs`, `Generated Outputs`,
/// `Feedback`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReflectiveExample {
    /// The predictor's inputs, by field.
    #[serde(rename = "Inputs")]
    pub inputs: Map<String, Value>,
    /// The predictor's outputs, by field (an object); for a reply that failed to parse, a
    /// string quoting it (DSPy's layout).
    #[serde(rename = "Generated Outputs")]
    pub outputs: Value,
    /// The metric's feedback (or "This trajectory got a score of …").
    #[serde(rename = "Feedback")]
    pub feedback: String,
}

/// The reflective dataset: predictor path → its examples.
pub type ReflectiveDataset = BTreeMap<String, Vec<ReflectiveExample>>;

/// What proposes new instructions from a reflective dataset (DSPy's `instruction_proposer`).
/// The default asks the reflection LM with DSPy's `ProposeInstruction` prompt.
pub trait InstructionProposer: Send + Sync {
    /// New instructions for (some of) `components`, given the current `candidate` and the
    /// reflective `dataset`. A component left out keeps its instruction.
    fn propose<'a>(
        &'a self,
        candidate: &'a Candidate,
        dataset: &'a ReflectiveDataset,
        components: &'a [String],
    ) -> BoxFuture<'a, Result<Candidate>>;
}

/// DSPy's default proposer: one `ProposeInstruction` call per component, through a JSON
/// adapter, on the reflection LM, sampled at `temperature` with rollout ids from `seed` and
/// the iteration so that reruns propose the same.
pub(crate) struct Reflection {
    pub lm: Option<Lm>,
    pub temperature: f32,
    pub rollout: u64,
}

impl Reflection {
    pub(crate) async fn propose(
        &self,
        candidate: &Candidate,
        dataset: &ReflectiveDataset,
        components: &[String],
    ) -> Result<Candidate> {
        let program = propose_instruction();
        let mut out = Candidate::new();
        for (k, name) in components.iter().enumerate() {
            let (Some(current), Some(examples)) = (candidate.get(name), dataset.get(name)) else {
                continue;
            };
            let mut inputs = Map::new();
            inputs.insert("current_instruction".into(), Value::String(current.clone()));
            inputs.insert(
                "examples_with_feedback".into(),
                serde_json::to_value(examples)?,
            );
            let outputs = propose::propose(
                &program,
                inputs,
                self.lm.as_ref(),
                self.temperature,
                self.rollout.wrapping_add(k as u64),
            )
            .await?;
            let text = match outputs.get("new_instruction") {
                Some(Value::String(s)) => s.trim().to_string(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            if text.is_empty() {
                return Err(Error::Optimize(format!(
                    "GEPA: the reflection LM returned an empty instruction for `{name}`"
                )));
            }
            out.insert(name.clone(), text);
        }
        Ok(out)
    }
}

/// The feedback text for a score without feedback, as DSPy words it.
pub(crate) fn score_only(score: f64) -> String {
    let mut s = String::new();
    crate::format::py_float(score, false, &mut s);
    format!("This trajectory got a score of {s}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_serialize_with_dspys_keys() {
        let ex = ReflectiveExample {
            inputs: Map::from_iter([("q".to_string(), Value::from("2+2?"))]),
            outputs: Value::Object(Map::from_iter([("a".to_string(), Value::from("5"))])),
            feedback: score_only(0.0),
        };
        let v = serde_json::to_value(&ex).unwrap_or_default();
        assert_eq!(
            v.to_string(),
            r#"{"Inputs":{"q":"2+2?"},"Generated Outputs":{"a":"5"},"Feedback":"This trajectory got a score of 0.0."}"#
        );
    }
}
