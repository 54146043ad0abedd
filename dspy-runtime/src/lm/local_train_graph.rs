//! The training graph: a decoder-only transformer (llama and qwen2 architectures) written in
//! ggml ops that all have a backward pass, with the loss taken on the answer's tokens only,
//! and ggml's optimizer (AdamW) stepping the weights.
//!
//! llama.cpp's own `llama_opt_epoch` builds its graph through the KV cache, whose write
//! (`ggml_set_rows`) has no backward pass in the llama.cpp this crate vendors (upstream issue
//! #18805), and takes the loss over every token. This graph attends within the sequence with a
//! causal mask instead, as training needs, and projects to the vocabulary only the positions
//! whose next token is part of the answer. RMS norm is written out in elementary ops: the
//! gradient of ggml's fused `rms_norm` disagrees with finite differences on these models (the
//! test below checks every kind of weight against them).

use super::LmError;
use super::local_train_ffi::Weights;
use llama_cpp_sys_2 as sys;
use std::ffi::c_void;
use std::ptr::NonNull;

/// Graph nodes reserved for the forward pass, its backward pass and the optimizer steps.
const GRAPH_SIZE: usize = 1 << 15;

/// The architectures the graph implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arch {
    /// llama (SmolLM2): RoPE on consecutive pairs, no attention biases.
    Llama,
    /// qwen2 (Qwen2.5): NeoX RoPE, biases on q, k and v.
    Qwen2,
}

/// The model's shape, from its GGUF metadata.
#[derive(Clone, Debug)]
struct Hparams {
    arch: Arch,
    n_embd: i64,
    n_layer: usize,
    n_head: i64,
    n_head_kv: i64,
    head_dim: i64,
    n_rot: i32,
    rms_eps: f32,
    freq_base: f32,
    n_ctx_orig: i32,
    n_vocab: i64,
}

