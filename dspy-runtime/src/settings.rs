//! The process-wide LM and adapter ([`configure`], [`configure_adapter`]) and the default LM
//! made when none is configured. A call uses the module's own, else its context's scope
//! (`dspy::context::scope`), else these.

use crate::adapter::{Adapter, ChatAdapter};
use crate::lm::Lm;
use std::sync::{Arc, LazyLock, RwLock};

#[derive(Clone, Default)]
struct Settings {
    lm: Option<Lm>,
    adapter: Option<Arc<dyn Adapter>>,
}

static GLOBAL: RwLock<Settings> = RwLock::new(Settings {
    lm: None,
    adapter: None,
});

static DEFAULT_ADAPTER: LazyLock<Arc<dyn Adapter>> =
    LazyLock::new(|| Arc::new(ChatAdapter::default()));

fn write_global(f: impl FnOnce(&mut Settings)) {
    let mut g = GLOBAL.write().unwrap_or_else(|p| p.into_inner());
    f(&mut g);
}

fn read_global() -> std::sync::RwLockReadGuard<'static, Settings> {
    GLOBAL.read().unwrap_or_else(|p| p.into_inner())
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

/// The LM set by [`configure`], if any.
pub(crate) fn global_lm() -> Option<Lm> {
    read_global().lm.clone()
}

/// The adapter set by [`configure_adapter`], else ChatAdapter.
pub(crate) fn global_adapter() -> Arc<dyn Adapter> {
    read_global()
        .adapter
        .clone()
        .unwrap_or_else(|| DEFAULT_ADAPTER.clone())
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
