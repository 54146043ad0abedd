//! GEPA's merge: two frontier programs that descend from a common ancestor, each having changed
//! different predictors, combine into one that keeps both changes (GEPA's `MergeProposer`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A candidate: each predictor's path → its instruction.
pub(crate) type Candidate = BTreeMap<String, String>;

/// What merging has done so far (checkpointed with the run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Merges {
    /// Merges scheduled: one per accepted reflective child, up to the maximum.
    pub due: usize,
    /// Merges accepted.
    pub tested: usize,
    /// Whether the last iteration added a program (a merge is tried only then).
    pub last_found_new: bool,
    /// (i, j, ancestor) triples tried.
    pub triples: Vec<(usize, usize, usize)>,
    /// (i, j, the program each predictor was taken from) tried.
    pub descriptions: Vec<(usize, usize, Vec<usize>)>,
}

/// Every ancestor of `node`.
fn ancestors(node: usize, parents: &[Vec<usize>]) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        for &p in parents.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            if found.insert(p) {
                stack.push(p);
            }
        }
    }
    found
}

/// Whether some predictor is unchanged from `anc` in one of `i`, `j` and differs between them.
fn desirable(cands: &[Candidate], anc: usize, i: usize, j: usize) -> bool {
    cands[anc].iter().any(|(name, a)| {
        let (x, y) = (cands[i].get(name), cands[j].get(name));
        (Some(a) == x || Some(a) == y) && x != y
    })
}

/// The run's data a merge reads.
pub(crate) struct Pool<'a> {
    pub candidates: &'a [Candidate],
    pub parents: &'a [Vec<usize>],
    pub scores: &'a [f64],
}

impl Pool<'_> {
    /// A pair of `programs` neither descending from the other, with a common ancestor no
    /// better than either that makes the merge worth it; the ancestor drawn with weight its
    /// score.
    fn pair(
        &self,
        rng: &mut fastrand::Rng,
        programs: &[usize],
        merges: &Merges,
    ) -> Option<(usize, usize, usize)> {
        for _ in 0..10 {
            if programs.len() < 2 {
                return None;
            }
            let a = rng.usize(..programs.len());
            let mut b = rng.usize(..programs.len() - 1);
            if b >= a {
                b += 1;
            }
            let (i, j) = (programs[a].min(programs[b]), programs[a].max(programs[b]));
            let (ai, aj) = (ancestors(i, self.parents), ancestors(j, self.parents));
            if ai.contains(&j) || aj.contains(&i) {
                continue;
            }
            let common: Vec<usize> = ai
                .intersection(&aj)
                .copied()
                .filter(|&anc| {
                    !merges.triples.contains(&(i, j, anc))
                        && self.scores[anc] <= self.scores[i]
                        && self.scores[anc] <= self.scores[j]
                        && desirable(self.candidates, anc, i, j)
                })
                .collect();
            if common.is_empty() {
                continue;
            }
            let total: f64 = common.iter().map(|&c| self.scores[c]).sum();
            let anc = if total > 0.0 {
                let mut x = rng.f64() * total;
                let mut pick = common[common.len() - 1];
                for &c in &common {
                    if x < self.scores[c] {
                        pick = c;
                        break;
                    }
                    x -= self.scores[c];
                }
                pick
            } else {
                common[rng.usize(..common.len())]
            };
            return Some((i, j, anc));
        }
        None
    }

    /// A merged candidate of two of `programs` (the frontier's dominators) and its parents and
    /// ancestor: each predictor from the descendant that changed it (the better one when both
    /// did). Records the attempt in `merges`; `None` when no new merge is found.
    pub(crate) fn merge(
        &self,
        rng: &mut fastrand::Rng,
        programs: &[usize],
        merges: &mut Merges,
        overlap_ok: impl Fn(usize, usize) -> bool,
    ) -> Option<(Candidate, usize, usize, usize)> {
        if programs.len() < 2 || self.parents.len() < 3 {
            return None;
        }
        for _ in 0..10 {
            let Some((i, j, anc)) = self.pair(rng, programs, merges) else {
                continue;
            };
            let mut merged = self.candidates[anc].clone();
            let mut from = Vec::new();
            for (name, a) in &self.candidates[anc] {
                let (Some(x), Some(y)) =
                    (self.candidates[i].get(name), self.candidates[j].get(name))
                else {
                    continue;
                };
                let source = if (a == x || a == y) && x != y {
                    if a == x { j } else { i }
                } else if a != x && a != y {
                    if self.scores[i] > self.scores[j] {
                        i
                    } else if self.scores[j] > self.scores[i] {
                        j
                    } else if rng.bool() {
                        i
                    } else {
                        j
                    }
                } else {
                    i
                };
                merged.insert(name.clone(), self.candidates[source][name].clone());
                from.push(source);
            }
            let description = (i, j, from);
            if merges.descriptions.contains(&description) || !overlap_ok(i, j) {
                continue;
            }
            merges.descriptions.push(description);
            merges.triples.push((i, j, anc));
            return Some((merged, i, j, anc));
        }
        None
    }
}

