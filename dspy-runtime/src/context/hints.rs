//! Refine's advice to each predictor, which it sees as an extra `hint_` input.

use std::collections::HashMap;

/// Hints by predictor (its `core_id`); a predictor without one gets `N/A`, as in DSPy.
#[derive(Debug, Default)]
pub(crate) struct Hints(HashMap<usize, String>);

impl Hints {
    /// Hints for the predictors with these ids.
    pub fn new(by_predictor: HashMap<usize, String>) -> Self {
        Hints(by_predictor)
    }

    /// The hint for predictor `id`.
    pub fn get(&self, id: usize) -> &str {
        self.0.get(&id).map_or("N/A", String::as_str)
    }
}
