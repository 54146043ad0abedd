//! DSPy's TwoStepAdapter: the main LM answers in plain prose from a simple prompt, and an
//! extraction LM fills the typed outputs from that answer through ChatAdapter. Useful with
//! reasoning models, which follow output formats poorly.

use super::{Adapter, ParsedOutput, Prepared, field_list, ordered_demos, py_strip};
use crate::demo::Demo;
use crate::error::{Error, ParseError, ParseErrorKind};
use crate::format::python_str;
use crate::lm::{Lm, Message};
use crate::signature::{FieldKind, FieldMeta, InputFields, Role, SignatureMeta};
use serde_json::Value;

/// The main LM writes its answer freely; `extraction_lm` (usually a small, cheap model) then
/// extracts the outputs from it with ChatAdapter (and its JSON fallback). Renders the main
/// prompt, and the extraction's signature and instructions, as DSPy 3.4.1 does.
#[derive(Clone)]
pub struct TwoStepAdapter {
    extraction: Lm,
}

impl std::fmt::Debug for TwoStepAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoStepAdapter")
            .field("extraction_lm", &self.extraction.model())
            .finish()
    }
}

impl TwoStepAdapter {
    /// A TwoStepAdapter whose extraction step runs on `extraction_lm`.
    pub fn new(extraction_lm: impl Into<Lm>) -> Self {
        TwoStepAdapter {
            extraction: extraction_lm.into(),
        }
    }
}

impl Adapter for TwoStepAdapter {
    fn name(&self) -> &'static str {
        "TwoStepAdapter"
    }

    fn prepare(&self, sig: &SignatureMeta, instructions: &str, demos: &[Demo]) -> Prepared {
        let mut parts = vec![
            "You are a helpful assistant that can solve tasks based on user input.".to_string(),
            format!("As input, you will be provided with:\n{}", field_list(sig.inputs())),
            format!("Your outputs must contain:\n{}", field_list(sig.outputs())),
            "You should lay out your outputs in detail so that your answer can be understood by another agent".to_string(),
        ];
        if !instructions.is_empty() {
            parts.push(format!("Specific instructions: {instructions}"));
        }
        let mut messages = vec![Message::system(parts.join("\n"))];
        for (demo, complete) in ordered_demos(sig, demos) {
            let prefix = if complete {
                ""
            } else {
                super::INCOMPLETE_DEMO_PREFIX
            };
            let Ok(user) = user_content(sig, prefix, demo) else {
                continue;
            };
            messages.push(Message::user(user));
            messages.push(Message::assistant(assistant_content(sig, demo)));
        }
        Prepared {
            messages,
            request_suffix: String::new(),
        }
    }

    fn format_request(
        &self,
        sig: &SignatureMeta,
        _prepared: &Prepared,
        inputs: &dyn InputFields,
    ) -> Result<String, Error> {
        user_content(sig, "", inputs)
            .map_err(|e| Error::Serialize(format!("an input of {}: {e}", sig.name())))
    }

    /// The first step's reply is prose: it is parsed by the extraction call, not here.
    fn parse(&self, _sig: &SignatureMeta, completion: &str) -> Result<ParsedOutput, ParseError> {
        Err(ParseError::new(
            self.name(),
            ParseErrorKind::Deserialize {
                message: "TwoStepAdapter extracts its outputs with its extraction LM".into(),
            },
            completion,
        ))
    }

    fn format_assistant(&self, sig: &SignatureMeta, outputs: &Demo) -> String {
        assistant_content(sig, outputs)
    }

    fn extraction_lm(&self) -> Option<&Lm> {
        Some(&self.extraction)
    }
}

/// A value as Python's `str` writes it (DSPy's f-string of the raw input).
fn python_text(f: &FieldMeta, written: &str) -> String {
    match f.kind() {
        FieldKind::Str => written.to_string(),
        _ => match serde_json::from_str::<Value>(written) {
            Ok(v) => python_str(&v),
            Err(_) => written.to_string(),
        },
    }
}

/// `name: value` for each present input, after `prefix`.
fn user_content(
    sig: &SignatureMeta,
    prefix: &str,
    inputs: &dyn InputFields,
) -> Result<String, String> {
    let mut parts = vec![prefix.to_string()];
    for (i, f) in sig.inputs().iter().enumerate() {
        let mut text = String::new();
        if inputs.write_input(i, f, &mut text)? {
            parts.push(format!("{}: {}", f.name(), python_text(f, &text)));
        }
    }
    parts.push(String::new());
    Ok(py_strip(&parts.join("\n\n")).to_string())
}

/// `name: value` for each output a demo has.
fn assistant_content(sig: &SignatureMeta, demo: &Demo) -> String {
    let parts: Vec<String> = sig
        .outputs()
        .iter()
        .filter_map(|f| Some(format!("{}: {}", f.name(), python_str(demo.get(f.name())?))))
        .collect();
    py_strip(&parts.join("\n\n")).to_string()
}

/// The extraction step's signature: `text` in, the original outputs out, with DSPy's
/// instructions (their run of spaces included: a line continuation inside DSPy's string).
pub(crate) fn extractor_signature(sig: &SignatureMeta) -> SignatureMeta {
    let names: Vec<String> = sig
        .outputs()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect();
    let instructions = format!(
        "The input is a text that should contain all the necessary information to produce the fields {}. \
         {}Your job is to extract the fields from the text verbatim. Extract precisely the appropriate value (content) for each field.",
        names.join(", "),
        " ".repeat(12)
    );
    SignatureMeta::new(
        "TwoStepExtraction",
        Some(instructions),
        vec![FieldMeta::string("text", Role::Input, None)],
        sig.outputs().to_vec(),
    )
}
