//! Fine-tuning the embedded model in-process on this machine's CPU: every weight of an F32
//! copy of the model, AdamW, over chat conversations rendered with the model's own chat
//! template, the loss on the assistant's answer only, checkpointed so that a killed run
//! resumes (`local_train_graph` holds the graph and the optimizer).

use super::local_train_ffi::{GgufMeta, Weights, io_error};
use super::local_train_graph::{Schedule, Trainer};
use super::{LmError, Message, MessageRole};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::local_train_check::{GradientCheck, GradientEntry, check_gradients};
pub use super::local_train_ffi::Ftype;

/// Settings of an embedded fine-tuning run.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Most tokens of one conversation; a longer one loses its start (the answer is kept).
    /// Default 1024.
    pub max_tokens: usize,
    /// Passes over the training conversations; default 2.
    pub epochs: usize,
    /// Conversations per optimizer step (their gradients are summed); default 4.
    pub batch_size: usize,
    /// AdamW's learning rate at the first step; default 5e-5.
    pub learning_rate: f32,
    /// The learning rate at the last step (linear decay in between); default 5e-6.
    pub final_learning_rate: f32,
    /// AdamW's weight decay, in [0, 1]; default 0.
    pub weight_decay: f32,
    /// Share of the conversations held out to report a validation loss per epoch; default 0.1.
    pub val_share: f64,
    /// Threads (default: the machine's available parallelism, or `DSPY_THREADS`).
    pub threads: i32,
    /// Seed of the validation split and of each epoch's order.
    pub seed: u64,
    /// Optimizer steps between checkpoints (a killed run resumes from the last); default 16.
    pub checkpoint_every: usize,
    /// The type the result is written as: F32 (as trained), or re-quantized.
    pub output_type: Ftype,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            max_tokens: 1024,
            epochs: 2,
            batch_size: 4,
            learning_rate: 5e-5,
            final_learning_rate: 5e-6,
            weight_decay: 0.0,
            val_share: 0.1,
            threads: super::LocalConfig::default().threads,
            seed: 0,
            checkpoint_every: 16,
            output_type: Ftype::F32,
        }
    }
}

/// Progress of a run, after each optimizer step.
#[derive(Clone, Debug)]
pub struct TrainStep {
    /// The epoch (from 0).
    pub epoch: usize,
    /// Optimizer steps done in this epoch.
    pub step: usize,
    /// Optimizer steps planned for each epoch.
    pub steps: usize,
    /// Mean loss per answer token over the step's conversations.
    pub loss: f64,
}

/// Losses of one epoch.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochLoss {
    /// Mean training loss per answer token over the epoch's conversations.
    pub train: f64,
    /// Loss per answer token on the held-out conversations after the epoch (`None` without
    /// any).
    pub val: Option<f64>,
}

/// What a fine-tuning run did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainReport {
    /// The fine-tuned GGUF.
    pub output: PathBuf,
    /// Conversations trained on and held out.
    pub conversations: (usize, usize),
    /// Tokens of the training conversations per epoch.
    pub tokens_per_epoch: usize,
    /// Tokens of their answers per epoch (what the loss covers).
    pub answer_tokens_per_epoch: usize,
    /// Conversations cut to `max_tokens` (their prompt's start dropped).
    pub truncated: usize,
    /// Conversations left out: an answer longer than `max_tokens`, or one that renders to no
    /// tokens.
    #[serde(default)]
    pub skipped: usize,
    /// Loss per epoch.
    pub epochs: Vec<EpochLoss>,
    /// Validation loss of the model before training.
    pub initial_val: Option<f64>,
    /// Optimizer steps.
    pub steps: u64,
    /// Wall time of this process's part of the run.
    #[serde(with = "secs")]
    pub elapsed: Duration,
    /// Whether the run continued from a checkpoint (or found its result already made).
    pub resumed: bool,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(v).unwrap_or_default())
    }
}

