//! RLM over the whole BBC corpus (2,225 articles, 5.2 million characters: some 1.3 million
//! tokens, 160 times the embedded model's 8,192-token window) against a ChainOfThought given
//! as much of the corpus as fits. Questions count or find articles by a property, with
//! answers computed from the data; they are drawn with `--seed` before any run.
//!
//! `cargo run --release --features local --example rlm_bbc -- [--model qwen15|qwen] \
//!    [--questions 30] [--seed 0] [--arms rlm,cot] [--max-iters 6] [--cot-chars 20000] [--skip 0]`
//!
//! `--skip N` leaves out the first N of the drawn questions (the draw is the same), so a long
//! run can be done in parts: `--questions 20 --skip 10` asks questions 11–20.

use dspy::data::datasets::{Article, bbc_articles};
use dspy::lm::{LocalConfig, LocalLm};
use dspy::prelude::*;

signature!(
    /// Answer the question about the corpus of BBC News articles with one integer.
    CorpusQuestion = "corpus: str, question: str -> answer: int"
);

type Ex = Example<CorpusQuestionInput, CorpusQuestionOutput>;

/// Words the counting questions ask about (fixed before any run).
const WORDS: &[&str] = &[
    "Google",
    "Olympic",
    "Blair",
    "euro",
    "Chelsea",
    "Microsoft",
    "oil",
    "Oscar",
    "election",
    "China",
    "iPod",
    "tax",
    "Arsenal",
    "BBC",
    "album",
    "virus",
    "Iraq",
    "record",
    "mobile",
    "court",
];

struct Args {
    model: String,
    questions: usize,
    seed: u64,
    arms: Vec<String>,
    max_iters: usize,
    cot_chars: usize,
    skip: usize,
}

fn args() -> Args {
    let mut a = Args {
        model: "qwen15".into(),
        questions: 30,
        seed: 0,
        arms: vec!["rlm".into(), "cot".into()],
        max_iters: 6,
        cot_chars: 20_000,
        skip: 0,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--model" => a.model = value,
            "--questions" => a.questions = value.parse().unwrap_or(a.questions),
            "--seed" => a.seed = value.parse().unwrap_or(a.seed),
            "--arms" => a.arms = value.split(',').map(str::to_string).collect(),
            "--max-iters" => a.max_iters = value.parse().unwrap_or(a.max_iters),
            "--cot-chars" => a.cot_chars = value.parse().unwrap_or(a.cot_chars),
            "--skip" => a.skip = value.parse().unwrap_or(a.skip),
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    a
}

/// The corpus as one text: each article numbered from 1 with its topic and title.
fn corpus(articles: &[Article]) -> String {
    let mut out = String::new();
    for (i, a) in articles.iter().enumerate() {
        out.push_str(&format!(
            "### Article {}\nTopic: {}\nTitle: {}\n\n{}\n\n",
            i + 1,
            serde_json::to_value(a.topic)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            a.title,
            a.paragraphs.join("\n")
        ));
    }
    out
}

/// Whether `word` occurs in the article's title or body, ignoring case.
fn mentions(a: &Article, word: &str) -> bool {
    let w = word.to_lowercase();
    a.title.to_lowercase().contains(&w)
        || a.paragraphs.iter().any(|p| p.to_lowercase().contains(&w))
}

/// `n` questions drawn with `seed`: counts by word, counts by topic and word, and the number
/// of the article with a given (unique) title, in turn.
/// A question, its answer, and the answer a perfect reader of only the first `k` articles
/// would give (to bound what a model that sees only them can score).
struct Question {
    text: String,
    answer: i64,
    from_first: Box<dyn Fn(usize) -> i64>,
}

fn questions(articles: &[Article], n: usize, seed: u64) -> Vec<Question> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let topic = |a: &Article| {
        serde_json::to_value(a.topic)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let topics = ["business", "entertainment", "politics", "sports", "tech"];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match out.len() % 3 {
            0 => {
                let w = WORDS[rng.usize(..WORDS.len())];
                let hits: Vec<usize> = (0..articles.len())
                    .filter(|&i| mentions(&articles[i], w))
                    .collect();
                out.push(Question {
                    text: format!("How many articles contain the text '{w}' (ignoring case) in their title or body?"),
                    answer: hits.len() as i64,
                    from_first: Box::new(move |k| hits.iter().filter(|&&i| i < k).count() as i64),
                });
            }
            1 => {
                let w = WORDS[rng.usize(..WORDS.len())];
                let t = topics[rng.usize(..topics.len())];
                let hits: Vec<usize> = (0..articles.len())
                    .filter(|&i| topic(&articles[i]) == t && mentions(&articles[i], w))
                    .collect();
                out.push(Question {
                    text: format!("How many articles with the topic '{t}' contain the text '{w}' (ignoring case) in their title or body?"),
                    answer: hits.len() as i64,
                    from_first: Box::new(move |k| hits.iter().filter(|&&i| i < k).count() as i64),
                });
            }
            _ => {
                let i = rng.usize(..articles.len());
                let title = &articles[i].title;
                if articles.iter().filter(|a| &a.title == title).count() != 1 {
                    continue;
                }
                out.push(Question {
                    text: format!("What is the number of the article titled \"{title}\"?"),
                    answer: i as i64 + 1,
                    from_first: Box::new(move |k| if i < k { i as i64 + 1 } else { 0 }),
                });
            }
        }
    }
    out
}

/// The longest run of whole articles from the start of `text` within `chars` characters.
fn head(text: &str, chars: usize) -> String {
    let cut: String = text.chars().take(chars).collect();
    match cut.rfind("### Article ") {
        Some(i) if cut.chars().count() < text.chars().count() => cut[..i].to_string(),
        _ => cut,
    }
}