/// Up to `n` validation instances to score a merge on: some where the first parent is better,
/// some where the second is, some where they tie (GEPA's
/// `select_eval_subsample_for_merged_program`).
pub(crate) fn subsample(a: &[f64], b: &[f64], n: usize, rng: &mut fastrand::Rng) -> Vec<usize> {
    let ids: Vec<usize> = (0..a.len().min(b.len())).collect();
    let buckets = [
        ids.iter()
            .copied()
            .filter(|&k| a[k] > b[k])
            .collect::<Vec<_>>(),
        ids.iter().copied().filter(|&k| b[k] > a[k]).collect(),
        ids.iter().copied().filter(|&k| a[k] == b[k]).collect(),
    ];
    let each = n.div_ceil(3).max(1);
    let mut picked: Vec<usize> = Vec::new();
    for bucket in buckets {
        if picked.len() >= n {
            break;
        }
        let mut available: Vec<usize> =
            bucket.into_iter().filter(|k| !picked.contains(k)).collect();
        let take = available.len().min(each).min(n - picked.len());
        rng.shuffle(&mut available);
        picked.extend(available.into_iter().take(take));
    }
    let remaining = n - picked.len();
    if remaining > 0 {
        let mut unused: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|k| !picked.contains(k))
            .collect();
        if unused.len() >= remaining {
            rng.shuffle(&mut unused);
            picked.extend(unused.into_iter().take(remaining));
        } else if !ids.is_empty() {
            for _ in 0..remaining {
                picked.push(ids[rng.usize(..ids.len())]);
            }
        }
    }
    picked.truncate(n);
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(pairs: &[(&str, &str)]) -> Candidate {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn two_descendants_changing_different_stages_merge_into_both_changes() {
        // 0 is the seed; 1 changed `a`, 2 changed `b`; both are better than 0.
        let candidates = vec![
            cand(&[("a", "A0"), ("b", "B0")]),
            cand(&[("a", "A1"), ("b", "B0")]),
            cand(&[("a", "A0"), ("b", "B2")]),
        ];
        let parents = vec![vec![], vec![0], vec![0]];
        let scores = [0.2, 0.5, 0.6];
        let pool = Pool {
            candidates: &candidates,
            parents: &parents,
            scores: &scores,
        };
        let mut merges = Merges::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let (merged, i, j, anc) = pool
            .merge(&mut rng, &[1, 2], &mut merges, |_, _| true)
            .expect("a merge");
        assert_eq!((i, j, anc), (1, 2, 0));
        assert_eq!(merged, cand(&[("a", "A1"), ("b", "B2")]));
        // The same merge is not tried twice.
        assert!(
            pool.merge(&mut rng, &[1, 2], &mut merges, |_, _| true)
                .is_none()
        );
    }

    #[test]
    fn a_descendant_and_its_ancestor_do_not_merge() {
        let candidates = vec![
            cand(&[("a", "A0")]),
            cand(&[("a", "A1")]),
            cand(&[("a", "A2")]),
        ];
        let parents = vec![vec![], vec![0], vec![1]];
        let pool = Pool {
            candidates: &candidates,
            parents: &parents,
            scores: &[0.1, 0.2, 0.3],
        };
        let mut rng = fastrand::Rng::with_seed(3);
        assert!(
            pool.merge(&mut rng, &[1, 2], &mut Merges::default(), |_, _| true)
                .is_none()
        );
    }

    #[test]
    fn too_little_overlap_blocks_a_merge() {
        let candidates = vec![
            cand(&[("a", "A0"), ("b", "B0")]),
            cand(&[("a", "A1"), ("b", "B0")]),
            cand(&[("a", "A0"), ("b", "B2")]),
        ];
        let parents = vec![vec![], vec![0], vec![0]];
        let pool = Pool {
            candidates: &candidates,
            parents: &parents,
            scores: &[0.2, 0.5, 0.6],
        };
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(
            pool.merge(&mut rng, &[1, 2], &mut Merges::default(), |_, _| false)
                .is_none()
        );
    }

    #[test]
    fn the_subsample_mixes_wins_losses_and_ties() {
        let a = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let b = [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0];
        let mut rng = fastrand::Rng::with_seed(5);
        let s = subsample(&a, &b, 5, &mut rng);
        assert_eq!(s.len(), 5);
        assert_eq!(s.iter().filter(|&&k| a[k] > b[k]).count(), 2);
        assert_eq!(s.iter().filter(|&&k| b[k] > a[k]).count(), 2);
        assert_eq!(s.iter().filter(|&&k| a[k] == b[k]).count(), 1);
        assert!(subsample(&[], &[], 5, &mut rng).is_empty());
    }
}
