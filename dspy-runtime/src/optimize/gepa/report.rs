//! What a GEPA run reports: every candidate with its parents and per-instance validation
//! scores, the frontier, each iteration's step, and the common optimizer [`Report`] (usage,
//! time, trials). Prints the candidate tree, also as Mermaid, and saves as JSON.

use super::state::{State, Step};
use crate::error::Result;
use crate::optimize::report::{Report, one_line};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::path::Path;

/// One candidate program of a GEPA run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GepaCandidate {
    /// Its index (0 is the program given).
    pub index: usize,
    /// Each predictor's instruction, by path.
    pub instructions: BTreeMap<String, String>,
    /// The candidates it came from: one for a reflective child, two for a merge, none for the
    /// seed.
    pub parents: Vec<usize>,
    /// Its score on each validation instance.
    pub val_scores: Vec<f64>,
    /// Its mean validation score.
    pub score: f64,
    /// Its mean objective scores, when the metric gives objectives.
    pub objectives: BTreeMap<String, f64>,
    /// The iteration that found it (0 for the seed).
    pub iteration: usize,
    /// Metric calls spent when it was found.
    pub metric_calls: u64,
}

/// A GEPA run's report. Derefs to the common [`Report`] (usage per model, wall time, every
/// scored candidate as a trial, why it stopped).
#[derive(Clone, Debug, Serialize)]
pub struct GepaReport {
    /// Usage, time, trials and the stop reason, as every instruction optimizer reports them.
    pub summary: Report,
    /// Every candidate accepted, in the order found.
    pub candidates: Vec<GepaCandidate>,
    /// The index of the best candidate (highest mean validation score, the first of ties).
    pub best: usize,
    /// For each validation instance, the best score and the candidates reaching it.
    pub frontier: Vec<(f64, Vec<usize>)>,
    /// For each objective, the best mean score and the candidates reaching it.
    pub objective_frontier: BTreeMap<String, (f64, Vec<usize>)>,
    /// For each validation instance, the best outputs and the candidates that gave them (when
    /// `track_best_outputs` is on).
    pub best_outputs: Option<Vec<Vec<(usize, Value)>>>,
    /// What each iteration did.
    pub steps: Vec<Step>,
    /// Iterations run.
    pub iterations: usize,
    /// Metric calls spent (the unit of GEPA's budget).
    pub metric_calls: u64,
    /// Full validation evaluations.
    pub full_evals: u64,
    /// Whether the run went on from a checkpoint.
    pub resumed: bool,
}

impl Deref for GepaReport {
    type Target = Report;
    fn deref(&self) -> &Report {
        &self.summary
    }
}

impl GepaReport {
    pub(crate) fn from_state(state: &State, best: usize, summary: Report, resumed: bool) -> Self {
        let means = state.mean_scores();
        let candidates = (0..state.candidates.len())
            .map(|i| GepaCandidate {
                index: i,
                instructions: state.candidates[i].clone(),
                parents: state.parents[i].clone(),
                val_scores: state.val_scores.get(i).cloned().unwrap_or_default(),
                score: means.get(i).copied().unwrap_or(f64::NAN),
                objectives: state.objectives.get(i).cloned().unwrap_or_default(),
                iteration: state.found_in.get(i).copied().unwrap_or(0),
                metric_calls: state.discovered_at.get(i).copied().unwrap_or(0),
            })
            .collect();
        GepaReport {
            summary,
            candidates,
            best,
            frontier: state
                .best_per_instance
                .iter()
                .zip(&state.front_per_instance)
                .map(|(s, f)| (*s, f.iter().copied().collect()))
                .collect(),
            objective_frontier: state
                .objective_front
                .iter()
                .map(|(k, (s, f))| (k.clone(), (*s, f.iter().copied().collect())))
                .collect(),
            best_outputs: state.best_outputs.clone(),
            steps: state.steps.clone(),
            iterations: state.iteration,
            metric_calls: state.metric_calls,
            full_evals: state.full_evals,
            resumed,
        }
    }

    /// The best candidate.
    pub fn best_candidate(&self) -> Option<&GepaCandidate> {
        self.candidates.get(self.best)
    }

    /// The candidate tree, one line per candidate, children indented under their first parent.
    pub fn tree(&self) -> String {
        let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for c in &self.candidates {
            if let Some(&p) = c.parents.first() {
                children.entry(p).or_default().push(c.index);
            }
        }
        let mut out = String::new();
        let mut stack: Vec<(usize, usize)> = self
            .candidates
            .iter()
            .filter(|c| c.parents.is_empty())
            .map(|c| (c.index, 0))
            .rev()
            .collect();
        while let Some((i, depth)) = stack.pop() {
            let c = &self.candidates[i];
            let merge = if c.parents.len() > 1 {
                format!(" (merge of {:?})", c.parents)
            } else {
                String::new()
            };
            let mark = if i == self.best { " ← best" } else { "" };
            let text: Vec<String> = c
                .instructions
                .iter()
                .map(|(p, t)| format!("{p}: {:?}", one_line(t, 60)))
                .collect();
            out.push_str(&format!(
                "{}#{i} {:.3}{merge}{mark} {}\n",
                "  ".repeat(depth),
                c.score,
                text.join("; ")
            ));
            for &k in children
                .get(&i)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .rev()
            {
                stack.push((k, depth + 1));
            }
        }
        out
    }

    /// The candidate tree as a Mermaid flowchart (an edge from each parent).
    pub fn mermaid(&self) -> String {
        let mut out = String::from("graph TD\n");
        for c in &self.candidates {
            let best = if c.index == self.best { " best" } else { "" };
            out.push_str(&format!(
                "    c{}[\"#{} {:.3}{best}\"]\n",
                c.index, c.index, c.score
            ));
        }
        for c in &self.candidates {
            for p in &c.parents {
                out.push_str(&format!("    c{p} --> c{}\n", c.index));
            }
        }
        out
    }

    /// The report as pretty JSON, keys sorted, so two runs diff line by line.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes [`GepaReport::to_json`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        std::fs::write(path, self.to_json()?)?;
        Ok(())
    }
}

impl fmt::Display for GepaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "GEPA: {} iterations, {} candidates, {} metric calls, {} full evaluations{}",
            self.iterations,
            self.candidates.len(),
            self.metric_calls,
            self.full_evals,
            if self.resumed {
                " (resumed from a checkpoint)"
            } else {
                ""
            }
        )?;
        write!(f, "{}", self.tree())?;
        for (model, u) in &self.summary.usage {
            writeln!(
                f,
                "  {model}: {} LM calls ({} cached, {} failed), {} + {} tokens, ${:.4}",
                u.calls, u.cache_hits, u.errors, u.prompt_tokens, u.completion_tokens, u.cost
            )?;
        }
        write!(f, "  {:.1} s", self.summary.elapsed.as_secs_f64())?;
        if let Some(why) = &self.summary.stopped {
            write!(f, "; stopped: {why}")?;
        }
        Ok(())
    }
}
