//! `Rlm<S>`: DSPy's recursive language model. The inputs live as variables in a sandboxed
//! Python REPL instead of the prompt; each iteration the LM sees their metadata and the REPL
//! history, and writes code that reads them, calls a sub-LM on pieces (`llm_query`,
//! `llm_query_batched`, within `max_llm_calls`) and the user's tools, and ends with
//! `SUBMIT(...)` of the outputs. After `max_iters` iterations without SUBMIT, an `extract`
//! predictor reads the history and writes the outputs. Prompts are DSPy 3.4.1's, except the
//! sentence that describes the runtime.

mod host;
mod repl;
mod signatures;

pub use repl::ReplEntry;
pub use signatures::EXECUTION_INSTRUCTIONS;

use super::{DynPredict, Module, Prediction};
use crate::adapter::coerce;
use crate::context::{self, run_module};
use crate::error::{Error, Result};
use crate::interpreter::{Execution, InterpreterError, PythonInterpreter};
use crate::lm::{Lm, LmConfig, Usage};
use crate::signature::{Signature, SignatureMeta};
use crate::tool::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::marker::PhantomData;
use std::sync::Arc;

/// DSPy's default number of REPL iterations.
pub const DEFAULT_MAX_ITERS: usize = 20;
/// DSPy's default number of sub-LM calls per call.
pub const DEFAULT_MAX_LLM_CALLS: usize = 50;
/// DSPy's default number of characters of one step's output shown to the LM.
pub const DEFAULT_MAX_OUTPUT_CHARS: usize = 10_000;

/// What RLM returns: the signature's outputs, the last reasoning and the REPL steps. Derefs
/// to the outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RlmOutput<O> {
    /// Every REPL step of the call, in order.
    pub trajectory: Vec<ReplEntry>,
    /// The reasoning of the step that submitted (or DSPy's `Extract forced final output`).
    pub final_reasoning: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> std::ops::Deref for RlmOutput<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

