//! `ReAct<S>`: DSPy's reasoning-and-acting agent over a typed signature.
//!
//! Each turn a `react` predictor sees the inputs and the trajectory so far and writes
//! `next_thought`, `next_tool_name` and `next_tool_args`; the tool runs and its observation
//! joins the trajectory. The episode ends when the agent picks `finish`, after `max_iters`
//! turns, or when a reply names no valid tool; then an `extract` ChainOfThought reads the
//! trajectory and writes the signature's outputs. Prompts are DSPy 3.4.1's, byte for byte.

pub(crate) mod signatures;
mod trajectory;

pub use trajectory::{End, Step, Trajectory};

use super::core::Outcome;
use super::{DynPredict, Module, Prediction, Reasoned, render_messages};
use crate::context::{self, run_module};
use crate::error::{Error, ParseError, ParseErrorKind, Result};
use crate::lm::{Lm, LmConfig, LmError, Message, Usage};
use crate::signature::{FieldMeta, InputFields, Signature};
use crate::tool::{Tool, ToolError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use signatures::FINISH;
use std::marker::PhantomData;
use std::sync::Arc;

/// How many turns an episode may take unless told otherwise (DSPy's default).
pub const DEFAULT_MAX_ITERS: usize = 20;

/// How often a call drops the oldest turn and retries when the prompt overflows (DSPy's).
const TRUNCATION_ATTEMPTS: usize = 3;

/// What ReAct returns: the signature's outputs, the extraction's reasoning and the episode.
/// Derefs to the outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReActOutput<O> {
    /// The episode's turns and how it ended.
    pub trajectory: Trajectory,
    /// What the extraction reasoned from the trajectory.
    pub reasoning: String,
    /// The signature's outputs.
    #[serde(flatten)]
    pub output: O,
}

impl<O> std::ops::Deref for ReActOutput<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

/// A tool-using agent for signature `S` (DSPy's `dspy.ReAct`).
///
/// Its predictors are `react` (one turn) and `extract.predict` (the final answer), so
/// optimizers compile it like any program.
pub struct ReAct<S: Signature> {
    react: DynPredict,
    extract: DynPredict,
    tools: Arc<[Tool]>,
    max_iters: usize,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for ReAct<S> {
    fn clone(&self) -> Self {
        ReAct {
            react: self.react.clone(),
            extract: self.extract.clone(),
            tools: self.tools.clone(),
            max_iters: self.max_iters,
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> std::fmt::Debug for ReAct<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tools: Vec<&str> = self.tools.iter().map(Tool::name).collect();
        f.debug_struct("ReAct")
            .field("signature", &S::meta().name())
            .field("tools", &tools)
            .field("max_iters", &self.max_iters)
            .finish()
    }
}

/// The inputs of `S` followed by the formatted trajectory.
struct WithTrajectory<'a, I> {
    input: &'a I,
    inputs: usize,
    trajectory: &'a str,
}

impl<I: InputFields> InputFields for WithTrajectory<'_, I> {
    fn write_input(
        &self,
        index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> std::result::Result<bool, String> {
        if index < self.inputs {
            self.input.write_input(index, field, out)
        } else {
            out.push_str(self.trajectory);
            Ok(true)
        }
    }
}

impl<S: Signature> ReAct<S> {
    /// An agent with these tools (and `finish`, added last as DSPy adds it). A later tool of
    /// the same name replaces an earlier one, and a tool named `finish` is replaced by
    /// ReAct's, as in DSPy.
    pub fn new(tools: impl IntoIterator<Item = Tool>) -> Self {
        let meta = S::meta();
        let mut all: Vec<Tool> = Vec::new();
        let finish = signatures::finish_tool(&signatures::backticked(meta.outputs()));
        for tool in tools.into_iter().chain([finish]) {
            match all.iter_mut().find(|t| t.name() == tool.name()) {
                Some(slot) => *slot = tool,
                None => all.push(tool),
            }
        }
        ReAct {
            react: DynPredict::from_meta(signatures::step_signature(meta, &all), "Predict"),
            extract: DynPredict::from_meta(signatures::extract_signature(meta), "ChainOfThought"),
            tools: all.into(),
            max_iters: DEFAULT_MAX_ITERS,
            _sig: PhantomData,
        }
    }

