//! Fine-tuning the embedded model on this machine's CPU, offline (`lm::local_train`).

use super::{FinetuneJob, Finetuned, Finetuner};
use crate::error::Result;
use crate::lm::local_train::{self, Ftype, TrainConfig, TrainStep};
use crate::lm::{BoxFuture, Lm, LmError, LocalConfig, LocalLm};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Fine-tunes a GGUF model in-process with llama.cpp (every weight, AdamW, on an F32 copy) and
/// loads the result as a [`LocalLm`]. The result is written to the output directory (default:
/// `finetuned/` beside the base model) as `<base>-<job>-<digest>.gguf`, the digest naming the
/// data and settings: a rerun with the same ones finds it (or resumes its checkpoint) instead
/// of training again.
#[derive(Clone, Debug)]
pub struct LocalFinetune {
    base: PathBuf,
    out_dir: Option<PathBuf>,
    config: TrainConfig,
    lm_config: LocalConfig,
    progress: bool,
}

impl LocalFinetune {
    /// Fine-tunes the GGUF model at `base` with [`TrainConfig`]'s defaults.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        LocalFinetune {
            base: base.into(),
            out_dir: None,
            config: TrainConfig::default(),
            lm_config: LocalConfig::default(),
            progress: false,
        }
    }

    /// Where fine-tuned models (and their work files) go.
    pub fn output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// All training settings at once.
    pub fn config(mut self, config: TrainConfig) -> Self {
        self.config = config;
        self
    }

    /// Passes over the data.
    pub fn epochs(mut self, n: usize) -> Self {
        self.config.epochs = n.max(1);
        self
    }

    /// The learning rate at the first step and at the last (linear in between).
    pub fn learning_rate(mut self, first: f32, last: f32) -> Self {
        self.config.learning_rate = first;
        self.config.final_learning_rate = last;
        self
    }

    /// Conversations per optimizer step.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n.max(1);
        self
    }

    /// Write the result re-quantized (e.g. [`Ftype::Q8_0`]) rather than as F32.
    pub fn output_type(mut self, ftype: Ftype) -> Self {
        self.config.output_type = ftype;
        self
    }

    /// How the fine-tuned model is loaded (context size, threads, sequences).
    pub fn lm_config(mut self, config: LocalConfig) -> Self {
        self.lm_config = config;
        self
    }

    /// A line on stderr every 10 optimizer steps (epoch, steps done, loss).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The directory results go to.
    fn dir(&self) -> PathBuf {
        self.out_dir.clone().unwrap_or_else(|| {
            self.base
                .parent()
                .map(|p| p.join("finetuned"))
                .unwrap_or_else(|| PathBuf::from("finetuned"))
        })
    }

    /// The model a job trains: the predictors' current model when this finetuner made it (an
    /// earlier `w` step: `local/<name>` with `<name>.gguf` in the output directory), as DSPy
    /// trains `pred.lm`; else the base model.
    fn start_from(&self, current: Option<&Lm>) -> PathBuf {
        current
            .and_then(|lm| lm.model().strip_prefix("local/"))
            .filter(|stem| !stem.is_empty() && !stem.contains(['/', '\\']))
            .map(|stem| self.dir().join(format!("{stem}.gguf")))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| self.base.clone())
    }

    /// The path a job's result is written to, training from `start`.
    fn output_for(&self, job: &FinetuneJob<'_>, start: &Path) -> Result<PathBuf> {
        let mut h = Sha256::new();
        h.update(local_train::model_identity(start)?.as_bytes());
        for c in job.train {
            h.update(c.to_json_line().as_bytes());
            h.update(b"\n");
        }
        let c = &self.config;
        h.update(
            format!(
                "{} {} {} {} {} {} {} {} {:?} {}",
                c.max_tokens,
                c.batch_size,
                c.epochs,
                c.learning_rate,
                c.final_learning_rate,
                c.weight_decay,
                c.val_share,
                c.seed ^ job.seed,
                c.output_type,
                c.checkpoint_every
            )
            .as_bytes(),
        );
        let digest = format!("{:x}", h.finalize());
        let stem = start
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model");
        let name: String = job
            .name
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
            .collect();
        Ok(self
            .dir()
            .join(format!("{stem}-{name}-{}.gguf", &digest[..12])))
    }
}

