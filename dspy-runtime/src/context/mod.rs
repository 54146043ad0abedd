//! The call context: one value carried through every call (on the task running it) that says
//! which LM and adapter to use, which [`Callback`]s observe the call, and what the enclosing
//! call is. Traces, usage totals, dry-run rendering and tracing spans are callbacks or users of
//! it; so is anything a user adds (an exporter to Langfuse or MLflow is a callback).
//!
//! Where a value comes from, innermost first: the module's own (`Predict::with_lm`), the
//! enclosing [`scope`], the process-wide [`configure`](crate::configure).

mod admission;
mod callback;
mod emit;
mod hints;
mod lm_call;
mod spans;
mod stream;
pub mod trace;
mod usage;

pub use callback::{
    Call, CallId, CallKind, Callback, EvaluateEnd, EvaluateStart, FormatEnd, FormatStart, LmEnd,
    ModuleEnd, ModuleStart, ParseEnd, ParseStart, ToolEnd, ToolStart,
};
#[doc(hidden)]
pub use emit::probe;
pub(crate) use emit::{Emitter, next_id, to_fields};
pub use emit::{run_module, run_tool};
pub(crate) use hints::Hints;
pub(crate) use lm_call::{complete, complete_streaming};
pub use spans::TracingSpans;
pub(crate) use stream::{Note, StreamSink};
pub use stream::{PartialValue, Status, StreamChunk};
pub(crate) use trace::{Records, extend_trace, traced_nested};
pub use trace::{RetrievalEntry, TraceEntry, retrievals, trace, traced};
pub(crate) use trace::{record_retrieval, traced_with};
pub use usage::track_usage;

use crate::adapter::Adapter;
use crate::lm::Lm;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A list of callbacks, shared.
pub(crate) type Callbacks = Arc<[Arc<dyn Callback>]>;

/// A sampling temperature and rollout id over every LM call of a scope.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rollout {
    pub temperature: f32,
    pub id: u64,
}

/// The context of a call. Read the current one with [`current`]; change it for a future with
/// [`scope`].
#[derive(Clone, Default)]
pub struct Context {
    pub(crate) lm: Option<Lm>,
    pub(crate) adapter: Option<Arc<dyn Adapter>>,
    pub(crate) rollout: Option<Rollout>,
    /// Callbacks of the enclosing scopes (the process-wide ones are read at each call).
    pub(crate) callbacks: Option<Callbacks>,
    /// The enclosing call, for the events' `parent`.
    pub(crate) parent: Option<CallId>,
    /// The enclosing [`traced`]'s record, read by [`trace`].
    pub(crate) trace: Option<Arc<trace::TraceLog>>,
    /// Predictors answer with placeholders instead of calling an LM.
    pub(crate) dry_run: bool,
    /// Bounds the LM calls in flight across the scope.
    pub(crate) limit: Option<Arc<admission::Admission>>,
    /// Where this task's calls queue for `limit` (lower first).
    pub(crate) priority: u64,
    /// Refine's advice: every predictor in the scope gets a `hint_` input.
    pub(crate) hints: Option<Arc<Hints>>,
    /// Where predictors stream their outputs (inside `dspy::stream`).
    pub(crate) stream: Option<Arc<StreamSink>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("lm", &self.lm)
            .field("adapter", &self.adapter.as_ref().map(|a| a.name()))
            .field("callbacks", &self.callbacks.as_ref().map_or(0, |c| c.len()))
            .field("parent", &self.parent)
            .field("traced", &self.trace.is_some())
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

tokio::task_local! {
    static CURRENT: Context;
}

static EMPTY: Context = Context {
    lm: None,
    adapter: None,
    rollout: None,
    callbacks: None,
    parent: None,
    trace: None,
    dry_run: false,
    limit: None,
    priority: 0,
    hints: None,
    stream: None,
};

/// The context in effect on this task (the default one outside any [`scope`]).
pub fn current() -> Context {
    with_current(Context::clone)
}

/// Calls `f` with the current context, without cloning it.
pub(crate) fn with_current<R>(f: impl FnOnce(&Context) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|c| f.take().map(|f| f(c))) {
        Ok(Some(r)) => r,
        _ => match f.take() {
            Some(f) => f(&EMPTY),
            None => unreachable!("the closure ran, so it returned a value"),
        },
    }
}

impl Context {
    /// Runs `fut` in this context: how a context crosses into a spawned task
    /// (`tokio::spawn(dspy::context::current().run(fut))`).
    pub fn run<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }

    /// The LM this context provides, if any (the process-wide one when no scope set one).
    pub fn lm(&self) -> Option<Lm> {
        self.lm.clone().or_else(crate::settings::global_lm)
    }

    /// The adapter this context provides (the process-wide one, else ChatAdapter).
    pub fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter
            .clone()
            .unwrap_or_else(crate::settings::global_adapter)
    }

    /// Whether predictors in this context only render their prompts (inside
    /// `render_prompts`).
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }
}