    /// The same agent with at most `max_iters` turns per episode.
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }

    /// Both predictors with their own LM.
    pub fn with_lm(mut self, lm: impl Into<Lm>) -> Self {
        let lm = lm.into();
        self.react.core.lm = Some(lm.clone());
        self.extract.core.lm = Some(lm);
        self
    }

    /// Both predictors with their own adapter.
    pub fn with_adapter(mut self, adapter: impl crate::adapter::Adapter) -> Self {
        let adapter: Arc<dyn crate::adapter::Adapter> = Arc::new(adapter);
        self.react.core.adapter = Some(adapter.clone());
        self.extract.core.adapter = Some(adapter);
        self
    }

    /// Both predictors with these sampling settings.
    pub fn with_config(mut self, config: LmConfig) -> Self {
        let config = Arc::new(config);
        self.react.core.config = config.clone();
        self.extract.core.config = config;
        self
    }

    /// The tools, `finish` included, in the order the instructions list them.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The turn predictor (`react`).
    pub fn react(&self) -> &DynPredict {
        &self.react
    }

    /// The extraction predictor (`extract.predict`, with `reasoning` first).
    pub fn extract(&self) -> &DynPredict {
        &self.extract
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut DynPredict, &mut DynPredict) {
        (&mut self.react, &mut self.extract)
    }