/// A recursive language model for signature `S` (DSPy's `dspy.RLM`).
///
/// Its predictors are `generate_action` (one REPL step) and `extract` (the fallback), so
/// optimizers compile it like any program.
pub struct Rlm<S: Signature> {
    generate_action: DynPredict,
    extract: DynPredict,
    tools: Arc<[Tool]>,
    sub_lm: Option<Lm>,
    max_iters: usize,
    max_llm_calls: usize,
    max_output_chars: usize,
    interpreter: Option<PythonInterpreter>,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for Rlm<S> {
    fn clone(&self) -> Self {
        Rlm {
            generate_action: self.generate_action.clone(),
            extract: self.extract.clone(),
            tools: self.tools.clone(),
            sub_lm: self.sub_lm.clone(),
            max_iters: self.max_iters,
            max_llm_calls: self.max_llm_calls,
            max_output_chars: self.max_output_chars,
            interpreter: self.interpreter.clone(),
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> std::fmt::Debug for Rlm<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tools: Vec<&str> = self.tools.iter().map(Tool::name).collect();
        f.debug_struct("Rlm")
            .field("signature", &S::meta().name())
            .field("tools", &tools)
            .field("max_iters", &self.max_iters)
            .field("max_llm_calls", &self.max_llm_calls)
            .finish_non_exhaustive()
    }
}

impl<S: Signature> Default for Rlm<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Why `S` cannot run in RLM's REPL: an input or tool taking a name the sandbox owns, or an
/// output taking one the result owns.
fn namespace_error(meta: &SignatureMeta, tools: &[Tool]) -> Option<String> {
    for tool in tools {
        if let Some(e) = crate::module::host_tools::unusable_tool(tool) {
            return Some(e);
        }
        let name = tool.name();
        if signatures::RESERVED.contains(&name) {
            return Some(format!(
                "tool name '{name}' conflicts with built-in sandbox function"
            ));
        }
    }
    let inputs: Vec<&str> = meta.inputs().iter().map(|f| f.name()).collect();
    let reserved: Vec<&str> = inputs
        .iter()
        .copied()
        .filter(|n| signatures::RESERVED.contains(n))
        .collect();
    if !reserved.is_empty() {
        return Some(format!(
            "input fields conflict with built-in sandbox functions: {reserved:?}"
        ));
    }
    let clash: Vec<&str> = inputs
        .iter()
        .copied()
        .filter(|n| tools.iter().any(|t| t.name() == *n))
        .collect();
    if !clash.is_empty() {
        return Some(format!("input fields conflict with user tools: {clash:?}"));
    }
    let outputs: Vec<&str> = meta
        .outputs()
        .iter()
        .map(|f| f.name())
        .filter(|n| signatures::RESERVED_OUTPUTS.contains(n))
        .collect();
    if !outputs.is_empty() {
        return Some(format!(
            "output fields conflict with RLM result metadata: {outputs:?}"
        ));
    }
    None
}

impl<S: Signature> Rlm<S> {
    /// An RLM with DSPy's defaults: 20 iterations, 50 sub-LM calls, 10,000 output characters
    /// per step, no tools, the sub-LM being the task LM, on the default sandbox.
    pub fn new() -> Self {
        let meta = S::meta();
        Rlm {
            generate_action: DynPredict::from_meta(
                signatures::action_signature(meta, &[], DEFAULT_MAX_LLM_CALLS),
                "Predict",
            ),
            extract: DynPredict::from_meta(signatures::extract_signature(meta), "Predict"),
            tools: Arc::from(Vec::new()),
            sub_lm: None,
            max_iters: DEFAULT_MAX_ITERS,
            max_llm_calls: DEFAULT_MAX_LLM_CALLS,
            max_output_chars: DEFAULT_MAX_OUTPUT_CHARS,
            interpreter: None,
            _sig: PhantomData,
        }
    }

    /// The same RLM with these tools callable from the code (by name, with positional or
    /// named arguments); an error if a name is not a Python identifier, repeats, or takes a
    /// name the sandbox or the signature owns. Call before compiling: the action
    /// instructions are rebuilt.
    pub fn with_tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Result<Self> {
        let tools: Vec<Tool> = tools.into_iter().collect();
        for (i, t) in tools.iter().enumerate() {
            if tools[..i].iter().any(|u| u.name() == t.name()) {
                return Err(Error::Module(format!("duplicate tool name '{}'", t.name())));
            }
        }
        if let Some(e) = namespace_error(S::meta(), &tools) {
            return Err(Error::Module(format!("RLM: {e}")));
        }
        self.tools = tools.into();
        self.rebuild_action();
        Ok(self)
    }

    /// At most `n` REPL iterations before the extraction (at least 1).
    pub fn with_max_iters(mut self, n: usize) -> Self {
        self.max_iters = n.max(1);
        self
    }

    /// At most `n` sub-LM calls per call. Call before compiling: the action instructions,
    /// which state the budget, are rebuilt.
    pub fn with_max_llm_calls(mut self, n: usize) -> Self {
        self.max_llm_calls = n;
        self.rebuild_action();
        self
    }

    /// At most `n` characters (at least 1) of one step's output shown to the LM (its head
    /// and tail).
    pub fn with_max_output_chars(mut self, n: usize) -> Self {
        self.max_output_chars = n.max(1);
        self
    }

    /// `llm_query` and `llm_query_batched` on `lm` (by default, the LM the action uses).
    pub fn with_sub_lm(mut self, lm: impl Into<Lm>) -> Self {
        self.sub_lm = Some(lm.into());
        self
    }

    /// Runs the code in `interpreter` (its limits apply) instead of the default sandbox.
    pub fn with_interpreter(mut self, interpreter: PythonInterpreter) -> Self {
        self.interpreter = Some(interpreter);
        self
    }

    /// Both predictors on `lm`.
    pub fn with_lm(mut self, lm: impl Into<Lm>) -> Self {
        let lm = lm.into();
        self.generate_action.core.lm = Some(lm.clone());
        self.extract.core.lm = Some(lm);
        self
    }

    /// Both predictors with these sampling settings.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        let config = Arc::new(config);
        self.generate_action.core.config = config.clone();
        self.extract.core.config = config;
        self
    }

    /// Both predictors with their own adapter.
    pub fn with_adapter(mut self, adapter: impl crate::adapter::Adapter) -> Self {
        let adapter: Arc<dyn crate::adapter::Adapter> = Arc::new(adapter);
        self.generate_action.core.adapter = Some(adapter.clone());
        self.extract.core.adapter = Some(adapter);
        self
    }

    /// The step predictor (`generate_action`).
    pub fn generate_action(&self) -> &DynPredict {
        &self.generate_action
    }

    /// The fallback predictor (`extract`).
    pub fn extract(&self) -> &DynPredict {
        &self.extract
    }

    /// The user's tools.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// A new action signature for the tools and budget, keeping the predictor's LM,
    /// adapter, settings, callbacks, demos and any instructions set on it.
    fn rebuild_action(&mut self) {
        let meta = signatures::action_signature(S::meta(), &self.tools, self.max_llm_calls);
        let old = &self.generate_action.core;
        let mut fresh = DynPredict::from_meta(meta, "Predict");
        fresh.core.lm = old.lm.clone();
        fresh.core.adapter = old.adapter.clone();
        fresh.core.config = old.config.clone();
        fresh.core.callbacks = old.callbacks.clone();
        if old.instructions() != old.meta().instructions() {
            fresh.core.set_instructions(old.instructions().to_string());
        }
        // The new signature has the same fields, so the old demos fit it.
        let _ = fresh.core.set_demos(old.demos().to_vec());
        self.generate_action = fresh;
    }

    /// The action messages for these inputs after `trajectory` at iteration `iteration`
    /// (1-based): what the LM would be sent.
    pub fn render_step(
        &self,
        input: &S::Input,
        trajectory: &[ReplEntry],
        iteration: usize,
    ) -> Result<Vec<crate::lm::Message>> {
        let fields = context::to_fields(input)?;
        self.generate_action.render(&self.action_inputs(
            &self.variables_info(&fields),
            trajectory,
            iteration,
        ))
    }

    /// Runs the REPL loop on `input`.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<RlmOutput<S::Output>>> {
        run_module(
            "RLM",
            input,
            |input| async move { self.run(&input).await },
            |p: &Prediction<RlmOutput<S::Output>>| context::to_fields(p.output()).ok(),
        )
        .await
    }

