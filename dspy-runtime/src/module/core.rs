//! What every predictor shares: parameter slots, a cache of formatted prompt prefixes, and
//! one LM call with parsing and the adapter's fallback.

use crate::adapter::{Adapter, ParsedOutput, Prepared};
use crate::demo::Demo;
use crate::error::{Error, Result};
use crate::lm::{LanguageModel, Lm, LmConfig, LmError, LmRequest, Message, Usage};
use crate::settings;
use crate::signature::{InputFields, MetaRef, SignatureMeta};
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
        }
    }
}

/// One parsed reply.
pub(crate) struct Outcome {
    pub parsed: ParsedOutput,
    pub usage: Usage,
    pub raw: String,
    pub adapter: &'static str,
}

impl PredictCore {
    pub fn new(meta: MetaRef) -> Self {
        PredictCore {
            meta,
            instructions: None,
            demos: Vec::new(),
            config: Arc::new(LmConfig::default()),
            lm: None,
            adapter: None,
            prefixes: RwLock::new(Vec::new()),
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

    pub fn set_instructions(&mut self, instructions: String) {
        self.instructions = Some(instructions);
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
            .unwrap_or_else(settings::current_adapter)
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
    pub fn render(&self, adapter: &Arc<dyn Adapter>, inputs: &dyn InputFields) -> Vec<Message> {
        let prepared = self.prepared(adapter);
        let user = adapter.format_request(&self.meta, &prepared, inputs);
        let mut messages = Vec::with_capacity(prepared.messages.len() + 1);
        messages.extend(prepared.messages.iter().cloned());
        messages.push(Message::user(user));
        messages
    }

    /// Calls the LM and parses the reply, trying the adapter's fallback once on a parse failure.
    pub async fn run(&self, inputs: &(dyn InputFields + Sync)) -> Result<Outcome> {
        if crate::program::dry_run_active() {
            let adapter = self.adapter();
            let messages = self.render(&adapter, inputs);
            let core = std::ptr::from_ref(self) as usize;
            return Ok(Outcome {
                parsed: crate::program::DryRun::record(core, &self.meta, messages),
                usage: Usage::default(),
                raw: String::new(),
                adapter: adapter.name(),
            });
        }
        let lm = match self.lm.clone().or_else(settings::current_lm) {
            Some(lm) => lm,
            None => settings::default_lm()?,
        };
        let adapter = self.adapter();
        match self.attempt(&lm, &adapter, inputs).await {
            Err((Error::Parse(first), usage)) => match adapter.fallback() {
                Some(fallback) => match self.attempt(&lm, fallback, inputs).await {
                    Ok(mut outcome) => {
                        outcome.usage += usage;
                        Ok(outcome)
                    }
                    Err((Error::Parse(mut second), _)) => {
                        second.previous = Some(Box::new(first));
                        Err(Error::Parse(second))
                    }
                    Err((e, _)) => Err(e),
                },
                None => Err(Error::Parse(first)),
            },
            Err((e, _)) => Err(e),
            Ok(outcome) => Ok(outcome),
        }
    }

    async fn attempt(
        &self,
        lm: &Lm,
        adapter: &Arc<dyn Adapter>,
        inputs: &(dyn InputFields + Sync),
    ) -> Result<Outcome, (Error, Usage)> {
        let (config, rollout_id) = match settings::current_rollout() {
            Some((temperature, id)) => (
                Arc::new(LmConfig {
                    temperature: Some(temperature),
                    ..(*self.config).clone()
                }),
                Some(id),
            ),
            None => (self.config.clone(), None),
        };
        let request = LmRequest {
            messages: self.render(adapter, inputs),
            config,
            response_format: adapter.response_format(&self.meta, lm.capabilities()),
            rollout_id,
        };
        let response = LanguageModel::complete(&**lm, request)
            .await
            .map_err(|e| (Error::Lm(e), Usage::default()))?;
        let usage = response.usage;
        let Some(raw) = response.outputs.into_iter().next() else {
            return Err((
                Error::Lm(LmError::InvalidResponse(
                    "the LM returned no completions".into(),
                )),
                usage,
            ));
        };
        match adapter.parse(&self.meta, &raw) {
            Ok(parsed) => Ok(Outcome {
                parsed,
                usage,
                raw,
                adapter: adapter.name(),
            }),
            Err(e) => Err((Error::Parse(e), usage)),
        }
    }
}
