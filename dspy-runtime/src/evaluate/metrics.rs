//! What a metric is ([`Metric`], [`Score`], [`Feedback`]), and DSPy's answer metrics: normalisation, exact
//! match, token F1, passage match, and GSM8K's integer answer. Each matches
//! `dspy.evaluate.metrics` (checked against Python DSPy in `tests/metrics_oracle.rs`).

use crate::data::Example;
use std::collections::{BTreeMap, HashMap};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A metric: `|example: &Example<I, L>, prediction: &O| -> S`, `S` a [`Score`] (`bool` or
/// `f64`), as [`Evaluate::run`](crate::Evaluate::run) and the optimizers take it.
///
/// Implemented for every such closure or function; it is the bound they are named by, so that
/// the closure's argument types are still inferred (`|ex, pred| ex.label.topic == pred.topic`)
/// and a value that is not a metric is reported as one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a metric for `Example<{I}, {L}>` and `{O}`",
    label = "expected a metric: `|example: &Example<{I}, {L}>, prediction: &{O}| -> bool` (or `f64`)",
    note = "a metric is `|example: &Example<…>, prediction: &…| -> bool or f64`; the prediction is what the program returns"
)]
pub trait Metric<I, L, O, S>: Fn(&Example<I, L>, &O) -> S {}

impl<I, L, O, S, F> Metric<I, L, O, S> for F where F: Fn(&Example<I, L>, &O) -> S + ?Sized {}

/// What a [`Metric`] returns: `bool` (1.0 or 0.0) or a number, as DSPy's metrics do, or a
/// [`Feedback`] (a score with text, for GEPA).
#[diagnostic::on_unimplemented(
    message = "a metric returns `bool`, `f64` or `Feedback`, not `{Self}`",
    label = "this metric returns `{Self}`",
    note = "a metric is `|example: &Example<…>, prediction: &…| -> bool`, `f64` or `Feedback` (a score with text)"
)]
pub trait Score: Into<f64> {
    /// The score with its feedback: only [`Feedback`] has text; every other score gets none.
    fn into_feedback(self) -> Feedback
    where
        Self: Sized,
    {
        Feedback {
            score: self.into(),
            feedback: None,
            objectives: BTreeMap::new(),
        }
    }
}

macro_rules! scores {
    ($($t:ty),*) => { $(impl Score for $t {})* };
}
scores!(bool, f64, f32, i8, i16, i32, u8, u16, u32);

/// A score with text that says what was wrong and how to do better (DSPy's
/// `dspy.Prediction(score=…, feedback=…)` from a GEPA metric), and optionally named objectives
/// beside the aggregate score. Every optimizer and [`Evaluate`](crate::Evaluate) read the
/// score; GEPA also shows the feedback to its reflection LM.
///
/// `Feedback::new(pred.topic == ex.label.topic, format!("The right topic is {}.", …))`
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Feedback {
    /// The score, as a plain metric returns it.
    pub score: f64,
    /// What the reflection LM is told about this run; `None` says only the score.
    pub feedback: Option<String>,
    /// Named objectives (each higher is better), for GEPA's objective frontier.
    pub objectives: BTreeMap<String, f64>,
}

impl Feedback {
    /// A score (`bool` or a number) with its feedback text.
    pub fn new(score: impl Into<f64>, feedback: impl Into<String>) -> Feedback {
        Feedback {
            score: score.into(),
            feedback: Some(feedback.into()),
            objectives: BTreeMap::new(),
        }
    }

    /// A score without text (the reflective dataset then says only the score, as DSPy's does).
    pub fn score(score: impl Into<f64>) -> Feedback {
        Feedback {
            score: score.into(),
            ..Feedback::default()
        }
    }

    /// The same feedback with objective `name` scored `value`.
    pub fn objective(mut self, name: impl Into<String>, value: f64) -> Feedback {
        self.objectives.insert(name.into(), value);
        self
    }
}

impl From<Feedback> for f64 {
    fn from(f: Feedback) -> f64 {
        f.score
    }
}

impl Score for Feedback {
    fn into_feedback(self) -> Feedback {
        self
    }
}

