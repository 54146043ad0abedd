//! The step signature a tool-calling agent builds from the user's, and its `submit` tool, as
//! DSPy's ReActV2 builds them.

use crate::signature::{FieldMeta, Role, SignatureMeta};
use crate::tool::{Tool, ToolError};
use serde_json::{Map, Value, json};

pub(crate) use crate::tool::calls::read_calls;

/// The tool whose arguments are the signature's outputs; calling it ends the episode.
pub(crate) const SUBMIT: &str = "submit";

/// `` `a`, `b` `` for the fields.
fn backticked<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// DSPy's ReActV2 instructions: the user's, then what the agent is and which tools it has.
pub(crate) fn instructions(sig: &SignatureMeta, tools: &[Tool]) -> String {
    let inputs = backticked(sig.inputs().iter().map(FieldMeta::name));
    let outputs = backticked(sig.outputs().iter().map(FieldMeta::name));
    let names = backticked(tools.iter().map(Tool::name));
    let text = [
        sig.instructions().to_string(),
        format!("You are an Agent. Use the supplied tools to produce {outputs} from {inputs}."),
        "Call tools when more information is needed.".to_string(),
        format!("When the final answer is ready, call `submit` with {outputs}."),
        format!("The available tools are: {names}."),
    ]
    .join("\n");
    crate::adapter::py_strip(&text).to_string()
}

/// The step signature. Natively (`native`): the inputs → `next_thought`, the tools going
/// with the request and the calls coming back beside the text. In text mode the tools are
/// an input (`tools`) and the calls an output (`tool_calls`, DSPy's `ToolCalls` shape).
pub(crate) fn step_signature(sig: &SignatureMeta, tools: &[Tool], native: bool) -> SignatureMeta {
    let mut inputs = sig.inputs().to_vec();
    let mut outputs = vec![FieldMeta::string("next_thought", Role::Output, None)];
    if !native {
        inputs.push(FieldMeta::string("tools", Role::Input, None));
        let call = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "args": {"type": "object", "additionalProperties": true},
            },
            "required": ["name", "args"],
        });
        let shape = json!({
            "type": "object",
            "properties": {"tool_calls": {"type": "array", "items": call}},
            "required": ["tool_calls"],
        });
        // Any JSON is accepted here and read forgivingly by `read_calls`.
        outputs.push(FieldMeta::new(
            "tool_calls".into(),
            Role::Output,
            Some(
                "Tool calls must be a JSON object with `tool_calls`, a list of calls. Each call \
                 must include `name` and `args`. Example: {\"tool_calls\": [{\"name\": \
                 \"search\", \"args\": {\"query\": \"cats\"}}]}"
                    .into(),
            ),
            shape,
            Map::new(),
            json!({}),
        ));
    }
    SignatureMeta::new(
        "StringSignature",
        Some(instructions(sig, tools)),
        inputs,
        outputs,
    )
}

/// The `tools` input in text mode: each tool as DSPy prints it, one per line.
pub(crate) fn tools_text(tools: &[Tool]) -> String {
    let mut out = String::new();
    for (i, tool) in tools.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("({}) {tool}", i + 1));
    }
    out
}

/// `submit`: its arguments are the output fields (each with its schema, all required); it
/// answers with them, and the agent reads them as the signature's outputs.
pub(crate) fn submit_tool(sig: &SignatureMeta) -> Result<Tool, ToolError> {
    let args: Map<String, Value> = sig
        .outputs()
        .iter()
        .map(|f| {
            let mut schema = f.schema().clone();
            if let (Some(desc), Value::Object(s)) = (f.desc(), &mut schema) {
                s.entry("description").or_insert_with(|| json!(desc));
            }
            (f.name().to_string(), schema)
        })
        .collect();
    Tool::new(
        SUBMIT,
        "Submit the final outputs for the task.",
        Value::Object(args),
        |args| async move { Ok::<_, String>(Value::Object(args)) },
    )
}
