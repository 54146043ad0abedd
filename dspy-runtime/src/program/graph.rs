//! A program's static shape: its predictors with their signatures, and the order `forward`
//! calls its stages, printable as a tree or as a Mermaid flowchart.

use super::{ParamsExt, Program};
use std::fmt;

/// One predictor of a program.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    /// Its path (`query.predict`).
    pub path: String,
    /// The signature's name.
    pub signature: String,
    /// The signature as `inputs -> outputs`.
    pub fields: String,
}

/// The module tree of a program and the order of its calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// The program's name.
    pub name: &'static str,
    /// Every predictor, in field order.
    pub stages: Vec<Stage>,
    /// The module fields `forward` calls, in the order the calls appear.
    pub calls: &'static [&'static str],
}

fn names(fields: &[crate::signature::FieldMeta]) -> String {
    fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Graph {
    /// The graph of `program`.
    pub fn of<P: Program + ?Sized>(program: &P) -> Graph {
        let stages = program
            .named_predictors()
            .into_iter()
            .map(|(path, p)| {
                let sig = p.signature();
                Stage {
                    path,
                    signature: sig.name().to_string(),
                    fields: format!("{} -> {}", names(sig.inputs()), names(sig.outputs())),
                }
            })
            .collect();
        Graph {
            name: P::NAME,
            stages,
            calls: P::CALLS,
        }
    }

    /// A Mermaid flowchart: the input, each called stage in call order, the output.
    pub fn mermaid(&self) -> String {
        let esc = |s: &str| {
            s.replace('"', "#quot;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
        };
        let mut out = String::from("flowchart TD\n");
        out.push_str(&format!("    input([\"{} input\"])\n", esc(self.name)));
        let mut prev = "input".to_string();
        for (i, call) in self.calls.iter().enumerate() {
            let lines: Vec<String> = self
                .stages
                .iter()
                .filter(|s| dspy_grammar::path::is_under(&s.path, call))
                .map(|s| {
                    format!(
                        "{}: {}",
                        esc(&s.path),
                        esc(&s.fields.replace(" -> ", " → "))
                    )
                })
                .collect();
            let label = if lines.is_empty() {
                esc(call)
            } else {
                lines.join("<br/>")
            };
            let id = format!("s{i}");
            out.push_str(&format!("    {id}[\"{label}\"]\n"));
            out.push_str(&format!("    {prev} --> {id}\n"));
            prev = id;
        }
        out.push_str("    output([\"output\"])\n");
        out.push_str(&format!("    {prev} --> output\n"));
        out
    }
}

/// The module tree: one line per predictor, then the call order.
impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.name)?;
        for s in &self.stages {
            writeln!(f, "  {}: {} ({})", s.path, s.signature, s.fields)?;
        }
        write!(f, "calls: {}", self.calls.join(" -> "))
    }
}
