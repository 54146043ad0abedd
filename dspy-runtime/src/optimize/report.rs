//! The report an instruction optimizer returns: every candidate it scored, what it spent per
//! model, and where its time went.

use super::spend::ModelUsage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Which examples a score was measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training set.
    Train,
    /// The validation set.
    Val,
    /// A minibatch of the validation (or training) set.
    Minibatch,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Minibatch => "minibatch",
        })
    }
}

/// One scored candidate program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// The round (COPRO's depth, a MIPROv2 trial number, a SIMBA step) it was scored in.
    pub round: usize,
    /// The predictor this candidate changed, when it changed one.
    pub predictor: Option<String>,
    /// Instructions of every predictor, by path.
    pub instructions: BTreeMap<String, String>,
    /// The output-field prefix proposed with the instruction, where the optimizer proposes one
    /// (COPRO). ChatAdapter and JsonAdapter do not render prefixes, as in DSPy 3.
    pub prefix: Option<String>,
    /// How many demos each predictor holds, by path.
    pub demos: BTreeMap<String, usize>,
    /// Which demo set each predictor got, by path, where the optimizer chooses among sets.
    pub demo_sets: BTreeMap<String, usize>,
    /// Which instruction candidate each predictor got, by path (MIPROv2; 0 is its own).
    pub instruction_choices: BTreeMap<String, usize>,
    /// The score in percent (Evaluate's scale).
    pub score: f64,
    /// Examples it was scored on.
    pub split: Split,
    /// How many examples.
    pub examples: usize,
}

impl Trial {
    /// A trial of `program`: its instructions and demo counts by path, with nothing chosen or
    /// proposed yet.
    pub(crate) fn of<P: crate::program::Params>(
        program: &P,
        round: usize,
        score: f64,
        split: Split,
        examples: usize,
    ) -> Trial {
        use crate::program::ParamsExt;
        let mut instructions = BTreeMap::new();
        let mut demos = BTreeMap::new();
        for (p, pred) in program.named_predictors() {
            instructions.insert(p.clone(), pred.instructions().to_string());
            demos.insert(p, pred.demos().len());
        }
        Trial {
            round,
            predictor: None,
            instructions,
            prefix: None,
            demos,
            demo_sets: BTreeMap::new(),
            instruction_choices: BTreeMap::new(),
            score,
            split,
            examples,
        }
    }
}

/// What an instruction optimizer did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The optimizer (`COPRO`, `MIPROv2`, `SIMBA`).
    pub optimizer: &'static str,
    /// The instruction candidates proposed per predictor, by path (MIPROv2; the predictor's
    /// own first).
    pub proposals: BTreeMap<String, Vec<String>>,
    /// Every scored candidate, in the order scored.
    pub trials: Vec<Trial>,
    /// The index in `trials` of the program returned (`None` when it is the program given,
    /// unscored).
    pub best: Option<usize>,
    /// The best program's score, in percent, on the split of its trial.
    pub best_score: Option<f64>,
    /// LM calls, tokens and cost per model.
    pub usage: BTreeMap<String, ModelUsage>,
    /// Wall time per phase, in the order the phases ran.
    pub phases: Vec<(String, Duration)>,
    /// Wall time in all.
    pub elapsed: Duration,
    /// Proposals the prompt model gave that could not be used (skipped with a warning).
    pub failed_proposals: usize,
    /// Why the run stopped before its end (a budget), if it did.
    pub stopped: Option<String>,
}

impl Report {
    pub(crate) fn new(optimizer: &'static str) -> Report {
        Report {
            optimizer,
            ..Report::default()
        }
    }

    /// Adds `elapsed` to the phase `name` (a phase that runs several times is summed).
    pub(crate) fn phase(&mut self, name: &str, elapsed: Duration) {
        match self.phases.iter_mut().find(|(n, _)| n == name) {
            Some((_, d)) => *d += elapsed,
            None => self.phases.push((name.to_string(), elapsed)),
        }
    }

    /// LM calls over every model.
    pub fn lm_calls(&self) -> u64 {
        self.usage.values().map(|u| u.calls).sum()
    }

    /// Dollars over every model.
    pub fn cost(&self) -> f64 {
        self.usage.values().map(|u| u.cost).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} candidates scored",
            self.optimizer,
            self.trials.len()
        )?;
        for (i, t) in self.trials.iter().enumerate() {
            let mark = if Some(i) == self.best {
                " ← best"
            } else {
                ""
            };
            let what = t.predictor.as_deref().unwrap_or("program");
            let text = t
                .predictor
                .as_ref()
                .and_then(|p| t.instructions.get(p))
                .or_else(|| t.instructions.values().next())
                .map(|s| one_line(s, 70))
                .unwrap_or_default();
            let demos = if t.demo_sets.is_empty() {
                String::new()
            } else {
                let sets: Vec<String> = t.demo_sets.values().map(usize::to_string).collect();
                format!(" demo sets {}", sets.join(","))
            };
            writeln!(
                f,
                "  [{}] {what}{demos}: {:>6.2} on {} ({}) {text:?}{mark}",
                t.round, t.score, t.split, t.examples
            )?;
        }
        for (model, u) in &self.usage {
            writeln!(
                f,
                "  {model}: {} LM calls ({} cached, {} failed), {} + {} tokens, ${:.4}",
                u.calls, u.cache_hits, u.errors, u.prompt_tokens, u.completion_tokens, u.cost
            )?;
        }
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(n, d)| format!("{n} {:.1} s", d.as_secs_f64()))
            .collect();
        write!(
            f,
            "  {:.1} s in all ({})",
            self.elapsed.as_secs_f64(),
            phases.join(", ")
        )?;
        if self.failed_proposals > 0 {
            write!(f, "; {} proposals unusable", self.failed_proposals)?;
        }
        if let Some(why) = &self.stopped {
            write!(f, "; stopped early: {why}")?;
        }
        Ok(())
    }
}

/// `s` on one line, cut to `max` characters.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}
