//! `ProgramOfThought<S>`: the LM writes Python that computes the outputs, the sandboxed
//! interpreter runs it, a failure is shown back for a corrected program (up to `max_iters`
//! tries), and the LM answers from the code and its output (DSPy's `dspy.ProgramOfThought`,
//! with its three ChainOfThought steps, their instructions and fields).

use super::core::PredictCore;
use super::{Prediction, Reasoned};
use crate::context::to_fields;
use crate::error::{Error, Result};
use crate::format::py_json;
use crate::interpreter::{Execution, InterpreterError, PythonInterpreter, Session};
use crate::signature::{FieldMeta, MetaRef, Role, Signature, SignatureMeta, WithTextInputs};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// One of ProgramOfThought's three ChainOfThought steps.
#[derive(Clone)]
pub struct CodeStep {
    core: PredictCore,
    /// The names of the inputs added after the signature's own.
    extra: &'static [&'static str],
}

crate::module::impl_predictor!([] CodeStep, core);

impl CodeStep {
    fn new(meta: SignatureMeta, extra: &'static [&'static str]) -> CodeStep {
        CodeStep {
            core: PredictCore::new(MetaRef::Shared(Arc::new(meta)), "ChainOfThought"),
            extra,
        }
    }

    async fn call<O: DeserializeOwned>(
        &self,
        input: &(dyn crate::signature::InputFields + Sync),
        fields: Result<serde_json::Map<String, Value>>,
        n: usize,
        extra: &[String],
    ) -> Result<Prediction<O>> {
        let inputs = WithTextInputs {
            inputs: input,
            n,
            extra,
        };
        let names = self.extra;
        let fields = move || {
            let mut map = fields?;
            for (name, value) in names.iter().zip(extra) {
                map.insert(name.to_string(), Value::String(value.clone()));
            }
            Ok(map)
        };
        self.core.run(&inputs, fields).await?.into_prediction()
    }
}

/// The code step's output.
#[derive(Deserialize)]
struct Code {
    generated_code: String,
}

/// Computes `S`'s outputs with a Python program the LM writes and the sandbox runs.
pub struct ProgramOfThought<S: Signature> {
    code_generate: CodeStep,
    code_regenerate: CodeStep,
    generate_output: CodeStep,
    max_iters: usize,
    interpreter: Option<PythonInterpreter>,
    _sig: PhantomData<fn() -> S>,
}

impl<S: Signature> Clone for ProgramOfThought<S> {
    fn clone(&self) -> Self {
        ProgramOfThought {
            code_generate: self.code_generate.clone(),
            code_regenerate: self.code_regenerate.clone(),
            generate_output: self.generate_output.clone(),
            max_iters: self.max_iters,
            interpreter: self.interpreter.clone(),
            _sig: PhantomData,
        }
    }
}

impl<S: Signature> std::fmt::Debug for ProgramOfThought<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgramOfThought")
            .field("signature", &S::meta().name())
            .field("max_iters", &self.max_iters)
            .finish_non_exhaustive()
    }
}

use super::react::signatures::backticked as names;

/// A step's signature (the inputs of `base`, then `added`; then `outputs`) with DSPy's
/// instructions for `mode`, and ChainOfThought's `reasoning` first.
fn step_meta(base: &SignatureMeta, mode: &str) -> SignatureMeta {
    let code = |desc: &str, role| FieldMeta::string("generated_code", role, Some(desc.into()));
    let text =
        |name: &'static str, desc: &str| FieldMeta::string(name, Role::Input, Some(desc.into()));
    let mut inputs = base.inputs().to_vec();
    let outputs = match mode {
        "generate" => vec![code("python code that answers the question", Role::Output)],
        "regenerate" => {
            inputs.push(text(
                "previous_code",
                "previously-generated python code that errored",
            ));
            inputs.push(text(
                "error",
                "error message from previously-generated python code",
            ));
            vec![code("python code that answers the question", Role::Output)]
        }
        _ => {
            inputs.push(text(
                "final_generated_code",
                "python code that answers the question",
            ));
            inputs.push(text(
                "code_output",
                "output of previously-generated python code",
            ));
            base.outputs().to_vec()
        }
    };
    let (mode_inputs, mode_outputs) = (names(&inputs), names(&outputs));
    let instructions = match mode {
        "generate" => [
            format!("You will be given {mode_inputs} and you will respond with {mode_outputs}."),
            format!("Generating executable Python code that programmatically computes the correct {mode_outputs}."),
            "After you're done with the computation and think you have the final output, make sure to submit your output by calling the preloaded function `SUBMIT()`.".into(),
            format!(
                "You must structure your output in a dict, like {{\"field_a\": value_a, ...}}, with the correct value mapping for the field(s): {}.",
                names(base.outputs())
            ),
        ]
        .join("\n"),
        "regenerate" => [
            format!("You are given {mode_inputs} due to an error in previous code."),
            "Your task is to correct the error and provide the new `generated_code`.".into(),
        ]
        .join("\n"),
        _ => format!("Given the final code {mode_inputs}, provide the final {mode_outputs}."),
    };
    SignatureMeta::new("StringSignature", Some(instructions), inputs, outputs)
        .with_leading_output(FieldMeta::string("reasoning", Role::Output, None))
}