/// DSPy's `normalize_text`: Unicode NFD, lowercase, ASCII punctuation removed, the articles
/// "a", "an", "the" removed, whitespace collapsed. `"The,  Eiffel  Tower!"` → `"eiffel tower"`.
pub fn normalize_text(s: &str) -> String {
    let lowered: String = s
        .nfd()
        .collect::<String>()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // `\b(a|an|the)\b` → " ": a maximal run of word characters that is exactly an article.
    let mut out = String::with_capacity(lowered.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if matches!(word.as_str(), "a" | "an" | "the") {
            out.push(' ');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in lowered.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `prediction` equals any of `answers` after [`normalize_text`] (DSPy's `EM`).
pub fn exact_match<A: AsRef<str>>(prediction: &str, answers: &[A]) -> bool {
    let p = normalize_text(prediction);
    answers.iter().any(|a| normalize_text(a.as_ref()) == p)
}

/// Token-level F1 of `prediction` against one answer, both normalised (DSPy's `f1_score`).
pub fn f1_score(prediction: &str, answer: &str) -> f64 {
    let p = normalize_text(prediction);
    let g = normalize_text(answer);
    token_f1(&p, &g)
}

fn token_f1(p: &str, g: &str) -> f64 {
    let p: Vec<&str> = p.split_whitespace().collect();
    let g: Vec<&str> = g.split_whitespace().collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &g {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0usize;
    for t in &p {
        if let Some(n) = counts.get_mut(t).filter(|n| **n > 0) {
            *n -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / p.len() as f64;
    let recall = same as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The best token F1 of `prediction` against any of `answers` (DSPy's `F1`).
pub fn f1<A: AsRef<str>>(prediction: &str, answers: &[A]) -> f64 {
    answers
        .iter()
        .map(|a| f1_score(prediction, a.as_ref()))
        .fold(0.0, f64::max)
}

/// HotPotQA's F1: 0 when either side is "yes", "no" or "noanswer" and they differ, else token
/// F1; the best over `answers` (DSPy's `HotPotF1`).
pub fn hotpot_f1<A: AsRef<str>>(prediction: &str, answers: &[A]) -> f64 {
    let p = normalize_text(prediction);
    let special = |s: &str| matches!(s, "yes" | "no" | "noanswer");
    answers
        .iter()
        .map(|a| {
            let g = normalize_text(a.as_ref());
            if (special(&p) || special(&g)) && p != g {
                0.0
            } else {
                token_f1(&p, &g)
            }
        })
        .fold(0.0, f64::max)
}

/// DSPy's `answer_exact_match`: exact match when `frac >= 1`, else whether the best F1 reaches
/// `frac`.
pub fn answer_match<A: AsRef<str>>(prediction: &str, answers: &[A], frac: f64) -> bool {
    if frac >= 1.0 {
        exact_match(prediction, answers)
    } else {
        f1(prediction, answers) >= frac
    }
}

/// Whether any passage contains any answer as a run of whole tokens, both normalised and
/// tokenised as DPR does (DSPy's `answer_passage_match`).
pub fn passage_match<P: AsRef<str>, A: AsRef<str>>(passages: &[P], answers: &[A]) -> bool {
    let answers: Vec<Vec<String>> = answers
        .iter()
        .map(|a| dpr_tokens(&normalize_text(a.as_ref())))
        .collect();
    passages.iter().any(|p| {
        let text = dpr_tokens(&normalize_text(p.as_ref()));
        answers.iter().any(|a| {
            a.is_empty() || (a.len() <= text.len() && text.windows(a.len()).any(|w| w == a))
        })
    })
}

/// DPR's simple tokenizer, lowercased: runs of letters, numbers and marks, and every other
/// visible character alone.
fn dpr_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut run = String::new();
    for c in text.nfd() {
        if c.is_alphanumeric() || is_combining_mark(c) {
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            tokens.push(std::mem::take(&mut run).to_lowercase());
        }
        if !c.is_whitespace() && !c.is_control() {
            tokens.push(c.to_lowercase().collect());
        }
    }
    if !run.is_empty() {
        tokens.push(run.to_lowercase());
    }
    tokens
}

/// GSM8K's answer reader (DSPy's `parse_integer_answer`): the last token with a digit on the
/// first line, cut at its first `.`, its digits as an integer; 0 when there is none.
pub fn parse_integer_answer(answer: &str) -> i64 {
    let line = answer.trim().split('\n').next().unwrap_or("");
    let Some(token) = line
        .split_whitespace()
        .rev()
        .find(|t| t.chars().any(|c| c.is_ascii_digit()))
    else {
        return 0;
    };
    let head = token.split('.').next().unwrap_or("");
    let digits: String = head.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

/// Whether two GSM8K answers hold the same integer (DSPy's `gsm8k_metric`).
pub fn gsm8k_match(gold: &str, prediction: &str) -> bool {
    parse_integer_answer(gold) == parse_integer_answer(prediction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dspy_docstring_examples() {
        assert_eq!(normalize_text("The,  Eiffel  Tower!"), "eiffel tower");
        assert!(exact_match("The Eiffel Tower", &["Eiffel Tower", "Louvre"]));
        assert!(exact_match("paris", &["Paris"]));
        assert!(!exact_match("paris", &["Paris, France"]));
        assert_eq!(
            (f1("Eiffel Tower is in Paris", &["Paris"]) * 100.0).round(),
            33.0
        );
        assert_eq!(f1_score("the Eiffel Tower", "Eiffel Tower"), 1.0);
        assert_eq!(hotpot_f1("yes", &["no"]), 0.0);
        assert!(answer_match(
            "The Eiffel Tower",
            &["Eiffel Tower", "Louvre"],
            0.5
        ));
        assert!(passage_match(
            &["The Eiffel Tower is in Paris.", "..."],
            &["Eiffel Tower"]
        ));
        assert!(!passage_match(&["Eiffel Towers"], &["Eiffel Tower"]));
        assert_eq!(parse_integer_answer("The answer is 1,234.50 dollars"), 1234);
        assert_eq!(parse_integer_answer("no number"), 0);
        assert!(gsm8k_match("18", "She makes $18"));
    }
}
