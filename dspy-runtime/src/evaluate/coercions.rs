//! Counts the coercions of one example's run (a callback on its parses).

use crate::context::{Call, Callback, ParseEnd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Values the adapters coerced to fit their fields, over one run.
#[derive(Default)]
pub(super) struct Coercions(AtomicUsize);

impl Coercions {
    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Callback for Coercions {
    fn on_adapter_parse_end(&self, _call: &Call<'_>, end: &ParseEnd<'_>) {
        if let Ok(parsed) = end.result {
            self.0.fetch_add(parsed.coercions.len(), Ordering::Relaxed);
        }
    }
}
