//! The embedded Qwen models the instruction-optimizer examples load by name.

use dspy::lm::{LocalConfig, LocalLm};

/// `qwen15` (Qwen2.5-Coder-1.5B, `scripts/fetch-models qwen15`) or anything else for the
/// 0.5B, from `$DSPY_MODEL_DIR` (default `models`), with a 4096-token context.
pub fn model(name: &str) -> dspy::Result<LocalLm> {
    let dir = std::env::var("DSPY_MODEL_DIR").unwrap_or_else(|_| "models".into());
    let file = match name {
        "qwen15" => dspy::lm::local::QWEN15_FILE,
        _ => dspy::lm::local::QWEN_FILE,
    };
    let config = LocalConfig {
        n_ctx: 4096,
        ..LocalConfig::default()
    };
    Ok(LocalLm::load(format!("{dir}/{file}"), config)?)
}
