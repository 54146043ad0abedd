//! Retrieval on the BBC corpus: BM25 against embeddings (all-MiniLM-L6-v2 on the embedded
//! engine), exact and approximate (HNSW), and build and query times at 100,000 passages.
//!
//! The corpus is every paragraph of the 2,225 BBC articles (10,635 passages); the queries are
//! the articles' headlines (each distinct headline once). A query's relevant passages are the
//! paragraphs of the article(s) with that headline; recall@k is the share of queries with a
//! relevant passage among the top k. The embedding index is saved to `artifacts/cache/` and
//! reloaded on later runs (`--rebuild` embeds the corpus again).
//!
//! The scale test copies the corpus to `--scale` passages (default 100,000): BM25 indexes the
//! copied texts; the embedding indexes take the copied vectors with uniform noise of ±0.01 per
//! dimension (exact duplicates would make every neighbour a tie), and HNSW's top 10 is compared
//! with the exact top 10 for the real queries.
//!
//! `cargo run --release --features local --example retrieval [-- --scale 100000 --rebuild]`

use dspy::data::datasets::bbc_articles;
use dspy::lm::{Embedder, LocalEmbedder};
use dspy::retrieve::{Bm25Index, EmbeddingIndex, HnswParams, Passage};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

const KS: [usize; 3] = [1, 5, 10];

struct Corpus {
    passages: Vec<String>,
    queries: Vec<String>,
    /// Per query: the ids of its relevant passages.
    relevant: Vec<HashSet<usize>>,
}

fn corpus() -> dspy::Result<Corpus> {
    let articles = bbc_articles()?;
    let mut passages = Vec::new();
    let mut by_text: HashMap<String, Vec<usize>> = HashMap::new();
    for a in &articles {
        for p in &a.paragraphs {
            by_text.entry(p.clone()).or_default().push(passages.len());
            passages.push(p.clone());
        }
    }
    let mut order = Vec::new();
    let mut by_title: HashMap<&str, HashSet<usize>> = HashMap::new();
    for a in &articles {
        let set = by_title.entry(a.title.as_str()).or_insert_with(|| {
            order.push(a.title.clone());
            HashSet::new()
        });
        // A paragraph printed in two articles is relevant wherever it sits.
        for p in &a.paragraphs {
            set.extend(by_text[p].iter().copied());
        }
    }
    let relevant = order.iter().map(|t| by_title[t.as_str()].clone()).collect();
    Ok(Corpus {
        passages,
        queries: order,
        relevant,
    })
}

/// recall@k for each k in [`KS`], from each query's ranked ids.
fn recall(ranked: &[Vec<usize>], relevant: &[HashSet<usize>]) -> [f64; 3] {
    KS.map(|k| {
        let hits = ranked
            .iter()
            .zip(relevant)
            .filter(|(r, rel)| r.iter().take(k).any(|id| rel.contains(id)))
            .count();
        hits as f64 / ranked.len().max(1) as f64
    })
}

fn ids(hits: Vec<Passage>) -> Vec<usize> {
    hits.into_iter().map(|p| p.id).collect()
}

/// The share of the exact top 10 that the approximate top 10 also holds.
fn agreement(approx: &[Vec<usize>], exact: &[Vec<usize>]) -> f64 {
    let (mut found, mut total) = (0, 0);
    for (a, e) in approx.iter().zip(exact) {
        let a: HashSet<_> = a.iter().collect();
        found += e.iter().filter(|id| a.contains(id)).count();
        total += e.len();
    }
    found as f64 / total.max(1) as f64
}

fn ms_per(d: std::time::Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e3 / n.max(1) as f64
}

fn row(name: &str, build: String, query_ms: f64, r: Option<[f64; 3]>, extra: &str) {
    let r = r.map_or("–".to_string(), |r| {
        format!("{:.3} / {:.3} / {:.3}", r[0], r[1], r[2])
    });
    println!("| {name} | {build} | {query_ms:.3} | {r} | {extra} |");
}

/// Every search of `queries` against `index`, top 10, and the time it took.
fn search_all(
    index: &EmbeddingIndex,
    vectors: &[Vec<f32>],
) -> dspy::Result<(Vec<Vec<usize>>, std::time::Duration)> {
    let t = Instant::now();
    let ranked = vectors
        .iter()
        .map(|v| index.search_vector(v, 10).map(ids))
        .collect::<dspy::Result<Vec<_>>>()?;
    Ok((ranked, t.elapsed()))
}

