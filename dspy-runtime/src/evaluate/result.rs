//! What an evaluation found: the score and every outcome, as a table, JSON or CSV.

use serde::Serialize;
use serde_json::{Map, Value, json};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One example's outcome.
#[derive(Clone, Debug)]
pub struct Outcome<O> {
    /// The example's position in the devset.
    pub index: usize,
    /// The example's input, as JSON.
    pub input: Value,
    /// The example's label, as JSON.
    pub label: Value,
    /// The program's output, or its error (shared, so results stay cloneable).
    pub prediction: Result<O, Arc<crate::Error>>,
    /// The metric's score (the failure score for an error).
    pub score: f64,
    /// Values the adapters coerced to fit their fields during the run (`Sports` read as
    /// `sport`, say).
    pub coercions: usize,
}

impl<O> Outcome<O> {
    /// Whether the run failed because an LM reply could not be parsed.
    pub fn is_unparsed(&self) -> bool {
        matches!(&self.prediction, Err(e) if matches!(**e, crate::Error::Parse(_)))
    }
}

/// The result of [`Evaluate::run`](super::Evaluate::run).
#[derive(Clone, Debug)]
pub struct EvalResult<O> {
    /// The mean score over the whole devset in percent, rounded to two decimals (DSPy's
    /// `EvaluationResult.score`); examples never run count as 0.
    pub score: f64,
    /// The outcomes of the examples that ran, in devset order.
    pub outcomes: Vec<Outcome<O>>,
    /// The devset's size.
    pub total: usize,
    /// The sum of all scores.
    pub sum: f64,
    /// How many program calls failed.
    pub errors: usize,
    /// Why the evaluation stopped early (too many errors), if it did.
    pub stopped: Option<String>,
    /// LM calls, tokens and cost of the evaluation.
    pub usage: crate::lm::UsageReport,
    /// Wall time.
    pub elapsed: Duration,
}

/// One outcome as a JSON record: index, input, label, prediction or error, score (what
/// `to_json` lists and `append_to` writes a line of).
pub(super) fn record<O: Serialize>(
    index: usize,
    input: &Value,
    label: &Value,
    prediction: Result<&O, &dyn std::fmt::Display>,
    score: f64,
) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), json!(index));
    m.insert("input".into(), input.clone());
    m.insert("label".into(), label.clone());
    match prediction {
        Ok(p) => m.insert(
            "prediction".into(),
            serde_json::to_value(p).unwrap_or_default(),
        ),
        Err(e) => m.insert("error".into(), Value::String(e.to_string())),
    };
    m.insert("score".into(), json!(score));
    Value::Object(m)
}

impl<O> EvalResult<O> {
    pub(super) fn new(
        outcomes: Vec<Outcome<O>>,
        total: usize,
        sum: f64,
        errors: usize,
        stopped: Option<String>,
        usage: crate::lm::UsageReport,
        elapsed: Duration,
    ) -> Self {
        let score = if total == 0 {
            0.0
        } else {
            (10_000.0 * sum / total as f64).round() / 100.0
        };
        EvalResult {
            score,
            outcomes,
            total,
            sum,
            errors,
            stopped,
            usage,
            elapsed,
        }
    }

    /// Runs that failed because an LM reply could not be parsed (even by the fallback).
    pub fn unparsed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_unparsed()).count()
    }

    /// Runs in which at least one value was coerced to fit its field.
    pub fn coerced(&self) -> usize {
        self.outcomes.iter().filter(|o| o.coercions > 0).count()
    }

    /// Whether every example ran.
    pub fn is_complete(&self) -> bool {
        self.stopped.is_none() && self.outcomes.len() == self.total
    }

    /// One line: `Average Metric: 45.00 / 100 (45.0%), 2 errors (1 unparsed), 3 coerced,
    /// 100 LM calls, 3.1 s`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Average Metric: {:.2} / {} ({:.1}%), {} error{} ({} unparsed), {} coerced, {} LM calls, {:.1} s",
            self.sum,
            self.total,
            self.score,
            self.errors,
            if self.errors == 1 { "" } else { "s" },
            self.unparsed(),
            self.coerced(),
            self.usage.calls,
            self.elapsed.as_secs_f64()
        );
        if let Some(why) = &self.stopped {
            s.push_str("; ");
            s.push_str(why);
        }
        s
    }
}

