//! `ReActV2<S>`: DSPy's tool-calling agent (its experimental `ReActV2`, `dspy.ReAct` from 3.5).
//!
//! Each turn one `react` predictor sees the inputs, the conversation so far and the tools,
//! thinks (`next_thought`) and calls tools, several at once if it likes; the calls run
//! concurrently and their results, keyed by call id, join the conversation. The agent ends by
//! calling `submit`, whose arguments are the signature's outputs. When the loop stops first
//! (`max_iters`, a reply that cannot be read, no tool call, a full context window) one more
//! call offers `submit` alone and requires a tool call (DSPy names `submit` in
//! `tool_choice`; a required call with only `submit` offered is the same, and every server
//! takes it).
//!
//! Tools go to the LM natively (OpenAI `tools`, Anthropic tool use) when the adapter asks
//! for it (JSONAdapter, or `ChatAdapter::native_function_calling(true)`) and the LM supports
//! it; otherwise as a `tools` input and a `tool_calls` output in the text, as DSPy does.

mod history;
mod signature;

pub use history::{AgentTurn, Break, Termination, ToolResult};

use crate::adapter::Adapter;
use crate::context::{self, run_module};
use crate::demo::Demo;
use crate::error::{Error, Result};
use crate::lm::{LmError, Message, ToolCall, ToolChoice, Usage};
use crate::module::core::{Outcome, Turn};
use crate::module::{DynPredict, Module, Prediction};
use crate::program::{Params, join_path};
use crate::signature::{FieldMeta, InputFields, Signature, SignatureMeta};
use crate::tool::Tool;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use signature::SUBMIT;
use std::marker::PhantomData;
use std::sync::Arc;

/// How many turns an episode may take unless told otherwise (DSPy's default).
pub const DEFAULT_MAX_ITERS: usize = 20;

/// What the agent returns: the signature's outputs, the conversation and how it ended.
/// Derefs to the outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentOutput<O> {
    /// Every turn: thought, tool calls and their results.
    pub history: Vec<AgentTurn>,
    /// How the outputs came.
    #[serde(flatten)]
    pub termination: Termination,
    /// The signature's outputs, as `submit` received them.
    #[serde(flatten)]
    pub output: O,
}

impl<O> std::ops::Deref for AgentOutput<O> {
    type Target = O;
    fn deref(&self) -> &O {
        &self.output
    }
}

impl<O> AgentOutput<O> {
    /// How many tools were called, `submit` included.
    pub fn tool_calls(&self) -> usize {
        self.history.iter().map(|t| t.calls.len()).sum()
    }
}

