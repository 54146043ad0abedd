//! Differential test against Python DSPy 3.4.1 itself: the same string signatures, demos and
//! inputs rendered by DSPy's adapters (tests/oracle/render.py) and by ours must match byte for
//! byte (ChatAdapter, JSONAdapter, XMLAdapter, BAMLAdapter). Covers more shapes than the stored reference files: typed inputs, Literal, Optional,
//! dict, list inputs to str fields, partial demos with None, unicode, multi-line instructions.
//!
//! Needs the venv of ../shared/bench/dspy-py/setup.sh (scripts/test makes it and sets DSPY_PY).

use crate::common;

use dspy::prelude::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

fn cases() -> Vec<Value> {
    let typed = "text -> title, year: int, tags: list[str], confident: bool";
    vec![
        json!({"signature": "question -> answer", "instructions": "Answer the question in one short sentence.",
               "adapter": "chat", "demos": [], "inputs": {"question": "Why is the sky blue?"}}),
        json!({"signature": "question, context: list[str] -> answer", "instructions": "",
               "adapter": "chat", "demos": [], "inputs": {"question": "Who?", "context": ["a «b»", "c\nd"]}}),
        json!({"signature": "question, context -> answer", "instructions": "",
               "adapter": "chat",
               "demos": [{"question": "q1", "context": ["one", "two\nlines"], "answer": "a1"},
                         {"question": "q2", "context": [], "answer": "a2"},
                         {"question": "q3", "context": ["solo"], "answer": "a3"}],
               "inputs": {"question": "Why?", "context": "plain"}}),
        json!({"signature": typed, "instructions": "Extract facts.\n  Be exact.\n\nNo guesses.",
               "adapter": "chat",
               "demos": [{"text": "Paper, 1999.", "title": "Paper", "year": 1999, "tags": ["x"], "confident": true},
                         {"text": "Only text", "year": 2001},
                         {"text": "No outputs here"}],
               "inputs": {"text": "Attention Is All You Need, 2017. Çà et là — ✓"}}),
        json!({"signature": typed, "instructions": "Extract facts.",
               "adapter": "json",
               "demos": [{"text": "Paper, 1999.", "title": "Pâpér", "year": 1999, "tags": ["x", "y"], "confident": false},
                         {"text": "Only text", "title": "T"}],
               "inputs": {"text": "Attention Is All You Need, 2017."}}),
        json!({"signature": "q: int, ratio: float, flag: bool, maybe: Optional[str] -> topic: Literal['sport', 'tech', \"it's\"], n: Optional[int], d: dict[str, int], f: float, ok: bool",
               "instructions": "", "adapter": "chat",
               "demos": [{"q": 1, "ratio": 0.5, "flag": false, "maybe": null, "topic": "sport", "n": null}],
               "inputs": {"q": 3, "ratio": 1.0, "flag": true, "maybe": null}}),
        json!({"signature": "q: int, ratio: float -> topic: Literal['sport', 'tech'], d: dict[str, list[int]]",
               "instructions": "Classify.", "adapter": "json",
               "demos": [{"q": 1, "ratio": 1e-7, "topic": "tech", "d": {"a": [1, 2]}}],
               "inputs": {"q": 30, "ratio": 12345678.5}}),
        json!({"signature": "context: dict[str, str], question -> answer", "instructions": "   Indented.\n   Lines.",
               "adapter": "chat", "demos": [],
               "inputs": {"context": {"k": "v", "ü": "ß"}, "question": "  spaced  "}}),
        json!({"signature": "question, context: list[str] -> answer, tags: list[str], n: int, d: dict[str, int]",
               "instructions": "Answer well.", "adapter": "xml",
               "demos": [{"question": "q1", "context": ["a", "b"], "answer": "x < y & z", "tags": ["t1", "t2"],
                          "n": 3, "d": {"k": 1, "bad key": 2, "a-b": 3, "x.y": 4}},
                         {"question": "q2", "answer": "only"},
                         {"question": "q3", "context": [], "answer": "A", "tags": [], "n": 0, "d": {}}],
               "inputs": {"question": "Why?", "context": ["c1"]}}),
        json!({"signature": typed, "instructions": "Extract facts.\n  Be exact.", "adapter": "xml",
               "demos": [{"text": "Paper, 1999.", "title": "P & Q <x>", "year": 1999, "tags": ["x", "it's \"q\""], "confident": true},
                         {"text": "Only text", "year": 2001}],
               "inputs": {"text": "Attention Is All You Need, 2017. Çà ✓"}}),
        json!({"signature": "q: int, maybe: Optional[str] -> topic: Literal['sport', 'tech'], items: Optional[list[str]], m: dict[str, list[int]]",
               "instructions": "", "adapter": "xml",
               "demos": [{"q": 1, "maybe": null, "topic": "sport", "items": null, "m": {"a": [1, 2]}}],
               "inputs": {"q": 3, "maybe": "yes"}}),
        json!({"signature": "question, n: int, ctx: list[str] -> answer, score: float, ok: bool, tags: list[str], topic: Literal['a', 'b'], m: dict[str, list[int]], maybe: Optional[int]",
               "instructions": "Do it.", "adapter": "baml",
               "demos": [{"question": "q", "n": 1, "ctx": ["x"], "answer": "A", "score": 1.0, "ok": true, "tags": [], "topic": "a", "m": {}, "maybe": null},
                         {"question": "q2", "n": 2, "ctx": [], "answer": "B", "score": 0.5, "ok": false, "tags": ["t"], "topic": "b", "m": {"k": [1]}, "maybe": 3}],
               "inputs": {"question": "Why?", "n": 2, "ctx": ["c"]}}),
    ]
}

fn ours(case: &Value) -> Vec<Value> {
    let mut sig = DynSignature::parse(case["signature"].as_str().unwrap()).unwrap();
    let instructions = case["instructions"].as_str().unwrap();
    if !instructions.is_empty() {
        sig = sig.with_instructions(instructions);
    }
    let mut p = DynPredict::new(sig);
    p = match case["adapter"].as_str() {
        Some("json") => p.with_adapter(JsonAdapter::new()),
        Some("xml") => p.with_adapter(XmlAdapter::new()),
        Some("baml") => p.with_adapter(BamlAdapter::new()),
        _ => p.with_adapter(ChatAdapter::new()),
    };
    let demos = case["demos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Demo::from_map(d.as_object().unwrap().clone()))
        .collect();
    p.set_demos(demos).unwrap();
    p.render(case["inputs"].as_object().unwrap())
        .unwrap()
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": &*m.content}))
        .collect()
}

#[test]
fn renders_match_python_dspy() {
    let cases = cases();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/render.py");
    let py = common::dspy_py::python()
        .unwrap_or_else(|e| panic!("Python DSPy 3.4.1 is needed for this test: {e}"));
    let mut child = Command::new(&py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "render.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Vec<Value>> =
        serde_json::from_slice(&out.stdout).expect("render.py prints JSON");
    assert_eq!(theirs.len(), cases.len());
    for (i, (case, theirs)) in cases.iter().zip(theirs).enumerate() {
        let ours = ours(case);
        assert_eq!(
            ours.len(),
            theirs.len(),
            "case {i}: message count\nours: {ours:#?}\ntheirs: {theirs:#?}"
        );
        for (j, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(o["role"], t["role"], "case {i} message {j}");
            assert_eq!(
                o["content"].as_str().unwrap(),
                t["content"].as_str().unwrap(),
                "case {i} ({}) message {j} differs",
                case["signature"]
            );
        }
    }
}
