//! The two signatures ReAct builds from the user's: the step (`react`) and the extraction
//! (`extract`), field for field and word for word as DSPy 3.4.1 builds them.

use crate::signature::{FieldMeta, Role, SignatureMeta};
use crate::tool::Tool;
use serde_json::{Map, json};

/// The name of the tool that ends an episode.
pub(crate) const FINISH: &str = "finish";

/// DSPy's `finish` tool: no arguments, says `Completed.`.
pub(crate) fn finish_tool(outputs: &str) -> Tool {
    Tool::constant(
        FINISH,
        format!(
            "Marks the task as complete. That is, signals that all information for producing the outputs, i.e. {outputs}, are now available to be extracted."
        ),
        json!("Completed."),
    )
}

/// `` `a`, `b` `` for the fields.
pub(crate) fn backticked(fields: &[FieldMeta]) -> String {
    fields
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The step signature: the inputs and `trajectory` → `next_thought`, `next_tool_name` (one
/// of the tools' names), `next_tool_args`; the instructions list the tools.
pub(crate) fn step_signature(sig: &SignatureMeta, tools: &[Tool]) -> SignatureMeta {
    let inputs = backticked(sig.inputs());
    let outputs = backticked(sig.outputs());
    let mut lines = Vec::with_capacity(tools.len() + 8);
    if !sig.instructions().is_empty() {
        lines.push(format!("{}\n", sig.instructions()));
    }
    lines.push(format!(
        "You are an Agent. In each episode, you will be given the fields {inputs} as input. And you can see your past trajectory so far."
    ));
    lines.push(format!(
        "Your goal is to use one or more of the supplied tools to collect any necessary information for producing {outputs}.\n"
    ));
    lines.push("To do this, you will interleave next_thought, next_tool_name, and next_tool_args in each turn, and also when finishing the task.".into());
    lines.push("After each tool call, you receive a resulting observation, which gets appended to your trajectory.\n".into());
    lines.push("When writing next_thought, you may reason about the current situation and plan for future steps.".into());
    lines.push(
        "When selecting the next_tool_name and its next_tool_args, the tool must be one of:\n"
            .into(),
    );
    for (i, tool) in tools.iter().enumerate() {
        lines.push(format!("({}) {tool}", i + 1));
    }
    lines.push(
        "When providing `next_tool_args`, the value inside the field must be in JSON format".into(),
    );
    let instructions = dspy_grammar::cleandoc(&lines.join("\n"));

    let mut step_inputs = sig.inputs().to_vec();
    step_inputs.push(FieldMeta::string("trajectory", Role::Input, None));
    let names: Vec<&str> = tools.iter().map(Tool::name).collect();
    let literal = json!({"type": "string", "enum": names});
    let args = json!({"type": "object", "additionalProperties": true});
    let step_outputs = vec![
        FieldMeta::string("next_thought", Role::Output, None),
        FieldMeta::new(
            "next_tool_name".into(),
            Role::Output,
            None,
            literal.clone(),
            Map::new(),
            literal,
        ),
        FieldMeta::new(
            "next_tool_args".into(),
            Role::Output,
            None,
            args.clone(),
            Map::new(),
            args,
        ),
    ];
    SignatureMeta::new(
        "StringSignature",
        Some(instructions),
        step_inputs,
        step_outputs,
    )
}

/// The extraction signature (ChainOfThought's, so `reasoning` comes first): the inputs and
/// `trajectory` → the outputs, with the user's instructions.
pub(crate) fn extract_signature(sig: &SignatureMeta) -> SignatureMeta {
    let mut inputs = sig.inputs().to_vec();
    inputs.push(FieldMeta::string("trajectory", Role::Input, None));
    let mut outputs = Vec::with_capacity(sig.outputs().len() + 1);
    outputs.push(FieldMeta::string("reasoning", Role::Output, None));
    outputs.extend(sig.outputs().iter().cloned());
    SignatureMeta::new(
        "StringSignature",
        Some(sig.instructions().to_string()),
        inputs,
        outputs,
    )
}
