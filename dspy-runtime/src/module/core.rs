//! What every predictor shares: parameter slots, a cache of formatted prompt prefixes, and
//! one LM call with parsing and the adapter's fallback.

use crate::adapter::{Adapter, ParsedOutput, Prepared};
use crate::context::{
    self, Call, CallKind, Callbacks, Emitter, FormatEnd, FormatStart, ModuleEnd, ModuleStart,
    ParseEnd, ParseStart, Rollout,
};
use crate::demo::Demo;
use crate::error::{Error, ParseError, Result};
use crate::lm::{Lm, LmConfig, LmError, LmRequest, Message, ToolCall, ToolChoice, Usage};
use crate::settings;
use crate::signature::history;
use crate::signature::{FieldMeta, InputFields, MetaRef, Role, SignatureMeta, WithTextInputs};
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock};

/// Most adapters whose prefixes one predictor keeps formatted.
const CACHED_ADAPTERS: usize = 8;

pub(crate) struct PredictCore {
    meta: MetaRef,
    instructions: Option<String>,
    demos: Vec<Demo>,
    pub(crate) config: Arc<LmConfig>,
    pub(crate) lm: Option<Lm>,
    pub(crate) adapter: Option<Arc<dyn Adapter>>,
    /// Prefixes per adapter; holding the adapter keeps its address unique while cached.
    prefixes: PrefixCache,
    /// This predictor's own callbacks (over the scoped and process-wide ones).
    pub(crate) callbacks: Option<Callbacks>,
    /// The module kind events name (`Predict`, `ChainOfThought`, `DynPredict`).
    pub(crate) module: &'static str,
}

type PrefixCache = RwLock<Vec<(Arc<dyn Adapter>, Arc<Prepared>)>>;

impl Clone for PredictCore {
    fn clone(&self) -> Self {
        PredictCore {
            meta: self.meta.clone(),
            instructions: self.instructions.clone(),
            demos: self.demos.clone(),
            config: self.config.clone(),
            lm: self.lm.clone(),
            adapter: self.adapter.clone(),
            prefixes: RwLock::new(Vec::new()),
            callbacks: self.callbacks.clone(),
            module: self.module,
        }
    }
}

/// One parsed reply.
pub(crate) struct Outcome {
    pub parsed: ParsedOutput,
    pub usage: Usage,
    pub raw: String,
    pub adapter: &'static str,
    /// The tool calls the LM made natively (empty when it made none or none were offered).
    pub tool_calls: Vec<ToolCall>,
    /// The LM's native reasoning for this completion, if it gave any.
    pub reasoning: Option<String>,
}

/// What a call adds to a predictor's own prompt: earlier turns of a conversation, tools
/// offered natively, and the signature to format and parse with instead of the
/// predictor's (same instructions and demos; an agent's native-mode view of its step).
#[derive(Clone, Copy, Default)]
pub(crate) struct Turn<'a> {
    /// Messages between the prompt's prefix (system, demos) and the final user message.
    pub history: &'a [Message],
    /// Tools offered natively (OpenAI function definitions).
    pub tools: Option<&'a Arc<[Value]>>,
    /// Whether and which tool the LM must call.
    pub tool_choice: Option<&'a ToolChoice>,
    /// The signature used in place of the predictor's.
    pub meta: Option<&'a SignatureMeta>,
}

impl Outcome {
    /// The parsed fields as a typed prediction; fields that do not fit `O` are a parse error
    /// quoting the reply.
    pub fn into_prediction<O: serde::de::DeserializeOwned>(self) -> Result<super::Prediction<O>> {
        let output: O = serde_json::from_value(Value::Object(self.parsed.fields)).map_err(|e| {
            ParseError::new(
                self.adapter,
                crate::error::ParseErrorKind::Deserialize {
                    message: e.to_string(),
                },
                &self.raw,
            )
        })?;
        Ok(super::Prediction::new(
            output,
            self.usage,
            self.raw,
            self.parsed.coercions,
            self.adapter,
        ))
    }
}

impl PredictCore {
    pub fn new(meta: MetaRef, module: &'static str) -> Self {
        PredictCore {
            meta,
            instructions: None,
            demos: Vec::new(),
            config: Arc::new(LmConfig::default()),
            lm: None,
            adapter: None,
            prefixes: RwLock::new(Vec::new()),
            callbacks: None,
            module,
        }
    }

