//! A sandboxed Python interpreter for code an LM writes (DSPy's `PythonInterpreter`), with
//! limits the kernel enforces. Each session is a CPython process started under Landlock (it
//! reads only Python's standard library and system libraries, writes nowhere), a seccomp
//! filter (starting a process, opening a socket or signalling another process kills it) and
//! rlimits (memory, CPU time, file size); the host kills an execution that outlives its wall
//! time and caps what it prints. State persists between the executions of one session; host
//! functions (tools, `llm_query`, …) are callable from the code with JSON arguments, and
//! `SUBMIT(...)` ends a run with its outputs. Fresh processes are kept warm in a pool, so a
//! session does not wait for Python to start. Files, environment variables and hosts beyond
//! these are out of reach unless an [`Access`] lists them.

mod access;
mod network;
mod sandbox;
mod session;

pub use access::Access;

use crate::lm::BoxFuture;
use sandbox::Sandbox;
use serde_json::{Map, Value};
use session::Process;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The runner the sandboxed Python starts with.
const RUNNER: &str = include_str!("runner.py");

/// Why Python code did not give a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InterpreterError {
    /// The sandbox cannot run here (no Python, no Landlock, an unsupported platform).
    #[error("the Python sandbox is unavailable: {0}")]
    Unavailable(String),
    /// The code does not parse.
    #[error("syntax error: {message}")]
    Syntax {
        /// Python's message and line.
        message: String,
    },
    /// The code raised an exception.
    #[error("{name}: {message}")]
    Exception {
        /// The exception's type, e.g. `ZeroDivisionError`.
        name: String,
        /// Its message.
        message: String,
        /// The traceback, as Python prints it.
        traceback: String,
    },
    /// The execution outlived its time limit and was killed (the session is gone).
    #[error("the code ran longer than its time limit of {0:?}")]
    TimeLimit(Duration),
    /// The code ran out of its memory limit.
    #[error("the code used more than its memory limit of {limit} bytes")]
    MemoryLimit {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The code printed more than its output limit.
    #[error("the code printed more than its limit of {limit} characters")]
    OutputLimit {
        /// The limit, in characters.
        limit: usize,
        /// What it printed up to the limit.
        stdout: String,
    },
    /// The code tried what the sandbox forbids and was killed (the session is gone).
    #[error("{0}")]
    Forbidden(String),
    /// The process died otherwise (the session is gone).
    #[error("the Python process died: {0}")]
    Crashed(String),
}

impl InterpreterError {
    /// Whether the session's process is gone (a new session is needed).
    pub fn ends_session(&self) -> bool {
        matches!(
            self,
            InterpreterError::TimeLimit(_)
                | InterpreterError::Forbidden(_)
                | InterpreterError::Crashed(_)
                | InterpreterError::Unavailable(_)
        )
    }
}

/// What one execution gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Execution {
    /// What the code printed.
    pub stdout: String,
    /// The value of its last line, when that is an expression whose value is not `None`:
    /// JSON when it is JSON-representable, else its `repr` as a string.
    pub value: Option<Value>,
    /// The outputs passed to `SUBMIT(...)`, if it was called (`{"output": v}` for
    /// `SUBMIT(v)`).
    pub submitted: Option<Map<String, Value>>,
}

/// `s` cut to `limit` characters, and whether it was longer.
fn cut(s: &str, limit: usize) -> (String, bool) {
    match s.char_indices().nth(limit) {
        Some((i, _)) => (s[..i].to_string(), true),
        None => (s.to_string(), false),
    }
}

