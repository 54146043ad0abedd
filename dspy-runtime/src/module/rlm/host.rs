//! What RLM puts in its REPL: the sub-LM (`llm_query`, `llm_query_batched`) under one
//! call budget, the user's tools, a `SUBMIT` taking the signature's outputs, and the inputs
//! as variables. The functions run in the caller's context, so their LM calls are traced,
//! observed and counted like any other.

use crate::context::{self, Context};
use crate::error::{Error, Result};
use crate::interpreter::{HostFunction, InterpreterError, PythonInterpreter, Session};
use crate::lm::{Lm, LmConfig, LmRequest, Message, Usage};
use crate::signature::SignatureMeta;
use crate::tool::Tool;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// How many prompts of one `llm_query_batched` call are in flight at once (DSPy's).
const BATCH_CONCURRENCY: usize = 8;

/// The sub-LM calls one RLM call may still make, and what they spent.
struct Budget {
    limit: usize,
    state: Mutex<(usize, Usage)>,
}

impl Budget {
    /// Takes `n` calls from the budget, or DSPy's message when they would exceed it.
    fn reserve(&self, n: usize) -> std::result::Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 + n > self.limit {
            return Err(format!(
                "LLM call limit exceeded: {} + {n} > {}. Use Python code for aggregation instead of making more LLM calls.",
                state.0, self.limit
            ));
        }
        state.0 += n;
        Ok(())
    }

    fn spend(&self, usage: Usage) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 += usage;
    }
}

/// The sub-LM as the code reaches it: its LM, settings and budget, in the caller's context.
struct SubLm {
    lm: Lm,
    config: Arc<LmConfig>,
    budget: Budget,
    context: Context,
}

impl SubLm {
    /// One call with `prompt` as the user message: its text, or what went wrong.
    async fn query(&self, prompt: String) -> std::result::Result<String, String> {
        let request = LmRequest {
            messages: vec![Message::user(prompt)],
            config: self.config.clone(),
            rollout_id: context::rollout_id(),
            ..LmRequest::default()
        };
        let response = self.lm.complete(request).await.map_err(|e| e.to_string())?;
        self.budget.spend(response.usage);
        response
            .outputs
            .into_iter()
            .next()
            .ok_or_else(|| "the sub-LM returned no completion".to_string())
    }
}

/// The host side of one RLM call's REPL.
pub(crate) struct Host {
    sub: Arc<SubLm>,
    tools: Arc<[Tool]>,
}

impl Host {
    /// Host functions on `lm` with `config` and `max_llm_calls` sub-LM calls, and `tools`,
    /// run in the current context.
    pub(crate) fn new(
        lm: Lm,
        config: Arc<LmConfig>,
        max_llm_calls: usize,
        tools: &Arc<[Tool]>,
    ) -> Host {
        Host {
            sub: Arc::new(SubLm {
                lm,
                config,
                budget: Budget {
                    limit: max_llm_calls,
                    state: Mutex::new((0, Usage::default())),
                },
                context: context::current(),
            }),
            tools: tools.clone(),
        }
    }

    /// What the sub-LM calls spent so far.
    pub(crate) fn usage(&self) -> Usage {
        self.sub
            .budget
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
    }

    /// A session with the functions, `SUBMIT` for `meta`'s outputs and the inputs set (also
    /// how a session a time limit ended is replaced; the budget carries over).
    pub(crate) async fn open(
        &self,
        interpreter: &PythonInterpreter,
        meta: &SignatureMeta,
        inputs: &Map<String, Value>,
    ) -> Result<Session> {
        let fail =
            |e: InterpreterError| Error::Module(format!("RLM: the REPL could not start: {e}"));
        let mut session = interpreter.session().await.map_err(fail)?;
        session
            .define(
                "llm_query",
                &["prompt"],
                "Query the LLM with a prompt string.",
                self.llm_query(),
            )
            .await
            .map_err(fail)?;
        session
            .define(
                "llm_query_batched",
                &["prompts"],
                "Query the LLM with several prompts concurrently; the replies in order.",
                self.llm_query_batched(),
            )
            .await
            .map_err(fail)?;
        crate::module::host_tools::define_tools(&mut session, &self.tools, &self.sub.context)
            .await
            .map_err(fail)?;
        let names: Vec<&str> = meta.outputs().iter().map(|f| f.name()).collect();
        if names
            .iter()
            .all(|n| crate::module::host_tools::is_python_name(n))
        {
            session.run(&submit_code(&names)).await.map_err(fail)?;
        }
        let mut values = Map::new();
        for f in meta.inputs() {
            values.insert(
                f.name().to_string(),
                inputs.get(f.name()).cloned().unwrap_or(Value::Null),
            );
        }
        session.set(values).await.map_err(fail)?;
        Ok(session)
    }

    fn llm_query(&self) -> HostFunction {
        let sub = self.sub.clone();
        Arc::new(move |args| {
            let sub = sub.clone();
            Box::pin(async move {
                let prompt = match args.get("prompt") {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(Value::String(_)) | None | Some(Value::Null) => {
                        return Err("prompt cannot be empty".to_string());
                    }
                    Some(other) => crate::format::python_str(other),
                };
                sub.budget.reserve(1)?;
                sub.context
                    .clone()
                    .run(sub.query(prompt))
                    .await
                    .map(Value::String)
            })
        })
    }

    fn llm_query_batched(&self) -> HostFunction {
        let sub = self.sub.clone();
        Arc::new(move |args| {
            let sub = sub.clone();
            Box::pin(async move {
                let prompts: Vec<String> = match args.get("prompts") {
                    Some(Value::Array(items)) => {
                        items.iter().map(crate::format::python_str).collect()
                    }
                    Some(other) => {
                        return Err(format!(
                            "prompts must be a list of strings, got {}",
                            crate::format::python_repr(other)
                        ));
                    }
                    None => return Err("prompts must be a list of strings".into()),
                };
                if prompts.is_empty() {
                    return Ok(Value::Array(Vec::new()));
                }
                sub.budget.reserve(prompts.len())?;
                let replies = sub
                    .context
                    .clone()
                    .run(crate::module::run_bounded(
                        prompts,
                        BATCH_CONCURRENCY,
                        |p| sub.query(p),
                        |_, _| std::ops::ControlFlow::Continue(()),
                    ))
                    .await;
                Ok(Value::Array(
                    replies
                        .into_iter()
                        .map(|r| match r {
                            Some(Ok(text)) => Value::String(text),
                            Some(Err(e)) => Value::String(format!("[ERROR] {e}")),
                            None => Value::String("[ERROR] not run".into()),
                        })
                        .collect(),
                ))
            })
        })
    }
}

/// Python that makes `SUBMIT` take the outputs by name or position (DSPy's typed SUBMIT).
fn submit_code(names: &[&str]) -> String {
    let params = names.join(", ");
    let kwargs: Vec<String> = names.iter().map(|n| format!("{n}={n}")).collect();
    format!(
        "def _dspy_submit(_submit):\n    def SUBMIT({params}):\n        \"\"\"Ends the run with the final outputs: {params}.\"\"\"\n        return _submit({})\n    return SUBMIT\nSUBMIT = _dspy_submit(SUBMIT)\ndel _dspy_submit\n",
        kwargs.join(", ")
    )
}