/// Changes the context for one future: `dspy::context::scope().lm(lm).callback(cb).run(fut)`
/// (DSPy's `with dspy.context(lm=…, callbacks=[…])`). The changes apply to the context in
/// effect where the future runs, so scopes nest; callbacks add to the enclosing scopes' ones.
#[must_use = "a scope does nothing until `.run(fut)`"]
pub fn scope() -> Scope {
    Scope::default()
}

/// Changes to the context, made by [`scope`] and applied by [`Scope::run`].
#[derive(Default)]
pub struct Scope {
    lm: Option<Lm>,
    adapter: Option<Arc<dyn Adapter>>,
    rollout: Option<Rollout>,
    callbacks: Vec<Arc<dyn Callback>>,
    trace: Option<Arc<trace::TraceLog>>,
    dry_run: bool,
    limit: Option<Arc<admission::Admission>>,
    priority: Option<u64>,
    hints: Option<Arc<Hints>>,
    stream: Option<Arc<StreamSink>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("lm", &self.lm)
            .field("adapter", &self.adapter.as_ref().map(|a| a.name()))
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl Scope {
    /// The LM of every module in the scope that has none of its own.
    pub fn lm(mut self, lm: impl Into<Lm>) -> Self {
        self.lm = Some(lm.into());
        self
    }

    /// The adapter of every module in the scope that has none of its own.
    pub fn adapter(mut self, adapter: impl Adapter) -> Self {
        self.adapter = Some(Arc::new(adapter));
        self
    }

    /// [`Scope::adapter`] with an already shared adapter.
    pub fn adapter_arc(mut self, adapter: Arc<dyn Adapter>) -> Self {
        self.adapter = Some(adapter);
        self
    }

    /// Adds a callback for every call in the scope.
    pub fn callback(mut self, callback: impl Callback) -> Self {
        self.callbacks.push(Arc::new(callback));
        self
    }

    /// Adds an already shared callback (one you keep a handle to, to read what it gathered).
    pub fn callback_arc(mut self, callback: Arc<dyn Callback>) -> Self {
        self.callbacks.push(callback);
        self
    }

    /// Every LM call in the scope at `temperature` and tagged `rollout_id` (which also keys the
    /// cache apart), whatever the modules' own settings: how BootstrapFewShot's later rounds
    /// get fresh samples (DSPy's `temperature = 0.7 + 0.001 * round`).
    pub fn rollout(mut self, temperature: f32, rollout_id: u64) -> Self {
        self.rollout = Some(Rollout {
            temperature,
            id: rollout_id,
        });
        self
    }

    /// At most `n` LM calls in flight at once across the scope, however many modules,
    /// evaluations or candidates run concurrently in it (at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.limit = Some(Arc::new(admission::Admission::new(n)));
        self
    }

    /// Where the scope's LM calls queue for the enclosing [`Scope::max_in_flight`]: waiting
    /// calls are admitted lowest priority first, then in arrival order (0 by default). The
    /// optimizers give each candidate its index, so one candidate's calls — which share its
    /// instructions and demos as a prompt prefix — run back to back and reuse the server's
    /// prompt cache (llama-server's slots, the embedded engine's sequences) rather than
    /// interleaving with other candidates' calls.
    pub fn priority(mut self, priority: u64) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Predictors in the scope render their prompts and answer with placeholders instead of
    /// calling an LM.
    pub(crate) fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// Every predictor in the scope gets a `hint_` input: its hint, else `N/A` (`None`
    /// leaves the enclosing scope's hints).
    pub(crate) fn hints(mut self, hints: Option<Arc<Hints>>) -> Self {
        self.hints = hints;
        self
    }

    /// Predictors in the scope stream their outputs into `sink`, and module and tool calls
    /// become status notes.
    pub(crate) fn stream_to(mut self, sink: Arc<StreamSink>) -> Self {
        self.callbacks
            .push(Arc::new(stream::StatusCallback(sink.clone())));
        self.stream = Some(sink);
        self
    }

    pub(crate) fn trace_into(mut self, log: Arc<trace::TraceLog>) -> Self {
        self.trace = Some(log.clone());
        self.callbacks.push(log);
        self
    }

    /// The context in effect with these changes.
    fn apply(self, mut ctx: Context) -> Context {
        if let Some(lm) = self.lm {
            ctx.lm = Some(lm);
        }
        if let Some(a) = self.adapter {
            ctx.adapter = Some(a);
        }
        if let Some(r) = self.rollout {
            ctx.rollout = Some(r);
        }
        if let Some(t) = self.trace {
            ctx.trace = Some(t);
        }
        if let Some(l) = self.limit {
            ctx.limit = Some(l);
        }
        if let Some(p) = self.priority {
            ctx.priority = p;
        }
        if let Some(h) = self.hints {
            ctx.hints = Some(h);
        }
        if let Some(s) = self.stream {
            ctx.stream = Some(s);
        }
        ctx.dry_run |= self.dry_run;
        if !self.callbacks.is_empty() {
            let mut all: Vec<Arc<dyn Callback>> = ctx
                .callbacks
                .as_deref()
                .map(<[_]>::to_vec)
                .unwrap_or_default();
            all.extend(self.callbacks);
            ctx.callbacks = Some(all.into());
        }
        ctx
    }