impl Execution {
    /// Reads the runner's reply. The runner cuts what it sends to the output limit; the host
    /// cuts again (stdout, error texts, values), since the code shares the runner's process and
    /// could write a reply itself.
    fn from_reply(msg: &Value, limits: &Limits) -> Result<Execution, InterpreterError> {
        let limit = limits.max_output_chars;
        let text = |v: Option<&Value>| cut(v.and_then(Value::as_str).unwrap_or(""), limit);
        let (stdout, over) = text(msg.get("stdout"));
        if let Some(e) = msg.get("error").filter(|e| !e.is_null()) {
            let field = |k: &str| text(e.get(k)).0;
            let name = field("type");
            return Err(match name.as_str() {
                "SyntaxError" | "IndentationError" | "TabError" => InterpreterError::Syntax {
                    message: field("message"),
                },
                "MemoryError" => InterpreterError::MemoryLimit {
                    limit: limits.memory_bytes,
                },
                "OutputLimit" => InterpreterError::OutputLimit {
                    limit: limits.max_output_chars,
                    stdout,
                },
                _ => InterpreterError::Exception {
                    name,
                    message: field("message"),
                    traceback: field("traceback"),
                },
            });
        }
        if over {
            return Err(InterpreterError::OutputLimit { limit, stdout });
        }
        // A value longer than the limit written out comes back as its text, cut.
        let value = |v: Option<&Value>| {
            v.filter(|v| !v.is_null()).map(|v| {
                let v = match v.get("json") {
                    Some(j) => j.clone(),
                    None => v.get("repr").cloned().unwrap_or(Value::Null),
                };
                match &v {
                    Value::String(text) => Value::String(cut(text, limit).0),
                    _ => {
                        let text = v.to_string();
                        match cut(&text, limit) {
                            (short, true) => Value::String(short),
                            _ => v,
                        }
                    }
                }
            })
        };
        Ok(Execution {
            stdout,
            value: value(msg.get("value")),
            // Each output comes as its own JSON value or repr.
            submitted: match msg.get("submitted") {
                Some(Value::Object(fields)) => Some(
                    fields
                        .iter()
                        .map(|(k, v)| (k.clone(), value(Some(v)).unwrap_or(Value::Null)))
                        .collect(),
                ),
                _ => None,
            },
        })
    }
}

/// Limits on each execution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Wall time of one execution, not counting time in host functions (default 30 s).
    pub time: Duration,
    /// The process's address space, in bytes (default 1 GiB).
    pub memory_bytes: u64,
    /// The most characters one execution may print (default 100,000); also the most of its
    /// value, outputs or error message that comes back.
    pub max_output_chars: usize,
    /// The longest one host-function call may take (default 300 s); past it, the code sees a
    /// `HostError`.
    pub host_call_time: Duration,
    /// The longest one execution may spend in host functions in all (default 1,800 s): a call
    /// gets at most what is left, and once it is spent every further call raises `HostError`,
    /// so code looping over a tool or an LM cannot run on without end.
    pub host_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(30),
            memory_bytes: 1 << 30,
            max_output_chars: 100_000,
            host_call_time: Duration::from_secs(300),
            host_time: Duration::from_secs(1_800),
        }
    }
}

/// A host function callable from the code: JSON arguments (by name) in, a JSON value or an
/// error message (raised in Python as `HostError`) out.
pub type HostFunction =
    Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, String>> + Send + Sync>;

/// A pool of sandboxed Python processes; cheap to clone.
#[derive(Clone)]
pub struct PythonInterpreter {
    inner: Arc<Inner>,
}

struct Inner {
    sandbox: Sandbox,
    limits: Limits,
    /// `http_get`, when the access lists hosts.
    http_get: Option<HostFunction>,
    /// Fresh processes, ready for a session.
    warm: Mutex<Vec<Process>>,
    spares: usize,
}

