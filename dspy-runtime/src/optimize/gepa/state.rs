//! A GEPA run's state: every candidate with its parents and validation scores, the frontier,
//! the random state and every counter, saved as JSON after each iteration so a killed run
//! resumes where it was and reaches the same result.

use super::merge::{Candidate, Merges};
use super::pareto::Fronts;
use crate::error::{Error, Result};
use crate::optimize::spend::ModelUsage;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The version of the checkpoint format.
const VERSION: u32 = 1;

/// What one iteration did, for the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A reflective mutation of `parent`'s `components`, scored on `minibatch` before and
    /// after; `child` is its index when it was accepted.
    Reflection {
        /// The iteration.
        iteration: usize,
        /// The parent's index.
        parent: usize,
        /// The predictors rewritten.
        components: Vec<String>,
        /// The training examples of the minibatch.
        minibatch: Vec<usize>,
        /// The parent's minibatch scores.
        before: Vec<f64>,
        /// The child's minibatch scores.
        after: Vec<f64>,
        /// The proposed instructions.
        proposed: BTreeMap<String, String>,
        /// The new candidate's index, when accepted.
        child: Option<usize>,
    },
    /// A merge of `parents` through `ancestor`, scored on `subsample` of the valset.
    Merge {
        /// The iteration.
        iteration: usize,
        /// The two programs merged.
        parents: [usize; 2],
        /// Their common ancestor.
        ancestor: usize,
        /// The merged instructions.
        candidate: BTreeMap<String, String>,
        /// The validation instances it was scored on.
        subsample: Vec<usize>,
        /// The parents' summed scores there.
        before: [f64; 2],
        /// The merged program's scores there.
        after: Vec<f64>,
        /// The new candidate's index, when accepted.
        child: Option<usize>,
    },
    /// An iteration that proposed nothing, and why.
    Skipped {
        /// The iteration.
        iteration: usize,
        /// The parent's index, when one was chosen.
        parent: Option<usize>,
        /// Why (all scores perfect, no reflective examples, a failed proposal…).
        reason: String,
    },
}

/// The minibatch sampler: the training set shuffled once per epoch and padded to a multiple
/// of the minibatch size with the least used examples (GEPA's `EpochShuffledBatchSampler`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sampler {
    pub shuffled: Vec<usize>,
    pub epoch: Option<usize>,
}

impl Sampler {
    /// The minibatch of iteration `i` (from 1) of `size` examples out of `n`.
    pub(crate) fn next(
        &mut self,
        i: usize,
        size: usize,
        n: usize,
        rng: &mut fastrand::Rng,
    ) -> Vec<usize> {
        let size = size.clamp(1, n.max(1));
        let base = (i - 1) * size;
        let epoch = match self.epoch {
            None => 0,
            Some(_) => base / self.shuffled.len().max(1),
        };
        if self.shuffled.is_empty() || self.epoch.is_none_or(|e| epoch > e) {
            self.epoch = Some(epoch);
            let mut ids: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut ids);
            let mut freq = vec![1usize; n];
            let pad = (size - n % size) % size;
            for _ in 0..pad {
                // The least used id, the last one among ties (as GEPA's `most_common()[::-1]`).
                let min = freq.iter().copied().min().unwrap_or(0);
                let id = (0..n).rev().find(|&k| freq[k] == min).unwrap_or(0);
                ids.push(id);
                freq[id] += 1;
            }
            self.shuffled = ids;
        }
        let start = base % self.shuffled.len().max(1);
        self.shuffled[start..(start + size).min(self.shuffled.len())].to_vec()
    }
}

/// Everything a run needs to go on from where it was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    pub version: u32,
    /// Names what was optimized with what settings; a checkpoint of another run is refused.
    pub fingerprint: String,
    /// Iterations started.
    pub iteration: usize,
    pub candidates: Vec<Candidate>,
    pub parents: Vec<Vec<usize>>,
    /// Each candidate's score on each validation instance.
    pub val_scores: Vec<Vec<f64>>,
    /// Each candidate's mean objective scores over the valset.
    pub objectives: Vec<BTreeMap<String, f64>>,
    /// Metric calls spent when each candidate was found.
    pub discovered_at: Vec<u64>,
    /// The iteration each candidate was found in (0 for the seed).
    pub found_in: Vec<usize>,
    /// Best score per validation instance, and the programs reaching it.
    pub best_per_instance: Vec<f64>,
    pub front_per_instance: Fronts,
    /// Best mean score per objective, and the programs reaching it.
    pub objective_front: BTreeMap<String, (f64, BTreeSet<usize>)>,
    /// The best outputs per validation instance (program, output), when tracked.
    pub best_outputs: Option<Vec<Vec<(usize, Value)>>>,
    /// The next predictor round-robin selection rewrites, per candidate.
    pub next_component: Vec<usize>,
    pub metric_calls: u64,
    pub full_evals: u64,
    /// Dollars the reflection LM has cost.
    pub reflection_cost: f64,
    /// Iterations since the best mean validation score last rose.
    pub since_improvement: usize,
    pub rng: u64,
    pub sampler: Sampler,
    pub merges: Merges,
    pub steps: Vec<Step>,
    /// LM usage by model up to this checkpoint (a resumed run's report and budget count it).
    #[serde(default)]
    pub usage: BTreeMap<String, ModelUsage>,
}