    pub fn meta(&self) -> &SignatureMeta {
        &self.meta
    }

    pub fn instructions(&self) -> &str {
        self.instructions
            .as_deref()
            .unwrap_or_else(|| self.meta.instructions())
    }

    /// Replaces the instructions, cleaned as DSPy cleans them (`inspect.cleandoc`).
    pub fn set_instructions(&mut self, instructions: String) {
        self.instructions = Some(dspy_grammar::cleandoc(&instructions));
        self.invalidate();
    }

    pub fn demos(&self) -> &[Demo] {
        &self.demos
    }

    pub fn set_demos(&mut self, demos: Vec<Demo>) -> Result<()> {
        for d in &demos {
            d.check(&self.meta)?;
        }
        self.demos = demos;
        self.invalidate();
        Ok(())
    }

    fn invalidate(&mut self) {
        self.prefixes
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter
            .clone()
            .unwrap_or_else(|| context::with_current(context::Context::adapter))
    }

    /// The LM a call would use now: the predictor's own, the context's, or the configured
    /// default.
    pub fn resolve_lm(&self) -> Result<Lm> {
        match self
            .lm
            .clone()
            .or_else(|| context::with_current(|ctx| ctx.lm()))
        {
            Some(lm) => Ok(lm),
            None => settings::default_lm(),
        }
    }