impl Hparams {
    fn read(w: &Weights) -> Result<Hparams, LmError> {
        let arch_name = w.meta.string("general.architecture").unwrap_or_default();
        let arch = match arch_name.as_str() {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            other => {
                return Err(LmError::Config(format!(
                    "fine-tuning supports the llama and qwen2 architectures, not `{other}`"
                )));
            }
        };
        let need = |key: &str| {
            w.meta
                .u32(&format!("{arch_name}.{key}"))
                .ok_or_else(|| LmError::Config(format!("the GGUF has no `{arch_name}.{key}`")))
        };
        let n_embd = i64::from(need("embedding_length")?);
        let n_head = i64::from(need("attention.head_count")?);
        let n_head_kv = w
            .meta
            .u32(&format!("{arch_name}.attention.head_count_kv"))
            .map_or(n_head, i64::from);
        if n_head == 0 || n_head_kv == 0 || n_embd % n_head != 0 || n_head % n_head_kv != 0 {
            return Err(LmError::Config(format!(
                "unsupported attention shape: {n_embd} dimensions, {n_head} heads, {n_head_kv} key-value heads"
            )));
        }
        let head_dim = n_embd / n_head;
        if let Some(k) = w
            .meta
            .u32(&format!("{arch_name}.attention.key_length"))
            .filter(|&k| i64::from(k) != head_dim)
        {
            return Err(LmError::Config(format!(
                "unsupported attention shape: heads of {k} dimensions, not {n_embd}/{n_head}"
            )));
        }
        let scaling = w.meta.string(&format!("{arch_name}.rope.scaling.type"));
        if w.get("rope_freqs.weight").is_some() || scaling.is_some_and(|t| t != "none") {
            return Err(LmError::Config(
                "fine-tuning does not support RoPE frequency scaling (this model uses it)".into(),
            ));
        }
        let tok = w
            .get("token_embd.weight")
            .ok_or_else(|| LmError::Config("the GGUF has no token_embd.weight".into()))?;
        // SAFETY: a live tensor of the loaded weights.
        let n_vocab = unsafe { (*tok).ne[1] };
        Ok(Hparams {
            arch,
            n_embd,
            n_layer: need("block_count")? as usize,
            n_head,
            n_head_kv,
            head_dim,
            n_rot: w
                .meta
                .u32(&format!("{arch_name}.rope.dimension_count"))
                .map_or(head_dim as i32, |n| n as i32),
            rms_eps: w
                .meta
                .f32(&format!("{arch_name}.attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5),
            freq_base: w
                .meta
                .f32(&format!("{arch_name}.rope.freq_base"))
                .unwrap_or(10_000.0),
            n_ctx_orig: need("context_length")? as i32,
            n_vocab,
        })
    }
}

/// One transformer block's weights.
struct Layer {
    attn_norm: *mut sys::ggml_tensor,
    wq: *mut sys::ggml_tensor,
    wk: *mut sys::ggml_tensor,
    wv: *mut sys::ggml_tensor,
    bq: Option<*mut sys::ggml_tensor>,
    bk: Option<*mut sys::ggml_tensor>,
    bv: Option<*mut sys::ggml_tensor>,
    wo: *mut sys::ggml_tensor,
    ffn_norm: *mut sys::ggml_tensor,
    gate: *mut sys::ggml_tensor,
    up: *mut sys::ggml_tensor,
    down: *mut sys::ggml_tensor,
}

/// The model's weights by role.
struct Model {
    hp: Hparams,
    tok_embd: *mut sys::ggml_tensor,
    output_norm: *mut sys::ggml_tensor,
    /// The output projection (the token embeddings when tied).
    output: *mut sys::ggml_tensor,
    layers: Vec<Layer>,
}

impl Model {
    fn new(w: &Weights) -> Result<Model, LmError> {
        let hp = Hparams::read(w)?;
        let get = |name: String| {
            w.get(&name)
                .ok_or_else(|| LmError::Config(format!("the GGUF has no tensor `{name}`")))
        };
        let tok_embd = get("token_embd.weight".into())?;
        let layers = (0..hp.n_layer)
            .map(|i| {
                let t = |n: &str| get(format!("blk.{i}.{n}.weight"));
                let b = |n: &str| w.get(&format!("blk.{i}.{n}.bias"));
                Ok(Layer {
                    attn_norm: t("attn_norm")?,
                    wq: t("attn_q")?,
                    wk: t("attn_k")?,
                    wv: t("attn_v")?,
                    bq: b("attn_q"),
                    bk: b("attn_k"),
                    bv: b("attn_v"),
                    wo: t("attn_output")?,
                    ffn_norm: t("ffn_norm")?,
                    gate: t("ffn_gate")?,
                    up: t("ffn_up")?,
                    down: t("ffn_down")?,
                })
            })
            .collect::<Result<Vec<_>, LmError>>()?;
        let model = Model {
            tok_embd,
            output_norm: get("output_norm.weight".into())?,
            output: w.get("output.weight").unwrap_or(tok_embd),
            layers,
            hp,
        };
        model.check_shapes()?;
        Ok(model)
    }
}

impl Model {
    /// Every weight has the shape the graph multiplies it with (a mismatch would abort ggml).
    fn check_shapes(&self) -> Result<(), LmError> {
        let hp = &self.hp;
        if hp.n_layer == 0 {
            return Err(LmError::Config("the model has no layers".into()));
        }
        let (e, q, kv) = (
            hp.n_embd,
            hp.n_head * hp.head_dim,
            hp.n_head_kv * hp.head_dim,
        );
        // SAFETY: live tensors of the loaded weights.
        let ne = |t: *mut sys::ggml_tensor| unsafe { (*t).ne };
        let n_ff = ne(self.layers[0].gate)[1];
        let want = |what: &str, t: *mut sys::ggml_tensor, dims: [i64; 2]| {
            let got = ne(t);
            if got[0] == dims[0] && got[1] == dims[1] && got[2] == 1 && got[3] == 1 {
                Ok(())
            } else {
                Err(LmError::Config(format!(
                    "tensor {what} has shape {:?}, expected {dims:?}",
                    &got[..2]
                )))
            }
        };
        want("token_embd", self.tok_embd, [e, hp.n_vocab])?;
        want("output", self.output, [e, hp.n_vocab])?;
        want("output_norm", self.output_norm, [e, 1])?;
        for (i, l) in self.layers.iter().enumerate() {
            let w = |n: &str, t, d| want(&format!("blk.{i}.{n}"), t, d);
            w("attn_norm", l.attn_norm, [e, 1])?;
            w("attn_q", l.wq, [e, q])?;
            w("attn_k", l.wk, [e, kv])?;
            w("attn_v", l.wv, [e, kv])?;
            w("attn_output", l.wo, [q, e])?;
            w("ffn_norm", l.ffn_norm, [e, 1])?;
            w("ffn_gate", l.gate, [e, n_ff])?;
            w("ffn_up", l.up, [e, n_ff])?;
            w("ffn_down", l.down, [n_ff, e])?;
            for (n, b, d) in [
                ("attn_q", l.bq, q),
                ("attn_k", l.bk, kv),
                ("attn_v", l.bv, kv),
            ] {
                if let Some(b) = b {
                    w(&format!("{n}.bias"), b, [d, 1])?;
                }
            }
        }
        Ok(())
    }
}

/// AdamW's settings, read by ggml before every optimizer step.
pub(super) struct Schedule {
    /// Learning rate at the first step.
    pub lr: f32,
    /// Learning rate at the last step (linear in between).
    pub lr_end: f32,
    /// AdamW's weight decay.
    pub weight_decay: f32,
    /// Optimizer steps taken (counted here).
    pub step: u64,
    /// Optimizer steps planned.
    pub steps: u64,
}

unsafe extern "C" fn schedule_params(ud: *mut c_void) -> sys::ggml_opt_optimizer_params {
    // SAFETY: `ud` is the `Schedule` the trainer boxed for the optimizer's lifetime; this runs
    // inside `ggml_opt_eval`, called by the trainer, while nothing else touches it.
    let s = unsafe { &mut *(ud as *mut Schedule) };
    let t = if s.steps > 1 {
        s.step.min(s.steps - 1) as f32 / (s.steps - 1) as f32
    } else {
        0.0
    };
    s.step += 1;
    // SAFETY: plain data.
    let mut p = unsafe { sys::ggml_opt_get_default_optimizer_params(std::ptr::null_mut()) };
    // Both rates are finite and above 0 (checked by the trainer), so every mix of them is.
    p.adamw.alpha = (s.lr * (1.0 - t) + s.lr_end * t).max(s.lr.min(s.lr_end));
    p.adamw.wd = s.weight_decay;
    p.sgd.alpha = p.adamw.alpha;
    p.sgd.wd = s.weight_decay;
    p
}

/// Learning rates must be finite and above 0 (ggml aborts on a step of 0), weight decay in
/// [0, 1].
pub(super) fn check_rates(lr: f32, lr_end: f32, weight_decay: f32) -> Result<(), LmError> {
    if !(lr.is_finite() && lr_end.is_finite() && lr > 0.0 && lr_end > 0.0) {
        return Err(LmError::Config(format!(
            "learning rates must be finite and above 0 (got {lr} and {lr_end})"
        )));
    }
    if !(0.0..=1.0).contains(&weight_decay) {
        return Err(LmError::Config(format!(
            "weight decay must be in [0, 1], got {weight_decay}"
        )));
    }
    Ok(())
}

/// A training session over loaded weights: a CPU backend, its scheduler and ggml's optimizer.
/// Field order frees the optimizer before the scheduler and backend it uses.
pub(super) struct Trainer<'w> {
    opt: sys::ggml_opt_context_t,
    /// A forward-only optimizer context for measuring (its evaluations do not count towards
    /// the training context's gradient accumulation).
    eval: sys::ggml_opt_context_t,
    sched: NonNull<sys::ggml_backend_sched>,
    backend: NonNull<sys::ggml_backend>,
    model: Model,
    /// Owned (from `Box::into_raw`), read and written by ggml through `get_opt_pars_ud`;
    /// freed in `Drop` after the contexts.
    schedule: NonNull<Schedule>,
    /// Sequences per optimizer step (gradients accumulate over them).
    period: usize,
    /// Sequences trained since the last step.
    pending: usize,
    _weights: std::marker::PhantomData<&'w Weights>,
}

impl<'w> Trainer<'w> {
    /// AdamW over every weight.
    pub fn new(
        weights: &'w Weights,
        threads: i32,
        period: usize,
        schedule: Schedule,
    ) -> Result<Trainer<'w>, LmError> {
        Self::with_options(weights, threads, period, schedule, &|_| true, false)
    }