impl Finetuner for LocalFinetune {
    fn name(&self) -> &str {
        "local"
    }

    fn finetune<'a>(&'a self, job: FinetuneJob<'a>) -> BoxFuture<'a, Result<Finetuned>> {
        Box::pin(async move {
            let start = self.start_from(job.lm);
            let output = self.output_for(&job, &start)?;
            if let Some(dir) = output.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let conversations: Vec<Vec<crate::lm::Message>> =
                job.train.iter().map(|c| c.messages.clone()).collect();
            let mut config = self.config.clone();
            config.seed ^= job.seed;
            let base = start;
            let out = output.clone();
            let progress = self.progress;
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("dspy-finetune".into())
                .spawn(move || {
                    let mut on_step = |s: &TrainStep| {
                        if progress && (s.step.is_multiple_of(10) || s.step == s.steps) {
                            eprintln!(
                                "fine-tuning: epoch {} step {}/{} loss {:.3}",
                                s.epoch + 1,
                                s.step,
                                s.steps,
                                s.loss
                            );
                        }
                    };
                    let _ = tx.send(local_train::finetune(
                        &base,
                        &conversations,
                        &out,
                        &config,
                        &mut on_step,
                    ));
                })
                .map_err(|e| LmError::Other(format!("cannot start the training thread: {e}")))?;
            let report = rx.await.map_err(|_| {
                LmError::Other("the training thread stopped without a result".into())
            })??;
            let lm = LocalLm::load(&output, self.lm_config.clone())?;
            lm.ready().await?;
            let mut details = vec![format!(
                "{} conversations ({} held out), {} tokens ({} of answers) per epoch, {} steps, {:.0} s{}",
                report.conversations.0,
                report.conversations.1,
                report.tokens_per_epoch,
                report.answer_tokens_per_epoch,
                report.steps,
                report.elapsed.as_secs_f64(),
                if report.resumed { " (resumed)" } else { "" }
            )];
            if report.truncated > 0 || report.skipped > 0 {
                details.push(format!(
                    "{} conversations cut to max_tokens {} (the prompt's start dropped), {} left out (an answer too long or empty)",
                    report.truncated, self.config.max_tokens, report.skipped
                ));
            }
            if let Some(v) = report.initial_val {
                details.push(format!("validation loss before training {v:.3}"));
            }
            for (i, e) in report.epochs.iter().enumerate() {
                details.push(match e.val {
                    Some(v) => format!(
                        "epoch {}: train loss {:.3}, validation loss {v:.3}",
                        i + 1,
                        e.train
                    ),
                    None => format!("epoch {}: train loss {:.3}", i + 1, e.train),
                });
            }
            Ok(Finetuned {
                lm: lm.into(),
                model: output.display().to_string(),
                details,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::ScriptedLm;

    /// A job trains on from a model this finetuner wrote (an earlier `w` step); the base
    /// model, a model of elsewhere, a missing file or a name that leaves the directory keep
    /// the base.
    #[test]
    fn a_model_it_made_is_trained_on_from() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.gguf");
        let f = LocalFinetune::new(&base).output_dir(dir.path().join("out"));
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        let made = dir.path().join("out").join("base-multitask-0123.gguf");
        std::fs::write(&made, b"GGUF").unwrap();
        std::fs::write(dir.path().join("elsewhere.gguf"), b"GGUF").unwrap();
        let lm = |m: &str| Lm::new(ScriptedLm::new(Vec::<String>::new()).with_model(m));

        assert_eq!(f.start_from(None), base);
        assert_eq!(f.start_from(Some(&lm("local/base-multitask-0123"))), made);
        for other in [
            "local/base",
            "local/missing",
            "local/../elsewhere",
            "local/",
            "openai/base-multitask-0123",
        ] {
            assert_eq!(f.start_from(Some(&lm(other))), base, "{other}");
        }
    }
}