/// A tool-calling agent for signature `S` (DSPy's `ReActV2`). Its one predictor, `react`,
/// has a path like any other, so optimizers compile it.
pub struct ReActV2<S: Signature> {
    react: DynPredict,
    /// The step signature without `tools` and `tool_calls`, for native calls.
    native: Arc<SignatureMeta>,
    tools: Arc<[Tool]>,
    /// The tools as OpenAI function definitions.
    definitions: Arc<[Value]>,
    /// `submit` alone, for the forced submit.
    submit_only: Arc<[Value]>,
    /// The tools as the `tools` input shows them in text mode.
    tools_text: Arc<str>,
    max_iters: usize,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for ReActV2<S> {
    fn clone(&self) -> Self {
        ReActV2 {
            react: self.react.clone(),
            native: self.native.clone(),
            tools: self.tools.clone(),
            definitions: self.definitions.clone(),
            submit_only: self.submit_only.clone(),
            tools_text: self.tools_text.clone(),
            max_iters: self.max_iters,
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> std::fmt::Debug for ReActV2<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tools: Vec<&str> = self.tools.iter().map(Tool::name).collect();
        f.debug_struct("ReActV2")
            .field("signature", &S::meta().name())
            .field("tools", &tools)
            .field("max_iters", &self.max_iters)
            .finish()
    }
}

/// The step's inputs: the signature's (on the first request only) and, in text mode, the
/// tools.
struct StepInputs<'a, I> {
    input: Option<&'a I>,
    inputs: usize,
    tools: Option<&'a str>,
}

impl<I: InputFields> InputFields for StepInputs<'_, I> {
    fn write_input(
        &self,
        index: usize,
        field: &FieldMeta,
        out: &mut String,
    ) -> std::result::Result<bool, String> {
        match (index < self.inputs, self.input, self.tools) {
            (true, Some(input), _) => input.write_input(index, field, out),
            (false, _, Some(tools)) => {
                out.push_str(tools);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// What the last call of a stopped loop offers: `submit` alone, which must be called.
struct Forced<'a> {
    tools: &'a Arc<[Value]>,
    choice: ToolChoice,
}

/// One turn's reply: the thought and the calls.
struct Reply {
    thought: String,
    calls: Vec<ToolCall>,
}

impl<S: Signature> ReActV2<S> {
    /// An agent with these tools, and `submit` (whose arguments are `S`'s outputs) added
    /// last. A later tool of the same name replaces an earlier one; a tool named `submit` is
    /// an error, as in DSPy, and so are output fields named `history` or `termination` and
    /// input fields named `history` or `tools`.
    pub fn new(tools: impl IntoIterator<Item = Tool>) -> Result<Self> {
        let meta = S::meta();
        for (fields, reserved) in [
            (meta.outputs(), ["history", "termination"]),
            (meta.inputs(), ["history", "tools"]),
        ] {
            if let Some(f) = fields.iter().find(|f| reserved.contains(&f.name())) {
                return Err(Error::Signature(format!(
                    "field `{}` of {} is reserved by ReActV2; rename it",
                    f.name(),
                    meta.name()
                )));
            }
        }
        let mut all: Vec<Tool> = Vec::new();
        for tool in tools {
            if tool.name() == SUBMIT {
                return Err(Error::Signature(
                    "`submit` is reserved by ReActV2 as the final-output tool".into(),
                ));
            }
            match all.iter_mut().find(|t| t.name() == tool.name()) {
                Some(slot) => *slot = tool,
                None => all.push(tool),
            }
        }
        let submit = signature::submit_tool(meta)?;
        let submit_only: Arc<[Value]> = Arc::new([submit.to_openai()]);
        all.push(submit);
        let native = signature::step_signature(meta, &all, true);
        let text = signature::step_signature(meta, &all, false);
        Ok(ReActV2 {
            react: DynPredict::from_meta(text, "Predict"),
            native: Arc::new(native),
            definitions: all.iter().map(Tool::to_openai).collect(),
            submit_only,
            tools_text: signature::tools_text(&all).into(),
            tools: all.into(),
            max_iters: DEFAULT_MAX_ITERS,
            _sig: PhantomData,
        })
    }

    /// The same agent with at most `max_iters` turns per episode before the forced submit.
    pub fn max_iters(mut self, max_iters: usize) -> Self {
        self.max_iters = max_iters;
        self
    }

    // with_instructions, with_demos, with_lm, with_adapter, with_callback, with_config: on
    // the `react` predictor, as on any predictor.
    crate::module::predictor_builders!(react.core);

    /// The tools, `submit` last.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The step predictor (`react`); its signature is the text-mode one.
    pub fn react(&self) -> &DynPredict {
        &self.react
    }

    /// Runs an episode of at most the agent's `max_iters` turns.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<AgentOutput<S::Output>>> {
        self.call_with(input, self.max_iters).await
    }

    /// Runs an episode of at most `max_iters` turns (DSPy's per-call `max_iters`).
    pub async fn call_with(
        &self,
        input: S::Input,
        max_iters: usize,
    ) -> Result<Prediction<AgentOutput<S::Output>>> {
        run_module(
            "ReActV2",
            input,
            |input| async move { self.episode(&input, max_iters).await },
            |p: &Prediction<AgentOutput<S::Output>>| context::to_fields(p.output()).ok(),
        )
        .await
    }

    /// Whether this call sends tools natively: the adapter asks for it and the LM can.
    fn is_native(&self, adapter: &Arc<dyn Adapter>) -> bool {
        adapter.native_tool_calls()
            && self
                .react
                .core
                .resolve_lm()
                .is_ok_and(|lm| lm.capabilities().tool_calls)
    }

    /// The messages of the next request after `turns` (system and demos, the conversation,
    /// the final user message), without calling the LM.
    pub fn render(&self, input: &S::Input, turns: &[AgentTurn]) -> Result<Vec<Message>> {
        let adapter = self.react.core.adapter();
        let native = self.is_native(&adapter);
        let history = self.history(&adapter, native, input, turns)?;
        let meta = native.then_some(&*self.native);
        let inputs = self.step_inputs(input, turns.is_empty(), native);
        let turn = Turn {
            history: &history,
            meta,
            ..Turn::default()
        };
        self.react.core.render_turn(&adapter, &inputs, &turn)
    }

    fn step_inputs<'a>(
        &'a self,
        input: &'a S::Input,
        first: bool,
        native: bool,
    ) -> StepInputs<'a, S::Input> {
        StepInputs {
            input: first.then_some(input),
            inputs: S::meta().inputs().len(),
            tools: (!native).then_some(&*self.tools_text),
        }
    }