/// The checkpointed state of a run (`state.json` in its work directory).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    /// Identifies the data, base model and settings: a checkpoint of another run is ignored.
    key: String,
    epoch: usize,
    /// Optimizer steps of `epoch` done.
    epoch_step: usize,
    step: u64,
    /// The checkpoint file holding the weights after `step` (in the work directory).
    checkpoint: Option<String>,
    /// Sum and count of the current epoch's per-conversation losses.
    loss_sum: f64,
    loss_count: usize,
    done: bool,
    report: TrainReport,
}

/// One conversation as tokens; the loss covers tokens `from..`.
struct Sequence {
    tokens: Vec<i32>,
    from: usize,
}

/// Fine-tunes the GGUF model at `base` (llama or qwen2 architecture, any type: it is converted
/// to F32) on `conversations`, each ending with the assistant message to learn, and writes the
/// result to `output`. Work files (the F32 copy, the last checkpoint, `state.json`) live in
/// `<output>.train/`; a run with the same data, model and settings resumes from them (the
/// weights of its last checkpoint; AdamW's averages start again), and one already finished
/// returns its report without training. Runs on the calling thread for as long as training
/// takes: call it from a blocking task or a thread of its own.
pub fn finetune(
    base: &Path,
    conversations: &[Vec<Message>],
    output: &Path,
    config: &TrainConfig,
    on_step: &mut dyn FnMut(&TrainStep),
) -> Result<TrainReport, LmError> {
    let started = Instant::now();
    super::local::check_gguf(base)?;
    if config.epochs == 0 || config.batch_size == 0 {
        return Err(LmError::Config(
            "fine-tuning needs at least one epoch and a batch of at least one".into(),
        ));
    }
    super::local_train_graph::check_rates(
        config.learning_rate,
        config.final_learning_rate,
        config.weight_decay,
    )?;
    let backend = super::local::backend()?;
    let (sequences, truncated, skipped) =
        tokenize_conversations(backend, base, conversations, config)?;

    // Hold out conversations for the validation loss.
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    fastrand::Rng::with_seed(config.seed).shuffle(&mut order);
    let n_val = if sequences.len() >= 2 {
        ((sequences.len() as f64 * config.val_share).round() as usize).min(sequences.len() - 1)
    } else {
        0
    };
    let (val_ids, train_ids) = order.split_at(n_val);
    let train: Vec<&Sequence> = train_ids.iter().map(|&i| &sequences[i]).collect();
    let val: Vec<&Sequence> = val_ids.iter().map(|&i| &sequences[i]).collect();

    let work = work_dir(output);
    std::fs::create_dir_all(&work).map_err(|e| io_error(&work, e))?;
    // One run at a time in a work directory (the lock goes with the process).
    let _lock = lock(&work)?;
    let key = run_key(base, &train, &val, config)?;
    let state_path = work.join("state.json");
    let mut state = match read_state(&state_path) {
        Some(s) if s.key == key => s,
        _ => {
            // Another run's files (or none): start clean, so nothing of it is reused.
            std::fs::remove_dir_all(&work).map_err(|e| io_error(&work, e))?;
            std::fs::create_dir_all(&work).map_err(|e| io_error(&work, e))?;
            State::default()
        }
    };
    if state.done && output.exists() {
        remove_except_state(&work);
        let mut report = state.report;
        report.resumed = true;
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    let checkpoint = state.checkpoint.as_ref().map(|name| work.join(name));
    let resumed = state.step > 0 && checkpoint.as_ref().is_some_and(|c| c.exists());
    if !resumed {
        state = State {
            key,
            ..State::default()
        };
    }

    // The F32 copy of the base: where a fresh run starts, and the layout every saved file
    // copies (a checkpoint holds the same tensors in the same places).
    let f32_path = work.join("f32.gguf");
    if !f32_path.exists() {
        let part = work.join("f32.gguf.part");
        super::local_train_ffi::convert(base, &part, Ftype::F32, config.threads)?;
        std::fs::rename(&part, &f32_path).map_err(|e| io_error(&f32_path, e))?;
    }
    let start_from = checkpoint
        .filter(|_| resumed)
        .unwrap_or_else(|| f32_path.clone());
    let weights = Weights::load(&start_from)?;
    let batch = config.batch_size.min(train.len());
    let steps_per_epoch = train.len().div_ceil(batch);
    let steps = config
        .epochs
        .checked_mul(steps_per_epoch)
        .ok_or_else(|| LmError::Config(format!("{} epochs are too many", config.epochs)))?;
    let mut trainer = Trainer::new(
        &weights,
        config.threads,
        batch,
        Schedule {
            lr: config.learning_rate,
            lr_end: config.final_learning_rate,
            weight_decay: config.weight_decay,
            step: 0,
            steps: steps as u64,
        },
    )?;
    trainer.set_step(state.step);
    let mean_val = |trainer: &mut Trainer<'_>| -> Result<Option<f64>, LmError> {
        if val.is_empty() {
            return Ok(None);
        }
        let mut sum = 0.0;
        for s in &val {
            sum += trainer.run(&s.tokens, s.from, false)?;
        }
        Ok(Some(sum / val.len() as f64))
    };
    if !resumed {
        state.report.initial_val = mean_val(&mut trainer)?;
    }

    while state.epoch < config.epochs {
        // This epoch's order, filled up to whole batches with its first conversations.
        let mut order: Vec<usize> = (0..train.len()).collect();
        fastrand::Rng::with_seed(config.seed.wrapping_add(1 + state.epoch as u64))
            .shuffle(&mut order);
        let fill: Vec<usize> = order
            .iter()
            .copied()
            .cycle()
            .take(steps_per_epoch * batch - order.len())
            .collect();
        order.extend(fill);
        while state.epoch_step < steps_per_epoch {
            let group = &order[state.epoch_step * batch..(state.epoch_step + 1) * batch];
            let mut sum = 0.0;
            for &i in group {
                let loss = trainer.run(&train[i].tokens, train[i].from, true)?;
                sum += loss;
            }
            state.epoch_step += 1;
            state.step = trainer.steps_taken();
            state.loss_sum += sum;
            state.loss_count += group.len();
            on_step(&TrainStep {
                epoch: state.epoch,
                step: state.epoch_step,
                steps: steps_per_epoch,
                loss: sum / group.len() as f64,
            });
            if state.epoch_step < steps_per_epoch
                && state
                    .epoch_step
                    .is_multiple_of(config.checkpoint_every.max(1))
            {
                save_checkpoint(&weights, &f32_path, &work, &mut state)?;
            }
        }
        let val_loss = mean_val(&mut trainer)?;
        state.report.epochs.push(EpochLoss {
            train: state.loss_sum / state.loss_count.max(1) as f64,
            val: val_loss,
        });
        state.epoch += 1;
        state.epoch_step = 0;
        state.loss_sum = 0.0;
        state.loss_count = 0;
        if state.epoch < config.epochs {
            save_checkpoint(&weights, &f32_path, &work, &mut state)?;
        }
    }

    // The result: the trained F32 weights, re-quantized when asked.
    drop(trainer);
    let trained = work.join("trained.gguf");
    weights.save(&f32_path, &trained)?;
    drop(weights);
    if config.output_type == Ftype::F32 {
        std::fs::rename(&trained, output).map_err(|e| io_error(output, e))?;
    } else {
        let part = work.join("output.gguf.part");
        super::local_train_ffi::convert(&trained, &part, config.output_type, config.threads)?;
        std::fs::rename(&part, output).map_err(|e| io_error(output, e))?;
        let _ = std::fs::remove_file(&trained);
    }
    state.done = true;
    state.report.output = output.to_path_buf();
    state.report.conversations = (train.len(), val.len());
    state.report.tokens_per_epoch = train.iter().map(|s| s.tokens.len()).sum();
    state.report.answer_tokens_per_epoch = train.iter().map(|s| s.tokens.len() - s.from).sum();
    state.report.truncated = truncated;
    state.report.skipped = skipped;
    state.report.steps = state.step;
    state.report.elapsed = started.elapsed();
    state.report.resumed = resumed;
    state.checkpoint = None;
    write_state(&state_path, &state)?;
    remove_except_state(&work);
    Ok(state.report)
}