#[tokio::main]
async fn main() -> dspy::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let rebuild = argv.iter().any(|a| a == "--rebuild");
    let scale: usize = argv
        .iter()
        .position(|a| a == "--scale")
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);

    let c = corpus()?;
    let (n, q) = (c.passages.len(), c.queries.len());
    if n == 0 || q == 0 {
        eprintln!("no BBC articles: run scripts/fetch-data");
        return Ok(());
    }
    println!("corpus: {n} passages (BBC paragraphs), {q} queries (distinct headlines)\n");
    println!("| index | build | ms per query | recall@1 / @5 / @10 | notes |");
    println!("|---|---|---|---|---|");

    // BM25.
    let t = Instant::now();
    let bm25 = Bm25Index::new(c.passages.clone());
    let bm25_build = t.elapsed();
    let t = Instant::now();
    let bm25_ranked: Vec<Vec<usize>> = c.queries.iter().map(|q| ids(bm25.search(q, 10))).collect();
    let bm25_query = t.elapsed();
    row(
        &format!("BM25, {n}"),
        format!("{:.2} s", bm25_build.as_secs_f64()),
        ms_per(bm25_query, q),
        Some(recall(&bm25_ranked, &c.relevant)),
        "",
    );

    // Embeddings, exact.
    let embedder = LocalEmbedder::minilm()?;
    embedder.ready().await?;
    let cache = std::path::Path::new("artifacts/cache/bbc-minilm.idx");
    let t = Instant::now();
    let cached = match cache.exists() && !rebuild {
        true => Some(EmbeddingIndex::load(cache, embedder.clone())?).filter(|i| i.len() == n),
        false => None,
    };
    let (exact, how) = if let Some(index) = cached {
        (index, "loaded")
    } else {
        let index = EmbeddingIndex::build(embedder.clone(), c.passages.clone()).await?;
        if let Some(dir) = cache.parent() {
            std::fs::create_dir_all(dir)?;
        }
        index.save(cache)?;
        (index, "embedded")
    };
    let exact_build = t.elapsed();
    let t = Instant::now();
    let query_vectors = embedder.embed(&c.queries).await?;
    let embed_queries = t.elapsed();
    let (exact_ranked, exact_query) = search_all(&exact, &query_vectors)?;
    row(
        &format!("MiniLM exact, {n}"),
        format!("{:.1} s ({how})", exact_build.as_secs_f64()),
        ms_per(exact_query, q),
        Some(recall(&exact_ranked, &c.relevant)),
        &format!(
            "+ {:.2} ms to embed a query (in batches)",
            ms_per(embed_queries, q)
        ),
    );

    // Embeddings, HNSW.
    let vectors = exact.vectors();
    let t = Instant::now();
    let hnsw = EmbeddingIndex::from_vectors(embedder.clone(), c.passages.clone(), vectors.clone())?
        .approximate(HnswParams::default());
    let hnsw_build = t.elapsed();
    let (hnsw_ranked, hnsw_query) = search_all(&hnsw, &query_vectors)?;
    row(
        &format!("MiniLM HNSW, {n}"),
        format!("{:.1} s", hnsw_build.as_secs_f64()),
        ms_per(hnsw_query, q),
        Some(recall(&hnsw_ranked, &c.relevant)),
        &format!(
            "{:.3} of the exact top 10",
            agreement(&hnsw_ranked, &exact_ranked)
        ),
    );

    // The scale test.
    let copies = scale.div_ceil(n);
    let big_passages: Vec<String> = (0..scale).map(|i| c.passages[i % n].clone()).collect();
    let t = Instant::now();
    let big_bm25 = Bm25Index::new(big_passages.clone());
    let big_bm25_build = t.elapsed();
    let t = Instant::now();
    for query in &c.queries {
        big_bm25.search(query, 10);
    }
    row(
        &format!("BM25, {scale}"),
        format!("{:.2} s", big_bm25_build.as_secs_f64()),
        ms_per(t.elapsed(), q),
        None,
        &format!("the corpus {copies}×"),
    );
    let mut rng = fastrand::Rng::with_seed(0);
    let big_vectors: Vec<Vec<f32>> = (0..scale)
        .map(|i| {
            let v = &vectors[i % n];
            if i < n {
                v.clone()
            } else {
                v.iter().map(|x| x + (rng.f32() - 0.5) * 0.02).collect()
            }
        })
        .collect();
    let t = Instant::now();
    let big_exact =
        EmbeddingIndex::from_vectors(embedder.clone(), big_passages.clone(), big_vectors.clone())?;
    let big_exact_build = t.elapsed();
    let (big_exact_ranked, big_exact_query) = search_all(&big_exact, &query_vectors)?;
    row(
        &format!("exact, {scale}"),
        format!("{:.2} s (from vectors)", big_exact_build.as_secs_f64()),
        ms_per(big_exact_query, q),
        None,
        "noisy copies of the vectors",
    );
    drop(big_exact);
    let t = Instant::now();
    let big_hnsw = EmbeddingIndex::from_vectors(embedder.clone(), big_passages, big_vectors)?
        .approximate(HnswParams::default());
    let big_hnsw_build = t.elapsed();
    let (big_hnsw_ranked, big_hnsw_query) = search_all(&big_hnsw, &query_vectors)?;
    row(
        &format!("HNSW, {scale}"),
        format!("{:.1} s (from vectors)", big_hnsw_build.as_secs_f64()),
        ms_per(big_hnsw_query, q),
        None,
        &format!(
            "{:.3} of the exact top 10",
            agreement(&big_hnsw_ranked, &big_exact_ranked)
        ),
    );
    let path = std::env::temp_dir().join(format!("dspy-retrieval-{}.idx", std::process::id()));
    let t = Instant::now();
    big_hnsw.save(&path)?;
    let save = t.elapsed();
    let size = std::fs::metadata(&path)?.len();
    let t = Instant::now();
    let back = EmbeddingIndex::load(&path, embedder.clone())?;
    let load = t.elapsed();
    let _ = std::fs::remove_file(&path);
    println!(
        "\nHNSW at {scale}: saved in {:.2} s ({:.0} MB), loaded in {:.2} s ({} passages)",
        save.as_secs_f64(),
        size as f64 / 1e6,
        load.as_secs_f64(),
        back.len()
    );
    Ok(())
}