impl<O: Serialize> EvalResult<O> {
    /// How often each answer came: the prediction's output field (ChainOfThought's
    /// `reasoning` aside) as text when it has one, else its fields as JSON; a failed run counts
    /// as `(failed)`. Sorted by answer.
    pub fn answers(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for o in &self.outcomes {
            let key = match &o.prediction {
                Ok(p) => answer_key(serde_json::to_value(p).unwrap_or(Value::Null)),
                Err(_) => "(failed)".to_string(),
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    fn rows(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut headers: Vec<String> = vec!["#".into()];
        let keys = |v: &Value| -> Vec<String> {
            match v {
                Value::Object(m) => m.keys().cloned().collect(),
                _ => vec![String::new()],
            }
        };
        let first = self.outcomes.first();
        let input_keys = first.map(|o| keys(&o.input)).unwrap_or_default();
        let label_keys = first.map(|o| keys(&o.label)).unwrap_or_default();
        let pred_keys = self
            .outcomes
            .iter()
            .find_map(|o| o.prediction.as_ref().ok())
            .and_then(|p| serde_json::to_value(p).ok())
            .map(|v| keys(&v))
            .unwrap_or_default();
        headers.extend(input_keys.iter().cloned());
        headers.extend(label_keys.iter().map(|k| format!("expected {k}")));
        headers.extend(pred_keys.iter().map(|k| format!("predicted {k}")));
        headers.push("score".into());
        let cell = |v: &Value, k: &str| -> String {
            let v = match v {
                Value::Object(m) => m.get(k).unwrap_or(&Value::Null),
                other => other,
            };
            match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            }
        };
        let rows = self
            .outcomes
            .iter()
            .map(|o| {
                let mut row = vec![o.index.to_string()];
                row.extend(input_keys.iter().map(|k| cell(&o.input, k)));
                row.extend(label_keys.iter().map(|k| cell(&o.label, k)));
                match &o.prediction {
                    Ok(p) => {
                        let p = serde_json::to_value(p).unwrap_or_default();
                        row.extend(pred_keys.iter().map(|k| cell(&p, k)));
                    }
                    Err(e) => {
                        row.push(format!("ERROR: {e}"));
                        row.extend(pred_keys.iter().skip(1).map(|_| String::new()));
                    }
                }
                row.push(format!("{}", o.score));
                row
            })
            .collect();
        (headers, rows)
    }

    /// The result as JSON: summary figures and every outcome (input, label, prediction or
    /// error, score).
    pub fn to_json(&self) -> Value {
        let outcomes: Vec<Value> = self
            .outcomes
            .iter()
            .map(|o| {
                let prediction = o
                    .prediction
                    .as_ref()
                    .map_err(|e| e as &dyn std::fmt::Display);
                record(o.index, &o.input, &o.label, prediction, o.score)
            })
            .collect();
        json!({
            "score": self.score,
            "total": self.total,
            "errors": self.errors,
            "unparsed": self.unparsed(),
            "coerced": self.coerced(),
            "lm_calls": self.usage.calls,
            "stopped": self.stopped,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "outcomes": outcomes,
        })
    }

    /// Writes [`EvalResult::to_json`] as pretty JSON with a trailing newline.
    pub fn save_json(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let mut text =
            serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Writes one CSV row per outcome: index, input fields, expected and predicted fields,
    /// score (an error in the first predicted column).
    pub fn save_csv(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let (headers, rows) = self.rows();
        let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
        w.write_record(&headers).map_err(std::io::Error::other)?;
        for row in rows {
            w.write_record(&row).map_err(std::io::Error::other)?;
        }
        w.flush()
    }
}

/// An answer as a distribution key: the one field's value as text, else compact JSON.
fn answer_key(value: Value) -> String {
    let value = match value {
        Value::Object(mut m) => {
            m.remove("reasoning");
            if m.len() == 1 {
                m.into_iter().next().map_or(Value::Null, |(_, v)| v)
            } else {
                Value::Object(m)
            }
        }
        other => other,
    };
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A markdown table of every outcome (cells cut to 40 characters), then the summary line.
impl<O: Serialize> fmt::Display for EvalResult<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (headers, rows) = self.rows();
        let cut = |s: &str| -> String {
            let one_line = s.replace(['\n', '|'], " ");
            match one_line.char_indices().nth(40) {
                Some((i, _)) => format!("{}…", &one_line[..i]),
                None => one_line,
            }
        };
        writeln!(f, "| {} |", headers.join(" | "))?;
        writeln!(f, "|{}", "---|".repeat(headers.len()))?;
        for row in &rows {
            let cells: Vec<String> = row.iter().map(|c| cut(c)).collect();
            writeln!(f, "| {} |", cells.join(" | "))?;
        }
        write!(f, "{}", self.summary())
    }
}

/// Evaluations side by side as a markdown table (program, accuracy, unparsed, coerced, LM
/// calls, wall time), then what each program answered ([`EvalResult::answers`]).
pub fn compare<O: Serialize>(rows: &[(&str, &EvalResult<O>)]) -> String {
    let mut out = String::from(
        "| program | accuracy | unparsed | coerced | LM calls | wall time |\n|---|---|---|---|---|---|\n",
    );
    for (name, r) in rows {
        out.push_str(&format!(
            "| {name} | {:.2} | {} | {} | {} | {:.0} s |\n",
            r.score / 100.0,
            r.unparsed(),
            r.coerced(),
            r.usage.calls,
            r.elapsed.as_secs_f64()
        ));
    }
    out.push_str("\nWhat each program answered:\n");
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, r) in rows {
        out.push_str(&format!("  {name:<width$}  {:?}\n", r.answers()));
    }
    out
}
