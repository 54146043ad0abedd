//! The prompt model's own programs: the signatures optimizers ask it to propose instructions
//! with. They are ordinary runtime signatures ([`DynPredict`]), rendered like any other prompt
//! (their snapshots are in `tests/snapshots`), and their text is DSPy 3.4.1's.

mod copro;
pub mod gepa;
mod grounded;
mod mipro;
mod simba;
mod text;

pub use copro::{basic_generate_instruction, generate_instruction_given_attempts};
pub(crate) use grounded::{Grounded, Row, Target, program_code};
pub use mipro::{
    GeneratorFields, TIPS, dataset_descriptor, dataset_descriptor_with_prior_observations,
    describe_module, describe_program, generate_single_module_instruction, observation_summarizer,
};
pub(crate) use simba::inspect_modules;
pub use simba::offer_feedback;
pub(crate) use text::python_str;

use crate::context;
use crate::error::{Error, Result};
use crate::lm::Lm;
use crate::module::DynPredict;
use crate::signature::DynSignature;
use serde_json::{Map, Value};

/// A proposer program: the string signature `src`, its fields' descriptions, its instructions.
/// Every caller passes constants of this module, checked by its tests.
pub(crate) fn build(src: &str, descs: &[(&str, &str)], instructions: &str) -> DynPredict {
    let mut sig = match DynSignature::parse(src) {
        Ok(s) => s,
        Err(e) => unreachable!("a proposer signature does not parse: {e}"),
    };
    for (name, desc) in descs {
        sig = match sig.with_desc(name, *desc) {
            Ok(s) => s,
            Err(e) => unreachable!("a proposer signature has no field `{name}`: {e}"),
        };
    }
    DynPredict::new(sig.with_instructions(instructions))
}

/// One call of a proposer program: on `lm` (the prompt model; the context's LM when `None`),
/// sampled at `temperature` with rollout `rollout_id` (so that proposals differ from each other,
/// are cached, and a rerun with the same seed gets the same ones). Returns the output fields.
pub(crate) async fn propose(
    program: &DynPredict,
    inputs: Map<String, Value>,
    lm: Option<&Lm>,
    temperature: f32,
    rollout_id: u64,
) -> Result<Map<String, Value>> {
    let mut scope = context::scope().rollout(temperature, rollout_id);
    if let Some(lm) = lm {
        scope = scope.lm(lm.clone());
    }
    let prediction = scope.run(program.call(inputs)).await?;
    Ok(prediction.into_output())
}

/// The text of output field `name`, trimmed of surrounding quotes and whitespace (as DSPy's
/// `strip('"').strip()`); an error when the field is missing, not text, or empty.
pub(crate) fn text_field(outputs: &Map<String, Value>, name: &str) -> Result<String> {
    match outputs.get(name) {
        Some(Value::String(s)) => {
            let t = s.trim_matches('"').trim();
            if t.is_empty() {
                Err(Error::Optimize(format!("the proposal's `{name}` is empty")))
            } else {
                Ok(t.to_string())
            }
        }
        Some(other) => Err(Error::Optimize(format!(
            "the proposal's `{name}` is not text: {other}"
        ))),
        None => Err(Error::Optimize(format!("the proposal has no `{name}`"))),
    }
}

/// A rollout id for proposal `k` of step `step` under `seed` (distinct per proposal, the same
/// on a rerun).
pub(crate) fn rollout_id(seed: u64, step: u64, k: u64) -> u64 {
    // SplitMix64 over the three, so nearby seeds and steps give unrelated ids.
    let mut x =
        seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