    /// Runs an episode of at most the agent's `max_iters` turns.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<ReActOutput<S::Output>>> {
        self.call_with(input, self.max_iters).await
    }

    /// Runs an episode of at most `max_iters` turns (DSPy's per-call `max_iters`).
    pub async fn call_with(
        &self,
        input: S::Input,
        max_iters: usize,
    ) -> Result<Prediction<ReActOutput<S::Output>>> {
        run_module(
            "ReAct",
            input,
            |input| async move { self.episode(&input, max_iters).await },
            |p: &Prediction<ReActOutput<S::Output>>| context::to_fields(p.output()).ok(),
        )
        .await
    }

    /// The messages of the turn after `trajectory`.
    pub fn render_step(&self, input: &S::Input, trajectory: &Trajectory) -> Result<Vec<Message>> {
        self.render(&self.react, input, trajectory)
    }

    /// The messages of the extraction after `trajectory`.
    pub fn render_extract(
        &self,
        input: &S::Input,
        trajectory: &Trajectory,
    ) -> Result<Vec<Message>> {
        self.render(&self.extract, input, trajectory)
    }

    /// [`ReAct::render_step`] as stable text, for snapshots.
    pub fn render_step_text(&self, input: &S::Input, trajectory: &Trajectory) -> Result<String> {
        Ok(render_messages(&self.render_step(input, trajectory)?))
    }

    fn render(
        &self,
        predictor: &DynPredict,
        input: &S::Input,
        trajectory: &Trajectory,
    ) -> Result<Vec<Message>> {
        let text = trajectory.format();
        let inputs = WithTrajectory {
            input,
            inputs: S::meta().inputs().len(),
            trajectory: &text,
        };
        predictor.core.render(&predictor.core.adapter(), &inputs)
    }

    async fn episode(
        &self,
        input: &S::Input,
        max_iters: usize,
    ) -> Result<Prediction<ReActOutput<S::Output>>> {
        let mut trajectory = Trajectory::default();
        let mut usage = Usage::default();
        for index in 0..max_iters {
            let outcome = match self
                .truncating(&self.react, input, &mut trajectory, &mut usage)
                .await
            {
                Ok(outcome) => outcome,
                Err(Error::Lm(LmError::ContextWindowExceeded { message })) => {
                    tracing::warn!("ReAct: ending the trajectory: {message}");
                    trajectory.end = End::ContextWindow { message };
                    break;
                }
                Err(Error::Parse(e)) => {
                    tracing::warn!(
                        "ReAct: ending the trajectory: the agent gave no valid tool call: {e}"
                    );
                    trajectory.end = End::InvalidStep {
                        message: e.to_string(),
                    };
                    break;
                }
                Err(e) => return Err(e),
            };
            let mut fields = outcome.parsed.fields;
            let mut text = |key: &str| match fields.remove(key) {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let thought = text("next_thought");
            let tool_name = text("next_tool_name");
            let tool_args = fields
                .remove("next_tool_args")
                .unwrap_or_else(|| Value::Object(Map::new()));
            let observation = self.act(&tool_name, tool_args.clone()).await;
            let finished = tool_name == FINISH;
            trajectory.steps.push(Step {
                index,
                thought,
                tool_name,
                tool_args,
                observation,
            });
            if finished {
                trajectory.end = End::Finished;
                break;
            }
        }
        let outcome = self
            .truncating(&self.extract, input, &mut trajectory, &mut usage)
            .await?;
        let Outcome {
            parsed,
            raw,
            adapter,
            ..
        } = outcome;
        let reasoned: Reasoned<S::Output> = serde_json::from_value(Value::Object(parsed.fields))
            .map_err(|e| {
                ParseError::new(
                    adapter,
                    ParseErrorKind::Deserialize {
                        message: e.to_string(),
                    },
                    &raw,
                )
            })?;
        Ok(Prediction::new(
            ReActOutput {
                trajectory,
                reasoning: reasoned.reasoning,
                output: reasoned.output,
            },
            usage,
            raw,
            parsed.coercions,
            adapter,
        ))
    }

    /// Runs the tool the agent chose; what went wrong becomes the observation, as in DSPy.
    async fn act(&self, name: &str, args: Value) -> Value {
        let Some(tool) = self.tools.iter().find(|t| t.name() == name) else {
            let available: Vec<&str> = self.tools.iter().map(Tool::name).collect();
            let e = ToolError::Unknown {
                tool: name.to_string(),
                available: available.join(", "),
            };
            return Value::String(format!("Execution error in {name}: {}", e.detail()));
        };
        match tool.call(args).await {
            Ok(v) => v,
            Err(e) => Value::String(format!("Execution error in {name}: {}", e.detail())),
        }
    }

    /// One call of `predictor` with the trajectory, dropping the oldest turn and retrying
    /// when the prompt overflows the context window (at most three tries, as DSPy).
    async fn truncating(
        &self,
        predictor: &DynPredict,
        input: &S::Input,
        trajectory: &mut Trajectory,
        usage: &mut Usage,
    ) -> Result<Outcome> {
        let inputs = S::meta().inputs().len();
        let mut last = String::new();
        for _ in 0..TRUNCATION_ATTEMPTS {
            let text = trajectory.format();
            let with = WithTrajectory {
                input,
                inputs,
                trajectory: &text,
            };
            let fields = || {
                let mut m = context::to_fields(input)?;
                m.insert("trajectory".into(), Value::String(text.clone()));
                Ok(m)
            };
            match predictor.core.run(&with, fields).await {
                Ok(outcome) => {
                    *usage += outcome.usage;
                    return Ok(outcome);
                }
                Err(Error::Lm(LmError::ContextWindowExceeded { message })) => {
                    if trajectory.steps.len() <= 1 {
                        return Err(Error::Lm(LmError::ContextWindowExceeded {
                            message: format!(
                                "the trajectory cannot be truncated because it has {} tool call(s): {message}",
                                trajectory.steps.len()
                            ),
                        }));
                    }
                    tracing::warn!(
                        "ReAct: the trajectory exceeded the context window; dropping the oldest tool call"
                    );
                    trajectory.steps.remove(0);
                    trajectory.dropped += 1;
                    last = message;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Lm(LmError::ContextWindowExceeded {
            message: format!(
                "the context window was exceeded even after {TRUNCATION_ATTEMPTS} attempts to truncate the trajectory: {last}"
            ),
        }))
    }
}

impl<S: Signature> Module for ReAct<S> {
    type Input = S::Input;
    type Output = Prediction<ReActOutput<S::Output>>;
    fn forward(
        &self,
        input: S::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}
