//! The one place an LM is called from: LM start and end events, and the global history, for
//! every LM (HTTP, embedded, scripted, a user's own).

use super::callback::{Call, CallId, CallKind, LmEnd};
use super::emit::{Emitter, next_id};
use super::with_current;
use crate::lm::{History, HistoryEntry, LanguageModel, Lm, LmError, LmRequest, LmResponse};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Sends `request` to `lm` with events to `emitter` (as a child of `parent`, for `predictor`)
/// and records the call in the global history.
pub(crate) async fn complete(
    lm: &Lm,
    request: LmRequest,
    emitter: Option<&Emitter>,
    parent: Option<CallId>,
    predictor: Option<usize>,
) -> Result<LmResponse, LmError> {
    observed(lm, request, emitter, parent, predictor, None).await
}

/// [`complete`], with the reply's text handed to `on_text` as it streams.
pub(crate) async fn complete_streaming(
    lm: &Lm,
    request: LmRequest,
    emitter: Option<&Emitter>,
    parent: Option<CallId>,
    predictor: Option<usize>,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<LmResponse, LmError> {
    observed(lm, request, emitter, parent, predictor, Some(on_text)).await
}

async fn observed(
    lm: &Lm,
    request: LmRequest,
    emitter: Option<&Emitter>,
    parent: Option<CallId>,
    predictor: Option<usize>,
    mut on_text: Option<&mut (dyn FnMut(&str) + Send)>,
) -> Result<LmResponse, LmError> {
    let mut send = |request: LmRequest| match on_text.take() {
        Some(f) => lm.complete_streaming(request, f),
        None => LanguageModel::complete(&**lm, request),
    };
    let limit = with_current(|ctx| ctx.limit.clone().map(|l| (l, ctx.priority)));
    let _permit = match &limit {
        Some((l, priority)) => Some(l.acquire(*priority).await),
        None => None,
    };
    let history = History::global();
    let keep = history.capacity() > 0 || emitter.is_some();
    if !keep {
        return send(request).await;
    }
    let call = Call {
        id: next_id(),
        parent,
        kind: CallKind::Lm,
        name: lm.model(),
        predictor,
    };
    if let Some(e) = emitter {
        e.each(|c| c.on_lm_start(&call, &request));
    }
    let sent = request.clone();
    let started = Instant::now();
    let response = send(request).await;
    let latency = started.elapsed();
    let cost = match &response {
        Ok(r) if !r.cache_hit => lm.cost(r.usage),
        _ => None,
    };
    if let Some(e) = emitter {
        let end = LmEnd {
            request: &sent,
            response: response.as_ref(),
            latency,
            cost,
        };
        e.each(|c| c.on_lm_end(&call, &end));
    }
    if let Ok(r) = &response
        && history.capacity() > 0
    {
        history.record(Arc::new(HistoryEntry {
            timestamp: SystemTime::now(),
            model: lm.model().to_string(),
            messages: sent.messages,
            outputs: r.outputs.clone(),
            usage: r.usage,
            cost,
            cache_hit: r.cache_hit,
            latency,
        }));
    }
    response
}

impl Lm {
    /// Sends one request with the current context's callbacks observing it and the global
    /// history recording it (what every module's call does). The trait's
    /// [`LanguageModel::complete`] sends it bare.
    pub async fn complete(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let (emitter, parent) = with_current(|ctx| (Emitter::new(ctx, None), ctx.parent));
        complete(self, request, emitter.as_ref(), parent, None).await
    }
}