/// The code in a reply as DSPy's ProgramOfThought takes it: before a `---` or two blank
/// lines, out of a ```python fence, with a last `name = …` line followed by `name` so its
/// value is the result; or why it is unusable.
pub(crate) fn parse_code(reply: &str) -> (String, Option<String>) {
    let code = reply.split("---").next().unwrap_or("");
    let code = code.split("\n\n\n").next().unwrap_or("").to_string();
    let mut block = fenced(&code).unwrap_or(&code).to_string();
    if block.is_empty() {
        return (code, Some("Error: Empty code after parsing.".into()));
    }
    if !block.contains('\n') && block.matches('=').count() > 1 {
        return (code, Some("Error: Code format is not correct.".into()));
    }
    let last = block.rsplit('\n').next().unwrap_or("").trim().to_string();
    let name_len = last
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(last.len(), |(i, _)| i);
    if name_len > 0 && last[name_len..].trim_start().starts_with('=') {
        block.push('\n');
        block.push_str(&last[..name_len]);
    }
    (block, None)
}

/// The body of the first ```` ```python ```` fence (DSPy's `` ```python[ \n](.*?)[ \n]```? ``).
fn fenced(code: &str) -> Option<&str> {
    let start = code.find("```python")? + "```python".len();
    let rest = code.get(start..)?;
    let body = rest.strip_prefix([' ', '\n'])?;
    let mut from = 0;
    while let Some(i) = body[from..].find("``") {
        let at = from + i;
        if at > 0 && matches!(body.as_bytes()[at - 1], b' ' | b'\n') {
            return Some(&body[..at - 1]);
        }
        from = at + 1;
    }
    None
}

/// What an execution gave, written for the LM as DSPy's `json.dumps` writes it: SUBMIT's
/// outputs, else the last expression's value, else what the code printed.
pub(crate) fn output_text(run: &Execution) -> String {
    let value = match (&run.submitted, &run.value) {
        (Some(fields), _) => Value::Object(fields.clone()),
        (None, Some(v)) => v.clone(),
        (None, None) => Value::String(run.stdout.clone()),
    };
    let mut s = String::new();
    py_json(&value, true, &mut s);
    s
}

/// The process-wide default interpreter, made on first use.
pub(crate) fn default_interpreter() -> std::result::Result<PythonInterpreter, InterpreterError> {
    static DEFAULT: OnceLock<std::result::Result<PythonInterpreter, InterpreterError>> =
        OnceLock::new();
    DEFAULT.get_or_init(PythonInterpreter::new).clone()
}

impl<S: Signature> Default for ProgramOfThought<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Signature> ProgramOfThought<S> {
    /// A ProgramOfThought with DSPy's default of 3 tries, on the default sandbox.
    pub fn new() -> Self {
        let base = S::meta();
        ProgramOfThought {
            code_generate: CodeStep::new(step_meta(base, "generate"), &[]),
            code_regenerate: CodeStep::new(
                step_meta(base, "regenerate"),
                &["previous_code", "error"],
            ),
            generate_output: CodeStep::new(
                step_meta(base, "answer"),
                &["final_generated_code", "code_output"],
            ),
            max_iters: 3,
            interpreter: None,
            _sig: PhantomData,
        }
    }

    /// At most `n` programs per call (the first and `n - 1` corrections).
    pub fn with_max_iters(mut self, n: usize) -> Self {
        self.max_iters = n.max(1);
        self
    }

    /// Runs the code in `interpreter` (its limits apply) instead of the default sandbox.
    pub fn with_interpreter(mut self, interpreter: PythonInterpreter) -> Self {
        self.interpreter = Some(interpreter);
        self
    }

    /// Every step's sampling settings.
    pub fn with_config(mut self, config: crate::lm::LmConfig) -> Self {
        let config = Arc::new(config);
        for step in [
            &mut self.code_generate,
            &mut self.code_regenerate,
            &mut self.generate_output,
        ] {
            step.core.config = config.clone();
        }
        self
    }

    /// Every step on `lm`.
    pub fn with_lm(mut self, lm: impl Into<crate::lm::Lm>) -> Self {
        let lm = lm.into();
        for step in [
            &mut self.code_generate,
            &mut self.code_regenerate,
            &mut self.generate_output,
        ] {
            step.core.lm = Some(lm.clone());
        }
        self
    }

