//! MIPROv2's grounded proposer: instructions proposed from a summary of the training data, a
//! description of the program and of the predictor, demos of the predictor at work, and a
//! random prompting tip (DSPy's `GroundedProposer`, with its prompts and its order of calls).

use super::mipro::{
    GeneratorFields, TIPS, dataset_descriptor, dataset_descriptor_with_prior_observations,
    describe_module, describe_program, generate_single_module_instruction, observation_summarizer,
};
use super::text::{python_repr, python_str, strip_prefix};
use super::{propose, text_field};
use crate::demo::Demo;
use crate::error::Result;
use crate::lm::Lm;
use crate::signature::{Role, SignatureMeta};
use futures_util::stream::{self, StreamExt};
use serde_json::{Map, Value, json};

/// Most examples the summary reads per call (DSPy's `view_data_batch_size` default is 10),
/// and most calls it makes.
const MAX_SUMMARY_CALLS: usize = 10;

/// A training example as the dataset summary reads it: its fields, and its inputs' names.
pub(crate) type Row = (Map<String, Value>, Vec<String>);

/// One predictor as the proposer sees it.
pub(crate) struct Target<'a> {
    /// Its path.
    pub path: String,
    /// Its signature (with CoT's reasoning field).
    pub signature: &'a SignatureMeta,
    /// Its instructions now.
    pub instructions: String,
}

/// The proposer's settings.
pub(crate) struct Grounded<'a> {
    pub prompt_model: Option<&'a Lm>,
    pub temperature: f32,
    pub data_aware: bool,
    pub program_aware: bool,
    pub tip_aware: bool,
    pub fewshot_aware: bool,
    pub view_data_batch_size: usize,
    /// Demos shown per proposal (DSPy: 3).
    pub demos_in_context: usize,
    /// Proposals in flight at once.
    pub concurrency: usize,
}

/// What the proposer produced, besides instructions.
#[derive(Default)]
pub(crate) struct Proposed {
    /// `instructions[i]`: predictor i's candidates, its own instruction first.
    pub instructions: Vec<Vec<String>>,
    /// The dataset summary, if one was made.
    pub summary: Option<String>,
    /// Calls that failed or gave nothing usable (each skipped with a warning).
    pub failed: usize,
}

