//! Errors: each says what was expected and what came.

use std::fmt;

/// The result type of dspy operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Anything that can go wrong running a module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The LM call failed.
    #[error(transparent)]
    Lm(#[from] crate::lm::LmError),
    /// The LM replied, but the reply could not be turned into the signature's outputs.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// No LM is configured for this call, and no default one could be made.
    #[error(
        "no language model configured: call dspy::configure(lm), run the call inside \
         dspy::with_lm(lm, ...), or give the module its own with .with_lm(lm) ({reason})"
    )]
    NoLm {
        /// Why no default LM was available.
        reason: String,
    },
    /// A signature could not be built.
    #[error("invalid signature {0}")]
    Signature(String),
    /// A demo does not fit its signature.
    #[error("invalid demo: {0}")]
    Demo(String),
    /// An optimizer could not run as asked (a program without predictors, an unusable
    /// proposal from the prompt model).
    #[error("optimizer: {0}")]
    Optimize(String),
    /// A module could not run as built or called (MultiChainComparison given a number of
    /// attempts other than its `m`, a strategy whose every attempt failed).
    #[error("{0}")]
    Module(String),
    /// An agent ended without outputs (e.g. its forced `submit` failed).
    #[error("agent: {0}")]
    Agent(String),
    /// A value could not be serialized (an input, an output for a callback).
    #[error("cannot serialize: {0}")]
    Serialize(String),
    /// A program file could not be saved or loaded.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A data file could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Reading or writing a file failed (an evaluation's output, say).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A tool call did not give a result (bad arguments, the tool's error, a panic, a
    /// timeout).
    #[error(transparent)]
    Tool(#[from] crate::tool::ToolError),
    /// An image, audio clip or file could not be read or is not what it claims.
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    /// A value could not be read from or written as JSON (in user code, with `?`).
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Longest excerpt of an LM response kept in an error.
const EXCERPT: usize = 400;

/// Cuts `s` to at most [`EXCERPT`] bytes on a char boundary, marking the cut.
pub(crate) fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT {
        return s.to_string();
    }
    let mut end = EXCERPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

/// An LM reply that does not fit the signature.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// The adapter that tried (`ChatAdapter`, `JSONAdapter`).
    pub adapter: &'static str,
    /// What went wrong (boxed to keep results small).
    pub kind: Box<ParseErrorKind>,
    /// The LM's reply (cut to a few hundred bytes).
    pub response: String,
    /// The error of the adapter tried before this one, when this one was a fallback.
    pub previous: Option<Box<ParseError>>,
    /// The whole reply, kept only when `response` had to cut it.
    pub(crate) full: Option<std::sync::Arc<str>>,
}

/// What was wrong with an LM reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Output fields were not found in the reply.
    MissingFields {
        /// The missing fields.
        missing: Vec<String>,
        /// The output fields that were found.
        found: Vec<String>,
    },
    /// The reply holds no JSON object (JSONAdapter).
    NotAnObject,
    /// A field's value could not be read as its type.
    Field {
        /// The field.
        field: String,
        /// What its type needs, e.g. `an integer`.
        expected: String,
        /// The value that came (cut).
        got: String,
    },
    /// A field's value does not fit its type's schema: a wrong type or a missing property,
    /// possibly deep inside a JSON value.
    Invalid {
        /// The field.
        field: String,
        /// What its type needs, e.g. `a Person as JSON (an object with name, age)`.
        expected: String,
        /// Where in the value, as a JSON pointer (empty for the value itself).
        at: String,
        /// What is wrong there, e.g. `"thirty" is not of type "integer"`.
        problem: String,
    },
    /// A field's value breaks a constraint of its schema.
    Constraint {
        /// The field.
        field: String,
        /// The schema keyword broken, e.g. `maximum`, `pattern`.
        constraint: String,
        /// The value that came (cut).
        value: String,
        /// The validator's message.
        message: String,
    },
    /// The parsed fields do not deserialize into the output type.
    Deserialize {
        /// serde's message.
        message: String,
    },
}

impl ParseError {
    pub(crate) fn new(adapter: &'static str, kind: ParseErrorKind, response: &str) -> Self {
        ParseError {
            adapter,
            kind: Box::new(kind),
            response: excerpt(response),
            previous: None,
            full: (response.len() > EXCERPT).then(|| response.into()),
        }
    }

    /// The LM's whole reply (`response` is cut to a few hundred bytes).
    pub fn full_response(&self) -> &str {
        self.full.as_deref().unwrap_or(&self.response)
    }

    /// The field this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match &*self.kind {
            ParseErrorKind::Field { field, .. }
            | ParseErrorKind::Invalid { field, .. }
            | ParseErrorKind::Constraint { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::MissingFields { missing, found } => {
                write!(f, "expected output fields [{}]", missing.join(", "))?;
                if found.is_empty() {
                    write!(f, ", found none of them")
                } else {
                    write!(f, " as well; found only [{}]", found.join(", "))
                }
            }
            ParseErrorKind::NotAnObject => write!(f, "expected a JSON object, found none"),
            ParseErrorKind::Field {
                field,
                expected,
                got,
            } => {
                write!(f, "field `{field}`: expected {expected}, got {got:?}")
            }
            ParseErrorKind::Invalid {
                field,
                expected,
                at,
                problem,
            } => {
                write!(f, "field `{field}`: expected {expected}; ")?;
                if !at.is_empty() {
                    write!(f, "at {at}: ")?;
                }
                f.write_str(problem)
            }
            ParseErrorKind::Constraint {
                field,
                constraint,
                value,
                message,
            } => write!(
                f,
                "field `{field}`: value {value} breaks the `{constraint}` constraint ({message})"
            ),
            ParseErrorKind::Deserialize { message } => {
                write!(f, "the fields do not fit the output type: {message}")
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} could not parse the LM response: {}\nLM response: {:?}",
            self.adapter, self.kind, self.response
        )?;
        if let Some(prev) = &self.previous {
            write!(f, "\n(tried first: {prev})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_on_char_boundaries() {
        let s = "é".repeat(EXCERPT);
        let e = excerpt(&s);
        assert!(e.ends_with(&format!("({} bytes in all)", s.len())));
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn messages_name_field_expected_and_got() {
        let e = ParseError::new(
            "ChatAdapter",
            ParseErrorKind::Field {
                field: "year".into(),
                expected: "an integer".into(),
                got: "nineteen-ish".into(),
            },
            "[[ ## year ## ]]\nnineteen-ish",
        );
        let msg = e.to_string();
        assert!(
            msg.contains("field `year`: expected an integer, got \"nineteen-ish\""),
            "{msg}"
        );
        assert_eq!(e.field(), Some("year"));
    }
}