impl std::fmt::Debug for PythonInterpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonInterpreter")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl PythonInterpreter {
    /// An interpreter on `python3` (or `$DSPY_PYTHON`) with the default [`Limits`], or why
    /// the sandbox cannot run here.
    pub fn new() -> Result<PythonInterpreter, InterpreterError> {
        PythonInterpreter::with_limits(Limits::default())
    }

    /// An interpreter with these limits.
    pub fn with_limits(limits: Limits) -> Result<PythonInterpreter, InterpreterError> {
        PythonInterpreter::with_access(limits, Access::default())
    }

    /// An interpreter with these limits whose code may reach what `access` lists.
    pub fn with_access(
        limits: Limits,
        access: Access,
    ) -> Result<PythonInterpreter, InterpreterError> {
        let python = std::env::var_os("DSPY_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        PythonInterpreter::build_with_access(python, limits, access, 1)
    }

    /// An interpreter on the CPython at `python`, with these limits, keeping `spares` fresh
    /// processes warm.
    pub fn build(
        python: impl Into<PathBuf>,
        limits: Limits,
        spares: usize,
    ) -> Result<PythonInterpreter, InterpreterError> {
        PythonInterpreter::build_with_access(python, limits, Access::default(), spares)
    }

    /// [`PythonInterpreter::build`] with what the code may reach beyond the standard library;
    /// a listed path that does not exist is an error.
    pub fn build_with_access(
        python: impl Into<PathBuf>,
        limits: Limits,
        access: Access,
        spares: usize,
    ) -> Result<PythonInterpreter, InterpreterError> {
        let sandbox = Sandbox::prepare(&python.into(), &access)?;
        let http_get = match access.hosts.is_empty() {
            true => None,
            false => Some(network::http_get(&access).map_err(InterpreterError::Unavailable)?),
        };
        Ok(PythonInterpreter {
            inner: Arc::new(Inner {
                sandbox,
                limits,
                http_get,
                warm: Mutex::new(Vec::new()),
                spares,
            }),
        })
    }

    /// The limits each execution gets.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Starts a session: a fresh process from the pool (or a new one), with its own state.
    pub async fn session(&self) -> Result<Session, InterpreterError> {
        let inner = self.inner.clone();
        let process = tokio::task::spawn_blocking(move || {
            let warm = inner.warm.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match warm {
                Some(p) => Ok(p),
                None => Process::start(&inner.sandbox, RUNNER, &inner.limits),
            }
        })
        .await
        .map_err(|e| InterpreterError::Crashed(format!("the start-up task failed: {e}")))??;
        self.refill();
        let mut session = Session {
            process: Some(process),
            limits: self.inner.limits,
            functions: HashMap::new(),
        };
        if let Some(f) = &self.inner.http_get {
            session
                .define("http_get", &["url"], network::HTTP_GET_DOC, f.clone())
                .await?;
        }
        Ok(session)
    }

    /// Starts spare processes in the background up to the pool's size.
    fn refill(&self) {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            loop {
                let have = inner.warm.lock().unwrap_or_else(|p| p.into_inner()).len();
                if have >= inner.spares {
                    return;
                }
                match Process::start(&inner.sandbox, RUNNER, &inner.limits) {
                    Ok(p) => inner.warm.lock().unwrap_or_else(|p| p.into_inner()).push(p),
                    Err(_) => return,
                }
            }
        });
    }

    /// Runs `code` in a session of its own.
    pub async fn run(&self, code: &str) -> Result<Execution, InterpreterError> {
        self.session().await?.run(code).await
    }
}

/// One process's state across executions.
pub struct Session {
    process: Option<Process>,
    limits: Limits,
    functions: HashMap<String, HostFunction>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("alive", &self.process.is_some())
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Session {
    /// Runs `f` on the process off the async threads; a process that died is dropped.
    async fn with_process<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(
            &mut Process,
            &Limits,
            &HashMap<String, HostFunction>,
            &tokio::runtime::Handle,
        ) -> Result<T, InterpreterError>
        + Send
        + 'static,
    ) -> Result<T, InterpreterError> {
        let Some(mut process) = self.process.take() else {
            return Err(InterpreterError::Crashed(
                "this session's process has ended; start a new session".into(),
            ));
        };
        let limits = self.limits;
        let functions = self.functions.clone();
        let runtime = tokio::runtime::Handle::current();
        let (process, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut process, &limits, &functions, &runtime);
            (process, result)
        })
        .await
        .map_err(|e| InterpreterError::Crashed(format!("the session's task failed: {e}")))?;
        if !matches!(&result, Err(e) if e.ends_session()) {
            self.process = Some(process);
        }
        result
    }

    /// Runs `code`; names it defines stay for the next execution.
    pub async fn run(&mut self, code: &str) -> Result<Execution, InterpreterError> {
        let code = code.to_string();
        self.with_process(move |p, limits, functions, rt| p.execute(&code, limits, functions, rt))
            .await
    }

    /// Makes `f` callable from the code as `name(param, ...)` (positional or by name).
    pub async fn define(
        &mut self,
        name: &str,
        params: &[&str],
        doc: &str,
        f: HostFunction,
    ) -> Result<(), InterpreterError> {
        let is_ident = |s: &str| {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if let Some(bad) = std::iter::once(name)
            .chain(params.iter().copied())
            .find(|s| !is_ident(s))
        {
            return Err(InterpreterError::Exception {
                name: "ValueError".into(),
                message: format!("{bad:?} is not a Python identifier"),
                traceback: String::new(),
            });
        }
        self.functions.insert(name.to_string(), f);
        let def = vec![(
            name.to_string(),
            params.iter().map(|p| p.to_string()).collect(),
            doc.to_string(),
        )];
        self.with_process(move |p, limits, _, _| p.define(&def, limits))
            .await
    }

    /// Sets variables in the code's namespace (e.g. a long context the code reads).
    pub async fn set(&mut self, values: Map<String, Value>) -> Result<(), InterpreterError> {
        self.with_process(move |p, limits, _, _| p.set(&values, limits))
            .await
    }
}