fn row<O>(name: &str, r: &EvalResult<O>) -> String {
    let p = r.score / 100.0;
    let se = (p * (1.0 - p) / r.total.max(1) as f64).sqrt();
    format!(
        "| {name} | {p:.2} ± {se:.2} | {} | {} | {:.0} s |",
        r.errors,
        r.usage.calls,
        r.elapsed.as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> dspy::Result<()> {
    let a = args();
    let articles = bbc_articles()?;
    let text = corpus(&articles);
    let mut qs = questions(&articles, a.questions, a.seed);
    qs.drain(..a.skip.min(qs.len()));
    let dir = std::env::var("DSPY_MODEL_DIR").unwrap_or_else(|_| "models".into());
    let file = match a.model.as_str() {
        "qwen15" => dspy::lm::local::QWEN15_FILE,
        _ => dspy::lm::local::QWEN_FILE,
    };
    let lm = LocalLm::load(format!("{dir}/{file}"), LocalConfig::default())?;
    let config = LmConfig::default().temperature(0.0).max_tokens(500);
    println!(
        "BBC corpus: {} articles, {} characters; {} questions from question {} (seed {}); {} ({} context)",
        articles.len(),
        text.chars().count(),
        qs.len(),
        a.skip + 1,
        a.seed,
        a.model,
        LocalConfig::default().n_ctx
    );
    let mut rows = vec![
        "| program | accuracy ± s.e. | errors | LM calls | wall time |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    let metric = |ex: &Ex, answer: i64| ex.label.answer == answer;
    let make = |corpus: &str| -> Vec<Ex> {
        qs.iter()
            .map(|q| {
                Example::new(
                    CorpusQuestionInput {
                        corpus: corpus.to_string(),
                        question: q.text.clone(),
                    },
                    CorpusQuestionOutput { answer: q.answer },
                )
            })
            .collect()
    };

    if a.arms.iter().any(|x| x == "rlm") {
        let dev = make(&text);
        let rlm = Rlm::<CorpusQuestion>::new()
            .with_lm(lm.clone())
            .with_config(config.clone())
            .with_max_iters(a.max_iters)
            .with_max_llm_calls(10)
            .with_max_output_chars(2_000);
        let r = Evaluate::new(&dev)
            .concurrency(1)
            .progress(true)
            .run(
                &rlm,
                |ex: &Ex, p: &Prediction<dspy::RlmOutput<CorpusQuestionOutput>>| {
                    metric(ex, p.answer)
                },
            )
            .await?;
        let submitted = r
            .outcomes
            .iter()
            .filter(|o| {
                o.prediction
                    .as_ref()
                    .is_ok_and(|p| p.final_reasoning != "Extract forced final output")
            })
            .count();
        let steps: usize = r
            .outcomes
            .iter()
            .filter_map(|o| o.prediction.as_ref().ok())
            .map(|p| p.trajectory.len())
            .sum();
        println!(
            "RLM: {submitted} of {} submitted by code; {:.1} REPL steps per question",
            r.total,
            steps as f64 / r.total.max(1) as f64
        );
        for (i, o) in r.outcomes.iter().enumerate() {
            match &o.prediction {
                Ok(p) => println!(
                    "  q{}: label {}, answer {}, {} steps, {}",
                    a.skip + i + 1,
                    o.label["answer"],
                    p.answer,
                    p.trajectory.len(),
                    if p.final_reasoning == "Extract forced final output" {
                        "extracted"
                    } else {
                        "submitted"
                    }
                ),
                Err(e) => println!(
                    "  q{}: error: {}",
                    a.skip + i + 1,
                    e.to_string().chars().take(200).collect::<String>()
                ),
            }
        }
        if let Some(p) = r.outcomes.iter().find_map(|o| o.prediction.as_ref().ok()) {
            for e in &p.trajectory {
                println!(
                    "--- code:\n{}\n--- output:\n{}",
                    e.code,
                    e.output.chars().take(300).collect::<String>()
                );
            }
        }
        if let Some(e) = r.outcomes.iter().find_map(|o| o.prediction.as_ref().err()) {
            println!(
                "  first error: {}",
                e.to_string().chars().take(400).collect::<String>()
            );
        }
        rows.push(row("RLM (corpus in the REPL)", &r));
    }
    if a.arms.iter().any(|x| x == "cot") {
        let part = head(&text, a.cot_chars);
        let articles_in = part.matches("### Article ").count();
        let dev = make(&part);
        let cot = ChainOfThought::<CorpusQuestion>::new()
            .with_lm(lm.clone())
            .with_config(config.clone());
        let r = Evaluate::new(&dev)
            .concurrency(1)
            .progress(true)
            .run(
                &cot,
                |ex: &Ex, p: &Prediction<Reasoned<CorpusQuestionOutput>>| metric(ex, p.answer),
            )
            .await?;
        if let Some(e) = r.outcomes.iter().find_map(|o| o.prediction.as_ref().err()) {
            println!(
                "  first error: {}",
                e.to_string().chars().take(400).collect::<String>()
            );
        }
        rows.push(row(
            &format!(
                "ChainOfThought (first {articles_in} articles, {} chars)",
                part.chars().count()
            ),
            &r,
        ));
        let bound = qs
            .iter()
            .filter(|q| (q.from_first)(articles_in) == q.answer)
            .count();
        println!(
            "A perfect reader of those {articles_in} articles answers {bound} of {} right.",
            qs.len()
        );
    }
    println!("{}", rows.join("\n"));
    Ok(())
}
