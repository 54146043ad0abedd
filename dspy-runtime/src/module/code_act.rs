//! `CodeAct<S>`: DSPy's CodeAct. Each iteration a `codeact` predictor sees the inputs and the
//! trajectory so far and writes Python (which may call the tools) and whether it is
//! `finished`; the sandbox runs the code in one session per call and its output or error joins
//! the trajectory; then an `extractor` ChainOfThought reads the trajectory and writes the
//! outputs. DSPy runs the tools' Python source inside its interpreter; here the tools are Rust
//! functions the code calls as host functions, so any [`Tool`] works.

use super::program_of_thought::{default_interpreter, output_text, parse_code};
use super::{DynPredict, Module, Prediction};
use crate::context::{self, run_module};
use crate::error::{Error, Result};
use crate::format::write_field_value;
use crate::interpreter::{InterpreterError, PythonInterpreter, Session};
use crate::lm::{Lm, LmConfig, LmError, Usage};
use crate::signature::{FieldMeta, Role, Signature, SignatureMeta};
use crate::tool::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::marker::PhantomData;
use std::sync::Arc;

/// DSPy's default number of iterations.
pub const DEFAULT_MAX_ITERS: usize = 5;

/// How often the extraction drops the oldest entries and retries when its prompt overflows.
const TRUNCATION_ATTEMPTS: usize = 3;

/// What CodeAct returns: the signature's outputs, the extraction's reasoning and the
/// trajectory (`generated_code_i`, `code_output_i`, `observation_i`, in order). Derefs to the
/// outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeActOutput<O> {
    /// The iterations' code, outputs and observations, keyed as DSPy keys them.
    pub trajectory: Map<String, Value>,
    /// What the extraction reasoned from the trajectory.
    pub reasoning: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> std::ops::Deref for CodeActOutput<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