impl State {
    /// A run's state after scoring the seed candidate on the valset.
    pub(crate) fn new(fingerprint: String, seed_candidate: Candidate, seed: u64) -> State {
        State {
            version: VERSION,
            fingerprint,
            iteration: 0,
            candidates: vec![seed_candidate],
            parents: vec![Vec::new()],
            val_scores: Vec::new(),
            objectives: Vec::new(),
            discovered_at: Vec::new(),
            found_in: Vec::new(),
            best_per_instance: Vec::new(),
            front_per_instance: Vec::new(),
            objective_front: BTreeMap::new(),
            best_outputs: None,
            next_component: vec![0],
            metric_calls: 0,
            full_evals: 0,
            reflection_cost: 0.0,
            since_improvement: 0,
            rng: seed,
            sampler: Sampler::default(),
            merges: Merges::default(),
            steps: Vec::new(),
            usage: BTreeMap::new(),
        }
    }

    /// Each candidate's mean validation score.
    pub(crate) fn mean_scores(&self) -> Vec<f64> {
        self.val_scores
            .iter()
            .map(|s| {
                if s.is_empty() {
                    f64::NEG_INFINITY
                } else {
                    s.iter().sum::<f64>() / s.len() as f64
                }
            })
            .collect()
    }

    /// Records a candidate scored on the whole valset; returns its index. The seed candidate
    /// (already in `candidates`) is recorded with `candidate = None`.
    pub(crate) fn add(
        &mut self,
        candidate: Option<(Candidate, Vec<usize>)>,
        scores: Vec<f64>,
        objectives: BTreeMap<String, f64>,
        outputs: Option<Vec<Value>>,
        discovered_at: u64,
    ) -> usize {
        let idx = match candidate {
            Some((c, parents)) => {
                let next = parents
                    .iter()
                    .map(|p| self.next_component.get(*p).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                self.candidates.push(c);
                self.parents.push(parents);
                self.next_component.push(next);
                self.candidates.len() - 1
            }
            None => 0,
        };
        let best_before = self
            .mean_scores()
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        if self.best_per_instance.is_empty() {
            self.best_per_instance = vec![f64::NEG_INFINITY; scores.len()];
            self.front_per_instance = vec![BTreeSet::new(); scores.len()];
        }
        for (k, &s) in scores.iter().enumerate() {
            let output = outputs.as_ref().and_then(|o| o.get(k)).cloned();
            if s > self.best_per_instance[k] {
                self.best_per_instance[k] = s;
                self.front_per_instance[k] = BTreeSet::from([idx]);
                if let (Some(best), Some(o)) = (self.best_outputs.as_mut(), output) {
                    best[k] = vec![(idx, o)];
                }
            } else if s == self.best_per_instance[k] {
                self.front_per_instance[k].insert(idx);
                if let (Some(best), Some(o)) = (self.best_outputs.as_mut(), output) {
                    best[k].push((idx, o));
                }
            }
        }
        for (name, &v) in &objectives {
            let entry = self
                .objective_front
                .entry(name.clone())
                .or_insert((f64::NEG_INFINITY, BTreeSet::new()));
            if v > entry.0 {
                *entry = (v, BTreeSet::from([idx]));
            } else if v == entry.0 {
                entry.1.insert(idx);
            }
        }
        self.val_scores.push(scores);
        self.objectives.push(objectives);
        self.discovered_at.push(discovered_at);
        self.found_in.push(self.iteration);
        self.full_evals += 1;
        let best_after = self
            .mean_scores()
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        if best_after > best_before {
            self.since_improvement = 0;
        }
        idx
    }

    /// Whether every count and index agrees, for a training set of `train` and a valset of
    /// `val` examples (a checkpoint is read from a file, so nothing in it is trusted).
    fn consistent(&self, train: usize, val: usize) -> bool {
        let n = self.candidates.len();
        let idx = |p: &usize| *p < n;
        let step_ok = |s: &Step| match s {
            Step::Reflection {
                parent,
                child,
                minibatch,
                ..
            } => {
                idx(parent)
                    && child.as_ref().is_none_or(idx)
                    && minibatch.iter().all(|&k| k < train)
            }
            Step::Merge {
                parents,
                ancestor,
                child,
                subsample,
                ..
            } => {
                parents.iter().all(idx)
                    && idx(ancestor)
                    && child.as_ref().is_none_or(idx)
                    && subsample.iter().all(|&k| k < val)
            }
            Step::Skipped { parent, .. } => parent.as_ref().is_none_or(idx),
        };
        n > 0
            && [
                self.parents.len(),
                self.val_scores.len(),
                self.objectives.len(),
                self.discovered_at.len(),
                self.found_in.len(),
                self.next_component.len(),
            ]
            .iter()
            .all(|&len| len == n)
            && self.val_scores.iter().all(|s| s.len() == val)
            && self.best_per_instance.len() == val
            && self.front_per_instance.len() == val
            && self.parents.iter().flatten().all(idx)
            && self.front_per_instance.iter().flatten().all(idx)
            && self.objective_front.values().flat_map(|(_, f)| f).all(idx)
            && self
                .best_outputs
                .as_ref()
                .is_none_or(|b| b.len() == val && b.iter().flatten().all(|(p, _)| idx(p)))
            && self.sampler.shuffled.iter().all(|&k| k < train)
            && self.steps.iter().all(step_ok)
    }

    /// Writes the state to `path` (a temporary file renamed over it, so a kill mid-write leaves
    /// the previous checkpoint).
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// The state saved at `path`, if there is one, checked to be of this run.
    pub(crate) fn load(
        path: &Path,
        fingerprint: &str,
        train: usize,
        val: usize,
    ) -> Result<Option<State>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| {
            Error::Optimize(format!(
                "GEPA: the checkpoint {} is not a GEPA run state ({e}); remove it to start afresh",
                path.display()
            ))
        })?;
        if state.version != VERSION {
            return Err(Error::Optimize(format!(
                "GEPA: the checkpoint {} has format version {}, expected {VERSION}",
                path.display(),
                state.version
            )));
        }
        if state.fingerprint != fingerprint {
            return Err(Error::Optimize(format!(
                "GEPA: the checkpoint {} is of another run (a different program, data, seed or settings); remove it or choose another path",
                path.display()
            )));
        }
        if !state.consistent(train, val) {
            return Err(Error::Optimize(format!(
                "GEPA: the checkpoint {} is inconsistent (candidates, scores, parents or indices disagree with each other or with the data); remove it to start afresh",
                path.display()
            )));
        }
        Ok(Some(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(s: &str) -> Candidate {
        BTreeMap::from([("p".to_string(), s.to_string())])
    }

    #[test]
    fn the_frontier_keeps_a_program_best_on_one_instance() {
        let mut st = State::new("f".into(), cand("seed"), 0);
        st.add(None, vec![1.0, 0.0, 0.0], BTreeMap::new(), None, 3);
        let one = st.add(
            Some((cand("one"), vec![0])),
            vec![0.0, 1.0, 1.0],
            BTreeMap::new(),
            None,
            9,
        );
        assert_eq!(one, 1);
        assert_eq!(st.front_per_instance[0], BTreeSet::from([0]));
        assert_eq!(st.front_per_instance[1], BTreeSet::from([1]));
        assert_eq!(st.mean_scores().len(), 2);
        let two = st.add(
            Some((cand("two"), vec![1])),
            vec![0.0, 1.0, 1.0],
            BTreeMap::new(),
            None,
            15,
        );
        assert_eq!(st.front_per_instance[2], BTreeSet::from([1, two]));
    }

    #[test]
    fn the_sampler_covers_each_epoch_and_pads() {
        let mut s = Sampler::default();
        let mut rng = fastrand::Rng::with_seed(2);
        let mut seen: Vec<usize> = (1..=3).flat_map(|i| s.next(i, 3, 7, &mut rng)).collect();
        assert_eq!(s.shuffled.len(), 9);
        seen.sort();
        seen.dedup();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        let next_epoch = s.next(4, 3, 7, &mut rng);
        assert_eq!(next_epoch.len(), 3);
        assert_eq!(s.epoch, Some(1));
    }

    #[test]
    fn a_checkpoint_of_another_run_or_a_corrupt_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("gepa-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let path = dir.join("run.json");
        let mut st = State::new("mine".into(), cand("seed"), 0);
        st.add(None, vec![0.5, 1.0], BTreeMap::new(), None, 2);
        st.save(&path).map_err(|e| e.to_string()).ok();
        assert_eq!(
            State::load(&path, "mine", 4, 2).ok().flatten(),
            Some(st.clone())
        );
        let other = State::load(&path, "theirs", 4, 2)
            .err()
            .map(|e| e.to_string());
        assert!(other.is_some_and(|m| m.contains("another run")));
        // Scores for another valset size, or a parent that does not exist.
        let wrong = State::load(&path, "mine", 4, 3)
            .err()
            .map(|e| e.to_string());
        assert!(wrong.is_some_and(|m| m.contains("inconsistent")));
        let mut bad = st;
        bad.parents[0] = vec![7];
        bad.save(&path).map_err(|e| e.to_string()).ok();
        let bad = State::load(&path, "mine", 4, 2)
            .err()
            .map(|e| e.to_string());
        assert!(bad.is_some_and(|m| m.contains("inconsistent")));
        std::fs::write(&path, "{ not json").ok();
        let corrupt = State::load(&path, "mine", 4, 2)
            .err()
            .map(|e| e.to_string());
        assert!(corrupt.is_some_and(|m| m.contains("not a GEPA run state")));
        let none = State::load(&dir.join("none.json"), "mine", 4, 2);
        assert!(matches!(none, Ok(None)));
        std::fs::remove_dir_all(&dir).ok();
    }
}