    fn variables_info(&self, fields: &Map<String, Value>) -> Value {
        Value::Array(
            S::meta()
                .inputs()
                .iter()
                .map(|f| {
                    let v = fields.get(f.name()).unwrap_or(&Value::Null);
                    Value::String(repl::describe_variable(f, v))
                })
                .collect(),
        )
    }

    fn action_inputs(
        &self,
        variables: &Value,
        trajectory: &[ReplEntry],
        iteration: usize,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("variables_info".into(), variables.clone());
        m.insert(
            "repl_history".into(),
            Value::String(repl::format_history(trajectory, self.max_output_chars)),
        );
        m.insert(
            "iteration".into(),
            Value::String(format!("{iteration}/{}", self.max_iters)),
        );
        m
    }

    async fn run(&self, input: &S::Input) -> Result<Prediction<RlmOutput<S::Output>>> {
        let meta = S::meta();
        if let Some(e) = namespace_error(meta, &self.tools) {
            return Err(Error::Module(format!("RLM: {e}")));
        }
        let fields = context::to_fields(input)?;
        let interpreter = match &self.interpreter {
            Some(i) => i.clone(),
            None => super::program_of_thought::default_interpreter()
                .map_err(|e| Error::Module(e.to_string()))?,
        };
        let sub_lm = match &self.sub_lm {
            Some(lm) => lm.clone(),
            None => self.generate_action.core.resolve_lm()?,
        };
        let host = host::Host::new(
            sub_lm,
            self.generate_action.core.config.clone(),
            self.max_llm_calls,
            &self.tools,
        );
        let mut session = host.open(&interpreter, meta, &fields).await?;
        let variables = self.variables_info(&fields);
        let mut trajectory: Vec<ReplEntry> = Vec::new();
        let mut usage = Usage::default();
        for iteration in 1..=self.max_iters {
            let action = self
                .generate_action
                .call(self.action_inputs(&variables, &trajectory, iteration))
                .await?;
            usage += action.usage();
            let text = |k: &str| match action.output().get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let reasoning = text("reasoning");
            let reply = text("code");
            let (code, output) = match strip_code_fences(&reply) {
                Err(e) => (reply, format!("[Error] {e}")),
                Ok(code) => {
                    let result = session.run(&code).await;
                    match self.outcome(result) {
                        Outcome::Output(o) => (code, o),
                        Outcome::Submitted(submitted) => match parse_submitted::<S>(submitted) {
                            Ok(Submitted {
                                output,
                                coercions,
                                values,
                            }) => {
                                let shown = crate::format::python_repr_map(&values);
                                trajectory.push(ReplEntry {
                                    reasoning: reasoning.clone(),
                                    code,
                                    output: format!("FINAL: {shown}"),
                                });
                                usage += host.usage();
                                return Ok(Prediction::new(
                                    RlmOutput {
                                        trajectory,
                                        final_reasoning: reasoning,
                                        output,
                                    },
                                    usage,
                                    action.raw().to_string(),
                                    coercions,
                                    action.adapter(),
                                ));
                            }
                            Err(e) => (code, e),
                        },
                        Outcome::Lost(e) => {
                            session = host.open(&interpreter, meta, &fields).await?;
                            (
                                code,
                                format!(
                                    "[Error] {e}\n(The interpreter was restarted: the input variables are set again, but everything earlier steps defined is gone.)"
                                ),
                            )
                        }
                        Outcome::Unavailable(e) => return Err(Error::Module(e)),
                    }
                }
            };
            trajectory.push(ReplEntry {
                reasoning,
                code,
                output,
            });
        }
        tracing::warn!("RLM reached max iterations, using extract to get final output");
        let mut inputs = Map::new();
        inputs.insert("variables_info".into(), variables);
        inputs.insert(
            "repl_history".into(),
            Value::String(repl::format_history(&trajectory, self.max_output_chars)),
        );
        let extracted = self.extract.call(inputs).await?.typed::<S::Output>()?;
        usage += extracted.usage() + host.usage();
        let (raw, adapter, coercions) = (
            extracted.raw().to_string(),
            extracted.adapter(),
            extracted.coercions().to_vec(),
        );
        let output = extracted.into_output();
        Ok(Prediction::new(
            RlmOutput {
                trajectory,
                final_reasoning: "Extract forced final output".into(),
                output,
            },
            usage,
            raw,
            coercions,
            adapter,
        ))
    }

