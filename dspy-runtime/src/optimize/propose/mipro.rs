//! MIPROv2's grounded proposer signatures (DSPy's `dataset_summary_generator.py` and
//! `grounded_proposer.py`) and its prompting tips.

use super::build;
use crate::module::DynPredict;

/// DSPy's prompting tips, one of which (or none) is drawn per proposal: (key, text).
pub const TIPS: [(&str, &str); 6] = [
    ("none", ""),
    (
        "creative",
        "Don't be afraid to be creative when creating the new instruction!",
    ),
    ("simple", "Keep the instruction clear and concise."),
    (
        "description",
        "Make sure your instruction is very informative and descriptive.",
    ),
    (
        "high_stakes",
        "The instruction should include a high stakes scenario in which the LM must solve the task!",
    ),
    (
        "persona",
        "Include a persona that is relevant to the task in the instruction (ie. \"You are a ...\")",
    ),
];

const PROGRAM_CODE: &str =
    "Pseudocode for a language model program designed to solve a particular task.";
const PROGRAM_EXAMPLE: &str = "An example of the program in use.";
const PROGRAM_DESCRIPTION: &str =
    "Summary of the task the program is designed to solve, and how it goes about solving it.";

/// `examples -> observations`: observations about a batch of training examples.
pub fn dataset_descriptor() -> DynPredict {
    build(
        "examples -> observations",
        &[
            ("examples", "Sample data points from the dataset"),
            (
                "observations",
                "Somethings that holds true for most or all of the data you observed",
            ),
        ],
        "Given several examples from a dataset please write observations about trends that hold for most or all of the samples. Some areas you may consider in your observations: topics, content, syntax, conciseness, etc. It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
    )
}

/// `examples, prior_observations -> observations`: more observations, or `COMPLETE`.
pub fn dataset_descriptor_with_prior_observations() -> DynPredict {
    build(
        "examples, prior_observations -> observations",
        &[
            ("examples", "Sample data points from the dataset"),
            (
                "prior_observations",
                "Some prior observations I made about the data",
            ),
            (
                "observations",
                "Somethings that holds true for most or all of the data you observed or COMPLETE if you have nothing to add",
            ),
        ],
        "Given several examples from a dataset please write observations about trends that hold for most or all of the samples. I will also provide you with a few observations I have already made.  Please add your own observations or if you feel the observations are comprehensive say 'COMPLETE' Some areas you may consider in your observations: topics, content, syntax, conciceness, etc. It will be useful to make an educated guess as to the nature of the task this dataset will enable. Don't be afraid to be creative",
    )
}

/// `observations -> summary`: the dataset summary the proposer is grounded in.
pub fn observation_summarizer() -> DynPredict {
    build(
        "observations -> summary",
        &[
            ("observations", "Observations I have made about my dataset"),
            (
                "summary",
                "Two to Three sentence summary of only the most significant highlights of my observations",
            ),
        ],
        "Given a series of observations I have made about my dataset, please summarize them into a brief 2-3 sentence summary which highlights only the most important details.",
    )
}

/// `program_code, program_example -> program_description`.
pub fn describe_program() -> DynPredict {
    build(
        "program_code, program_example -> program_description",
        &[
            ("program_code", PROGRAM_CODE),
            ("program_example", PROGRAM_EXAMPLE),
            (
                "program_description",
                "Describe what task the program is designed to solve, and how it goes about solving this task.",
            ),
        ],
        "Below is some pseudo-code for a pipeline that solves tasks with calls to language models. Please describe what type of task this program appears to be designed to solve, and how it appears to work.",
    )
}

/// `program_code, program_example, program_description, module -> module_description`.
pub fn describe_module() -> DynPredict {
    build(
        "program_code, program_example, program_description, module -> module_description",
        &[
            ("program_code", PROGRAM_CODE),
            ("program_example", PROGRAM_EXAMPLE),
            ("program_description", PROGRAM_DESCRIPTION),
            (
                "module",
                "The module in the program that we want to describe.",
            ),
            (
                "module_description",
                "Description of the module's role in the broader program.",
            ),
        ],
        "Below is some pseudo-code for a pipeline that solves tasks with calls to language models. Please describe the purpose of one of the specified module in this pipeline.",
    )
}

/// Which inputs the instruction generator has (DSPy builds its signature from these flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneratorFields {
    /// `dataset_description`.
    pub dataset_summary: bool,
    /// `program_code`, `program_description`, `module`, `module_description`.
    pub program_aware: bool,
    /// `previous_instructions`.
    pub instruct_history: bool,
    /// `tip`.
    pub tip: bool,
}

/// DSPy's `GenerateSingleModuleInstruction`, with the inputs `fields` selects, in DSPy's order:
/// `[dataset_description,] [program_code, program_description, module, module_description,]
/// task_demos, [previous_instructions,] basic_instruction, [tip] -> proposed_instruction`.
pub fn generate_single_module_instruction(fields: GeneratorFields) -> DynPredict {
    let mut inputs: Vec<(&str, &str)> = Vec::new();
    if fields.dataset_summary {
        inputs.push((
            "dataset_description",
            "A description of the dataset that we are using.",
        ));
    }
    if fields.program_aware {
        inputs.push((
            "program_code",
            "Language model program designed to solve a particular task.",
        ));
        inputs.push(("program_description", PROGRAM_DESCRIPTION));
        inputs.push(("module", "The module to create an instruction for."));
        inputs.push((
            "module_description",
            "Description of the module to create an instruction for.",
        ));
    }
    inputs.push(("task_demos", "Example inputs/outputs of our module."));
    if fields.instruct_history {
        inputs.push((
            "previous_instructions",
            "Previous instructions we've attempted, along with their associated scores.",
        ));
    }
    inputs.push(("basic_instruction", "Basic instruction."));
    if fields.tip {
        inputs.push((
            "tip",
            "A suggestion for how to go about generating the new instruction.",
        ));
    }
    let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    let src = format!("{} -> proposed_instruction", names.join(", "));
    inputs.push((
        "proposed_instruction",
        "Propose an instruction that will be used to prompt a Language Model to perform this task.",
    ));
    build(
        &src,
        &inputs,
        "Use the information below to learn about a task that we are trying to solve using calls to an LM, then generate a new instruction that will be used to prompt a Language Model to better solve the task.",
    )
}