    /// The formatted prefix for `adapter`, formatted on first use.
    fn prepared(&self, adapter: &Arc<dyn Adapter>) -> Arc<Prepared> {
        let same = |(a, _): &&(Arc<dyn Adapter>, Arc<Prepared>)| {
            std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(adapter))
        };
        if let Some((_, p)) = self
            .prefixes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(same)
        {
            return p.clone();
        }
        let prepared = Arc::new(adapter.prepare(&self.meta, self.instructions(), &self.demos));
        let mut cache = self.prefixes.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_ADAPTERS {
            cache.clear();
        }
        cache.push((adapter.clone(), prepared.clone()));
        prepared
    }

    /// The messages a call with `inputs` would send through `adapter`.
    pub fn render(
        &self,
        adapter: &Arc<dyn Adapter>,
        inputs: &dyn InputFields,
    ) -> Result<Vec<Message>> {
        self.render_turn(adapter, inputs, &Turn::default())
    }

    /// [`PredictCore::render`] with `turn`'s history (and signature, when it has one).
    pub fn render_turn(
        &self,
        adapter: &Arc<dyn Adapter>,
        inputs: &dyn InputFields,
        turn: &Turn<'_>,
    ) -> Result<Vec<Message>> {
        let prepared = self.prepared_for(adapter, turn.meta);
        Self::render_prepared(
            adapter,
            &prepared,
            inputs,
            turn.meta.unwrap_or(&self.meta),
            turn,
        )
    }

    /// The messages of a call: the `prepared` prefix, `turn`'s history (or the History input's
    /// turns) and the user message with `inputs`.
    fn render_prepared(
        adapter: &Arc<dyn Adapter>,
        prepared: &Prepared,
        inputs: &dyn InputFields,
        meta: &SignatureMeta,
        turn: &Turn<'_>,
    ) -> Result<Vec<Message>> {
        if let Some(index) = history::history_input(meta) {
            return history_messages(adapter, meta, prepared, inputs, index, turn);
        }
        let user = adapter.format_request(meta, prepared, inputs)?;
        let mut messages = Vec::with_capacity(prepared.messages.len() + turn.history.len() + 1);
        messages.extend(prepared.messages.iter().cloned());
        messages.extend(turn.history.iter().cloned());
        messages.push(Message::user(user));
        Ok(messages)
    }

    /// A call's messages with `inputs` through the predictor's adapter (its demos left out
    /// when `without_demos`; a History input's turns kept either way), then the assistant
    /// message answering with `outputs`.
    pub fn finetune_messages(
        &self,
        inputs: &Map<String, Value>,
        outputs: &Map<String, Value>,
        without_demos: bool,
    ) -> Result<Vec<Message>> {
        let adapter = self.adapter();
        let mut messages = if without_demos {
            let prepared = adapter.prepare(&self.meta, self.instructions(), &[]);
            Self::render_prepared(&adapter, &prepared, inputs, &self.meta, &Turn::default())?
        } else {
            self.render(&adapter, inputs)?
        };
        let answer = adapter.format_assistant(&self.meta, &Demo::from_map(outputs.clone()));
        messages.push(Message::assistant(answer));
        Ok(messages)
    }

    /// The prefix `adapter` formats for `meta` (the predictor's own when `None`) with this
    /// predictor's instructions and demos.
    pub fn prepared_for(
        &self,
        adapter: &Arc<dyn Adapter>,
        meta: Option<&SignatureMeta>,
    ) -> Arc<Prepared> {
        match meta {
            Some(meta) => Arc::new(adapter.prepare(meta, self.instructions(), &self.demos)),
            None => self.prepared(adapter),
        }
    }

    /// One call of this predictor: module start and end events around it (when observed),
    /// then the LM call and parsing with the adapter's fallback tried once on a parse failure
    /// (or, in a dry run, the prompt rendered and placeholders returned). `fields` gives the
    /// inputs by name for the events.
    pub async fn run(
        &self,
        inputs: &(dyn InputFields + Sync),
        fields: impl FnOnce() -> Result<Map<String, Value>>,
    ) -> Result<Outcome> {
        self.run_turn(inputs, fields, &Turn::default()).await
    }

    /// [`PredictCore::run`] with a conversation's earlier turns and native tools. Inside a
    /// scope with hints (Refine's advice), the signature gains a last input `hint_` holding
    /// this predictor's hint, as DSPy's Refine appends it.
    pub async fn run_turn(
        &self,
        inputs: &(dyn InputFields + Sync),
        fields: impl FnOnce() -> Result<Map<String, Value>>,
        turn: &Turn<'_>,
    ) -> Result<Outcome> {
        let hint =
            context::with_current(|ctx| ctx.hints.as_ref().map(|h| h.get(self.id()).to_string()));
        let Some(hint) = hint else {
            return self.run_turn_as_is(inputs, fields, turn).await;
        };
        let meta = turn
            .meta
            .unwrap_or(&self.meta)
            .with_appended_inputs([FieldMeta::string(
                "hint_",
                Role::Input,
                Some("A hint to the module from an earlier run".into()),
            )]);
        let hinted = WithTextInputs {
            inputs,
            n: meta.inputs().len() - 1,
            extra: std::slice::from_ref(&hint),
        };
        let fields = || {
            let mut map = fields()?;
            map.insert("hint_".into(), Value::String(hint.clone()));
            Ok(map)
        };
        let turn = Turn {
            meta: Some(&meta),
            ..*turn
        };
        self.run_turn_as_is(&hinted, fields, &turn).await
    }

    async fn run_turn_as_is(
        &self,
        inputs: &(dyn InputFields + Sync),
        fields: impl FnOnce() -> Result<Map<String, Value>>,
        turn: &Turn<'_>,
    ) -> Result<Outcome> {
        let (emitter, parent, dry_run, rollout, scoped_lm, adapter) =
            context::with_current(|ctx| {
                (
                    Emitter::new(ctx, self.callbacks.as_ref()),
                    ctx.parent,
                    ctx.dry_run,
                    ctx.rollout,
                    self.lm.is_none().then(|| ctx.lm()).flatten(),
                    self.adapter.clone().unwrap_or_else(|| ctx.adapter()),
                )
            });
        let call = Call {
            id: emitter.as_ref().map_or(0, |_| context::next_id()),
            parent,
            kind: CallKind::Module,
            name: self.module,
            predictor: Some(self.id()),
        };
        let Some(emitter) = emitter else {
            let step = Step {
                emitter: None,
                call,
                rollout,
            };
            return self
                .step(&step, scoped_lm, &adapter, inputs, dry_run, turn)
                .await;
        };
        let input_fields = fields()?;
        emitter.each(|c| {
            c.on_module_start(
                &call,
                &ModuleStart {
                    inputs: &input_fields,
                },
            )
        });
        let step = Step {
            emitter: Some(&emitter),
            call,
            rollout,
        };
        let result = self
            .step(&step, scoped_lm, &adapter, inputs, dry_run, turn)
            .await;
        let end = ModuleEnd {
            inputs: &input_fields,
            outputs: result.as_ref().map(|o| Some(&o.parsed.fields)),
        };
        emitter.each(|c| c.on_module_end(&call, &end));
        result
    }

    /// This predictor's id in events and traces (its address while borrowed).
    pub fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    async fn step(
        &self,
        step: &Step<'_>,
        scoped_lm: Option<Lm>,
        adapter: &Arc<dyn Adapter>,
        inputs: &(dyn InputFields + Sync),
        dry_run: bool,
        turn: &Turn<'_>,
    ) -> Result<Outcome> {
        if dry_run {
            self.render_observed(step, adapter, inputs, turn)?;
            return Ok(Outcome {
                parsed: placeholder_outputs(turn.meta.unwrap_or(&self.meta)),
                usage: Usage::default(),
                raw: String::new(),
                adapter: adapter.name(),
                tool_calls: Vec::new(),
                reasoning: None,
            });
        }
        let lm = match self.lm.clone().or(scoped_lm) {
            Some(lm) => lm,
            None => settings::default_lm()?,
        };
        // A `Reasoning` output on a model that reasons natively: leave it out of the prompt,
        // ask for the effort, and fill it from the reply's reasoning (DSPy's
        // `adapt_to_native_lm_feature`).
        let meta = turn.meta.unwrap_or(&self.meta);
        let effort = self.config.reasoning_effort.as_deref().unwrap_or("low");
        let native = meta
            .reasoning_output()
            .filter(|_| lm.capabilities().reasoning && effort != "none")
            .map(|f| (f.name().to_string(), meta.without_output(f.name())));
        if let Some((field, without)) = &native {
            let turn = Turn {
                meta: Some(without),
                ..*turn
            };
            let mut outcome = self
                .step_on(step, &lm, adapter, inputs, &turn, Some(effort))
                .await?;
            let value = Value::String(outcome.reasoning.take().unwrap_or_default());
            let mut fields = Map::with_capacity(meta.outputs().len());
            for f in meta.outputs() {
                match f.name() == field {
                    true => fields.insert(f.name().to_string(), value.clone()),
                    false => outcome
                        .parsed
                        .fields
                        .remove(f.name())
                        .and_then(|v| fields.insert(f.name().to_string(), v)),
                };
            }
            outcome.parsed.fields = fields;
            return Ok(outcome);
        }
        self.step_on(step, &lm, adapter, inputs, turn, None).await
    }

    /// The LM call with the adapter's fallback tried once on a parse failure.
    async fn step_on(
        &self,
        step: &Step<'_>,
        lm: &Lm,
        adapter: &Arc<dyn Adapter>,
        inputs: &(dyn InputFields + Sync),
        turn: &Turn<'_>,
        effort: Option<&str>,
    ) -> Result<Outcome> {
        match self.attempt(step, lm, adapter, inputs, turn, effort).await {
            Err((Error::Parse(first), usage)) => match adapter.fallback() {
                Some(fallback) => {
                    // A stream's reader drops this predictor's chunks so far.
                    if let Some(sink) = context::with_current(|ctx| ctx.stream.clone()) {
                        sink.send(context::Note::Status(context::Status::Retry {
                            predictor: sink.path(self.id()),
                            adapter: fallback.name().to_string(),
                        }));
                    }
                    match self.attempt(step, lm, fallback, inputs, turn, effort).await {
                        Ok(mut outcome) => {
                            outcome.usage += usage;
                            Ok(outcome)
                        }
                        Err((Error::Parse(mut second), _)) => {
                            second.previous = Some(Box::new(first));
                            Err(Error::Parse(second))
                        }
                        Err((e, _)) => Err(e),
                    }
                }
                None => Err(Error::Parse(first)),
            },
            Err((e, _)) => Err(e),
            Ok(outcome) => Ok(outcome),
        }
    }

    /// [`PredictCore::render`] with adapter format events.
    fn render_observed(
        &self,
        step: &Step<'_>,
        adapter: &Arc<dyn Adapter>,
        inputs: &dyn InputFields,
        turn: &Turn<'_>,
    ) -> Result<Vec<Message>> {
        let Some(emitter) = step.emitter else {
            return self.render_turn(adapter, inputs, turn);
        };
        let call = step.child(CallKind::Format, adapter.name());
        emitter.each(|c| {
            c.on_adapter_format_start(
                &call,
                &FormatStart {
                    instructions: self.instructions(),
                    demos: &self.demos,
                },
            )
        });
        let messages = self.render_turn(adapter, inputs, turn)?;
        emitter.each(|c| {
            c.on_adapter_format_end(
                &call,
                &FormatEnd {
                    messages: &messages,
                },
            )
        });
        Ok(messages)
    }

    /// [`Adapter::parse`] with adapter parse events.
    fn parse_observed(
        &self,
        step: &Step<'_>,
        adapter: &Arc<dyn Adapter>,
        completion: &str,
        meta: &SignatureMeta,
    ) -> Result<ParsedOutput, ParseError> {
        let Some(emitter) = step.emitter else {
            return adapter.parse(meta, completion);
        };
        let call = step.child(CallKind::Parse, adapter.name());
        emitter.each(|c| c.on_adapter_parse_start(&call, &ParseStart { completion }));
        let result = adapter.parse(meta, completion);
        let end = ParseEnd {
            completion,
            result: result.as_ref(),
        };
        emitter.each(|c| c.on_adapter_parse_end(&call, &end));
        result
    }

    async fn attempt(
        &self,
        step: &Step<'_>,
        lm: &Lm,
        adapter: &Arc<dyn Adapter>,
        inputs: &(dyn InputFields + Sync),
        turn: &Turn<'_>,
        effort: Option<&str>,
    ) -> Result<Outcome, (Error, Usage)> {
        let (mut config, rollout_id) = match step.rollout {
            Some(r) => (
                Arc::new(LmConfig {
                    temperature: Some(r.temperature),
                    ..(*self.config).clone()
                }),
                Some(r.id),
            ),
            None => (self.config.clone(), None),
        };
        if let Some(effort) = effort {
            Arc::make_mut(&mut config).reasoning_effort = Some(effort.to_string());
        }
        let meta = turn.meta.unwrap_or(&self.meta);
        let messages = self
            .render_observed(step, adapter, inputs, turn)
            .map_err(|e| (e, Usage::default()))?;
        let request = LmRequest {
            messages,
            config,
            response_format: adapter.response_format(meta, lm.capabilities()),
            rollout_id,
            tools: turn.tools.cloned(),
            tool_choice: turn.tool_choice.cloned(),
        };
        // Inside `dspy::stream`, the reply streams through the adapter's field markers; not
        // with tools (a call is not text), several completions, or native reasoning (whose
        // reasoning the stream does not carry).
        let sink = context::with_current(|ctx| ctx.stream.clone());
        let streams =
            request.tools.is_none() && request.config.n.unwrap_or(1) <= 1 && effort.is_none();
        let feed = sink
            .filter(|_| streams)
            .and_then(|sink| Some((sink, adapter.field_stream(meta)?)))
            .map(|(sink, fields)| {
                super::stream_feed::FieldFeed::new(sink, self.id(), meta, fields)
            });
        let parent = step.emitter.map(|_| step.call.id);
        let response = match feed {
            None => context::complete(lm, request, step.emitter, parent, Some(self.id())).await,
            Some(mut feed) => {
                let response = context::complete_streaming(
                    lm,
                    request,
                    step.emitter,
                    parent,
                    Some(self.id()),
                    &mut |text| feed.push(text),
                )
                .await;
                // A call that failed leaves its open field without a last chunk.
                if response.is_ok() {
                    feed.finish();
                }
                response
            }
        }
        .map_err(|e| (Error::Lm(e), Usage::default()))?;
        let usage = response.usage;
        let reasoning = response.reasoning.into_iter().next().flatten();
        let tool_calls = response.tool_calls.into_iter().next().unwrap_or_default();
        let Some(raw) = response.outputs.into_iter().next() else {
            return Err((
                Error::Lm(LmError::InvalidResponse(
                    "the LM returned no completions".into(),
                )),
                usage,
            ));
        };
        // TwoStepAdapter: the reply is prose; its extraction LM fills the outputs.
        if let Some(extraction) = adapter.extraction_lm() {
            return match self.extract(extraction, meta, &raw).await {
                Ok((parsed, more)) => Ok(Outcome {
                    parsed,
                    usage: usage + more,
                    raw,
                    adapter: adapter.name(),
                    tool_calls,
                    reasoning,
                }),
                Err(Error::Parse(inner)) => {
                    let mut e = ParseError::new(adapter.name(), (*inner.kind).clone(), &raw);
                    e.previous = Some(Box::new(inner));
                    Err((Error::Parse(e), usage))
                }
                Err(e) => Err((e, usage)),
            };
        }
        // With native tool calls the text is optional: what does not parse is left out, as
        // DSPy leaves it.
        let parsed = match (raw.trim().is_empty(), tool_calls.is_empty()) {
            (true, false) => Ok(ParsedOutput::default()),
            (false, false) => Ok(self
                .parse_observed(step, adapter, &raw, meta)
                .unwrap_or_default()),
            (_, true) => self.parse_observed(step, adapter, &raw, meta),
        };
        match parsed {
            Ok(parsed) => Ok(Outcome {
                parsed,
                usage,
                raw,
                adapter: adapter.name(),
                tool_calls,
                reasoning,
            }),
            Err(e) => Err((Error::Parse(e), usage)),
        }
    }
}

