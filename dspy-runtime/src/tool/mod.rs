//! Tools an agent can call (DSPy's `dspy.Tool`): a name, a description, JSON-schema'd
//! arguments and a function, sync or async.
//!
//! A call checks the arguments against their schemas first, then runs the function under a
//! time limit; the tool's error, a panic inside it and a timeout each come back as a
//! [`ToolError`], which an agent shows the LM as an observation. Blocking tools run on
//! tokio's blocking threads, off the async ones. Each call emits the call context's tool
//! events and is a `dspy.tool` tracing span.
//!
//! ```
//! use dspy_runtime::tool::Tool;
//! use serde_json::json;
//!
//! let add = Tool::new_blocking(
//!     "add",
//!     "Adds two integers.",
//!     json!({"a": {"type": "integer"}, "b": {"type": "integer"}}),
//!     |args| Ok::<_, String>(json!(args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0))),
//! )?;
//! assert_eq!(
//!     add.to_string(),
//!     "add, whose description is <desc>Adds two integers.</desc>. It takes arguments \
//!      {'a': {'type': 'integer'}, 'b': {'type': 'integer'}}."
//! );
//! # Ok::<(), dspy_runtime::tool::ToolError>(())
//! ```

pub(crate) mod calls;
mod error;
#[cfg(feature = "mcp")]
pub mod mcp;
mod schema;

pub use calls::{Call, ToolCalls};
pub use error::ToolError;

