//! GEPA's Pareto frontier: for each key (a validation instance, or an objective) the programs
//! that reach its best score; parents are sampled from the programs that are not dominated
//! there, as often as they are on a front (GEPA's `select_program_candidate_from_pareto_front`).

use std::collections::{BTreeMap, BTreeSet};

/// The programs best on each key, in key order.
pub(crate) type Fronts = Vec<BTreeSet<usize>>;

/// Whether every front holding `y` also holds one of `others` (then `y` adds nothing).
fn is_dominated(y: usize, others: &BTreeSet<usize>, fronts: &Fronts) -> bool {
    fronts
        .iter()
        .filter(|f| f.contains(&y))
        .all(|f| f.iter().any(|p| others.contains(p)))
}

/// The fronts with dominated programs removed: programs are tried lowest score first, and one is
/// dropped while every front it is on keeps another program (GEPA's `remove_dominated_programs`).
pub(crate) fn remove_dominated(fronts: &Fronts, scores: &[f64]) -> Fronts {
    let mut programs: Vec<usize> = fronts
        .iter()
        .flatten()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let score = |p: usize| scores.get(p).copied().unwrap_or(f64::NEG_INFINITY);
    programs.sort_by(|a, b| score(*a).total_cmp(&score(*b)));
    let mut dominated = BTreeSet::new();
    loop {
        let found = programs.iter().copied().find(|&y| {
            if dominated.contains(&y) {
                return false;
            }
            let others: BTreeSet<usize> = programs
                .iter()
                .copied()
                .filter(|p| *p != y && !dominated.contains(p))
                .collect();
            is_dominated(y, &others, fronts)
        });
        match found {
            Some(y) => {
                dominated.insert(y);
            }
            None => break,
        }
    }
    fronts
        .iter()
        .map(|f| {
            f.iter()
                .copied()
                .filter(|p| !dominated.contains(p))
                .collect()
        })
        .collect()
}

/// The programs on some front once dominated ones are removed, in index order.
pub(crate) fn dominators(fronts: &Fronts, scores: &[f64]) -> Vec<usize> {
    remove_dominated(fronts, scores)
        .into_iter()
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A parent: a non-dominated program drawn with weight its number of fronts. `None` when
/// every front is empty.
pub(crate) fn select(fronts: &Fronts, scores: &[f64], rng: &mut fastrand::Rng) -> Option<usize> {
    let mut freq: BTreeMap<usize, usize> = BTreeMap::new();
    for f in remove_dominated(fronts, scores) {
        for p in f {
            *freq.entry(p).or_default() += 1;
        }
    }
    let total: usize = freq.values().sum();
    if total == 0 {
        return None;
    }
    let mut pick = rng.usize(..total);
    for (p, n) in freq {
        if pick < n {
            return Some(p);
        }
        pick -= n;
    }
    None
}

/// The index of the first highest score (Python's `idxmax`).
pub(crate) fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fronts(v: &[&[usize]]) -> Fronts {
        v.iter().map(|f| f.iter().copied().collect()).collect()
    }

    #[test]
    fn a_program_best_on_one_instance_survives() {
        // Program 2 is best on the last instance only; 0 is everywhere 1 is.
        let f = fronts(&[&[0, 1], &[0, 1], &[0], &[2]]);
        let kept = dominators(&f, &[0.75, 0.5, 0.25]);
        assert_eq!(kept, vec![0, 2]);
    }

    #[test]
    fn ties_keep_the_higher_scoring_program() {
        // 0 and 1 share every front: the lower-scoring one is dropped first.
        let f = fronts(&[&[0, 1], &[0, 1]]);
        assert_eq!(dominators(&f, &[0.4, 0.6]), vec![1]);
        assert_eq!(dominators(&f, &[0.6, 0.4]), vec![0]);
    }

    #[test]
    fn selection_is_weighted_by_fronts_and_seeded() {
        let f = fronts(&[&[0], &[0], &[0], &[1]]);
        let mut rng = fastrand::Rng::with_seed(7);
        let picks: Vec<usize> = (0..400)
            .filter_map(|_| select(&f, &[0.75, 0.25], &mut rng))
            .collect();
        let ones = picks.iter().filter(|p| **p == 1).count();
        assert!(
            (60..140).contains(&ones),
            "{ones} of 400 picks were program 1"
        );
        let mut again = fastrand::Rng::with_seed(7);
        let repeat: Vec<usize> = (0..400)
            .filter_map(|_| select(&f, &[0.75, 0.25], &mut again))
            .collect();
        assert_eq!(picks, repeat);
        assert_eq!(select(&fronts(&[&[]]), &[], &mut rng), None);
    }

    #[test]
    fn argmax_takes_the_first_best() {
        assert_eq!(argmax(&[0.5, 0.7, 0.7]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