    /// What one execution means for the loop.
    fn outcome(&self, result: std::result::Result<Execution, InterpreterError>) -> Outcome {
        match result {
            Ok(run) => match run.submitted {
                Some(fields) => Outcome::Submitted(fields),
                None => Outcome::Output(shown_output(&run)),
            },
            Err(InterpreterError::Unavailable(e)) => Outcome::Unavailable(e),
            Err(e) if e.ends_session() => Outcome::Lost(e.to_string()),
            Err(InterpreterError::OutputLimit { limit, stdout }) => Outcome::Output(format!(
                "{stdout}\n[Error] the code printed more than its limit of {limit} characters"
            )),
            Err(e) => Outcome::Output(format!("[Error] {e}")),
        }
    }
}

/// What an execution meant.
enum Outcome {
    /// Text for the history.
    Output(String),
    /// SUBMIT's outputs.
    Submitted(Map<String, Value>),
    /// The process died (time or a forbidden call): the session must be opened again.
    Lost(String),
    /// The sandbox cannot run at all.
    Unavailable(String),
}

/// What the LM sees of a run: what it printed, then its last expression's value; DSPy's
/// reminder when there is neither.
fn shown_output(run: &Execution) -> String {
    let mut out = run.stdout.clone();
    if let Some(v) = &run.value {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        match v {
            Value::Array(items) => {
                let lines: Vec<String> = items.iter().map(crate::format::python_str).collect();
                out.push_str(&lines.join("\n"));
            }
            other => out.push_str(&crate::format::python_str(other)),
        }
    }
    if out.is_empty() {
        "(no output - did you forget to print?)".into()
    } else {
        out
    }
}

/// SUBMIT's values, read as the signature's outputs.
struct Submitted<O> {
    output: O,
    coercions: Vec<crate::adapter::Coercion>,
    /// The values after coercion, as the history shows them.
    values: Map<String, Value>,
}