/// Names a model file by its canonical path, size and modification time, so that a file
/// replaced in place is another model.
pub(crate) fn model_identity(path: &Path) -> Result<String, LmError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    let canonical = path.canonicalize().map_err(|e| io_error(path, e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{} {} {modified}", canonical.display(), meta.len()))
}

/// Removes a work directory's files but its `state.json` (a finished run's record).
fn remove_except_state(work: &Path) {
    if let Ok(entries) = std::fs::read_dir(work) {
        for e in entries.flatten() {
            if e.file_name() != "state.json" {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Holds an exclusive lock on `<work>.lock` (beside the work directory, which a run may wipe)
/// for as long as the returned file is open; another run on the same output gets an error
/// instead of sharing its files.
fn lock(work: &Path) -> Result<std::fs::File, LmError> {
    let mut name = work.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let path = work.with_file_name(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; flock only takes an advisory lock on it.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(LmError::Config(format!(
                "{}: another fine-tuning run is using this directory",
                work.display()
            )));
        }
    }
    Ok(file)
}

/// Converts a GGUF model to another type (e.g. a fine-tuned F32 model to Q8_0).
pub fn convert_gguf(src: &Path, dst: &Path, ftype: Ftype) -> Result<(), LmError> {
    super::local::check_gguf(src)?;
    super::local::backend()?;
    super::local_train_ffi::convert(src, dst, ftype, super::LocalConfig::default().threads)
}

/// The context length a GGUF model declares (`<architecture>.context_length`), if it does.
pub fn context_length(path: &Path) -> Result<Option<u32>, LmError> {
    super::local::check_gguf(path)?;
    let meta = GgufMeta::open(path)?;
    Ok(meta
        .string("general.architecture")
        .and_then(|arch| meta.u32(&format!("{arch}.context_length"))))
}

/// Where a run writing `output` keeps its work files.
pub fn work_dir(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".train");
    output.with_file_name(name)
}

/// Each conversation as the model's chat template renders it, tokenized as prompts are (the
/// model's BOS, special tokens read as such), with where its answer starts; how many were cut
/// to `max_tokens`; and how many were left out (an answer that does not fit or is empty). A
/// conversation that is not a prompt then an answer is an error; so is none left.
fn tokenize_conversations(
    backend: &llama_cpp_2::llama_backend::LlamaBackend,
    base: &Path,
    conversations: &[Vec<Message>],
    config: &TrainConfig,
) -> Result<(Vec<Sequence>, usize, usize), LmError> {
    if conversations.is_empty() {
        return Err(LmError::Config("no conversations to train on".into()));
    }
    let vocab = LlamaModel::load_from_file(
        backend,
        base,
        &LlamaModelParams::default().with_vocab_only(true),
    )
    .map_err(|e| LmError::Config(format!("cannot load {}: {e}", base.display())))?;
    let template = vocab.chat_template(None).ok();
    let render = |msgs: &[Message], open: bool| -> Result<Vec<i32>, LmError> {
        let text = super::local_call::render_chat(&vocab, template.as_ref(), msgs, open)?;
        let tokens = super::local_vocab::tokenize(&vocab, &text, true)?;
        Ok(tokens.into_iter().map(|t| t.0).collect())
    };
    let mut truncated = 0;
    let (mut skipped, mut first_skip) = (0, None);
    let mut sequences = Vec::with_capacity(conversations.len());
    for (i, msgs) in conversations.iter().enumerate() {
        let sequence = tokenize_one(&render, i, msgs, config.max_tokens)?;
        match sequence {
            Ok((s, cut)) => {
                truncated += usize::from(cut);
                sequences.push(s);
            }
            Err(why) => {
                tracing::warn!("fine-tuning leaves out {why}");
                skipped += 1;
                first_skip.get_or_insert(why);
            }
        }
    }
    if sequences.is_empty() {
        return Err(LmError::Config(format!(
            "none of the {} training conversations can be trained on; the first: {}",
            conversations.len(),
            first_skip.as_deref().unwrap_or("-")
        )));
    }
    Ok((sequences, truncated, skipped))
}

/// Messages to the tokens of the model's chat template (`true`: open for the answer).
type Render<'a> = dyn Fn(&[Message], bool) -> Result<Vec<i32>, LmError> + 'a;

/// One conversation as a training sequence, and whether it was cut to `max_tokens`; `Ok(Err)`
/// says why it is left out.
fn tokenize_one(
    render: &Render<'_>,
    i: usize,
    msgs: &[Message],
    max_tokens: usize,
) -> Result<Result<(Sequence, bool), String>, LmError> {
    if msgs.len() < 2 || msgs.last().map(|m| m.role) != Some(MessageRole::Assistant) {
        return Err(LmError::Config(format!(
            "training conversation {i} does not end with an assistant message after a prompt"
        )));
    }
    let prompt = render(&msgs[..msgs.len() - 1], true)?;
    let mut tokens = render(msgs, false)?;
    let mut from = prompt
        .iter()
        .zip(&tokens)
        .take_while(|(a, b)| a == b)
        .count();
    if from == 0 || from >= tokens.len() {
        return Ok(Err(format!(
            "conversation {i}: its answer renders to no tokens after the prompt"
        )));
    }
    let mut cut = false;
    if tokens.len() > max_tokens {
        let drop = tokens.len() - max_tokens;
        if drop >= from {
            return Ok(Err(format!(
                "conversation {i}: its answer ({} tokens) does not fit in max_tokens {max_tokens}",
                tokens.len() - from
            )));
        }
        tokens.drain(..drop);
        from -= drop;
        cut = true;
    }
    Ok(Ok((Sequence { tokens, from }, cut)))
}

/// A digest of everything the result depends on.
fn run_key(
    base: &Path,
    train: &[&Sequence],
    val: &[&Sequence],
    c: &TrainConfig,
) -> Result<String, LmError> {
    let mut h = Sha256::new();
    h.update(model_identity(base)?.as_bytes());
    for (side, seqs) in [(0u8, train), (1u8, val)] {
        h.update([side]);
        for s in seqs {
            h.update((s.from as u64).to_le_bytes());
            for t in &s.tokens {
                h.update(t.to_le_bytes());
            }
            h.update([0xff; 4]);
        }
    }
    h.update(
        format!(
            "{} {} {} {} {} {} {} {} {:?}",
            c.max_tokens,
            c.epochs,
            c.batch_size,
            c.learning_rate,
            c.final_learning_rate,
            c.weight_decay,
            c.seed,
            c.checkpoint_every,
            c.output_type
        )
        .as_bytes(),
    );
    Ok(format!("{:x}", h.finalize()))
}

/// Saves the weights as `checkpoint-<step>.gguf` (laid out as `layout`, the file they were
/// loaded from), then the state naming it, then removes the previous checkpoint: a kill at
/// any point leaves a state and the weights it names.
fn save_checkpoint(
    weights: &Weights,
    layout: &Path,
    work: &Path,
    state: &mut State,
) -> Result<(), LmError> {
    let name = format!("checkpoint-{}.gguf", state.step);
    let path = work.join(&name);
    let part = work.join(format!("{name}.part"));
    weights.save(layout, &part)?;
    std::fs::rename(&part, &path).map_err(|e| io_error(&path, e))?;
    let previous = state.checkpoint.replace(name);
    write_state(&work.join("state.json"), state)?;
    if let Some(p) = previous.filter(|p| Some(p) != state.checkpoint.as_ref()) {
        let _ = std::fs::remove_file(work.join(p));
    }
    Ok(())
}

fn read_state(path: &Path) -> Option<State> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable fine-tuning state");
            None
        }
    }
}

fn write_state(path: &Path, state: &State) -> Result<(), LmError> {
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| LmError::Other(format!("cannot serialize the training state: {e}")))?;
    let part = path.with_extension("json.part");
    std::fs::write(&part, text).map_err(|e| io_error(&part, e))?;
    std::fs::rename(&part, path).map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_directory_sits_beside_the_output() {
        assert_eq!(
            work_dir(Path::new("/m/tuned.gguf")),
            PathBuf::from("/m/tuned.gguf.train")
        );
    }
}