use crate::error::Error;
use crate::format::python_repr_map;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use schema::ANNOTATIONS;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a tool may run unless [`Tool::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

type AsyncFn =
    dyn Fn(Map<String, Value>) -> BoxFuture<'static, Result<Value, ToolError>> + Send + Sync;
type BlockingFn = dyn Fn(Map<String, Value>) -> Result<Value, ToolError> + Send + Sync;

#[derive(Clone)]
enum Run {
    Async(Arc<AsyncFn>),
    Blocking(Arc<BlockingFn>),
}

/// One argument's compiled validator (`None`: anything goes).
#[derive(Clone)]
struct Arg {
    name: String,
    validator: Option<Arc<jsonschema::Validator>>,
}

#[derive(Clone)]
struct Inner {
    name: String,
    desc: Option<String>,
    args: Map<String, Value>,
    required: Vec<String>,
    checks: Vec<Arg>,
    run: Run,
    timeout: Option<Duration>,
}

/// A tool: cheap to clone (shared).
#[derive(Clone)]
pub struct Tool {
    inner: Arc<Inner>,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.inner.name)
            .field("desc", &self.inner.desc)
            .field("args", &self.inner.args)
            .finish()
    }
}

/// A tool function's result as JSON, or its error as [`ToolError::Failed`].
fn outcome<R: Serialize, E: fmt::Display>(tool: &str, r: Result<R, E>) -> Result<Value, ToolError> {
    match r {
        Ok(v) => serde_json::to_value(v)
            .map_err(|e| failed(tool, format!("its result could not be serialized: {e}"))),
        Err(e) => Err(failed(tool, e.to_string())),
    }
}

impl Tool {
    /// An async tool. `args` maps each argument name to its JSON schema (DSPy's `Tool.args`);
    /// an argument is required unless its schema has a `default`.
    pub fn new<F, Fut, R, E>(
        name: impl Into<String>,
        desc: impl Into<String>,
        args: Value,
        f: F,
    ) -> Result<Tool, ToolError>
    where
        F: Fn(Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let name = name.into();
        let tool = name.clone();
        let run = Run::Async(Arc::new(move |args| {
            let fut = f(args);
            let tool = tool.clone();
            async move { outcome(&tool, fut.await) }.boxed()
        }));
        Tool::build(name, desc.into(), args, None, run)
    }

    /// An async tool whose required arguments are listed (an MCP tool's `required`), not
    /// inferred from defaults.
    #[cfg_attr(not(feature = "mcp"), allow(dead_code))]
    pub(crate) fn with_required<F, Fut>(
        name: String,
        desc: String,
        args: Value,
        required: Vec<String>,
        f: F,
    ) -> Result<Tool, ToolError>
    where
        F: Fn(Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ToolError>> + Send + 'static,
    {
        let run = Run::Async(Arc::new(move |args| f(args).boxed()));
        Tool::build(name, desc, args, Some(required), run)
    }

    /// A tool without arguments that always answers `value` (ReAct's `finish`).
    pub(crate) fn constant(name: impl Into<String>, desc: impl Into<String>, value: Value) -> Tool {
        let run = Run::Async(Arc::new(move |_| {
            let value = value.clone();
            async move { Ok(value) }.boxed()
        }));
        Tool::assemble(name.into(), desc.into(), Map::new(), None, Vec::new(), run)
    }

    /// A blocking tool (run on tokio's blocking threads); otherwise as [`Tool::new`].
    pub fn new_blocking<F, R, E>(
        name: impl Into<String>,
        desc: impl Into<String>,
        args: Value,
        f: F,
    ) -> Result<Tool, ToolError>
    where
        F: Fn(Map<String, Value>) -> Result<R, E> + Send + Sync + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let name = name.into();
        let tool = name.clone();
        let run = Run::Blocking(Arc::new(move |args| outcome(&tool, f(args))));
        Tool::build(name, desc.into(), args, None, run)
    }

    /// An async tool whose arguments are the fields of `A`: their schemas come from
    /// schemars (a field's doc comment is its description), and a call deserializes the
    /// checked arguments into an `A`. `#[tool]` builds tools this way.
    pub fn typed<A, F, Fut, R, E>(name: impl Into<String>, desc: impl Into<String>, f: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let name = name.into();
        let tool = name.clone();
        let run = Run::Async(Arc::new(move |args| match deserialize::<A>(&tool, args) {
            Ok(a) => {
                let fut = f(a);
                let tool = tool.clone();
                async move { outcome(&tool, fut.await) }.boxed()
            }
            Err(e) => async move { Err(e) }.boxed(),
        }));
        Tool::build_typed::<A>(name, desc.into(), run)
    }

    /// A blocking tool whose arguments are the fields of `A`; otherwise as [`Tool::typed`].
    pub fn typed_blocking<A, F, R, E>(
        name: impl Into<String>,
        desc: impl Into<String>,
        f: F,
    ) -> Tool
    where
        A: DeserializeOwned + JsonSchema + 'static,
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let name = name.into();
        let tool = name.clone();
        let run = Run::Blocking(Arc::new(move |args| {
            outcome(&tool, f(deserialize::<A>(&tool, args)?))
        }));
        Tool::build_typed::<A>(name, desc.into(), run)
    }

    fn build(
        name: String,
        desc: String,
        args: Value,
        required: Option<Vec<String>>,
        run: Run,
    ) -> Result<Tool, ToolError> {
        let args = match args {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(ToolError::Schema {
                    tool: name,
                    message: format!(
                        "expected an object of argument names to schemas, got {other}"
                    ),
                });
            }
        };
        let mut checks = Vec::with_capacity(args.len());
        for (arg, schema) in &args {
            let validator = match schema {
                Value::Object(m) if m.keys().all(|k| ANNOTATIONS.contains(&k.as_str())) => None,
                Value::Object(_) | Value::Bool(_) => Some(Arc::new(
                    jsonschema::validator_for(schema).map_err(|e| ToolError::Schema {
                        tool: name.clone(),
                        message: format!("argument {arg}: {e}"),
                    })?,
                )),
                other => {
                    return Err(ToolError::Schema {
                        tool: name,
                        message: format!("argument {arg}: a schema is an object, got {other}"),
                    });
                }
            };
            checks.push(Arg {
                name: arg.clone(),
                validator,
            });
        }
        Ok(Tool::assemble(name, desc, args, required, checks, run))
    }

    /// A typed tool: schemars' schemas always compile, and should one not, deserializing
    /// into the argument struct still checks the arguments.
    fn build_typed<A: JsonSchema>(name: String, desc: String, run: Run) -> Tool {
        let (args, required) = typed_args::<A>();
        let checks = args
            .iter()
            .map(|(arg, schema)| Arg {
                name: arg.clone(),
                validator: jsonschema::validator_for(schema).ok().map(Arc::new),
            })
            .collect();
        Tool::assemble(name, desc, args, Some(required), checks, run)
    }

    fn assemble(
        name: String,
        desc: String,
        args: Map<String, Value>,
        required: Option<Vec<String>>,
        checks: Vec<Arg>,
        run: Run,
    ) -> Tool {
        let required = required.unwrap_or_else(|| {
            args.iter()
                .filter(|(_, s)| s.get("default").is_none())
                .map(|(k, _)| k.clone())
                .collect()
        });
        let desc = (!desc.is_empty()).then_some(desc);
        Tool {
            inner: Arc::new(Inner {
                name,
                desc,
                args,
                required,
                checks,
                run,
                timeout: Some(DEFAULT_TIMEOUT),
            }),
        }
    }

    /// The same tool with another time limit (`None`: no limit). A blocking tool past its
    /// limit is abandoned, not stopped: its thread runs on until the function returns.
    pub fn timeout(mut self, limit: Option<Duration>) -> Tool {
        self.inner_mut(|i| i.timeout = limit);
        self
    }

    /// The same tool under another name.
    pub fn named(mut self, name: impl Into<String>) -> Tool {
        let name = name.into();
        self.inner_mut(|i| i.name = name);
        self
    }

    fn inner_mut(&mut self, f: impl FnOnce(&mut Inner)) {
        f(Arc::make_mut(&mut self.inner));
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its description.
    pub fn desc(&self) -> Option<&str> {
        self.inner.desc.as_deref()
    }

    /// Its arguments: name → JSON schema (DSPy's `Tool.args`).
    pub fn args(&self) -> &Map<String, Value> {
        &self.inner.args
    }

    /// The arguments a call must give.
    pub fn required(&self) -> &[String] {
        &self.inner.required
    }

    /// Its time limit.
    pub fn limit(&self) -> Option<Duration> {
        self.inner.timeout
    }

    /// The OpenAI-compatible function definition (DSPy's `format_as_litellm_function_call`).
    pub fn to_openai(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.inner.name,
                "description": self.inner.desc.as_deref().unwrap_or(""),
                "parameters": {
                    "type": "object",
                    "properties": self.inner.args,
                    "required": self.inner.required,
                },
            },
        })
    }

    /// Checks `args` against the tool's schemas: an object, no argument it does not take,
    /// every required one, each fitting its schema.
    pub fn check(&self, args: &Value) -> Result<(), ToolError> {
        let tool = || self.inner.name.clone();
        let Value::Object(given) = args else {
            return Err(ToolError::NotAnObject {
                tool: tool(),
                got: crate::error::excerpt(&args.to_string()),
            });
        };
        for arg in given.keys() {
            if !self.inner.args.contains_key(arg) {
                return Err(ToolError::UnexpectedArg {
                    tool: tool(),
                    arg: arg.clone(),
                });
            }
        }
        for arg in &self.inner.required {
            if !given.contains_key(arg) {
                return Err(ToolError::MissingArg {
                    tool: tool(),
                    arg: arg.clone(),
                });
            }
        }
        for check in &self.inner.checks {
            let (Some(v), Some(validator)) = (given.get(&check.name), &check.validator) else {
                continue;
            };
            if let Err(e) = validator.validate(v) {
                return Err(ToolError::InvalidArg {
                    tool: tool(),
                    arg: check.name.clone(),
                    message: e.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Calls the tool with `args` (a JSON object): checks them, runs the function under the
    /// time limit, and gives its result as JSON or what went wrong.
    pub async fn call(&self, args: Value) -> Result<Value, ToolError> {
        let span = tracing::info_span!("dspy.tool", tool = %self.inner.name);
        let run = crate::context::run_tool(&self.inner.name, &args, async {
            self.run(&args).await.map_err(Error::from)
        });
        match run.instrument(span).await {
            Ok(v) => Ok(v),
            Err(Error::Tool(e)) => Err(e),
            Err(other) => Err(ToolError::Failed {
                tool: self.inner.name.clone(),
                message: other.to_string(),
            }),
        }
    }

    async fn run(&self, args: &Value) -> Result<Value, ToolError> {
        self.check(args)?;
        let given = args.as_object().cloned().unwrap_or_default();
        let tool = &self.inner.name;
        let work = async {
            match &self.inner.run {
                Run::Async(f) => match std::panic::catch_unwind(AssertUnwindSafe(|| f(given))) {
                    Ok(fut) => match AssertUnwindSafe(fut).catch_unwind().await {
                        Ok(r) => r,
                        Err(p) => Err(panicked(tool, p.as_ref())),
                    },
                    Err(p) => Err(panicked(tool, p.as_ref())),
                },
                Run::Blocking(f) => {
                    let f = f.clone();
                    match tokio::task::spawn_blocking(move || f(given)).await {
                        Ok(r) => r,
                        Err(e) if e.is_panic() => Err(panicked(tool, e.into_panic().as_ref())),
                        Err(e) => Err(failed(tool, e.to_string())),
                    }
                }
            }
        };
        match self.inner.timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                Err(ToolError::TimedOut {
                    tool: tool.clone(),
                    after: limit,
                })
            }),
            None => work.await,
        }
    }
}

fn panicked(tool: &str, payload: &(dyn std::any::Any + Send)) -> ToolError {
    ToolError::Panicked {
        tool: tool.to_string(),
        message: error::panic_message(payload),
    }
}

fn failed(tool: &str, message: String) -> ToolError {
    ToolError::Failed {
        tool: tool.to_string(),
        message,
    }
}

fn typed_args<A: JsonSchema>() -> (Map<String, Value>, Vec<String>) {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = generator.into_root_schema_for::<A>();
    schema::args_of_struct(root.as_value())
}

/// The checked arguments as the tool's argument struct.
fn deserialize<A: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<A, ToolError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| ToolError::InvalidArg {
        tool: tool.to_string(),
        arg: String::new(),
        message: e.to_string(),
    })
}

/// DSPy's `str(tool)`, as ReAct lists a tool in its instructions:
/// `name, whose description is <desc>…</desc>. It takes arguments {…}.`
impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.name)?;
        match &self.inner.desc {
            Some(d) => write!(
                f,
                ", whose description is <desc>{}</desc>.",
                d.replace('\n', "  ")
            )?,
            None => f.write_str(".")?,
        }
        write!(
            f,
            " It takes arguments {}.",
            python_repr_map(&self.inner.args)
        )
    }
}

#[cfg(test)]
mod tests;