impl PredictCore {
    /// TwoStepAdapter's second step: `text -> outputs` through ChatAdapter on `lm`, with no
    /// demos (as DSPy runs it); the parsed outputs and that call's usage.
    async fn extract(
        &self,
        lm: &Lm,
        meta: &SignatureMeta,
        text: &str,
    ) -> Result<(ParsedOutput, Usage)> {
        let extractor = crate::adapter::extractor_signature(meta);
        let mut core = PredictCore::new(MetaRef::Shared(Arc::new(extractor)), "TwoStepAdapter");
        core.lm = Some(lm.clone());
        core.adapter = Some(Arc::new(crate::adapter::ChatAdapter::new()));
        let none = Demo::default();
        let texts = [text];
        let inputs = WithTextInputs {
            inputs: &none,
            n: 0,
            extra: &texts,
        };
        let fields = || {
            Ok(Map::from_iter([(
                "text".to_string(),
                Value::String(text.to_string()),
            )]))
        };
        let outcome = Box::pin(core.run(&inputs, fields)).await?;
        Ok((outcome.parsed, outcome.usage))
    }
}

/// What one call's steps share: who observes it, the module call's event, the rollout.
struct Step<'a> {
    emitter: Option<&'a Emitter>,
    call: Call<'static>,
    rollout: Option<Rollout>,
}

