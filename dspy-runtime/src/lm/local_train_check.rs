//! A check of the training graph's gradients against finite differences of its loss, for any
//! model architecture the trainer takes (`local_train::check_gradients`).

use super::LmError;
use super::local_train_ffi::{Ftype, Weights, convert};
use super::local_train_graph::{Schedule, Trainer};
use llama_cpp_sys_2 as sys;
use std::path::Path;

/// One weight entry checked: the gradient the graph computes and the central finite
/// difference of the loss.
#[derive(Clone, Debug)]
pub struct GradientEntry {
    /// The tensor's name (`blk.3.attn_q.weight`).
    pub tensor: String,
    /// The entry's index in the tensor.
    pub index: usize,
    /// d loss / d weight from the graph's backward pass.
    pub analytic: f64,
    /// (loss(w + h) − loss(w − h)) / 2h.
    pub numeric: f64,
    /// Whether they agree (within 5% of the numeric value, plus 1e-3).
    pub agrees: bool,
}

/// What [`check_gradients`] compared.
#[derive(Clone, Debug, Default)]
pub struct GradientCheck {
    /// The three largest-gradient entries of each tensor checked.
    pub entries: Vec<GradientEntry>,
}

impl GradientCheck {
    /// The entries that disagree, one line each.
    pub fn failures(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| !e.agrees)
            .map(|e| {
                format!(
                    "{}[{}]: gradient {:+.5e}, finite differences {:+.5e}",
                    e.tensor, e.index, e.analytic, e.numeric
                )
            })
            .collect()
    }
}

/// Converts `base` to F32 in a temporary directory and, for one tensor of every kind (the
/// embeddings, the fourth and last blocks' norms, projections and biases where the
/// architecture has them, the output norm), compares the gradient the training graph computes
/// (read off one plain SGD step) with central finite differences of the loss at the tensor's
/// three largest-gradient entries. The loss covers the last 4 of 24 arbitrary tokens.
pub fn check_gradients(base: &Path, threads: usize) -> Result<GradientCheck, LmError> {
    super::local::backend()?;
    let dir = TempDir::new()?;
    let f32_path = dir.0.join("f32.gguf");
    let threads = i32::try_from(threads.max(1)).unwrap_or(1);
    convert(base, &f32_path, Ftype::F32, threads)?;
    let weights = Weights::load(&f32_path)?;
    let mut last = 0;
    while weights
        .get(&format!("blk.{}.attn_norm.weight", last + 1))
        .is_some()
    {
        last += 1;
    }
    let mut names = vec!["token_embd.weight".to_string()];
    for (block, kinds) in [
        (
            3.min(last),
            &[
                "attn_norm.weight",
                "attn_q.weight",
                "attn_q.bias",
                "attn_k.weight",
                "attn_k.bias",
                "attn_v.weight",
                "attn_v.bias",
                "attn_output.weight",
            ][..],
        ),
        (
            last,
            &[
                "ffn_norm.weight",
                "ffn_gate.weight",
                "ffn_up.weight",
                "ffn_down.weight",
            ][..],
        ),
    ] {
        names.extend(kinds.iter().map(|k| format!("blk.{block}.{k}")));
    }
    names.push("output_norm.weight".into());
    let tensors: Vec<(String, *mut sys::ggml_tensor)> = names
        .into_iter()
        .filter_map(|n| weights.get(&n).map(|t| (n, t)))
        .collect();

    let seq: Vec<i32> = (0..24).map(|i: i32| i * 7919 % 40_000 + 100).collect();
    let from = 20;
    let eta = 1e-3f32;
    let h = 1e-3f32;
    let mut check = GradientCheck::default();
    for (name, t) in tensors {
        let schedule = Schedule {
            lr: eta,
            lr_end: eta,
            weight_decay: 0.0,
            step: 0,
            steps: 1,
        };
        let mut trainer =
            Trainer::with_options(&weights, threads, 1, schedule, &|n| n == name, true)?;
        // SAFETY: a live F32 tensor of the loaded weights, read and written whole.
        let n = unsafe { sys::ggml_nelements(t) } as usize;
        let get = || {
            let mut v = vec![0f32; n];
            // SAFETY: as above; `v` holds `n` floats.
            unsafe { sys::ggml_backend_tensor_get(t, v.as_mut_ptr().cast(), 0, n * 4) };
            v
        };
        // SAFETY: as above; `v` holds `n` floats.
        let set =
            |v: &[f32]| unsafe { sys::ggml_backend_tensor_set(t, v.as_ptr().cast(), 0, n * 4) };
        let before = get();
        trainer.run(&seq, from, true)?;
        let grad: Vec<f32> = before
            .iter()
            .zip(get())
            .map(|(a, b)| (a - b) / eta)
            .collect();
        set(&before);
        // The three largest gradients, in order.
        let mut order: Vec<usize> = (0..n).collect();
        let by_size = |a: &usize, b: &usize| grad[*b].abs().total_cmp(&grad[*a].abs());
        if n > 3 {
            order.select_nth_unstable_by(2, by_size);
            order.truncate(3);
        }
        order.sort_by(by_size);
        let mut v = before;
        for i in order {
            let w = v[i];
            v[i] = w + h;
            set(&v);
            let plus = trainer.run(&seq, from, false)?;
            v[i] = w - h;
            set(&v);
            let minus = trainer.run(&seq, from, false)?;
            v[i] = w;
            set(&v);
            let numeric = (plus - minus) / (2.0 * f64::from(h));
            let analytic = f64::from(grad[i]);
            check.entries.push(GradientEntry {
                tensor: name.clone(),
                index: i,
                analytic,
                numeric,
                agrees: (analytic - numeric).abs() <= 0.05 * numeric.abs() + 1e-3,
            });
        }
    }
    Ok(check)
}

/// A directory of this process's under the system's temporary one, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, LmError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("dspy-gradcheck-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            LmError::Other(format!("cannot make the directory {}: {e}", dir.display()))
        })?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn smollm2() -> PathBuf {
        let dir = std::env::var_os("DSPY_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models")));
        crate::lm::local::locate_in(&dir, crate::lm::local::SMOLLM2_FILE)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// For one weight of every kind, the gradient the graph computes agrees with central
    /// finite differences of the loss at its largest entries.
    #[test]
    fn gradients_agree_with_finite_differences() {
        let check = check_gradients(&smollm2(), 2).unwrap();
        let tensors: std::collections::BTreeSet<&str> =
            check.entries.iter().map(|e| e.tensor.as_str()).collect();
        assert_eq!(tensors.len(), 11, "{tensors:?}");
        assert!(tensors.contains("blk.29.ffn_down.weight"), "{tensors:?}");
        let failures = check.failures();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