    /// The weights `trains` names, with plain SGD when `sgd` (the gradient check's setting).
    pub(super) fn with_options(
        weights: &'w Weights,
        threads: i32,
        period: usize,
        schedule: Schedule,
        trains: &dyn Fn(&str) -> bool,
        sgd: bool,
    ) -> Result<Trainer<'w>, LmError> {
        check_rates(schedule.lr, schedule.lr_end, schedule.weight_decay)?;
        let model = Model::new(weights)?;
        let period = i32::try_from(period.max(1))
            .map_err(|_| LmError::Config(format!("a batch of {period} sequences is too large")))?;
        // SAFETY: each object is checked for null before use and owned by the trainer.
        unsafe {
            let backend = NonNull::new(sys::ggml_backend_cpu_init())
                .ok_or_else(|| LmError::Other("cannot start ggml's CPU backend".into()))?;
            sys::ggml_backend_cpu_set_n_threads(backend.as_ptr(), threads.max(1));
            let mut backends = [backend.as_ptr()];
            let sched = sys::ggml_backend_sched_new(
                backends.as_mut_ptr(),
                std::ptr::null_mut(),
                1,
                GRAPH_SIZE,
                false,
                false,
            );
            let Some(sched) = NonNull::new(sched) else {
                sys::ggml_backend_free(backend.as_ptr());
                return Err(LmError::Other("cannot create ggml's scheduler".into()));
            };
            let mut params =
                sys::ggml_opt_default_params(sched.as_ptr(), sys::GGML_OPT_LOSS_TYPE_CROSS_ENTROPY);
            let schedule = NonNull::from(Box::leak(Box::new(schedule)));
            params.opt_period = period;
            params.get_opt_pars = Some(schedule_params);
            params.get_opt_pars_ud = schedule.as_ptr().cast();
            params.optimizer = if sgd {
                sys::GGML_OPT_OPTIMIZER_TYPE_SGD
            } else {
                sys::GGML_OPT_OPTIMIZER_TYPE_ADAMW
            };
            let opt = sys::ggml_opt_init(params);
            let mut eval_params =
                sys::ggml_opt_default_params(sched.as_ptr(), sys::GGML_OPT_LOSS_TYPE_CROSS_ENTROPY);
            eval_params.build_type = sys::GGML_OPT_BUILD_TYPE_FORWARD;
            let eval = sys::ggml_opt_init(eval_params);
            if opt.is_null() || eval.is_null() {
                sys::ggml_opt_free(opt);
                sys::ggml_opt_free(eval);
                sys::ggml_backend_sched_free(sched.as_ptr());
                sys::ggml_backend_free(backend.as_ptr());
                drop(Box::from_raw(schedule.as_ptr()));
                return Err(LmError::Other("cannot create ggml's optimizer".into()));
            }
            // Every weight is trained.
            for t in &weights.tensors {
                if trains(&t.name) {
                    sys::ggml_set_param(t.tensor);
                } else {
                    (*t.tensor).flags &= !(sys::GGML_TENSOR_FLAG_PARAM as i32);
                }
            }
            Ok(Trainer {
                opt,
                eval,
                sched,
                backend,
                model,
                schedule,
                period: period as usize,
                pending: 0,
                _weights: std::marker::PhantomData,
            })
        }
    }

    /// Optimizer steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        // SAFETY: owned by the trainer; ggml only touches it inside `run`.
        unsafe { self.schedule.as_ref().step }
    }

    /// Starts the learning-rate schedule at `step` (a resumed run).
    pub fn set_step(&mut self, step: u64) {
        // SAFETY: as above.
        unsafe { self.schedule.as_mut().step = step }
    }

    /// One sequence: `tokens`, and `from`, the position of the first answer token (the loss
    /// covers predicting tokens `from..`). Trains on it when `train` (an optimizer step every
    /// `period` sequences), else only measures. Returns the mean loss per answer token.
    pub fn run(&mut self, tokens: &[i32], from: usize, train: bool) -> Result<f64, LmError> {
        let n = tokens.len();
        if from == 0 || from >= n {
            return Err(LmError::Other(format!(
                "a training sequence of {n} tokens has no answer after position {from}"
            )));
        }
        if let Some(t) = tokens
            .iter()
            .find(|&&t| t < 0 || i64::from(t) >= self.model.hp.n_vocab)
        {
            return Err(LmError::Other(format!(
                "token {t} is outside the vocabulary of {}",
                self.model.hp.n_vocab
            )));
        }
        // Positions whose next token is an answer token, and those tokens.
        let picks: Vec<i32> = (from as i32 - 1..n as i32 - 1).collect();
        let targets: Vec<i32> = tokens[from..].to_vec();
        let hp = &self.model.hp;
        let size_meta =
            GRAPH_SIZE * 4 * unsafe_tensor_overhead() + 2 * unsafe_graph_overhead(GRAPH_SIZE);
        // SAFETY: the graph context and the optimizer's compute context are created, used and
        // freed here; inputs are written within their sizes after allocation; every op's
        // shape requirement is met by construction (checked shapes above).
        unsafe {
            let ctx = sys::ggml_init(sys::ggml_init_params {
                mem_size: size_meta,
                mem_buffer: std::ptr::null_mut(),
                no_alloc: true,
            });
            let ctx_opt = sys::ggml_init(sys::ggml_init_params {
                mem_size: size_meta,
                mem_buffer: std::ptr::null_mut(),
                no_alloc: true,
            });
            if ctx.is_null() || ctx_opt.is_null() {
                sys::ggml_free(ctx);
                sys::ggml_free(ctx_opt);
                return Err(LmError::Other(
                    "cannot allocate a ggml graph context".into(),
                ));
            }
            let tok = sys::ggml_new_tensor_1d(ctx, sys::GGML_TYPE_I32, n as i64);
            sys::ggml_set_input(tok);
            let pos = sys::ggml_new_tensor_1d(ctx, sys::GGML_TYPE_I32, n as i64);
            sys::ggml_set_input(pos);
            let sel = sys::ggml_new_tensor_1d(ctx, sys::GGML_TYPE_I32, picks.len() as i64);
            sys::ggml_set_input(sel);
            let ones = sys::ggml_new_tensor_2d(ctx, sys::GGML_TYPE_F32, 1, n as i64);
            sys::ggml_set_input(ones);
            let logits = forward(ctx, &self.model, tok, pos, sel, ones, n as i64);
            let gf = sys::ggml_new_graph_custom(ctx, GRAPH_SIZE, false);
            sys::ggml_build_forward_expand(gf, logits);

            let opt = if train { self.opt } else { self.eval };
            sys::ggml_opt_prepare_alloc(opt, ctx_opt, gf, tok, logits);
            sys::ggml_opt_alloc(opt, train);
            if train && self.pending == 0 {
                // Gradients accumulate over a step's sequences: clear them (and seed the
                // loss's gradient) before the first.
                sys::ggml_opt_reset(opt, false);
            }
            let positions: Vec<i32> = (0..n as i32).collect();
            sys::ggml_backend_tensor_set(tok, tokens.as_ptr().cast(), 0, n * 4);
            sys::ggml_backend_tensor_set(pos, positions.as_ptr().cast(), 0, n * 4);
            sys::ggml_backend_tensor_set(sel, picks.as_ptr().cast(), 0, picks.len() * 4);
            sys::ggml_backend_tensor_set(ones, vec![1f32; n].as_ptr().cast(), 0, n * 4);
            let labels = sys::ggml_opt_labels(opt);
            let vocab = hp.n_vocab as usize;
            let mut onehot = vec![0f32; vocab * targets.len()];
            for (i, &t) in targets.iter().enumerate() {
                onehot[i * vocab + t as usize] = 1.0;
            }
            sys::ggml_backend_tensor_set(labels, onehot.as_ptr().cast(), 0, onehot.len() * 4);
            sys::ggml_opt_eval(opt, std::ptr::null_mut());
            let mut loss = 0f32;
            sys::ggml_backend_tensor_get(
                sys::ggml_opt_loss(opt),
                (&mut loss as *mut f32).cast(),
                0,
                4,
            );
            sys::ggml_free(ctx_opt);
            sys::ggml_free(ctx);
            if train {
                self.pending = (self.pending + 1) % self.period;
            }
            // A training sequence's loss is scaled by 1/period (the step averages them).
            let scale = if train { self.period as f64 } else { 1.0 };
            let loss = f64::from(loss) * scale;
            if !loss.is_finite() {
                return Err(LmError::Other(format!(
                    "training diverged: the loss is {loss} (try a lower learning rate)"
                )));
            }
            Ok(loss)
        }
    }
}