    /// Runs `fut` in the scope: the context in effect where it runs, with these changes.
    pub async fn run<F: Future>(self, fut: F) -> F::Output {
        let ctx = self.apply(current());
        CURRENT.scope(ctx, fut).await
    }
}

/// Runs `fut` with `lm` as its default LM (for this task only; see [`Context::run`] for
/// spawned tasks).
pub fn with_lm<F: Future>(lm: impl Into<Lm>, fut: F) -> impl Future<Output = F::Output> {
    scope().lm(lm).run(fut)
}

/// Runs `fut` with `adapter` as its default adapter (for this task only).
pub fn with_adapter<F: Future>(adapter: impl Adapter, fut: F) -> impl Future<Output = F::Output> {
    scope().adapter(adapter).run(fut)
}

/// Runs `fut` with `callbacks` observing every call it makes (with the enclosing ones).
pub fn with_callbacks<F: Future>(
    callbacks: impl IntoIterator<Item = Arc<dyn Callback>>,
    fut: F,
) -> impl Future<Output = F::Output> {
    let mut s = scope();
    for c in callbacks {
        s = s.callback_arc(c);
    }
    s.run(fut)
}

/// Runs `fut` with every LM call at `temperature` and tagged `rollout_id`; see
/// [`Scope::rollout`].
pub fn with_rollout<F: Future>(
    temperature: f32,
    rollout_id: u64,
    fut: F,
) -> impl Future<Output = F::Output> {
    scope().rollout(temperature, rollout_id).run(fut)
}

/// The rollout id of the enclosing [`with_rollout`] scope, if any.
pub(crate) fn rollout_id() -> Option<u64> {
    with_current(|ctx| ctx.rollout.map(|r| r.id))
}

/// The LM in effect here (the scope's, else the process-wide one), if any.
pub fn current_lm() -> Option<Lm> {
    with_current(Context::lm)
}

/// The adapter in effect here (the scope's, else the process-wide one, else ChatAdapter).
pub fn current_adapter() -> Arc<dyn Adapter> {
    with_current(Context::adapter)
}

static GLOBAL_CALLBACKS: RwLock<Option<Callbacks>> = RwLock::new(None);
/// Whether any process-wide callback is set: lets a call skip the lock when none is.
static HAS_GLOBAL_CALLBACKS: AtomicBool = AtomicBool::new(false);

/// Sets the callbacks that observe every call in the process (DSPy's
/// `dspy.configure(callbacks=[…])`), replacing the ones set before.
pub fn configure_callbacks(callbacks: impl IntoIterator<Item = Arc<dyn Callback>>) {
    let list: Vec<Arc<dyn Callback>> = callbacks.into_iter().collect();
    let value = (!list.is_empty()).then(|| Callbacks::from(list));
    let mut global = GLOBAL_CALLBACKS.write().unwrap_or_else(|p| p.into_inner());
    HAS_GLOBAL_CALLBACKS.store(value.is_some(), Ordering::Release);
    *global = value;
}

/// The process-wide callbacks, if any.
pub(crate) fn global_callbacks() -> Option<Callbacks> {
    if !HAS_GLOBAL_CALLBACKS.load(Ordering::Acquire) {
        return None;
    }
    GLOBAL_CALLBACKS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scopes_nest_and_end() {
        assert!(current().lm.is_none());
        let lm = crate::lm::ScriptedLm::new(["x"]);
        let inner = with_lm(lm, async {
            let outer_lm = current().lm.map(|l| l.model().to_string());
            let nested = with_rollout(0.7, 1, async { current().rollout }).await;
            (outer_lm, nested, current().rollout)
        })
        .await;
        assert_eq!(inner.0.as_deref(), Some("scripted"));
        assert_eq!(
            inner.1,
            Some(Rollout {
                temperature: 0.7,
                id: 1
            })
        );
        assert_eq!(inner.2, None);
        assert!(current().lm.is_none());
    }

    #[tokio::test]
    async fn scoped_callbacks_add_up() {
        struct Nop;
        impl Callback for Nop {}
        let n = with_callbacks([Arc::new(Nop) as Arc<dyn Callback>], async {
            scope()
                .callback(Nop)
                .run(async { current().callbacks.map_or(0, |c| c.len()) })
                .await
        })
        .await;
        assert_eq!(n, 2);
    }
}