    /// The conversation so far as messages: the request that started it (the inputs), then
    /// per turn the assistant's thought and calls and the calls' results (as `tool` messages
    /// natively, as a `tool_call_results` user message in text mode).
    fn history(
        &self,
        adapter: &Arc<dyn Adapter>,
        native: bool,
        input: &S::Input,
        turns: &[AgentTurn],
    ) -> Result<Vec<Message>> {
        if turns.is_empty() {
            return Ok(Vec::new());
        }
        let core = &self.react.core;
        let meta = if native { &*self.native } else { core.meta() };
        let prepared = core.prepared_for(adapter, native.then_some(&*self.native));
        let first = StepInputs {
            input: Some(input),
            inputs: S::meta().inputs().len(),
            tools: None,
        };
        let mut messages = Vec::with_capacity(1 + 3 * turns.len());
        messages.push(Message::user(
            adapter.format_request(meta, &prepared, &first)?,
        ));
        for turn in turns {
            if native {
                let content = if turn.thought.is_empty() {
                    String::new()
                } else {
                    let thought = Demo::new().with("next_thought", turn.thought.clone());
                    adapter.format_assistant(meta, &thought)
                };
                messages.push(Message::assistant_calls(content, turn.calls.clone()));
                for r in &turn.results {
                    messages.push(Message::tool_result(r.call_id.clone(), r.content()));
                }
            } else {
                let outputs = Demo::new()
                    .with("next_thought", turn.thought.clone())
                    .with("tool_calls", turn.calls_value());
                messages.push(Message::assistant(adapter.format_assistant(meta, &outputs)));
                let results = serde_json::to_string(&turn.results)?;
                messages.push(Message::user(format!(
                    "[[ ## tool_call_results ## ]]\n{results}"
                )));
            }
        }
        Ok(messages)
    }

    async fn episode(
        &self,
        input: &S::Input,
        max_iters: usize,
    ) -> Result<Prediction<AgentOutput<S::Output>>> {
        let adapter = self.react.core.adapter();
        let native = self.is_native(&adapter);
        if context::with_current(|ctx| ctx.dry_run) {
            return self.dry_run(native, input).await;
        }
        let mut turns: Vec<AgentTurn> = Vec::new();
        let mut usage = Usage::default();
        let mut why = Break::MaxIters;
        for _ in 0..max_iters {
            let reply = match self
                .step(&adapter, native, input, &turns, None, &mut usage)
                .await
            {
                Ok(reply) => reply,
                Err(Error::Parse(e)) => {
                    tracing::warn!("ReActV2: ending the loop after a parse failure: {e}");
                    why = Break::ParseError {
                        message: e.to_string(),
                    };
                    break;
                }
                Err(Error::Lm(LmError::ContextWindowExceeded { message })) => {
                    tracing::warn!("ReActV2: ending the loop: the context window is full");
                    why = Break::ContextWindowExceeded { message };
                    break;
                }
                Err(e) => return Err(e),
            };
            if reply.calls.is_empty() {
                why = Break::EmptyToolCalls;
                break;
            }
            let (turn, output) = self.act(reply, turns.len()).await;
            turns.push(turn);
            if let Some(output) = output {
                return Ok(finish(turns, Termination::Submit, output, usage));
            }
        }
        self.forced_submit(&adapter, native, input, turns, why, usage)
            .await
    }

