//! Which LM and adapter a call uses: the module's own, else the task's scope, else the global
//! default set by [`configure`].

use crate::adapter::{Adapter, ChatAdapter};
use crate::lm::Lm;
use std::future::Future;
use std::sync::{Arc, LazyLock, RwLock};

#[derive(Clone, Default)]
struct Settings {
    lm: Option<Lm>,
    adapter: Option<Arc<dyn Adapter>>,
    /// A sampling temperature and rollout id over every call's (bootstrapping rounds > 0).
    rollout: Option<(f32, u64)>,
}

static GLOBAL: RwLock<Settings> = RwLock::new(Settings {
    lm: None,
    adapter: None,
    rollout: None,
});

static DEFAULT_ADAPTER: LazyLock<Arc<dyn Adapter>> =
    LazyLock::new(|| Arc::new(ChatAdapter::default()));

tokio::task_local! {
    static SCOPED: Settings;
}

fn write_global(f: impl FnOnce(&mut Settings)) {
    let mut g = GLOBAL.write().unwrap_or_else(|p| p.into_inner());
    f(&mut g);
}

/// Sets the LM every module uses unless a scope or the module says otherwise.
pub fn configure(lm: impl Into<Lm>) {
    let lm = lm.into();
    write_global(|s| s.lm = Some(lm));
}

/// Sets the adapter every module uses unless a scope or the module says otherwise
/// (the default is [`ChatAdapter`] with its JSON fallback).
pub fn configure_adapter(adapter: impl Adapter) {
    let adapter: Arc<dyn Adapter> = Arc::new(adapter);
    write_global(|s| s.adapter = Some(adapter));
}

fn scoped<F: Future>(f: impl FnOnce(&mut Settings), fut: F) -> impl Future<Output = F::Output> {
    let mut settings = SCOPED.try_with(Settings::clone).unwrap_or_default();
    f(&mut settings);
    SCOPED.scope(settings, fut)
}

/// Runs `fut` with `lm` as its default LM (for this task only; spawned tasks do not inherit it).
pub fn with_lm<F: Future>(lm: impl Into<Lm>, fut: F) -> impl Future<Output = F::Output> {
    let lm = lm.into();
    scoped(|s| s.lm = Some(lm), fut)
}

/// Runs `fut` with every LM call at `temperature` and tagged `rollout_id` (which also keys the
/// cache apart), whatever the modules' own settings: how BootstrapFewShot's later rounds get
/// fresh samples (DSPy's `temperature = 0.7 + 0.001 * round`).
pub fn with_rollout<F: Future>(
    temperature: f32,
    rollout_id: u64,
    fut: F,
) -> impl Future<Output = F::Output> {
    scoped(move |s| s.rollout = Some((temperature, rollout_id)), fut)
}

/// The enclosing [`with_rollout`], if any.
pub(crate) fn current_rollout() -> Option<(f32, u64)> {
    SCOPED.try_with(|s| s.rollout).ok().flatten()
}

/// Runs `fut` with `adapter` as its default adapter (for this task only).
pub fn with_adapter<F: Future>(adapter: impl Adapter, fut: F) -> impl Future<Output = F::Output> {
    let adapter: Arc<dyn Adapter> = Arc::new(adapter);
    scoped(|s| s.adapter = Some(adapter), fut)
}

/// The LM in effect here, if any.
pub fn current_lm() -> Option<Lm> {
    SCOPED
        .try_with(|s| s.lm.clone())
        .ok()
        .flatten()
        .or_else(|| GLOBAL.read().unwrap_or_else(|p| p.into_inner()).lm.clone())
}

/// The LM used when none is configured: `DSPY_MODEL` over HTTP if set, else (with the
/// `local` feature) the embedded model from the model directory. Made once and kept.
pub fn default_lm() -> Result<Lm, crate::Error> {
    static DEFAULT: std::sync::Mutex<Option<Lm>> = std::sync::Mutex::new(None);
    let mut slot = DEFAULT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(lm) = slot.as_ref() {
        return Ok(lm.clone());
    }
    let no_lm = |reason: String| crate::Error::NoLm { reason };
    let lm: Lm = if std::env::var_os("DSPY_MODEL").is_some() {
        crate::lm::HttpLm::from_env()
            .map_err(|e| no_lm(format!("DSPY_MODEL is set but unusable: {e}")))?
            .into()
    } else {
        default_local().map_err(no_lm)?
    };
    *slot = Some(lm.clone());
    Ok(lm)
}

#[cfg(feature = "local")]
fn default_local() -> Result<Lm, String> {
    crate::lm::LocalLm::default_model()
        .map(Lm::from)
        .map_err(|e| format!("the embedded model is not available: {e}"))
}

#[cfg(not(feature = "local"))]
fn default_local() -> Result<Lm, String> {
    Err("set DSPY_MODEL, or build with the `local` feature for the embedded model".into())
}

/// The adapter in effect here.
pub fn current_adapter() -> Arc<dyn Adapter> {
    SCOPED
        .try_with(|s| s.adapter.clone())
        .ok()
        .flatten()
        .or_else(|| {
            GLOBAL
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .adapter
                .clone()
        })
        .unwrap_or_else(|| DEFAULT_ADAPTER.clone())
}
