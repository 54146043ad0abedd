//! Saved programs: our files load in Python DSPy 3.4.1 and DSPy's load in ours, byte for byte
//! where DSPy re-saves; mismatched or damaged files are refused with every problem named.

use crate::common;

use dspy::prelude::*;
use dspy::state::StateError;
use serde_json::{Value, json};
use std::process::Command;

/// Write a search query that helps answer the question.
#[derive(Signature)]
struct GenerateQuery {
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    #[output]
    query: String,
}

/// Answer the question from the context in a few words.
#[derive(Signature)]
struct AnswerQuestion {
    #[input]
    context: Vec<String>,
    #[input]
    question: String,
    #[output]
    answer: String,
}

program! {
    /// Two hops, then an answer.
    struct MultiHop {
        hops: Vec<ChainOfThought<GenerateQuery>>,
        answer: Predict<AnswerQuestion>,
    }

    async fn forward(&self, question: String) -> dspy::Result<String> {
        let mut context: Vec<String> = Vec::new();
        for hop in &self.hops {
            let q = hop.call(GenerateQueryInput { context: context.clone(), question: question.clone() }).await?;
            context.push(q.query.clone());
        }
        Ok(self.answer(context, question).await?.answer.clone())
    }
}

fn fresh() -> MultiHop {
    MultiHop {
        hops: vec![ChainOfThought::new(), ChainOfThought::new()],
        answer: Predict::new(),
    }
}

fn compiled() -> MultiHop {
    let mut p = fresh();
    p.hops[0].set_instructions("Find the first fact.".into());
    p.hops[0]
        .set_demos(vec![
            Demo::new()
                .with("context", json!([]))
                .with("question", "Who wrote Hamlet?")
                .with("reasoning", "Hamlet is a play.")
                .with("query", "Hamlet author")
                .with("augmented", true),
        ])
        .unwrap();
    p.answer
        .set_demos(vec![
            Demo::new()
                .with("context", json!(["Paris is in France.", "ünïcödé ✓"]))
                .with("question", "Where is Paris?")
                .with("answer", "France"),
        ])
        .unwrap();
    p
}

const PY: &str = r#"
import json, sys
import dspy
class MultiHop(dspy.Module):
    def __init__(self):
        super().__init__()
        self.hops = [dspy.ChainOfThought("context: list[str], question -> query") for _ in range(2)]
        self.answer = dspy.Predict("context: list[str], question -> answer")
ours, resaved, theirs = sys.argv[1], sys.argv[2], sys.argv[3]
p = MultiHop()
p.load(ours)
print(json.dumps([[name, pred.signature.instructions, [dict(d) for d in pred.demos]] for name, pred in p.named_predictors()]))
p.save(resaved)
q = MultiHop()
q.answer.signature = q.answer.signature.with_instructions("Answer like Python.")
q.hops[1].predict.demos = [dspy.Example(context=["a"], question="q?", reasoning="because", query="q1")]
q.save(theirs)
"#;

fn without_metadata(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap();
    v.as_object_mut().unwrap().remove("metadata");
    v
}

