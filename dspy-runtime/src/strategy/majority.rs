//! DSPy's `majority` with its normalisation: the most common answer after `normalize_text`.

use crate::evaluate::metrics::normalize_text;
use crate::format::python_str;
use serde::Serialize;

/// A reducer for [`Ensemble`](crate::optimize::Ensemble) (or any list of outputs): the output
/// whose `field` text is the most common after DSPy's `normalize_text`. Texts that normalize to
/// nothing are left out of the count unless all do; a tie goes to the value seen first, and
/// the first output with the winning value is returned (DSPy's `dspy.majority`).
pub fn majority_text<O>(field: impl Fn(&O) -> String) -> impl Fn(Vec<O>) -> Option<O> {
    move |outputs: Vec<O>| {
        let keys: Vec<Option<String>> = outputs
            .iter()
            .map(|o| Some(normalize_text(&field(o))).filter(|s| !s.is_empty()))
            .collect();
        let counted: Vec<&Option<String>> = if keys.iter().any(Option::is_some) {
            keys.iter().filter(|k| k.is_some()).collect()
        } else {
            keys.iter().collect()
        };
        // Counts in order of first appearance; the first of the highest wins.
        let mut counts: Vec<(&Option<String>, usize)> = Vec::new();
        for k in counted {
            match counts.iter_mut().find(|(v, _)| *v == k) {
                Some((_, n)) => *n += 1,
                None => counts.push((k, 1)),
            }
        }
        let mut winner: Option<(&Option<String>, usize)> = None;
        for (k, n) in counts {
            if winner.is_none_or(|(_, best)| n > best) {
                winner = Some((k, n));
            }
        }
        let (value, _) = winner?;
        let index = keys.iter().position(|k| k == value)?;
        outputs.into_iter().nth(index)
    }
}

/// [`majority_text`] over the last field of each output as serialized (the last output field
/// of a signature, which DSPy's `majority` uses by default), written as Python's `str`.
pub fn majority_last_field<O: Serialize>(outputs: Vec<O>) -> Option<O> {
    let last = |o: &O| match serde_json::to_value(o) {
        Ok(serde_json::Value::Object(m)) => {
            m.values().next_back().map(python_str).unwrap_or_default()
        }
        Ok(v) => python_str(&v),
        Err(_) => String::new(),
    };
    majority_text(last)(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_counts_first_seen_wins_ties_and_empties_are_skipped() {
        let pick = majority_text(|s: &&str| s.to_string());
        assert_eq!(pick(vec!["Paris", "the paris.", "Lyon"]), Some("Paris"));
        assert_eq!(pick(vec!["Lyon", "Paris", "paris", "LYON"]), Some("Lyon"));
        assert_eq!(pick(vec!["", "a", "", "", "Oslo"]), Some("Oslo"));
        assert_eq!(pick(vec!["", "the"]), Some(""));
        assert_eq!(pick(Vec::new()), None);
    }

    #[test]
    fn the_last_field_is_the_default() {
        #[derive(Serialize, Debug, PartialEq)]
        struct Out {
            reasoning: String,
            answer: i64,
        }
        let out = |r: &str, a| Out {
            reasoning: r.into(),
            answer: a,
        };
        let got = majority_last_field(vec![out("x", 3), out("y", 4), out("z", 4)]);
        assert_eq!(got, Some(out("y", 4)));
    }
}
