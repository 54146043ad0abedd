//! The embedded model's engine: concurrent calls decoded together, one llama.cpp batch per
//! step, as llama-server's slots are. (With a KV stream per sequence, llama.cpp runs a batch
//! as one pass per run of consecutive sequence ids, so the engine prefers low ids.)
//!
//! Each call holds one KV-cache sequence while it is served. A step puts one token of every
//! decoding call and a chunk of every prefilling prompt into one batch, decodes it, and samples
//! each call's next token from its own logits.
//!
//! Every sequence has a cache stream of its own (`n_ctx` cells), so a call's attention never
//! depends on where other calls' tokens sit. (With one unified stream, cell placement changes
//! the order of attention's sums, and greedy outputs drift.) Matrix products are another
//! matter: for some weight types llama.cpp multiplies one row with one kernel and several with
//! another (tinyBLAS for Q8_0, Q5_0, Q4_0 and F16 weights; the repacked GEMM for Q4_K), whose
//! sums differ in the last bits, so on such models a greedy call beside others can diverge from
//! the same call alone, as it does on llama-server's slots. Models with one kernel (SmolLM2's
//! Q4_1) decode the same tokens in any interleaving (`tests/local_batch.rs`). A prompt prefix
//! (instructions, demos) already in any sequence is copied into a new call's stream instead of
//! being decoded again, and a call whose prefix another call is still prefilling waits for it
//! rather than prefill the same tokens twice. Finished sequences keep their tokens for later
//! calls.

use super::LmError;
use super::local::{Job, LocalStats};
use super::local_call::{Call, Sampled, fail};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Another sequence's prefix is copied in (a whole cache stream), or waited for while another
/// call prefills it, when it is at least this many tokens longer than the sequence's own.
const SHARE_MIN: usize = 16;

/// One KV-cache sequence: the tokens it holds, in order, and the call it serves.
struct Slot {
    seq: i32,
    tokens: Vec<LlamaToken>,
    used: u64,
    call: Option<Box<Call>>,
}

/// Sizes and switches of an engine.
pub(super) struct EngineConfig {
    pub n_ctx: usize,
    /// Calls decoded together.
    pub sequences: usize,
    pub reuse_prefix: bool,
}

/// The decoding loop over one context. Runs on the model's worker thread.
pub(super) struct Engine {
    model: &'static LlamaModel,
    template: Option<LlamaChatTemplate>,
    ctx: LlamaContext<'static>,
    slots: Vec<Slot>,
    /// Calls received and prepared, not yet given a sequence.
    waiting: VecDeque<Call>,
    batch: LlamaBatch<'static>,
    /// What the current step put in the batch, per call.
    plan: Vec<Planned>,
    clock: u64,
    config: EngineConfig,
    stats: Arc<LocalStats>,
    /// Completions that offered tools so far (tags their call ids).
    tags: u64,
}

/// KV sequences for `sequences` concurrent calls: one more, so a finished call's prompt stays
/// cached while the others run (e.g. ChatAdapter's and its JSON fallback's prefixes).
pub(super) fn kv_sequences(sequences: usize) -> usize {
    sequences.max(1) + 1
}

/// What one step put in the batch for a call.
struct Planned {
    slot: usize,
    tokens: usize,
    /// The batch index of the logits to sample from, when the step ends on a token to sample.
    logits: Option<i32>,
}

impl Engine {
    pub fn new(
        model: &'static LlamaModel,
        ctx: LlamaContext<'static>,
        config: EngineConfig,
        stats: Arc<LocalStats>,
    ) -> Engine {
        let batch = LlamaBatch::new(ctx.n_batch() as usize, 1);
        Engine {
            model,
            template: model.chat_template(None).ok(),
            ctx,
            slots: (0..kv_sequences(config.sequences))
                .map(|seq| Slot {
                    seq: seq as i32,
                    tokens: Vec::new(),
                    used: 0,
                    call: None,
                })
                .collect(),
            waiting: VecDeque::new(),
            batch,
            plan: Vec::new(),
            clock: 0,
            config,
            stats,
            tags: 0,
        }
    }

    /// Serves jobs until every sender is gone and every call is answered.
    pub fn run(mut self, rx: &mut mpsc::Receiver<Job>) {
        loop {
            if self.active() == 0 && self.waiting.is_empty() {
                match rx.blocking_recv() {
                    Some(job) => self.receive(job),
                    None => return,
                }
            }
            // Take what is queued, without waiting, while there are sequences to run it on.
            while self.waiting.len() < self.config.sequences.saturating_sub(self.active()) {
                match rx.try_recv() {
                    Ok(job) => self.receive(job),
                    Err(_) => break,
                }
            }
            self.admit();
            if self.active() > 0 {
                self.step();
            }
        }
    }

    fn active(&self) -> usize {
        self.slots.iter().filter(|s| s.call.is_some()).count()
    }

    fn receive(&mut self, job: Job) {
        if let Some(call) =
            Call::prepare(self.model, self.template.as_ref(), job, self.config.n_ctx)
        {
            self.waiting.push_back(call);
        }
    }

