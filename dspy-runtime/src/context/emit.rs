//! Sending events: the callbacks that observe one call, call ids, and the wrappers that give
//! programs and tools their start and end events.

use super::callback::{
    Call, CallId, CallKind, Callback, ModuleEnd, ModuleStart, ToolEnd, ToolStart,
};
use super::{CURRENT, Callbacks, Context, global_callbacks, with_current};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh call id.
pub(crate) fn next_id() -> CallId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The callbacks observing one call: the process's, the scopes', the module's own.
pub(crate) struct Emitter {
    lists: [Option<Callbacks>; 3],
}

impl Emitter {
    /// The observers of a call made in `ctx` by a module with `local` callbacks; `None` when
    /// nothing observes it (the common case, which then costs nothing more).
    pub(crate) fn new(ctx: &Context, local: Option<&Callbacks>) -> Option<Emitter> {
        let lists = [global_callbacks(), ctx.callbacks.clone(), local.cloned()];
        lists
            .iter()
            .any(Option::is_some)
            .then_some(Emitter { lists })
    }

    /// Calls `f` on every observer, process-wide ones first.
    pub(crate) fn each(&self, mut f: impl FnMut(&dyn Callback)) {
        for list in self.lists.iter().flatten() {
            for c in list.iter() {
                f(&**c);
            }
        }
    }
}

/// Serializes a call's inputs or outputs as fields by name (a non-object is kept under
/// `value`).
pub(crate) fn to_fields(value: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Ok(Map::from_iter([("value".to_string(), other)])),
        Err(e) => Err(Error::Serialize(e.to_string())),
    }
}

/// Runs a module's body with module start and end events around it, and the body's calls
/// as its children: what `program!`'s `forward` does. `outputs` gives the events the output
/// as fields when it has them.
pub async fn run_module<I, O, B, F>(
    name: &'static str,
    input: I,
    body: B,
    outputs: fn(&O) -> Option<Map<String, Value>>,
) -> Result<O>
where
    I: Serialize,
    B: FnOnce(I) -> F,
    F: Future<Output = Result<O>>,
{
    let Some((emitter, ctx)) =
        with_current(|ctx| Emitter::new(ctx, None).map(|e| (e, ctx.clone())))
    else {
        return body(input).await;
    };
    let inputs = to_fields(&input)?;
    let call = Call {
        id: next_id(),
        parent: ctx.parent,
        kind: CallKind::Module,
        name,
        predictor: None,
    };
    emitter.each(|c| c.on_module_start(&call, &ModuleStart { inputs: &inputs }));
    let child = Context {
        parent: Some(call.id),
        ..ctx
    };
    let out = CURRENT.scope(child, body(input)).await;
    let fields = out.as_ref().ok().and_then(outputs);
    let end = ModuleEnd {
        inputs: &inputs,
        outputs: out.as_ref().map(|_| fields.as_ref()),
    };
    emitter.each(|c| c.on_module_end(&call, &end));
    out
}

/// Runs a tool with tool start and end events around it (for tool-using modules).
pub async fn run_tool<F>(name: &str, args: &Value, fut: F) -> Result<Value>
where
    F: Future<Output = Result<Value>>,
{
    let Some((emitter, ctx)) =
        with_current(|ctx| Emitter::new(ctx, None).map(|e| (e, ctx.clone())))
    else {
        return fut.await;
    };
    let call = Call {
        id: next_id(),
        parent: ctx.parent,
        kind: CallKind::Tool,
        name,
        predictor: None,
    };
    emitter.each(|c| c.on_tool_start(&call, &ToolStart { args }));
    let child = Context {
        parent: Some(call.id),
        ..ctx
    };
    let out = CURRENT.scope(child, fut).await;
    let end = ToolEnd {
        args,
        result: out.as_ref(),
    };
    emitter.each(|c| c.on_tool_end(&call, &end));
    out
}

/// What `program!` passes [`run_module`] as `outputs`: the output as fields when it
/// serializes, found without requiring `Serialize` (autoref dispatch on the concrete type).
#[doc(hidden)]
pub mod probe {
    use serde::Serialize;
    use serde_json::{Map, Value};

    /// Wraps a value for [`ViaSerialize`] / [`ViaNothing`] dispatch.
    pub struct Probe<'a, T>(pub &'a T);

    /// Chosen when the value serializes.
    pub trait ViaSerialize {
        /// The value as fields.
        fn fields(&self) -> Option<Map<String, Value>>;
    }

    impl<T: Serialize> ViaSerialize for Probe<'_, T> {
        fn fields(&self) -> Option<Map<String, Value>> {
            super::to_fields(self.0).ok()
        }
    }

    /// Chosen otherwise.
    pub trait ViaNothing {
        /// Nothing.
        fn fields(&self) -> Option<Map<String, Value>>;
    }

    impl<T> ViaNothing for &Probe<'_, T> {
        fn fields(&self) -> Option<Map<String, Value>> {
            None
        }
    }
}