/// SUBMIT's values as `S`'s outputs, each coerced to its field's type as the JSON adapter
/// coerces (e.g. `"3"` for an `int`), or DSPy's message for the LM.
fn parse_submitted<S: Signature>(
    submitted: Map<String, Value>,
) -> std::result::Result<Submitted<S::Output>, String> {
    let meta = S::meta();
    let names: Vec<&str> = meta.outputs().iter().map(|f| f.name()).collect();
    let mut missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !submitted.contains_key(*n))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(format!(
            "[Error] Missing output fields: {missing:?}. Use SUBMIT({})",
            names.join(", ")
        ));
    }
    let mut log = Vec::new();
    let mut parsed = Map::new();
    let mut errors = Vec::new();
    for f in meta.outputs() {
        let mut v = submitted.get(f.name()).cloned().unwrap_or(Value::Null);
        // DSPy takes `str(value)` for a `str` output.
        if *f.kind() == crate::signature::FieldKind::Str
            && !v.is_string()
            && !(v.is_null() && f.is_nullable())
        {
            v = Value::String(crate::format::python_str(&v));
        }
        match coerce::from_json(f, v.clone(), &mut log) {
            Ok(value) => {
                parsed.insert(f.name().to_string(), value);
            }
            Err(e) => errors.push(format!(
                "{}: expected {}, got {}: {e}",
                f.name(),
                f.type_name(),
                json_type(&v)
            )),
        }
    }
    if !errors.is_empty() {
        return Err(format!("[Type Error] {}", errors.join("; ")));
    }
    match serde_json::from_value::<S::Output>(Value::Object(parsed.clone())) {
        Ok(output) => Ok(Submitted {
            output,
            coercions: log,
            values: parsed,
        }),
        Err(e) => Err(format!("[Type Error] {e}")),
    }
}

/// Python's name for a JSON value's type.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The code in a reply as DSPy's RLM takes it: the body of the first ```` ```python ````
/// (or bare) fence, decorative outer fences removed, or the reply as is without fences; a
/// fence for another language is an error for the LM.
pub(crate) fn strip_code_fences(reply: &str) -> std::result::Result<String, String> {
    let code = reply.trim();
    if !code.contains("```") {
        return Ok(code.to_string());
    }
    let mut lines: Vec<&str> = code.lines().collect();
    while lines.len() >= 2
        && lines[0].trim() == "```"
        && lines.last().is_some_and(|l| l.trim() == "```")
    {
        lines.remove(0);
        lines.pop();
    }
    let code = lines.join("\n");
    let code = code.trim();
    if !code.contains("```") {
        return Ok(code.to_string());
    }
    let Some(start) = code.find("```") else {
        return Ok(code.to_string());
    };
    let after = &code[start + 3..];
    let Some((lang_line, rest)) = after.split_once('\n') else {
        return Ok(code.to_string());
    };
    let lang = lang_line
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase();
    if !matches!(lang.as_str(), "python" | "py" | "python3" | "py3" | "") {
        return Err(format!(
            "Expected Python code but got ```{lang} fence. Write Python code, not {lang}."
        ));
    }
    match rest.find("```") {
        Some(end) => Ok(rest[..end].trim().to_string()),
        None => Ok(rest.trim().to_string()),
    }
}

impl<S: Signature> Module for Rlm<S>
where
    S::Input: Sync,
{
    type Input = S::Input;
    type Output = Prediction<RlmOutput<S::Output>>;
    fn forward(
        &self,
        input: S::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}

/// DSPy's paths: `generate_action` and `extract`.
impl<S: Signature> crate::program::Params for Rlm<S> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn super::Predictor)) {
        f(
            crate::program::join_path(path, "generate_action"),
            &self.generate_action,
        );
        f(crate::program::join_path(path, "extract"), &self.extract);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn super::Predictor),
    ) {
        f(
            crate::program::join_path(path, "generate_action"),
            &mut self.generate_action,
        );
        f(
            crate::program::join_path(path, "extract"),
            &mut self.extract,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::strip_code_fences;

    #[test]
    fn fences_are_stripped_as_dspy_strips_them() {
        assert_eq!(strip_code_fences("  x = 1  ").unwrap(), "x = 1");
        assert_eq!(
            strip_code_fences("Here:\n```python\nprint(1)\n```\nDone.").unwrap(),
            "print(1)"
        );
        assert_eq!(strip_code_fences("```\n```py\na\n```\n```").unwrap(), "a");
        assert_eq!(strip_code_fences("```\nb = 2\n```").unwrap(), "b = 2");
        assert_eq!(strip_code_fences("```python\nopen").unwrap(), "open");
        assert_eq!(
            strip_code_fences("```js\nconsole.log(1)\n```").unwrap_err(),
            "Expected Python code but got ```js fence. Write Python code, not js."
        );
    }
}