#[test]
fn files_move_both_ways_with_python_dspy() {
    let py = common::dspy_py::python().unwrap_or_else(|e| {
        panic!("Python DSPy is needed (run ../shared/bench/dspy-py/setup.sh or set DSPY_PY): {e}")
    });
    let dir = tempfile::tempdir().unwrap();
    let (ours, resaved, theirs) = (
        dir.path().join("ours.json"),
        dir.path().join("resaved.json"),
        dir.path().join("theirs.json"),
    );
    let program = compiled();
    program.save(&ours).unwrap();
    let text = std::fs::read_to_string(&ours).unwrap();
    assert!(text.ends_with("}\n"));
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&text)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        ["hops[0].predict", "hops[1].predict", "answer", "metadata"]
    );

    let out = Command::new(&py)
        .args(["-c", PY])
        .args([&ours, &resaved, &theirs])
        .env("DSPY_CACHEDIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // DSPy read our file: the same instructions and demos under the same paths.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let expected: Vec<Value> = program
        .named_predictors()
        .into_iter()
        .map(|(path, p)| json!([path, p.instructions(), p.demos()]))
        .collect();
    assert_eq!(seen, Value::Array(expected));
    // DSPy saving what it loaded writes our file again, byte for byte but for its metadata.
    let resaved_text = std::fs::read_to_string(&resaved).unwrap();
    assert_eq!(without_metadata(&resaved_text), without_metadata(&text));
    let strip = |t: &str| t.split("\"metadata\"").next().unwrap().to_string();
    assert_eq!(strip(&resaved_text), strip(&text));

    // DSPy's own file loads into ours.
    let mut loaded = fresh();
    loaded.load(&theirs).unwrap();
    assert_eq!(loaded.answer.instructions(), "Answer like Python.");
    assert_eq!(loaded.hops[1].demos().len(), 1);
    assert_eq!(loaded.hops[1].demos()[0].get("query"), Some(&json!("q1")));
    // The file's instructions win: DSPy's default for its string signature.
    assert_eq!(
        loaded.hops[0].instructions(),
        "Given the fields `context`, `question`, produce the fields `query`."
    );
}

#[test]
fn mismatched_files_are_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    compiled().save(&path).unwrap();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let m = v.as_object_mut().unwrap();
    m.remove("hops[1].predict");
    m.insert("retrieve".into(), json!({}));
    m["answer"]["signature"]["fields"][2]["prefix"] = json!("Topic:");
    m["hops[0].predict"]["demos"][0]["context"] = json!(7);
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();

    let mut p = fresh();
    let before = p.answer.instructions().to_string();
    let err = p.load(&path).unwrap_err();
    let StateError::Mismatch { problems, .. } = &err else {
        panic!("{err}")
    };
    let all = problems.join("\n");
    assert_eq!(problems.len(), 4, "{all}");
    assert!(
        all.contains("`hops[1].predict` is missing from the file"),
        "{all}"
    );
    assert!(
        all.contains("the file has `retrieve`, which the program lacks"),
        "{all}"
    );
    assert!(
        all.contains("field 3 is `Topic:` in the file, `Answer:` (`answer`)"),
        "{all}"
    );
    assert!(
        all.contains("`hops[0].predict`: demo 1: invalid demo: field `context`"),
        "{all}"
    );
    // Nothing was applied.
    assert_eq!(p.answer.instructions(), before);
    assert!(p.hops[0].demos().is_empty());

    std::fs::write(&path, "{\"answer\": ").unwrap();
    assert!(matches!(p.load(&path), Err(StateError::Format { .. })));
    std::fs::write(&path, "[1, 2]").unwrap();
    let err = p.load(&path).unwrap_err().to_string();
    assert!(
        err.contains("expected an object of predictors, got a list"),
        "{err}"
    );
    let big = std::fs::File::create(&path).unwrap();
    big.set_len(dspy::state::MAX_FILE_BYTES + 1).unwrap();
    assert!(matches!(p.load(&path), Err(StateError::TooLarge { .. })));
    assert!(matches!(
        p.load(dir.path().join("missing.json")),
        Err(StateError::Io { .. })
    ));
}

#[test]
fn concurrent_saves_and_special_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    let (a, b) = (compiled(), fresh());
    std::thread::scope(|s| {
        let one = s.spawn(|| (0..20).try_for_each(|_| a.save(&path)));
        let two = s.spawn(|| (0..20).try_for_each(|_| b.save(&path)));
        one.join().unwrap().unwrap();
        two.join().unwrap().unwrap();
    });
    let mut p = fresh();
    p.load(&path).unwrap();
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "no temporary file is left behind");

    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo.json");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let err = p.load(&fifo).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(matches!(err, StateError::NotAFile { .. }), "{err:?}");
    }
}