fn unsafe_tensor_overhead() -> usize {
    // SAFETY: a pure function of ggml's struct sizes.
    unsafe { sys::ggml_tensor_overhead() }
}

fn unsafe_graph_overhead(size: usize) -> usize {
    // SAFETY: a pure function of its argument.
    unsafe { sys::ggml_graph_overhead_custom(size, true) }
}

/// The forward pass of `n` tokens: logits `[n_vocab, picks]` at the positions `sel` picks.
///
/// # Safety
/// `ctx` is a live no-alloc context; the model's tensors are live; `tok`, `pos` are I32 `[n]`
/// and `sel` I32 indices below `n`.
unsafe fn forward(
    ctx: *mut sys::ggml_context,
    m: &Model,
    tok: *mut sys::ggml_tensor,
    pos: *mut sys::ggml_tensor,
    sel: *mut sys::ggml_tensor,
    ones: *mut sys::ggml_tensor,
    n: i64,
) -> *mut sys::ggml_tensor {
    let hp = &m.hp;
    let rope_mode = match hp.arch {
        Arch::Llama => sys::LLAMA_ROPE_TYPE_NORM,
        Arch::Qwen2 => sys::LLAMA_ROPE_TYPE_NEOX,
    };
    let kq_scale = 1.0 / (hp.head_dim as f32).sqrt();
    // SAFETY: the caller's guarantees; every op gets tensors of the shapes it takes.
    unsafe {
        let rope = |x: *mut sys::ggml_tensor| {
            sys::ggml_rope_ext(
                ctx,
                x,
                pos,
                std::ptr::null_mut(),
                hp.n_rot,
                rope_mode,
                hp.n_ctx_orig,
                hp.freq_base,
                1.0,
                0.0,
                1.0,
                32.0,
                1.0,
            )
        };
        // x / sqrt(mean(x²) + eps) per token, times the norm's weight; `ones` is [1, n].
        let norm = |x: *mut sys::ggml_tensor, w: *mut sys::ggml_tensor| {
            let ms = sys::ggml_scale_bias(
                ctx,
                sys::ggml_sum_rows(ctx, sys::ggml_sqr(ctx, x)),
                1.0 / hp.n_embd as f32,
                hp.rms_eps,
            );
            let rinv = sys::ggml_div(ctx, ones, sys::ggml_sqrt(ctx, ms));
            sys::ggml_mul(ctx, sys::ggml_mul(ctx, x, rinv), w)
        };
        let proj = |w: *mut sys::ggml_tensor, b: Option<*mut sys::ggml_tensor>, x| {
            let y = sys::ggml_mul_mat(ctx, w, x);
            match b {
                Some(b) => sys::ggml_add(ctx, y, b),
                None => y,
            }
        };
        let mut x = sys::ggml_get_rows(ctx, m.tok_embd, tok);
        for l in &m.layers {
            let h = norm(x, l.attn_norm);
            let q = sys::ggml_reshape_3d(ctx, proj(l.wq, l.bq, h), hp.head_dim, hp.n_head, n);
            let k = sys::ggml_reshape_3d(ctx, proj(l.wk, l.bk, h), hp.head_dim, hp.n_head_kv, n);
            let v = sys::ggml_reshape_3d(ctx, proj(l.wv, l.bv, h), hp.head_dim, hp.n_head_kv, n);
            let q = sys::ggml_permute(ctx, rope(q), 0, 2, 1, 3);
            let k = sys::ggml_permute(ctx, rope(k), 0, 2, 1, 3);
            let v = sys::ggml_permute(ctx, v, 0, 2, 1, 3);
            // [n_k, n_q, n_head]: each head attends to the tokens up to its own.
            let kq = sys::ggml_mul_mat(ctx, k, q);
            let kq = sys::ggml_soft_max(
                ctx,
                sys::ggml_diag_mask_inf(ctx, sys::ggml_scale(ctx, kq, kq_scale), 0),
            );
            let vt = sys::ggml_cont(ctx, sys::ggml_transpose(ctx, v));
            let kqv = sys::ggml_mul_mat(ctx, vt, kq);
            let att = sys::ggml_cont_2d(
                ctx,
                sys::ggml_permute(ctx, kqv, 0, 2, 1, 3),
                hp.head_dim * hp.n_head,
                n,
            );
            x = sys::ggml_add(ctx, x, sys::ggml_mul_mat(ctx, l.wo, att));
            let h = norm(x, l.ffn_norm);
            let g = sys::ggml_silu(ctx, sys::ggml_mul_mat(ctx, l.gate, h));
            let ff = sys::ggml_mul(ctx, g, sys::ggml_mul_mat(ctx, l.up, h));
            x = sys::ggml_add(ctx, x, sys::ggml_mul_mat(ctx, l.down, ff));
        }
        let x = sys::ggml_get_rows(ctx, norm(x, m.output_norm), sel);
        sys::ggml_mul_mat(ctx, m.output, x)
    }
}

impl Drop for Trainer<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, freed once, in dependency order; the schedule after the contexts
        // that point to it.
        unsafe {
            sys::ggml_opt_free(self.opt);
            sys::ggml_opt_free(self.eval);
            sys::ggml_backend_sched_free(self.sched.as_ptr());
            sys::ggml_backend_free(self.backend.as_ptr());
            drop(Box::from_raw(self.schedule.as_ptr()));
        }
    }
}
