//! Refine's advice call: DSPy's `OfferFeedback` signature and its `inspect_modules` rendering
//! of a program's predictors.

use crate::adapter::field_list;
use crate::module::{DynPredict, Predictor};
use crate::signature::DynSignature;
use std::sync::OnceLock;

const INSTRUCTIONS: &str = "In the discussion, assign blame to each module that contributed to the final reward being below the threshold, if
any. Then, prescribe concrete advice of how the module should act on its future input when we retry the process, if
it were to receive the same or similar inputs. If a module is not to blame, the advice should be N/A.
The module will not see its own history, so it needs to rely on entirely concrete and actionable advice from you
to avoid the same mistake on the same or similar inputs.";

/// The fields, types and descriptions of DSPy 3.4.1's `OfferFeedback` (the missing space in
/// `kind ofscenario` is DSPy's).
const FIELDS: &[(&str, &str)] = &[
    (
        "program_code",
        "The code of the program that we are analyzing",
    ),
    (
        "modules_defn",
        "The definition of each module in the program, including its I/O",
    ),
    (
        "program_inputs",
        "The inputs to the program that we are analyzing",
    ),
    (
        "program_trajectory",
        "The trajectory of the program's execution, showing each module's I/O",
    ),
    (
        "program_outputs",
        "The outputs of the program that we are analyzing",
    ),
    (
        "reward_code",
        "The code of the reward function that we are analyzing",
    ),
    (
        "target_threshold",
        "The target threshold for the reward function",
    ),
    (
        "reward_value",
        "The reward value assigned to the program's outputs",
    ),
    (
        "module_names",
        "The names of the modules in the program, for which we seek advice",
    ),
    (
        "discussion",
        "Discussing blame of where each module went wrong, if it did",
    ),
    (
        "advice",
        "For each module, describe very concretely, in this order: the specific scenarios in which it has made mistakes in the past and what each mistake was, followed by what it should do differently in that kind ofscenario in the future. If the module is not to blame, write N/A.",
    ),
];

const SIGNATURE: &str = "program_code: str, modules_defn: str, program_inputs: str, \
    program_trajectory: str, program_outputs: str, reward_code: str, target_threshold: float, \
    reward_value: float, module_names: list[str] -> discussion: str, advice: dict[str, str]";

/// DSPy's `OfferFeedback` as a signature, built once.
fn signature() -> crate::error::Result<&'static DynSignature> {
    static SIG: OnceLock<Result<DynSignature, String>> = OnceLock::new();
    SIG.get_or_init(|| {
        let mut sig = DynSignature::parse(SIGNATURE)
            .map_err(|e| e.to_string())?
            .with_instructions(INSTRUCTIONS);
        for (name, desc) in FIELDS {
            sig = sig.with_desc(name, *desc).map_err(|e| e.to_string())?;
        }
        Ok(sig)
    })
    .as_ref()
    .map_err(|e| crate::error::Error::Signature(e.clone()))
}

/// A predictor for `OfferFeedback`.
pub(super) fn offer_feedback() -> crate::error::Result<DynPredict> {
    Ok(DynPredict::new(signature()?.clone()))
}

/// DSPy's `inspect_modules`: each predictor's name, input and output field lists and
/// instructions, between rules of 80 dashes.
pub(super) fn inspect_modules(predictors: &[(String, &dyn Predictor)]) -> String {
    let rule = "-".repeat(80);
    let indented = |text: &str| {
        let mut out = String::new();
        for line in dspy_grammar::splitlines(text) {
            out.push_str("\n\t\t");
            out.push_str(line);
        }
        out
    };
    let mut parts = vec![rule.clone()];
    for (name, p) in predictors {
        let sig = p.signature();
        parts.push(format!("Module {name}"));
        parts.push("\n\tInput Fields:".to_string());
        parts.push(indented(&field_list(sig.inputs())));
        parts.push("\tOutput Fields:".to_string());
        parts.push(indented(&field_list(sig.outputs())));
        let instructions = indented(&dspy_grammar::dedent(p.instructions()));
        parts.push(format!("\tOriginal Instructions: {instructions}"));
        parts.push(rule.clone());
    }
    let parts: Vec<&str> = parts.iter().map(|p| p.trim_matches('\n')).collect();
    parts.join("\n")
}
