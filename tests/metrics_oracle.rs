//! DSPy's metrics, ours against Python DSPy 3.4.1's own functions on the same strings.

use crate::common;

use dspy::evaluate::metrics::*;
use serde_json::{Value, json};
use std::process::Command;

const CASES: &[(&str, &[&str])] = &[
    ("The Eiffel Tower", &["Eiffel Tower", "Louvre"]),
    ("paris", &["Paris, France"]),
    ("Eiffel Tower is in Paris", &["Paris"]),
    ("An apple a day", &["the apple, a day!"]),
    (
        "théâtre du Châtelet",
        &["Theatre du Chatelet", "théâtre du châtelet"],
    ),
    (
        "  multiple   spaces\tand\nnewlines ",
        &["multiple spaces and newlines"],
    ),
    ("yes", &["no", "Yes."]),
    ("noanswer", &["no answer"]),
    ("the the the", &[""]),
    ("Σίσυφος ΟΔΟΣ", &["σίσυφος οδος"]),
    ("$1,234.50 in total", &["1234.50", "1,234"]),
    ("don’t stop — it’s fine", &["don't stop it's fine"]),
    ("anthem of theatre", &["an them of the atre"]),
    ("naïve café", &["naive cafe"]),
    ("emoji 🎉 party", &["🎉 party"]),
    ("snake_case and kebab-case", &["snakecase and kebabcase"]),
];

const PASSAGES: &[&str] = &[
    "The Eiffel Tower is in Paris.",
    "Théâtre du Châtelet hosts 1,234 shows; don’t miss them — it’s fine.",
    "An emoji 🎉 party was held by the Σίσυφος society.",
];

const INTEGERS: &[&str] = &[
    "The answer is 1,234.50 dollars",
    "18",
    "#### 72",
    "She has 5 apples and 3 pears, so 8 fruits.\nThen 9",
    "no number here",
    "",
    "-42 degrees",
    "v2.0 released",
];

const PY: &str = r#"
import json, sys
from dspy.evaluate.metrics import normalize_text, EM, F1, HotPotF1, _passage_match
from dspy.datasets.gsm8k import parse_integer_answer
cases = json.load(sys.stdin)
out = {"cases": [], "integers": []}
for c in cases["cases"]:
    p, a = c["prediction"], c["answers"]
    out["cases"].append({
        "normalized": normalize_text(p),
        "em": bool(EM(p, a)),
        "f1": float(F1(p, a)),
        "hotpot": float(HotPotF1(p, a)),
        "passage": bool(_passage_match(cases["passages"], a)),
    })
for s in cases["integers"]:
    out["integers"].append(parse_integer_answer(s))
print(json.dumps(out))
"#;

#[test]
fn metrics_match_python_dspy() {
    let py = common::dspy_py::python().unwrap_or_else(|e| {
        panic!("Python DSPy is needed (run ../shared/bench/dspy-py/setup.sh or set DSPY_PY): {e}")
    });
    let input = json!({
        "cases": CASES.iter().map(|(p, a)| json!({"prediction": p, "answers": a})).collect::<Vec<_>>(),
        "passages": PASSAGES,
        "integers": INTEGERS,
    });
    let mut child = Command::new(&py)
        .args(["-c", PY])
        .env(
            "DSPY_CACHEDIR",
            std::env::temp_dir().join("dspy-metrics-oracle"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{py}: {e}"));
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let theirs: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    for (i, (p, a)) in CASES.iter().enumerate() {
        let t = &theirs["cases"][i];
        assert_eq!(normalize_text(p), t["normalized"], "normalize_text({p:?})");
        assert_eq!(exact_match(p, a), t["em"], "EM({p:?}, {a:?})");
        let f = t["f1"].as_f64().unwrap();
        assert!(
            (f1(p, a) - f).abs() < 1e-12,
            "F1({p:?}, {a:?}): ours {} theirs {f}",
            f1(p, a)
        );
        let h = t["hotpot"].as_f64().unwrap();
        assert!(
            (hotpot_f1(p, a) - h).abs() < 1e-12,
            "HotPotF1({p:?}, {a:?})"
        );
        assert_eq!(
            passage_match(PASSAGES, a),
            t["passage"],
            "passage_match({a:?})"
        );
    }
    // The cases exercise both outcomes of each boolean metric.
    for key in ["em", "passage"] {
        let trues = (0..CASES.len())
            .filter(|&i| theirs["cases"][i][key] == true)
            .count();
        assert!(
            trues > 0 && trues < CASES.len(),
            "{key}: {trues} of {}",
            CASES.len()
        );
    }
    for (i, s) in INTEGERS.iter().enumerate() {
        assert_eq!(
            parse_integer_answer(s),
            theirs["integers"][i],
            "parse_integer_answer({s:?})"
        );
    }
}
