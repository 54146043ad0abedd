//! GEPA's reflection prompt (DSPy's `ProposeInstruction`, asked through a JSON adapter).

use super::build;
use crate::adapter::JsonAdapter;
use crate::module::DynPredict;

/// DSPy's `ProposeInstruction`: a new instruction from the current one and examples of inputs,
/// outputs and feedback.
pub fn propose_instruction() -> DynPredict {
    build(
        "current_instruction: str, examples_with_feedback: list[dict[str, Any]] -> new_instruction: str",
        &[
            (
                "current_instruction",
                "The instructions I provided to the assistant.",
            ),
            (
                "examples_with_feedback",
                "Task inputs provided to the assistant, the assistant's response for each, and feedback on how the response could be better.",
            ),
            ("new_instruction", "The new instruction for the assistant."),
        ],
        "I provided an assistant with instructions to perform a task for me. You are given those instructions, along with examples of different task inputs provided to the assistant, the assistant's response for each of them, and some feedback on how the assistant's response could be better.

    Your task is to write a new instruction for the assistant.

    Read the inputs carefully and identify the input format and infer detailed task description about the task I wish to solve with the assistant.

    Read all the assistant responses and the corresponding feedback. Identify all niche and domain specific factual information about the task and include it in the instruction, as a lot of it may not be available to the assistant in the future. The assistant may have utilized a generalizable strategy to solve the task, if so, include that in the instruction as well.",
    )
    .with_adapter(JsonAdapter::new())
}

#[cfg(test)]
mod tests {
    use crate::module::Predictor;

    #[test]
    fn the_signature_builds() {
        let p = super::propose_instruction();
        assert_eq!(p.signature().inputs().len(), 2);
    }
}
