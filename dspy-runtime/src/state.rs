//! Program state in DSPy's saved-program format: what `dspy.Module.save("x.json")` writes and
//! `load` reads — per predictor path, its demos and instructions — so files move both ways
//! between Python DSPy and Rust. Files are data only, size-limited, validated before anything
//! is applied.

use crate::demo::Demo;
use crate::module::Predictor;
use crate::program::{Params, ParamsExt};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Largest program file `load` reads.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// A program file that could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: {size} bytes, more than the {limit} a program file may have")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not JSON, or not a saved program.
    #[error("{path}: not a saved program: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and what came.
        message: String,
    },
    /// The file does not fit the program; every mismatch is listed.
    #[error("{path} does not fit the program:\n  - {}", problems.join("\n  - "))]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// One line per mismatch, naming the predictor.
        problems: Vec<String>,
    },
}

/// The `metadata` DSPy writes and checks on load (it compares each version it knows).
fn metadata() -> Value {
    json!({"dependency_versions": {"python": "3.11", "dspy": "3.4.1", "cloudpickle": "3.1"}})
}

/// The program's state as DSPy saves it: each predictor's state under its path, then
/// `metadata`.
pub fn dump_state<P: Params + ?Sized>(program: &P) -> Value {
    let mut m = Map::new();
    for (path, p) in program.named_predictors() {
        m.insert(path, dump_predictor(p));
    }
    m.insert("metadata".into(), metadata());
    Value::Object(m)
}

/// Writes [`dump_state`] to `path` as pretty JSON (DSPy's layout: two-space indent, keys in
/// program order, a trailing newline), through a temporary file renamed into place.
pub fn save<P: Params + ?Sized>(program: &P, path: impl AsRef<Path>) -> Result<(), StateError> {
    let path = path.as_ref();
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text =
        serde_json::to_string_pretty(&dump_state(program)).map_err(|e| StateError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a program file saved by [`save`] or by Python DSPy into `program`: every predictor's
/// demos and instructions. Nothing is applied unless the whole file fits the program.
pub fn load<P: Params + ?Sized>(program: &mut P, path: impl AsRef<Path>) -> Result<(), StateError> {
    let path = path.as_ref();
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    load_str(program, &text).map_err(|e| e.at(path))
}

/// [`load`] from a string (an embedded artifact, say); errors name the file as `<string>`.
pub fn load_str<P: Params + ?Sized>(program: &mut P, text: &str) -> Result<(), StateError> {
    let state: Value = serde_json::from_str(text).map_err(|e| StateError::Format {
        path: PathBuf::from("<string>"),
        message: e.to_string(),
    })?;
    load_state(program, &state)
}

impl StateError {
    fn at(self, file: &Path) -> StateError {
        match self {
            StateError::Format { message, .. } => StateError::Format {
                path: file.to_path_buf(),
                message,
            },
            StateError::Mismatch { problems, .. } => StateError::Mismatch {
                path: file.to_path_buf(),
                problems,
            },
            other => other,
        }
    }
}

/// One predictor's state, checked against the predictor.
struct Checked {
    instructions: String,
    demos: Vec<Demo>,
}

fn check_predictor(
    path: &str,
    p: &dyn Predictor,
    state: &Value,
    problems: &mut Vec<String>,
) -> Option<Checked> {
    let before = problems.len();
    let sig = p.signature();
    let instructions = state
        .pointer("/signature/instructions")
        .and_then(Value::as_str);
    if instructions.is_none() {
        problems.push(format!(
            "`{path}`: expected signature.instructions, a string"
        ));
    }
    match state.pointer("/signature/fields").and_then(Value::as_array) {
        None => problems.push(format!("`{path}`: expected signature.fields, a list")),
        Some(fields) => {
            let ours: Vec<&str> = sig.fields().map(|f| f.name()).collect();
            if fields.len() != ours.len() {
                problems.push(format!(
                    "`{path}`: the file has {} fields, {} has {} ({})",
                    fields.len(),
                    sig.name(),
                    ours.len(),
                    ours.join(", ")
                ));
            } else {
                for (i, (f, name)) in fields.iter().zip(&ours).enumerate() {
                    let want = format!("{}:", infer_prefix(name));
                    let got = f.get("prefix").and_then(Value::as_str).unwrap_or("");
                    if got != want {
                        problems.push(format!(
                            "`{path}`: field {} is `{got}` in the file, `{want}` (`{name}`) in {}",
                            i + 1,
                            sig.name()
                        ));
                    }
                }
            }
        }
    }
    let mut demos = Vec::new();
    match state.get("demos").and_then(Value::as_array) {
        None => problems.push(format!("`{path}`: expected demos, a list")),
        Some(list) => {
            for (i, d) in list.iter().enumerate() {
                match d {
                    Value::Object(m) => {
                        let demo = Demo::from_map(m.clone());
                        match demo.check(sig) {
                            Ok(()) => demos.push(demo),
                            Err(e) => problems.push(format!("`{path}`: demo {}: {e}", i + 1)),
                        }
                    }
                    other => problems.push(format!(
                        "`{path}`: demo {} should be an object of fields, got {other}",
                        i + 1
                    )),
                }
            }
        }
    }
    (problems.len() == before).then(|| Checked {
        instructions: instructions.unwrap_or_default().to_string(),
        demos,
    })
}

/// Applies a parsed program file (see [`load`]).
pub fn load_state<P: Params + ?Sized>(program: &mut P, state: &Value) -> Result<(), StateError> {
    let fail = |message: String| StateError::Format {
        path: PathBuf::from("<string>"),
        message,
    };
    let Value::Object(entries) = state else {
        return Err(fail(format!(
            "expected an object of predictors, got {}",
            kind(state)
        )));
    };
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    let ours = program.named_predictors();
    for (path, p) in &ours {
        match entries.get(path) {
            Some(entry) => checked.push(check_predictor(path, *p, entry, &mut problems)),
            None => problems.push(format!("`{path}` is missing from the file")),
        }
    }
    for key in entries.keys() {
        if key != "metadata" && !ours.iter().any(|(p, _)| p == key) {
            let known: Vec<&str> = ours.iter().map(|(p, _)| p.as_str()).collect();
            problems.push(format!(
                "the file has `{key}`, which the program lacks (its predictors: {})",
                known.join(", ")
            ));
        }
    }
    drop(ours);
    if !problems.is_empty() {
        return Err(StateError::Mismatch {
            path: PathBuf::from("<string>"),
            problems,
        });
    }
    for ((_, p), c) in program.named_predictors_mut().into_iter().zip(checked) {
        let Some(c) = c else { continue };
        p.set_instructions(c.instructions);
        // Checked above against the same signature.
        if let Err(e) = p.set_demos(c.demos) {
            return Err(fail(e.to_string()));
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

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
