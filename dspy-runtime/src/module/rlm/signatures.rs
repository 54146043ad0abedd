//! The two signatures RLM builds from the user's: the action (`generate_action`: inputs'
//! metadata, REPL history, iteration → reasoning, code) and the fallback extraction
//! (`extract`), word for word as DSPy 3.4.1 builds them.

use crate::format::python_str;
use crate::module::react::signatures::backticked;
use crate::signature::{FieldMeta, Role, SignatureMeta};
use crate::tool::Tool;
use serde_json::{Map, Value, json};

/// What the action instructions say about where the code runs (DSPy's interpreters each
/// describe their own runtime; this is ours).
pub const EXECUTION_INSTRUCTIONS: &str = "Python runs in a sandboxed CPython process. State persists across executions, but subprocesses, sockets and native extensions are unavailable. Python standard libraries such as re, json, collections, and math are available. The host filesystem, environment, and network are not accessible.";

/// Names the sandbox owns: no input or tool may take them.
pub(crate) const RESERVED: &[&str] = &["llm_query", "llm_query_batched", "SUBMIT", "print"];

/// Names RLM's result owns: no output may take them.
pub(crate) const RESERVED_OUTPUTS: &[&str] = &["trajectory", "final_reasoning"];

/// A `str` input that DSPy types as `REPLHistory` (the value is the formatted history).
fn history_field(desc: &str) -> FieldMeta {
    FieldMeta::new(
        "repl_history".into(),
        Role::Input,
        Some(desc.into()),
        json!({"type": "string", crate::signature::schema::DSPY_TYPE_KEY: "REPLHistory"}),
        Map::new(),
        json!({"type": "string"}),
    )
}

fn variables_field() -> FieldMeta {
    FieldMeta::string(
        "variables_info",
        Role::Input,
        Some("Metadata about the variables available in the REPL".into()),
    )
}

/// `- `tool(a: string)` - what it does` lines for the user's tools (empty without tools).
fn tool_docs(tools: &[Tool]) -> String {
    if tools.is_empty() {
        return String::new();
    }
    let mut lines = vec![
        "\nAdditional tools available (use these instead of standard library equivalents):"
            .to_string(),
    ];
    for tool in tools {
        let params: Vec<String> = tool
            .args()
            .iter()
            .map(|(name, schema)| {
                let ty = match schema.get("type") {
                    Some(Value::String(t)) => t.clone(),
                    Some(other) => python_str(other),
                    None => "Any".into(),
                };
                format!("{name}: {ty}")
            })
            .collect();
        let desc = tool
            .desc()
            .filter(|d| !d.is_empty())
            .unwrap_or("No description")
            .replace('\n', "  ");
        lines.push(format!(
            "- `{}({})` - {desc}",
            tool.name(),
            params.join(", ")
        ));
    }
    lines.join("\n")
}

/// The action signature: what the LM sees each iteration.
pub(crate) fn action_signature(
    sig: &SignatureMeta,
    tools: &[Tool],
    max_llm_calls: usize,
) -> SignatureMeta {
    let inputs = backticked(sig.inputs());
    let names: Vec<&str> = sig.outputs().iter().map(FieldMeta::name).collect();
    let output_fields: Vec<String> = sig
        .outputs()
        .iter()
        .map(|f| format!("- {{{}}}{}", f.name(), f.note()))
        .collect();
    let task = task_instructions(sig);
    let rules = format!("\nExecution environment:\n{EXECUTION_INSTRUCTIONS}\n");
    let instructions = format!(
        "{task}You are tasked with producing the following outputs given the inputs {inputs}:
{output_fields}

You have access to a Python REPL environment. Write Python code and it will be executed. You will see the output, then write more code based on what you learned. This is an iterative process.
{rules}
Available:
- Variables: {inputs} (your input data)
- `llm_query(prompt)` - query a sub-LLM (~500K char capacity) for semantic analysis
- `llm_query_batched(prompts)` - query multiple prompts concurrently (much faster for multiple queries)
- `print()` - ALWAYS print to see results
- `SUBMIT({submit})` - submit final output when done

IMPORTANT: This is ITERATIVE. Each code block you write will execute, you'll see the output, then you decide what to do next. Do NOT try to solve everything in one step.

1. EXPLORE FIRST - Look at your data before processing it. Print samples, check types/lengths, understand the structure.
2. ITERATE - Write small code snippets, observe outputs, then decide next steps. State persists between iterations.
3. VERIFY BEFORE SUBMITTING - If results seem wrong (zeros, empty, unexpected), reconsider your approach.
4. USE llm_query FOR SEMANTICS - String matching finds WHERE things are; llm_query understands WHAT things mean.
5. MINIMIZE RETYPING (INPUTS & OUTPUTS) - When values are long, precise, or error-prone (IDs, numbers, code, quotes), re-access them via variables and parse/compute in code instead of retyping. Use small, targeted prints to sanity-check, but avoid manual copying when variables can carry the exact value.
6. SUBMIT ONLY AFTER SEEING OUTPUTS - SUBMIT ends the current run immediately. If you need to inspect printed output, run it in one step, review the result, then call SUBMIT in a later step.

You have max {max_llm_calls} sub-LLM calls. When done, call SUBMIT() with your output.{docs}",
        output_fields = output_fields.join("\n"),
        submit = names.join(", "),
        docs = tool_docs(tools),
    );
    let inputs = vec![
        variables_field(),
        history_field("Previous REPL code executions and their outputs"),
        FieldMeta::string(
            "iteration",
            Role::Input,
            Some("Current iteration number (1-indexed) out of max_iters".into()),
        ),
    ];
    let outputs = vec![
        FieldMeta::string(
            "reasoning",
            Role::Output,
            Some(
                "Think step-by-step: what do you know? What remains? Plan your next action.".into(),
            ),
        ),
        FieldMeta::string(
            "code",
            Role::Output,
            Some(
                "Python code to execute. Use markdown code block format: ```python\\n<code>\\n```"
                    .into(),
            ),
        ),
    ];
    SignatureMeta::new("StringSignature", Some(instructions), inputs, outputs)
}

/// The signature's own instructions and a blank line, or nothing.
fn task_instructions(sig: &SignatureMeta) -> String {
    if sig.instructions().is_empty() {
        String::new()
    } else {
        format!("{}\n\n", sig.instructions())
    }
}

/// The extraction signature: the REPL's variables and history → the user's outputs.
pub(crate) fn extract_signature(sig: &SignatureMeta) -> SignatureMeta {
    let task = task_instructions(sig);
    let mut instructions = String::new();
    if !task.is_empty() {
        instructions.push_str("The trajectory was generated with the following objective: \n");
        instructions.push_str(&task);
        instructions.push('\n');
    }
    instructions.push_str(
        "Based on the REPL trajectory, extract the final outputs now.

            Review your trajectory to see what information you gathered and what values you computed, then provide the final outputs.",
    );
    let inputs = vec![
        variables_field(),
        history_field("Your REPL interactions so far"),
    ];
    SignatureMeta::new(
        "StringSignature",
        Some(instructions),
        inputs,
        sig.outputs().to_vec(),
    )
}