/// DSPy's `repr` of a list of examples, as the dataset descriptor reads it.
pub(crate) fn examples_repr(rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(fields, inputs)| {
            let mut keys: Vec<String> = inputs.iter().map(|k| python_repr(&json!(k))).collect();
            keys.sort();
            format!(
                "Example({}) (input_keys={{{}}})",
                python_repr(&Value::Object(fields.clone())),
                keys.join(", ")
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// DSPy's `create_example_string`: `Prefix: value` per signature field, one per line.
fn example_string(signature: &SignatureMeta, demo: &Demo) -> String {
    signature
        .inputs()
        .iter()
        .chain(signature.outputs())
        .map(|f| {
            let value = demo.get(f.name()).map_or("None".to_string(), python_str);
            format!("{} {value}", dspy_grammar::infer_prefix(f.name()))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The program as pseudo-code for the prompt model: each predictor's signature as a DSPy
/// signature class, then the predictors by path.
pub(crate) fn program_code(targets: &[Target<'_>]) -> String {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for t in targets {
        let sig = t.signature;
        if seen.contains(&sig.name()) {
            continue;
        }
        seen.push(sig.name());
        out.push_str(&format!("class {}(dspy.Signature):\n", sig.name()));
        out.push_str(&format!("    \"\"\"{}\"\"\"\n\n", sig.instructions()));
        for f in sig.inputs().iter().chain(sig.outputs()) {
            let kind = match f.role() {
                Role::Input => "InputField",
                Role::Output => "OutputField",
            };
            let desc = f
                .desc()
                .map(|d| format!("desc={}", python_repr(&json!(d))))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {}: {} = dspy.{kind}({desc})\n",
                f.name(),
                f.type_name()
            ));
        }
        out.push('\n');
    }
    for t in targets {
        out.push_str(&format!(
            "{} = dspy.Predict({})\n",
            t.path,
            t.signature.name()
        ));
    }
    out
}

fn module_code(signature: &SignatureMeta) -> String {
    let names = |fields: &[crate::signature::FieldMeta]| {
        fields
            .iter()
            .map(|f| f.name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "Predict({}) -> {}",
        names(signature.inputs()),
        names(signature.outputs())
    )
}

impl Grounded<'_> {
    async fn ask(
        &self,
        program: &crate::module::DynPredict,
        inputs: Map<String, Value>,
        rollout: u64,
        field: &str,
    ) -> Result<String> {
        let out = propose(
            program,
            inputs,
            self.prompt_model,
            self.temperature,
            rollout,
        )
        .await?;
        text_field(&out, field)
    }

    /// DSPy's `create_dataset_summary`: observations over batches of the training set (stopping
    /// after 10 calls or 5 `COMPLETE`s), summarized in two or three sentences.
    async fn summary(&self, rows: &[Row], rng: &mut fastrand::Rng) -> Result<String> {
        let batch = self.view_data_batch_size.max(1);
        let first = &rows[..rows.len().min(batch)];
        let mut observations = self
            .ask(
                &dataset_descriptor(),
                Map::from_iter([("examples".into(), json!(examples_repr(first)))]),
                rng.u64(..),
                "observations",
            )
            .await?;
        let prior = dataset_descriptor_with_prior_observations();
        let mut skips = 0;
        let mut calls = 0;
        let mut b = batch;
        while b < rows.len() {
            calls += 1;
            if calls >= MAX_SUMMARY_CALLS {
                break;
            }
            let slice = &rows[b..rows.len().min(b + batch)];
            b += batch;
            let inputs = Map::from_iter([
                ("prior_observations".into(), json!(observations)),
                ("examples".into(), json!(examples_repr(slice))),
            ]);
            let more = match self.ask(&prior, inputs, rng.u64(..), "observations").await {
                Ok(m) => m,
                // DSPy keeps the observations so far when a call fails.
                Err(e) => {
                    tracing::warn!(error = %e, "MIPROv2: dataset observations failed; using those so far");
                    break;
                }
            };
            if more.len() >= 8 && more[..8].eq_ignore_ascii_case("COMPLETE") {
                skips += 1;
                if skips >= 5 {
                    break;
                }
                continue;
            }
            observations.push_str(&more);
        }
        let summary = self
            .ask(
                &observation_summarizer(),
                Map::from_iter([("observations".into(), json!(observations))]),
                rng.u64(..),
                "summary",
            )
            .await?;
        Ok(strip_prefix(&summary))
    }

    /// Proposes `n` instructions per predictor (fewer when there are fewer demo sets): the
    /// predictor's own first (DSPy replaces the first proposal with it, so it is not asked
    /// for), then one per demo set, each with a random tip and its own rollout id.
    /// `demo_sets[i][j]` are predictor i's demos in set j (empty when there are none).
    pub(crate) async fn propose_all(
        &self,
        targets: &[Target<'_>],
        rows: &[Row],
        demo_sets: &[Vec<Vec<Demo>>],
        n: usize,
        rng: &mut fastrand::Rng,
    ) -> Proposed {
        let mut out = Proposed::default();
        let mut data_aware = self.data_aware && !rows.is_empty();
        if data_aware {
            match self.summary(rows, rng).await {
                Ok(s) => out.summary = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "MIPROv2: no dataset summary; proposing without one");
                    out.failed += 1;
                    data_aware = false;
                }
            }
        }
        let code = self.program_aware.then(|| program_code(targets));
        let have_demos = demo_sets.iter().any(|s| !s.is_empty());
        let num_sets = if have_demos {
            demo_sets.first().map_or(1, |s| s.len().max(1))
        } else {
            n
        };
        // Every random draw first, in DSPy's order; then the proposals, `concurrency` at a
        // time, taken back in order.
        let mut jobs = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            for j in 0..num_sets.min(n) {
                let (_, tip) = TIPS[rng.usize(..TIPS.len())];
                let use_tip = self.tip_aware && !tip.is_empty();
                let rollout = rng.u64(..);
                if j == 0 {
                    // Replaced by the predictor's own instruction, as in DSPy.
                    continue;
                }
                let demos = if self.fewshot_aware && have_demos {
                    self.task_demos(target.signature, &demo_sets[i], j)
                } else {
                    "No task demos provided.".to_string()
                };
                jobs.push((i, demos, use_tip.then_some(tip), rollout));
            }
        }
        let summary = out.summary.clone().filter(|_| data_aware);
        let (code, summary) = (code.as_deref(), summary.as_deref());
        let results: Vec<(usize, Result<String>)> = stream::iter(jobs)
            .map(|(i, demos, tip, rollout)| async move {
                let r = self
                    .propose_one(&targets[i], code, summary, &demos, tip, rollout)
                    .await;
                (i, r)
            })
            .buffered(self.concurrency.max(1))
            .collect()
            .await;
        out.instructions = targets
            .iter()
            .map(|t| vec![t.instructions.clone()])
            .collect();
        for (i, r) in results {
            match r {
                Ok(instruction) if !instruction.trim().is_empty() => {
                    out.instructions[i].push(instruction)
                }
                Ok(_) => out.failed += 1,
                Err(e) => {
                    tracing::warn!(predictor = %targets[i].path, error = %e, "MIPROv2: skipping a proposal");
                    out.failed += 1;
                }
            }
        }
        out
    }

    /// DSPy's task demos for set `j`: up to `demos_in_context` bootstrapped demos from set j,
    /// then the sets after it, then those before it.
    fn task_demos(&self, signature: &SignatureMeta, sets: &[Vec<Demo>], j: usize) -> String {
        let order = sets[j..].iter().chain(&sets[..j]);
        let strings: Vec<String> = order
            .flatten()
            .filter(|d| d.get("augmented").is_some())
            .take(self.demos_in_context)
            .map(|d| example_string(signature, d))
            .collect();
        if strings.is_empty() {
            "No task demos provided.".to_string()
        } else {
            format!("{}\n\n", strings.join("\n\n"))
        }
    }

    async fn propose_one(
        &self,
        target: &Target<'_>,
        code: Option<&str>,
        summary: Option<&str>,
        demos: &str,
        tip: Option<&str>,
        rollout: u64,
    ) -> Result<String> {
        // Program-aware: describe the program, then the module (a failure drops to the plain
        // proposer, as in DSPy).
        let mut described = None;
        if let Some(code) = code {
            let program = self
                .ask(
                    &describe_program(),
                    Map::from_iter([
                        ("program_code".into(), json!(code)),
                        ("program_example".into(), json!(demos)),
                    ]),
                    rollout,
                    "program_description",
                )
                .await
                .map(|d| strip_prefix(&d));
            let module = module_code(target.signature);
            let both = match program {
                Ok(p) => self
                    .ask(
                        &describe_module(),
                        Map::from_iter([
                            ("program_code".into(), json!(code)),
                            ("program_example".into(), json!(demos)),
                            ("program_description".into(), json!(p)),
                            ("module".into(), json!(module)),
                        ]),
                        rollout,
                        "module_description",
                    )
                    .await
                    .map(|m| (p, module, m)),
                Err(e) => Err(e),
            };
            match both {
                Ok(d) => described = Some(d),
                Err(e) => {
                    tracing::warn!(error = %e, "MIPROv2: no program description; proposing without one")
                }
            }
        }
        let fields = GeneratorFields {
            dataset_summary: summary.is_some(),
            program_aware: described.is_some(),
            instruct_history: false,
            tip: tip.is_some(),
        };
        let mut inputs = Map::new();
        if let Some(s) = summary {
            inputs.insert("dataset_description".into(), json!(s));
        }
        if let (Some(code), Some((program, module, module_description))) = (code, &described) {
            inputs.insert("program_code".into(), json!(code));
            inputs.insert("program_description".into(), json!(program));
            inputs.insert("module".into(), json!(module));
            inputs.insert("module_description".into(), json!(module_description));
        }
        inputs.insert("task_demos".into(), json!(demos));
        inputs.insert("basic_instruction".into(), json!(target.instructions));
        if let Some(t) = tip {
            inputs.insert("tip".into(), json!(t));
        }
        let proposed = self
            .ask(
                &generate_single_module_instruction(fields),
                inputs,
                rollout,
                "proposed_instruction",
            )
            .await?;
        Ok(strip_prefix(&proposed))
    }
}