/// An agent for signature `S` that acts by writing Python that calls its tools (DSPy's
/// `dspy.CodeAct`). Its predictors are `codeact` and `extractor.predict`.
pub struct CodeAct<S: Signature> {
    codeact: DynPredict,
    extractor: DynPredict,
    tools: Arc<[Tool]>,
    max_iters: usize,
    interpreter: Option<PythonInterpreter>,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for CodeAct<S> {
    fn clone(&self) -> Self {
        CodeAct {
            codeact: self.codeact.clone(),
            extractor: self.extractor.clone(),
            tools: self.tools.clone(),
            max_iters: self.max_iters,
            interpreter: self.interpreter.clone(),
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> std::fmt::Debug for CodeAct<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tools: Vec<&str> = self.tools.iter().map(Tool::name).collect();
        f.debug_struct("CodeAct")
            .field("signature", &S::meta().name())
            .field("tools", &tools)
            .field("max_iters", &self.max_iters)
            .finish_non_exhaustive()
    }
}

/// The `codeact` signature: the inputs and `trajectory` → `generated_code`, `finished`, with
/// DSPy's instructions listing the tools.
fn codeact_signature(sig: &SignatureMeta, tools: &[Tool]) -> SignatureMeta {
    use super::react::signatures::backticked;
    let (inputs, outputs) = (backticked(sig.inputs()), backticked(sig.outputs()));
    let mut lines = Vec::with_capacity(tools.len() + 2);
    if !sig.instructions().is_empty() {
        lines.push(format!("{}\n", sig.instructions()));
    }
    lines.push(format!(
        "You are an intelligent agent. For each episode, you will receive the fields {inputs} as input.\n\
         Your goal is to generate executable Python code that collects any necessary information for producing {outputs}.\n\
         For each iteration, you will generate a code snippet that either solves the task or progresses towards the solution.\n\
         Ensure any output you wish to extract from the code is printed to the console. The code should be enclosed in a fenced code block.\n\
         When all information for producing the outputs ({outputs}) are available to be extracted, mark `finished=True` besides the final Python code.\n\
         You have access to the Python Standard Library and the following functions:"
    ));
    for (i, tool) in tools.iter().enumerate() {
        lines.push(format!("({}) {tool}", i + 1));
    }
    let mut inputs = sig.inputs().to_vec();
    inputs.push(FieldMeta::string("trajectory", Role::Input, None));
    let outputs = vec![
        FieldMeta::string(
            "generated_code",
            Role::Output,
            Some(
                "Python code that when executed, produces output relevant to answering the question"
                    .into(),
            ),
        ),
        FieldMeta::new(
            "finished".into(),
            Role::Output,
            Some("a boolean flag to determine if the process is done".into()),
            serde_json::json!({"type": "boolean"}),
            Map::new(),
            serde_json::json!({"type": "boolean"}),
        ),
    ];
    SignatureMeta::new("StringSignature", Some(lines.join("\n")), inputs, outputs)
}

/// The trajectory as the extractor reads it: each entry as a `[[ ## key ## ]]` section (DSPy's
/// ReAct `_format_trajectory`).
fn format_trajectory(trajectory: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (key, value) in trajectory {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str("[[ ## ");
        out.push_str(key);
        out.push_str(" ## ]]\n");
        write_field_value(value, true, &mut out);
    }
    crate::adapter::py_strip(&out).to_string()
}

impl<S: Signature> CodeAct<S> {
    /// An agent with these tools (a later tool of the same name replaces an earlier one), at
    /// most 5 iterations, on the default sandbox; an error if a tool's name is not a Python
    /// identifier.
    pub fn new(tools: impl IntoIterator<Item = Tool>) -> Result<Self> {
        let mut all: Vec<Tool> = Vec::new();
        for tool in tools {
            if let Some(e) = super::host_tools::unusable_tool(&tool) {
                return Err(Error::Module(format!("CodeAct: {e}")));
            }
            if matches!(tool.name(), "SUBMIT" | "HostError") {
                return Err(Error::Module(format!(
                    "CodeAct: tool name '{}' is taken by the sandbox",
                    tool.name()
                )));
            }
            match all.iter_mut().find(|t| t.name() == tool.name()) {
                Some(slot) => *slot = tool,
                None => all.push(tool),
            }
        }
        let meta = S::meta();
        Ok(CodeAct {
            codeact: DynPredict::from_meta(codeact_signature(meta, &all), "Predict"),
            extractor: DynPredict::from_meta(
                super::react::signatures::extract_signature(meta),
                "ChainOfThought",
            ),
            tools: all.into(),
            max_iters: DEFAULT_MAX_ITERS,
            interpreter: None,
            _sig: PhantomData,
        })
    }

    /// At most `n` iterations per call.
    pub fn with_max_iters(mut self, n: usize) -> Self {
        self.max_iters = n;
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
        self.codeact.core.lm = Some(lm.clone());
        self.extractor.core.lm = Some(lm);
        self
    }

    /// Both predictors with these sampling settings.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        let config = Arc::new(config);
        self.codeact.core.config = config.clone();
        self.extractor.core.config = config;
        self
    }

    /// The tools, in the order the instructions list them.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Runs at most the agent's `max_iters` iterations, then the extraction.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<CodeActOutput<S::Output>>> {
        run_module(
            "CodeAct",
            input,
            |input| async move { self.run(&input).await },
            |p: &Prediction<CodeActOutput<S::Output>>| context::to_fields(p.output()).ok(),
        )
        .await
    }

    /// A session with each tool defined as a host function run in the caller's context.
    async fn open(&self, interpreter: &PythonInterpreter) -> Result<Session> {
        let fail = |e: InterpreterError| {
            Error::Module(format!("CodeAct: the sandbox could not start: {e}"))
        };
        let mut session = interpreter.session().await.map_err(fail)?;
        super::host_tools::define_tools(&mut session, &self.tools, &context::current())
            .await
            .map_err(fail)?;
        Ok(session)
    }