    /// Gives waiting calls a sequence, in order, while there are sequences. Each sequence has
    /// room for any call `prepare` accepted.
    fn admit(&mut self) {
        while self.active() < self.config.sequences {
            let Some(call) = self.waiting.pop_front() else {
                return;
            };
            if call.abandoned() {
                continue;
            }
            if let Err(e) = self.place(call) {
                self.fail_all(&e);
            }
        }
    }

    /// Shared prompt tokens between a sequence's contents and `prompt`, leaving the prompt's
    /// last token to decode (its logits start the completion).
    fn shared(&self, tokens: &[LlamaToken], prompt: &[LlamaToken]) -> usize {
        if !self.config.reuse_prefix {
            return 0;
        }
        let common = tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        common.min(prompt.len() - 1)
    }

    /// Puts `call` on an idle sequence: the one whose cached prefix it extends if that is worth
    /// keeping, else the least recently used; then copies in the longest prefix any sequence
    /// holds, or waits for a longer one another call is prefilling.
    fn place(&mut self, mut call: Call) -> Result<(), LmError> {
        let idle: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].call.is_none())
            .collect();
        let own = |i: usize| self.shared(&self.slots[i].tokens, &call.prompt);
        let best = idle
            .iter()
            .copied()
            .max_by_key(|&i| (own(i), self.slots[i].used));
        // A finished leader's sequence holds what its followers wait for: not reused for
        // nothing. Among the least recently used, low ids keep the batch's sequences together.
        let led: Vec<usize> = self
            .slots
            .iter()
            .filter_map(|s| s.call.as_ref()?.follow.map(|(leader, _)| leader))
            .collect();
        let lru = idle
            .iter()
            .copied()
            .filter(|i| !led.contains(i))
            .min_by_key(|&i| (self.slots[i].used, i))
            .or_else(|| idle.first().copied());
        let (Some(best), Some(lru)) = (best, lru) else {
            return Err(LmError::Other("no free KV sequence".into()));
        };
        // Reusing a sequence that would lose most of what it holds (another prompt that merely
        // starts alike, e.g. the JSON fallback's) would evict a prefix worth keeping.
        let worth = own(best) > 0 && 2 * own(best) >= self.slots[best].tokens.len();
        let target = if worth { best } else { lru };
        let mut keep = own(target);
        // A longer prefix held by another sequence is copied in.
        let source = (0..self.slots.len())
            .filter(|&i| i != target)
            .map(|i| (i, self.shared(&self.slots[i].tokens, &call.prompt)))
            .max_by_key(|&(_, n)| n);
        match source {
            Some((src, n)) if n >= keep + SHARE_MIN => {
                self.share(src, target, n)?;
                keep = n;
            }
            _ => self.clear(target, keep)?,
        }
        // A longer prefix another call is prefilling now: wait for it.
        let prefilling = (0..self.slots.len()).filter_map(|i| {
            let other = self.slots[i].call.as_ref()?;
            let pending = other.follow.is_none() && self.slots[i].tokens.len() < other.prompt.len();
            pending.then(|| (i, self.shared(&other.prompt, &call.prompt)))
        });
        if let Some((leader, n)) = prefilling.max_by_key(|&(_, n)| n)
            && n >= keep + SHARE_MIN
        {
            call.follow = Some((leader, n));
        }
        self.clock += 1;
        self.slots[target].used = self.clock;
        self.slots[target].call = Some(Box::new(call));
        Ok(())
    }

    /// Gives sequence `to` the first `n` tokens of sequence `from`.
    fn share(&mut self, from: usize, to: usize, n: usize) -> Result<(), LmError> {
        self.clear(to, 0)?;
        let (src, dst) = (self.slots[from].seq, self.slots[to].seq);
        // Each sequence has a cache stream of its own: llama.cpp copies whole streams.
        self.ctx
            .copy_kv_cache_seq(src, dst, None, None)
            .map_err(|e| fail("KV cache", e))?;
        self.slots[to].tokens = self.slots[from].tokens.clone();
        self.clear(to, n)
    }

    /// Drops a sequence's tokens from position `from` on.
    fn clear(&mut self, slot: usize, from: usize) -> Result<(), LmError> {
        if from < self.slots[slot].tokens.len() {
            let seq = self.slots[slot].seq as u32;
            let p0 = (from > 0).then_some(from as u32);
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(seq), p0, None)
                .map_err(|e| fail("KV cache", e))?;
            if removed {
                self.slots[slot].tokens.truncate(from);
            } else {
                // A model whose cache cannot drop a tail (recurrent): drop it all.
                self.ctx
                    .clear_kv_cache_seq(Some(seq), None, None)
                    .map_err(|e| fail("KV cache", e))?;
                self.slots[slot].tokens.clear();
            }
        }
        Ok(())
    }

    /// Followers whose leader has prefilled the shared prefix take it; a leader that went
    /// another way leaves its followers to prefill alone.
    fn settle_followers(&mut self) -> Result<(), LmError> {
        for i in 0..self.slots.len() {
            let Some((leader, n)) = self.slots[i].call.as_ref().and_then(|c| c.follow) else {
                continue;
            };
            let done = self.slots[leader].tokens.len();
            let on_track = self.slots[leader]
                .call
                .as_ref()
                .is_some_and(|c| c.follow.is_none() && c.prompt.len() > done);
            let have = match &self.slots[i].call {
                Some(c) => self.shared(&self.slots[leader].tokens, &c.prompt),
                None => continue,
            };
            if have >= n {
                self.share(leader, i, n)?;
            } else if on_track && have == done {
                continue;
            }
            if let Some(call) = self.slots[i].call.as_mut() {
                call.follow = None;
            }
        }
        Ok(())
    }

    /// One decode: every decoding call's next token, then prompt chunks up to the batch size.
    fn step(&mut self) {
        if let Err(e) = self.try_step() {
            self.fail_all(&e);
        }
    }

    fn try_step(&mut self) -> Result<(), LmError> {
        for i in 0..self.slots.len() {
            if self.slots[i].call.as_ref().is_some_and(|c| c.abandoned()) {
                self.retire(i);
            }
        }
        self.settle_followers()?;
        let room = self.ctx.n_batch() as usize;
        self.batch.clear();
        // The plan's buffer is kept from step to step (an error's early return drops it).
        let mut planned = std::mem::take(&mut self.plan);
        planned.clear();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(token) = slot.call.as_ref().and_then(|c| c.next) {
                let at = self.batch.n_tokens();
                self.batch
                    .add(token, slot.tokens.len() as i32, &[slot.seq], true)
                    .map_err(|e| fail("batch", e))?;
                planned.push(Planned {
                    slot: i,
                    tokens: 1,
                    logits: Some(at),
                });
            }
        }
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(call) = slot.call.as_ref() else {
                continue;
            };
            let from = slot.tokens.len();
            let free = room - self.batch.n_tokens() as usize;
            if call.next.is_some()
                || call.follow.is_some()
                || from >= call.prompt.len()
                || free == 0
            {
                continue;
            }
            let piece = &call.prompt[from..call.prompt.len().min(from + free)];
            let ends = from + piece.len() == call.prompt.len();
            for (j, t) in piece.iter().enumerate() {
                let logits = ends && j + 1 == piece.len();
                self.batch
                    .add(*t, (from + j) as i32, &[slot.seq], logits)
                    .map_err(|e| fail("batch", e))?;
            }
            planned.push(Planned {
                slot: i,
                tokens: piece.len(),
                logits: ends.then(|| self.batch.n_tokens() - 1),
            });
        }
        if planned.is_empty() {
            self.plan = planned;
            return Ok(());
        }
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| fail("decode", e))?;
        for p in planned.drain(..) {
            let slot = &mut self.slots[p.slot];
            let Some(call) = slot.call.as_mut() else {
                continue;
            };
            match call.next.take() {
                Some(token) => slot.tokens.push(token),
                None => {
                    let from = slot.tokens.len();
                    slot.tokens
                        .extend_from_slice(&call.prompt[from..from + p.tokens]);
                    self.stats
                        .prefilled_tokens
                        .fetch_add(p.tokens as u64, Ordering::Relaxed);
                }
            }
            let Some(at) = p.logits else {
                continue;
            };
            let token = call.sampler.sample(&self.ctx, at);
            match call.sampled(self.model, token, &mut self.tags)? {
                Sampled::More => {}
                Sampled::Restart => {
                    // The next completion starts again from the prompt's last token.
                    let last = call.prompt.len() - 1;
                    self.clear(p.slot, last)?;
                }
                Sampled::Done(response) => self.answer(p.slot, response),
            }
        }
        self.plan = planned;
        Ok(())
    }

    /// Sends a finished call its response; its sequence keeps the tokens for later calls.
    fn answer(&mut self, slot: usize, response: super::LmResponse) {
        if let Some(call) = self.retire(slot) {
            let _ = call.job.reply.send(Ok(response));
        }
    }

    /// Frees a call's sequence (its tokens stay cached) and counts its tokens.
    fn retire(&mut self, slot: usize) -> Option<Box<Call>> {
        let call = self.slots[slot].call.take()?;
        let (prompt, generated) = call.counts();
        self.stats
            .prompt_tokens
            .fetch_add(prompt, Ordering::Relaxed);
        self.stats
            .generated_tokens
            .fetch_add(generated, Ordering::Relaxed);
        Some(call)
    }

    /// After a failed step the cache's contents are unknown: every call in flight gets the
    /// error and the cache starts afresh. Waiting calls are not affected.
    fn fail_all(&mut self, e: &LmError) {
        self.ctx.clear_kv_cache();
        for slot in &mut self.slots {
            slot.tokens.clear();
            if let Some(call) = slot.call.take() {
                let _ = call.job.reply.send(Err(e.clone()));
            }
        }
    }
}
