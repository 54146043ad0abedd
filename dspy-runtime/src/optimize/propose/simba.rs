//! SIMBA's rule proposer (DSPy's `OfferFeedback`) and the module listing it reads.

use super::build;
use crate::adapter::field_list;
use crate::module::DynPredict;
use crate::signature::SignatureMeta;

/// DSPy's `OfferFeedback`: advice per module from a better and a worse trajectory.
pub fn offer_feedback() -> DynPredict {
    let trajectory = "The trajectory of the program's execution, showing each module's I/O";
    let outputs = "The outputs of the program that we are analyzing";
    let reward = "The reward value assigned to the program's outputs";
    let info =
        "Additional information that might be helpful to understanding the assigned reward value.";
    build(
        "program_code, modules_defn, program_inputs, oracle_metadata, worse_program_trajectory, worse_program_outputs, worse_reward_value: float, worse_reward_info, better_program_trajectory, better_program_outputs, better_reward_value: float, better_reward_info, module_names: list[str] -> discussion, module_advice: dict[str, str]",
        &[
            ("program_code", "The code of the program that we are analyzing"),
            (
                "modules_defn",
                "The definition of each module in the program, including its I/O",
            ),
            ("program_inputs", "The inputs to the program that we are analyzing"),
            (
                "oracle_metadata",
                "Any (hidden) metadata about the training set instance we're analyzing",
            ),
            ("worse_program_trajectory", trajectory),
            ("worse_program_outputs", outputs),
            ("worse_reward_value", reward),
            ("worse_reward_info", info),
            ("better_program_trajectory", trajectory),
            ("better_program_outputs", outputs),
            ("better_reward_value", reward),
            ("better_reward_info", info),
            (
                "module_names",
                "The names of the modules in the program, for which we seek advice",
            ),
            (
                "discussion",
                "Discussing blame of where each module went wrong, if it did",
            ),
            (
                "module_advice",
                "For each module, describe very concretely: If the module receives ${description of input or patterns therein}, then it should ${description of content, behavior, or strategies to adopt and/or others to avoid}. Basically, your advice be such that if the module has access to your tip, it would be much more likely to act like the successful trajectory rather than the lower-scoring trajectory.",
            ),
        ],
        "
    You will be given two trajectories of an LLM-driven program's execution. Your goal is to help the program's modules
    build up experience on how to maximize the reward value assigned to the program's outputs if it were to receive
    similar inputs in the future.

    The module won't see its own history. It will rely on your advice balancing being concrete and being generalizable.

    In your advice:
    - Avoid boilerplate. Offer advice that would change the module's behavior for the better in the future.
    - Ensure that advice offered to a module M is specific to that M's specific sub-task, not the overall program.
    - Rely on contrasting the behavior of the worse trajectory against the better trajectory in making recommendations.
    - Ensure each unique module name appears exactly once as a key in the advice dictionary.
    ",
    )
}

/// DSPy's `inspect_modules`: each predictor's fields and instructions between rules.
pub(crate) fn inspect_modules(predictors: &[(String, &SignatureMeta, String)]) -> String {
    let sep = "-".repeat(80);
    let indent = |text: &str| -> String {
        let mut out = String::new();
        for line in dspy_grammar::splitlines(text) {
            out.push_str("\n\t\t");
            out.push_str(line);
        }
        out
    };
    let mut parts = vec![sep.clone()];
    for (name, sig, instructions) in predictors {
        parts.push(format!("Module {name}"));
        parts.push("\n\tInput Fields:".to_string());
        parts.push(indent(&field_list(sig.inputs())));
        parts.push("\tOutput Fields:".to_string());
        parts.push(indent(&field_list(sig.outputs())));
        parts.push(format!(
            "\tOriginal Instructions: {}",
            indent(&dspy_grammar::dedent(instructions))
        ));
        parts.push(sep.clone());
    }
    parts
        .iter()
        .map(|p| p.trim_matches('\n'))
        .collect::<Vec<_>>()
        .join("\n")
}
