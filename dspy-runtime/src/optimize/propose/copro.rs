//! COPRO's two proposer signatures (DSPy's `BasicGenerateInstruction` and
//! `GenerateInstructionGivenAttempts`).

use super::build;
use crate::module::DynPredict;

const PROPOSED_INSTRUCTION: &str = "The improved instructions for the language model";
const PROPOSED_PREFIX: &str =
    "The string at the end of the prompt, which will help the model start solving the task";

/// `basic_instruction -> proposed_instruction, proposed_prefix_for_output_field`: proposes an
/// instruction from the one a predictor has.
pub fn basic_generate_instruction() -> DynPredict {
    build(
        "basic_instruction -> proposed_instruction, proposed_prefix_for_output_field",
        &[
            (
                "basic_instruction",
                "The initial instructions before optimization",
            ),
            ("proposed_instruction", PROPOSED_INSTRUCTION),
            ("proposed_prefix_for_output_field", PROPOSED_PREFIX),
        ],
        "You are an instruction optimizer for large language models. I will give you a ``signature`` of fields (inputs and outputs) in English. Your task is to propose an instruction that will lead a good language model to perform the task well. Don't be afraid to be creative.",
    )
}

/// `attempted_instructions -> proposed_instruction, proposed_prefix_for_output_field`: proposes
/// an instruction from earlier ones and their scores, listed worst first.
pub fn generate_instruction_given_attempts() -> DynPredict {
    build(
        "attempted_instructions -> proposed_instruction, proposed_prefix_for_output_field",
        &[
            ("proposed_instruction", PROPOSED_INSTRUCTION),
            ("proposed_prefix_for_output_field", PROPOSED_PREFIX),
        ],
        "You are an instruction optimizer for large language models. I will give some task instructions I've tried, along with their corresponding validation scores. The instructions are arranged in increasing order based on their scores, where higher scores indicate better quality.\n\nYour task is to propose a new instruction that will lead a good language model to perform the task even better. Don't be afraid to be creative.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_render() {
        let inputs = |k: &str| serde_json::Map::from_iter([(k.to_string(), "x".into())]);
        let a = basic_generate_instruction().render_text(&inputs("basic_instruction"));
        let b =
            generate_instruction_given_attempts().render_text(&inputs("attempted_instructions"));
        assert!(a.is_ok_and(|t| t.contains("[[ ## proposed_prefix_for_output_field ## ]]")));
        assert!(b.is_ok_and(|t| t.contains("increasing order based on their scores")));
    }
}
