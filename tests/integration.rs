//! The integration tests, as one test binary: each file beside this one is a module of it.
//! One binary links the library and llama.cpp once instead of once per file, which took
//! several minutes of a cold CI run. Run one file's tests with
//! `cargo nextest run --test integration -E 'test(/^react::/)'` (or `cargo test --test
//! integration react::`).

mod common;

mod agent;
mod agent_optimize;
mod baml_adapter;
mod cache_crash;
mod callbacks;
mod code_act;
mod copro;
mod datasets;
mod dspy_oracle;
mod embed_local;
mod evaluate;
mod finetune;
mod finetune_local;
mod finetune_openai;
mod gepa;
mod gepa_resume;
mod history;
mod http_lm;
mod interpreter;
mod llama_server;
mod local_batch;
mod local_lm;
mod mcp;
mod media;
mod metrics_oracle;
mod mipro;
mod modules;
mod no_lm;
mod optimizers;
mod parity;
mod parsing;
mod pool;
mod program_of_thought;
mod program_snapshots;
mod program_state;
mod programs;
mod prompt_snapshots;
mod react;
mod reasoning;
mod redis_cache;
mod reference_prompts;
mod retrieve;
mod rlm;
mod secrets;
mod simba;
mod strategy;
mod streaming;
mod tools;
mod two_step;
mod typed_fields;
mod xml_adapter;