    /// A dry run renders the first request (no LM, no tools run) and answers with
    /// placeholder outputs, so `render_prompts` shows the agent's prompt.
    async fn dry_run(
        &self,
        native: bool,
        input: &S::Input,
    ) -> Result<Prediction<AgentOutput<S::Output>>> {
        let inputs = self.step_inputs(input, true, native);
        let turn = Turn {
            tools: native.then_some(&self.definitions),
            meta: native.then_some(&*self.native),
            ..Turn::default()
        };
        self.react
            .core
            .run_turn(&inputs, || context::to_fields(input), &turn)
            .await?;
        let outputs: serde_json::Map<String, Value> = S::meta()
            .outputs()
            .iter()
            .map(|f| {
                let value = crate::signature::Placeholder::value(f.name(), f.schema());
                (f.name().to_string(), value)
            })
            .collect();
        let output = serde_json::from_value(Value::Object(outputs))?;
        Ok(finish(
            Vec::new(),
            Termination::Submit,
            output,
            Usage::default(),
        ))
    }

    /// One call of the step predictor after `turns`.
    async fn step(
        &self,
        adapter: &Arc<dyn Adapter>,
        native: bool,
        input: &S::Input,
        turns: &[AgentTurn],
        forced: Option<&Forced<'_>>,
        usage: &mut Usage,
    ) -> Result<Reply> {
        let history = self.history(adapter, native, input, turns)?;
        let inputs = self.step_inputs(input, turns.is_empty(), native);
        let tools = forced.map_or(&self.definitions, |f| f.tools);
        let turn = Turn {
            history: &history,
            tools: native.then_some(tools),
            tool_choice: forced.filter(|_| native).map(|f| &f.choice),
            meta: native.then_some(&*self.native),
        };
        let fields = || {
            let mut m = context::to_fields(input)?;
            if !native {
                m.insert("tools".into(), Value::String(self.tools_text.to_string()));
            }
            Ok(m)
        };
        let Outcome {
            parsed,
            usage: used,
            tool_calls,
            raw,
            adapter: name,
            ..
        } = self.react.core.run_turn(&inputs, fields, &turn).await?;
        *usage += used;
        let mut fields = parsed.fields;
        let thought = match fields.remove("next_thought") {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let calls = if native {
            tool_calls
        } else {
            let value = fields.remove("tool_calls").unwrap_or(Value::Null);
            let Some(calls) = signature::read_calls(&value) else {
                return Err(Error::Parse(crate::error::ParseError::new(
                    name,
                    crate::error::ParseErrorKind::Deserialize {
                        message: format!(
                            "`tool_calls` must be {{\"tool_calls\": [{{\"name\": ..., \"args\": {{...}}}}]}}, got {value}"
                        ),
                    },
                    &raw,
                )));
            };
            calls
                .into_iter()
                .map(|(name, args)| ToolCall {
                    id: None,
                    name,
                    args,
                })
                .collect()
        };
        Ok(Reply { thought, calls })
    }

    /// Runs a turn's calls concurrently; results come back in call order. A successful
    /// `submit` whose arguments fit `S`'s outputs gives them.
    async fn act(&self, reply: Reply, index: usize) -> (AgentTurn, Option<S::Output>) {
        let calls: Vec<ToolCall> = reply
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                if c.id.as_deref().is_none_or(str::is_empty) {
                    c.id = Some(format!("call_{index}_{i}"));
                }
                c
            })
            .collect();
        let runs = calls.iter().map(|c| self.run_tool(c));
        let outcomes = futures_util::future::join_all(runs).await;
        let mut output = None;
        let mut results = Vec::with_capacity(calls.len());
        for (call, (value, is_error, submitted)) in calls.iter().zip(outcomes) {
            if output.is_none() {
                output = submitted;
            }
            results.push(ToolResult {
                call_id: call.id.clone().unwrap_or_default(),
                name: call.name.clone(),
                value,
                is_error,
            });
        }
        let turn = AgentTurn {
            thought: reply.thought,
            calls,
            results,
        };
        (turn, output)
    }

    /// One call: its result, whether it failed, and the outputs if it was a good `submit`.
    async fn run_tool(&self, call: &ToolCall) -> (Value, bool, Option<S::Output>) {
        let Some(tool) = self.tools.iter().find(|t| t.name() == call.name) else {
            return (json!(format!("Unknown tool: {}", call.name)), true, None);
        };
        let error = |detail: String| {
            (
                json!(format!("Execution error in {}: {detail}", call.name)),
                true,
                None,
            )
        };
        match tool.call(call.args.clone()).await {
            Err(e) => error(e.detail()),
            Ok(value) if call.name == SUBMIT => {
                match serde_json::from_value::<S::Output>(value.clone()) {
                    Ok(output) => (value, false, Some(output)),
                    Err(e) => error(format!("the outputs do not fit the signature: {e}")),
                }
            }
            Ok(value) => (value, false, None),
        }
    }

    /// The last call when the loop stopped without a good `submit`: natively the LM must
    /// call `submit`; in text mode it is asked as before. Without outputs after it, an error
    /// that says why the loop stopped and what `submit` said.
    async fn forced_submit(
        &self,
        adapter: &Arc<dyn Adapter>,
        native: bool,
        input: &S::Input,
        mut turns: Vec<AgentTurn>,
        why: Break,
        mut usage: Usage,
    ) -> Result<Prediction<AgentOutput<S::Output>>> {
        // `required` with `submit` alone is DSPy's `tool_choice` naming `submit`, in a form
        // every server takes (llama-server ignores a named function).
        let forced = Forced {
            tools: &self.submit_only,
            choice: ToolChoice::Required,
        };
        let mut reply = self
            .step(adapter, native, input, &turns, Some(&forced), &mut usage)
            .await?;
        reply.calls.retain(|c| c.name == SUBMIT);
        if reply.calls.is_empty() {
            return Err(Error::Agent(format!(
                "ReActV2 failed to produce final outputs after {why}: no submit call"
            )));
        }
        let (turn, output) = self.act(reply, turns.len()).await;
        let errors: Vec<String> = turn
            .results
            .iter()
            .filter(|r| r.is_error)
            .map(ToolResult::content)
            .collect();
        turns.push(turn);
        match output {
            Some(output) => Ok(finish(
                turns,
                Termination::ForcedSubmit { after: why },
                output,
                usage,
            )),
            None => Err(Error::Agent(format!(
                "ReActV2 failed to produce final outputs after {why}: submit failed.\n{}",
                errors.join("\n")
            ))),
        }
    }
}

fn finish<O>(
    history: Vec<AgentTurn>,
    termination: Termination,
    output: O,
    usage: Usage,
) -> Prediction<AgentOutput<O>> {
    Prediction::new(
        AgentOutput {
            history,
            termination,
            output,
        },
        usage,
        String::new(),
        Vec::new(),
        "ReActV2",
    )
}

impl<S: Signature> Module for ReActV2<S> {
    type Input = S::Input;
    type Output = Prediction<AgentOutput<S::Output>>;
    fn forward(
        &self,
        input: S::Input,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send {
        self.call(input)
    }
}

/// DSPy's ReActV2 holds one Predict, `react`.
impl<S: Signature> Params for ReActV2<S> {
    fn visit_params<'a>(
        &'a self,
        path: &str,
        f: &mut dyn FnMut(String, &'a dyn crate::module::Predictor),
    ) {
        f(join_path(path, "react"), &self.react);
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn crate::module::Predictor),
    ) {
        f(join_path(path, "react"), &mut self.react);
    }
}
