//! Prices, budgets, and usage totals (gathered over a scope by `dspy::context::track_usage`).

use super::{LmError, Usage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

impl Price {
    /// The cost of `usage` at this price.
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.input_per_million
            + usage.completion_tokens as f64 * self.output_per_million)
            / 1e6
    }
}

/// A user-supplied price table by model name.
#[derive(Clone, Debug, Default)]
pub struct PriceTable(HashMap<String, Price>);

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// This table with `model` priced.
    pub fn with(
        mut self,
        model: impl Into<String>,
        input_per_million: f64,
        output_per_million: f64,
    ) -> Self {
        self.0.insert(
            model.into(),
            Price {
                input_per_million,
                output_per_million,
            },
        );
        self
    }

    /// The price of `model`, if listed.
    pub fn get(&self, model: &str) -> Option<Price> {
        self.0.get(model).copied()
    }
}

/// A spending limit shared by every LM that holds it: once spent, calls fail with
/// [`LmError::BudgetExceeded`] before reaching the provider.
#[derive(Debug)]
pub struct Budget {
    max_cost: Option<f64>,
    max_tokens: Option<u64>,
    spent: Mutex<(f64, u64)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Budget {
    /// At most `dollars` (needs prices for the models used).
    pub fn dollars(dollars: f64) -> Arc<Budget> {
        Arc::new(Budget {
            max_cost: Some(dollars),
            max_tokens: None,
            spent: Mutex::new((0.0, 0)),
        })
    }

    /// At most `tokens` prompt plus completion tokens.
    pub fn tokens(tokens: u64) -> Arc<Budget> {
        Arc::new(Budget {
            max_cost: None,
            max_tokens: Some(tokens),
            spent: Mutex::new((0.0, 0)),
        })
    }

    /// Fails if the budget is already spent.
    pub fn check(&self) -> Result<(), LmError> {
        let (cost, tokens) = *lock(&self.spent);
        if let Some(max) = self.max_cost
            && cost >= max
        {
            return Err(LmError::BudgetExceeded {
                spent: format!("${cost:.4}"),
                limit: format!("${max:.4}"),
            });
        }
        if let Some(max) = self.max_tokens
            && tokens >= max
        {
            return Err(LmError::BudgetExceeded {
                spent: format!("{tokens} tokens"),
                limit: format!("{max} tokens"),
            });
        }
        Ok(())
    }

    /// Adds a call's spending.
    pub fn spend(&self, usage: Usage, cost: Option<f64>) {
        let mut s = lock(&self.spent);
        s.0 += cost.unwrap_or(0.0);
        s.1 += usage.total_tokens();
    }

    /// Dollars and tokens spent so far.
    pub fn spent(&self) -> (f64, u64) {
        *lock(&self.spent)
    }
}

/// Totals over a scope: calls, cache hits, tokens and cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageReport {
    /// LM calls made (cache hits included).
    pub calls: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Tokens spent (cache hits spend none).
    pub usage: Usage,
    /// Dollars, for models with a price.
    pub cost: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_stop_once_spent() {
        let b = Budget::tokens(10);
        assert!(b.check().is_ok());
        b.spend(
            Usage {
                prompt_tokens: 6,
                completion_tokens: 4,
            },
            None,
        );
        let e = b.check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "budget exhausted: 10 tokens spent of 10 tokens allowed"
        );
        let d = Budget::dollars(0.01);
        d.spend(Usage::default(), Some(0.02));
        assert!(d.check().is_err());
    }

    #[test]
    fn prices() {
        let t = PriceTable::new().with("openai/gpt-4o-mini", 0.15, 0.6);
        let p = t.get("openai/gpt-4o-mini").unwrap();
        assert!(
            (p.cost(Usage {
                prompt_tokens: 1_000_000,
                completion_tokens: 1_000_000
            }) - 0.75)
                .abs()
                < 1e-9
        );
    }
}
