//! Predictor state in DSPy's saved-program format (what `dspy.Module.save` writes per predictor).

use crate::module::Predictor;
use serde_json::{Value, json};

/// DSPy's `infer_prefix`: `question` → `Question`, `first_name` → `First Name`, `myURL` → `My URL`.
pub fn infer_prefix(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = match prev {
            None => false,
            Some(p) => {
                c == '_'
                    || (c.is_uppercase() && (p.is_lowercase() || p.is_ascii_digit()))
                    || (c.is_uppercase()
                        && p.is_uppercase()
                        && next.is_some_and(char::is_lowercase))
                    || (c.is_ascii_digit() && p.is_alphabetic())
                    || (c.is_alphabetic() && p.is_ascii_digit())
            }
        };
        if boundary && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        if c != '_' {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
        .iter()
        .map(|w| {
            if w.chars().all(|c| !c.is_lowercase()) {
                w.clone()
            } else {
                let mut cs = w.chars();
                cs.next()
                    .map(|f| {
                        f.to_uppercase()
                            .chain(cs.flat_map(char::to_lowercase))
                            .collect()
                    })
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One predictor's state as DSPy saves it: demos, instructions, field prefixes and descriptions.
pub fn dump_predictor(p: &dyn Predictor) -> Value {
    let sig = p.signature();
    let fields: Vec<Value> = sig
        .fields()
        .map(|f| {
            json!({
                "prefix": format!("{}:", infer_prefix(f.name())),
                "description": f.desc().map(str::to_string).unwrap_or_else(|| format!("${{{}}}", f.name())),
            })
        })
        .collect();
    json!({
        "traces": [],
        "train": [],
        "demos": p.demos(),
        "signature": {"instructions": p.instructions(), "fields": fields},
        "lm": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_like_dspy() {
        assert_eq!(infer_prefix("question"), "Question");
        assert_eq!(infer_prefix("first_name"), "First Name");
        assert_eq!(infer_prefix("myURL"), "My URL");
        assert_eq!(infer_prefix("step2go"), "Step 2 Go");
    }
}