impl Step<'_> {
    /// An event of `kind` inside the module call.
    fn child(&self, kind: CallKind, name: &'static str) -> Call<'static> {
        Call {
            id: context::next_id(),
            parent: Some(self.call.id),
            kind,
            name,
            predictor: self.call.predictor,
        }
    }
}

/// Outputs for `meta` that fit their schemas: a dry run's answer.
fn placeholder_outputs(meta: &SignatureMeta) -> ParsedOutput {
    ParsedOutput {
        fields: meta
            .outputs()
            .iter()
            .map(|f| {
                (
                    f.name().to_string(),
                    crate::signature::Placeholder::value(f.name(), f.schema()),
                )
            })
            .collect(),
        coercions: Vec::new(),
    }
}

/// The messages of a call whose signature has a `History` input (DSPy's
/// `format_conversation_history`): the prefix, each history message as a user turn (its inputs
/// and the output requirements, when it has inputs) and an assistant turn (its outputs, `None`
/// where missing), then the request without the history.
fn history_messages(
    adapter: &Arc<dyn Adapter>,
    meta: &SignatureMeta,
    prepared: &Prepared,
    inputs: &dyn InputFields,
    index: usize,
    turn: &Turn<'_>,
) -> Result<Vec<Message>> {
    let bad = |e: String| {
        crate::Error::Serialize(format!("input `{}`: {e}", meta.inputs()[index].name()))
    };
    let past = history::messages_of(inputs, meta, index).map_err(bad)?;
    let past = past.map(|h| h.messages).unwrap_or_default();
    let mut messages = Vec::with_capacity(prepared.messages.len() + 2 * past.len() + 1);
    messages.extend(prepared.messages.iter().cloned());
    let plain = Prepared {
        messages: Vec::new(),
        request_suffix: String::new(),
    };
    for message in past {
        let with_inputs = history::has_inputs(meta, index, &message);
        let demo = history::turn_outputs(meta, message);
        let context = if with_inputs { prepared } else { &plain };
        let skip = history::Without {
            inputs: &demo,
            skip: index,
        };
        let user = adapter.format_request(meta, context, &skip)?;
        if !user.is_empty() {
            messages.push(Message::user(user));
        }
        messages.push(Message::assistant(adapter.format_assistant(meta, &demo)));
    }
    messages.extend(turn.history.iter().cloned());
    let request = history::Without {
        inputs,
        skip: index,
    };
    messages.push(Message::user(
        adapter.format_request(meta, prepared, &request)?,
    ));
    Ok(messages)
}