    /// Runs the code with a fresh session per call; the outputs with the answer step's
    /// reasoning.
    pub async fn call(&self, input: S::Input) -> Result<Prediction<Reasoned<S::Output>>>
    where
        S::Input: Sync,
    {
        let interpreter = match &self.interpreter {
            Some(i) => i.clone(),
            None => default_interpreter().map_err(|e| Error::Module(e.to_string()))?,
        };
        let mut session = interpreter
            .session()
            .await
            .map_err(|e| Error::Module(e.to_string()))?;
        let n = S::meta().inputs().len();
        let step: Prediction<Reasoned<Code>> = self
            .code_generate
            .call(&input, to_fields(&input), n, &[])
            .await?;
        let (mut code, mut error) = parse_code(&step.generated_code);
        let mut output = String::new();
        if error.is_none() {
            match self.execute(&interpreter, &mut session, &code).await? {
                Ok(o) => output = o,
                Err(e) => error = Some(e),
            }
        }
        let mut hop = 1;
        while let Some(err) = error.take() {
            if hop >= self.max_iters {
                return Err(Error::Module(format!(
                    "Max hops reached. Failed to run ProgramOfThought: {err}"
                )));
            }
            let step: Prediction<Reasoned<Code>> = self
                .code_regenerate
                .call(&input, to_fields(&input), n, &[code.clone(), err])
                .await?;
            (code, error) = parse_code(&step.generated_code);
            if error.is_none() {
                match self.execute(&interpreter, &mut session, &code).await? {
                    Ok(o) => output = o,
                    Err(e) => error = Some(e),
                }
            }
            hop += 1;
        }
        self.generate_output
            .call(&input, to_fields(&input), n, &[code, output])
            .await
    }

    /// Runs `code`: its output for the LM, or its error for the LM (a session the error
    /// ended is replaced). Only a sandbox that cannot run at all is an error of the call.
    async fn execute(
        &self,
        interpreter: &PythonInterpreter,
        session: &mut Session,
        code: &str,
    ) -> Result<std::result::Result<String, String>> {
        match session.run(code).await {
            Ok(run) => Ok(Ok(output_text(&run))),
            Err(InterpreterError::Unavailable(e)) => Err(Error::Module(e)),
            Err(e) => {
                if e.ends_session() {
                    *session = interpreter
                        .session()
                        .await
                        .map_err(|e| Error::Module(e.to_string()))?;
                }
                Ok(Err(e.to_string()))
            }
        }
    }
}

impl<S: Signature> super::Module for ProgramOfThought<S>
where
    S::Input: Sync,
{
    type Input = S::Input;
    type Output = Prediction<Reasoned<S::Output>>;
    async fn forward(&self, input: S::Input) -> Result<Self::Output> {
        self.call(input).await
    }
}

/// DSPy's paths: each step is a ChainOfThought whose predictor is `predict`.
impl<S: Signature> crate::program::Params for ProgramOfThought<S> {
    fn visit_params<'a>(&'a self, path: &str, f: &mut dyn FnMut(String, &'a dyn super::Predictor)) {
        for (name, step) in [
            ("code_generate", &self.code_generate),
            ("code_regenerate", &self.code_regenerate),
            ("generate_output", &self.generate_output),
        ] {
            f(
                crate::program::join_path(&crate::program::join_path(path, name), "predict"),
                step,
            );
        }
    }
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &str,
        f: &mut dyn FnMut(String, &'a mut dyn super::Predictor),
    ) {
        for (name, step) in [
            ("code_generate", &mut self.code_generate),
            ("code_regenerate", &mut self.code_regenerate),
            ("generate_output", &mut self.generate_output),
        ] {
            f(
                crate::program::join_path(&crate::program::join_path(path, name), "predict"),
                step,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_read_as_dspy_reads_it() {
        let (code, err) = parse_code("```python\nx = 6 * 7\n```\nmore");
        assert_eq!((code.as_str(), err), ("x = 6 * 7\nx", None));
        let (code, err) = parse_code("a = 1\nb = a + 1\n\n\nignored");
        assert_eq!((code.as_str(), err), ("a = 1\nb = a + 1\nb", None));
        let (code, err) = parse_code("print(2)\n---\nnotes");
        assert_eq!((code.as_str(), err), ("print(2)\n", None));
        assert_eq!(
            parse_code("").1.as_deref(),
            Some("Error: Empty code after parsing.")
        );
        assert_eq!(
            parse_code("a = b = 1").1.as_deref(),
            Some("Error: Code format is not correct.")
        );
        // DSPy's `^(\w+)\s*=` also takes a comparison for an assignment.
        assert_eq!(parse_code("y = 2\nx == y").0, "y = 2\nx == y\nx");
        assert_eq!(
            parse_code("x == 1").1.as_deref(),
            Some("Error: Code format is not correct.")
        );
    }
}
