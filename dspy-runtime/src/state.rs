//! Program state in DSPy's saved-program format: what `dspy.Module.save("x.json")` writes and
//! `load` reads — per predictor path, its demos and instructions — so files move both ways
//! between Python DSPy and Rust. Files are data only, size-limited, validated before anything
//! is applied.

use crate::demo::Demo;
use crate::module::Predictor;
use crate::program::{Params, ParamsExt};
use serde_json::{Map, Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// DSPy's `infer_prefix`: `first_name` → `First Name` (the rule lives in `dspy-grammar`).
pub use dspy_grammar::infer_prefix;
use dspy_grammar::prefix::field_prefix;

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
    /// The path is not a regular file (a FIFO, a device, a directory...); it was not read.
    #[error("{path}: expected a regular file, found {found}")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead, e.g. `a FIFO`.
        found: &'static str,
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
/// program order, a trailing newline), through a temporary file of its own in the same
/// directory, renamed into place: readers see the old file or the new one, never a part, and
/// concurrent saves to one path each write whole files (the last rename wins).
pub fn save<P: Params + ?Sized>(program: &P, path: impl AsRef<Path>) -> Result<(), StateError> {
    let path = path.as_ref();
    let mut text =
        serde_json::to_string_pretty(&dump_state(program)).map_err(|e| StateError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Writes `bytes` to a new, uniquely named file beside `path` (created with `create_new`, so
/// never someone else's), syncs it and renames it over `path`; the temporary file is removed
/// if any step fails.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("expected a file name")))?
        .to_string_lossy();
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.{}.{:016x}.tmp",
            std::process::id(),
            fastrand::u64(..)
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(e) => return Err(io(e)),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Reads a program file saved by [`save`] or by Python DSPy into `program`: every predictor's
/// demos and instructions. Nothing is applied unless the whole file fits the program.
pub fn load<P: Params + ?Sized>(program: &mut P, path: impl AsRef<Path>) -> Result<(), StateError> {
    let path = path.as_ref();
    let text = read_capped(path, MAX_FILE_BYTES)?;
    load_str(program, &text).map_err(|e| e.at(path))
}

/// The text of the file at `path`, read through the one handle it is opened with: refused
/// unless a regular file (on unix it is opened non-blocking, so a FIFO with no writer is
/// never waited on), and read through a reader that stops one byte past `limit` (a file that
/// grows, or misreports its size, cannot exceed it).
pub(crate) fn read_capped(path: &Path, limit: u64) -> Result<String, StateError> {
    let bytes = read_capped_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| StateError::Format {
        path: path.to_path_buf(),
        message: format!(
            "expected UTF-8 JSON, found a byte that is not UTF-8 at offset {}",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// [`read_capped`] for a binary file: its bytes.
pub(crate) fn read_capped_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |size| StateError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(StateError::NotAFile {
            path: path.to_path_buf(),
            found: kind_of(&meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What a path that is not a regular file is, for [`StateError::NotAFile`].
fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "something else (not a regular file)"
    }
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
                    let want = field_prefix(name);
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
                        let mut fields = m.clone();
                        // Media values get this process's markers (see `lm::content`).
                        fields
                            .values_mut()
                            .for_each(crate::lm::content::adopt_markers);
                        let demo = Demo::from_map(fields);
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

/// One predictor's state as DSPy saves it: demos, instructions, field prefixes and descriptions.
pub fn dump_predictor(p: &dyn Predictor) -> Value {
    let sig = p.signature();
    let fields: Vec<Value> = sig
        .fields()
        .map(|f| {
            json!({
                "prefix": field_prefix(f.name()),
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

    fn test_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dspy-state-{name}-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = test_dir("fifo");
        let fifo = dir.join("program.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let e = read_capped(&fifo, MAX_FILE_BYTES).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(matches!(e, StateError::NotAFile { .. }), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("expected a regular file, found a FIFO (named pipe)"),
            "{e}"
        );
        let e = read_capped(&dir, MAX_FILE_BYTES).unwrap_err();
        assert!(e.to_string().ends_with("found a directory"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn oversized_files_are_refused() {
        let dir = test_dir("large");
        let path = dir.join("p.json");
        std::fs::write(&path, "x".repeat(101)).unwrap();
        let e = read_capped(&path, 100).unwrap_err();
        assert!(
            matches!(
                e,
                StateError::TooLarge {
                    size: 101,
                    limit: 100,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .ends_with("101 bytes, more than the 100 a program file may have"),
            "{e}"
        );
        std::fs::write(&path, "x".repeat(100)).unwrap();
        assert_eq!(read_capped(&path, 100).unwrap().len(), 100);
        std::fs::write(&path, b"{\"a\": \"\xff\"}").unwrap();
        let e = read_capped(&path, 100).unwrap_err();
        assert!(e.to_string().contains("not UTF-8 at offset 7"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file whose metadata says 0 bytes (as /proc's do) is still capped while reading.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_cap_holds_while_reading() {
        let e = read_capped(Path::new("/proc/self/maps"), 16).unwrap_err();
        assert!(
            matches!(
                e,
                StateError::TooLarge {
                    size: 17,
                    limit: 16,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn concurrent_saves_each_write_a_whole_file() {
        let dir = test_dir("concurrent");
        let path = dir.join("p.json");
        let texts: Vec<String> = (0..8)
            .map(|i| {
                format!(
                    "{{\"writer\": {i}, \"pad\": \"{}\"}}\n",
                    "x".repeat(100_000)
                )
            })
            .collect();
        std::thread::scope(|s| {
            for text in &texts {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..10 {
                        write_atomically(path, text.as_bytes()).unwrap();
                    }
                });
            }
        });
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(texts.contains(&last), "a whole file from one writer");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["p.json"], "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_save_leaves_no_temporary_file() {
        let dir = test_dir("failed");
        // Renaming a file over a non-empty directory fails.
        let target = dir.join("p.json");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        let e = write_atomically(&target, b"{}").unwrap_err();
        assert!(matches!(e, StateError::Io { .. }), "{e:?}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["p.json"], "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