    async fn run(&self, input: &S::Input) -> Result<Prediction<CodeActOutput<S::Output>>> {
        let interpreter = match &self.interpreter {
            Some(i) => i.clone(),
            None => default_interpreter().map_err(|e| Error::Module(e.to_string()))?,
        };
        let mut session = self.open(&interpreter).await?;
        let fields = context::to_fields(input)?;
        let mut trajectory = Map::new();
        let mut usage = Usage::default();
        for idx in 0..self.max_iters {
            let mut inputs = fields.clone();
            inputs.insert("trajectory".into(), Value::Object(trajectory.clone()));
            let step = self.codeact.call(inputs).await?;
            usage += step.usage();
            let reply = match step.output().get("generated_code") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let finished = step.output().get("finished") == Some(&Value::Bool(true));
            let (code, error) = parse_code(&reply);
            if let Some(e) = error {
                trajectory.insert(
                    format!("observation_{idx}"),
                    Value::String(format!("Failed to parse the generated code: {e}")),
                );
                continue;
            }
            trajectory.insert(format!("generated_code_{idx}"), Value::String(code.clone()));
            match session.run(&code).await {
                Ok(run) => {
                    trajectory.insert(
                        format!("code_output_{idx}"),
                        Value::String(output_text(&run)),
                    );
                }
                Err(InterpreterError::Unavailable(e)) => return Err(Error::Module(e)),
                Err(e) => {
                    if e.ends_session() {
                        session = self.open(&interpreter).await?;
                    }
                    trajectory.insert(
                        format!("observation_{idx}"),
                        Value::String(format!("Failed to execute the generated code: {e}")),
                    );
                }
            }
            if finished {
                break;
            }
        }
        let extracted = self
            .extract_truncating(fields, &mut trajectory)
            .await?
            .typed::<super::Reasoned<S::Output>>()?;
        usage += extracted.usage();
        let (raw, adapter, coercions) = (
            extracted.raw().to_string(),
            extracted.adapter(),
            extracted.coercions().to_vec(),
        );
        let super::Reasoned { reasoning, output } = extracted.into_output();
        Ok(Prediction::new(
            CodeActOutput {
                trajectory,
                reasoning,
                output,
            },
            usage,
            raw,
            coercions,
            adapter,
        ))
    }

    /// The extraction, dropping the trajectory's first four entries and trying again when
    /// the prompt overflows the context window, at most three times (DSPy's ReAct truncation,
    /// which CodeAct inherits).
    async fn extract_truncating(
        &self,
        fields: Map<String, Value>,
        trajectory: &mut Map<String, Value>,
    ) -> Result<Prediction<Map<String, Value>>> {
        for _ in 0..TRUNCATION_ATTEMPTS {
            let mut inputs = fields.clone();
            inputs.insert(
                "trajectory".into(),
                Value::String(format_trajectory(trajectory)),
            );
            match self.extractor.call(inputs).await {
                Err(Error::Lm(LmError::ContextWindowExceeded { message })) => {
                    if trajectory.len() < 4 {
                        return Err(Error::Lm(LmError::ContextWindowExceeded {
                            message: format!(
                                "the trajectory is too long for the context window but cannot be truncated: it has {} entries: {message}",
                                trajectory.len()
                            ),
                        }));
                    }
                    tracing::warn!(
                        "CodeAct: the trajectory exceeded the context window; dropping its first four entries"
                    );
                    let first: Vec<String> = trajectory.keys().take(4).cloned().collect();
                    for key in first {
                        trajectory.shift_remove(&key);
                    }
                }
                other => return other,
            }
        }
        Err(Error::Lm(LmError::ContextWindowExceeded {
            message: format!(
                "the context window was exceeded even after {TRUNCATION_ATTEMPTS} attempts to truncate the trajectory"
            ),
        }))
    }

    /// The `codeact` messages for these inputs after `trajectory` (for snapshots and parity).
    pub fn render_step(
        &self,
        input: &S::Input,
        trajectory: &Map<String, Value>,
    ) -> Result<Vec<crate::lm::Message>> {
        let mut inputs = context::to_fields(input)?;
        inputs.insert("trajectory".into(), Value::Object(trajectory.clone()));
        self.codeact.render(&inputs)
    }

    /// The `extractor` messages for these inputs after `trajectory`.
    pub fn render_extract(
        &self,
        input: &S::Input,
        trajectory: &Map<String, Value>,
    ) -> Result<Vec<crate::lm::Message>> {
        let mut inputs = context::to_fields(input)?;
        inputs.insert(
            "trajectory".into(),
            Value::String(format_trajectory(trajectory)),
        );
        self.extractor.render(&inputs)
    }
}

impl<S: Signature> Module for CodeAct<S>
where
    S::Input: Sync,
{
    type Input = S::Input;
    type Output = Prediction<CodeActOutput<S::Output>>;
    fn forward(
        &self,
        input: S::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}

/// DSPy's paths: `codeact` and the extractor's `extractor.predict`.
impl<S: Signature> crate::program::Params for CodeAct<S> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn super::Predictor)) {
        f(crate::program::join_path(path, "codeact"), &self.codeact);
        f(
            crate::program::join_path(&crate::program::join_path(path, "extractor"), "predict"),
            &self.extractor,
        );
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn super::Predictor),
    ) {
        f(
            crate::program::join_path(path, "codeact"),
            &mut self.codeact,
        );
        f(
            crate::program::join_path(&crate::program::join_path(path, "extractor"), "predict"),
            &mut self.extractor,
        );
    }
}
