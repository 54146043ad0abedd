//! Dense retrieval: passages embedded once by any [`Embedder`], queries embedded per call, ranked
//! by cosine similarity. Exact search scans every vector; [`EmbeddingIndex::approximate`] builds
//! an HNSW graph (the `instant-distance` crate) for large corpora.
//!
//! Saved as one binary file: a magic string, the SHA-256 of the payload, and the payload
//! (postcard: the passages and either the vectors or the graph with its vectors). The checksum
//! turns a truncated or damaged file into a clear error before anything is decoded.

use super::{Passage, Retriever};
use crate::data::DataError;
use crate::error::Result;
use crate::lm::{BoxFuture, Embedder, LmError};
use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"DSPYEMB1";

/// The largest index file read (16 GiB).
const MAX_INDEX_BYTES: u64 = 16 << 30;

/// Texts sent to the embedder per call while building.
const EMBED_CHUNK: usize = 64;

/// Settings of the approximate (HNSW) index.
#[derive(Clone, Copy, Debug)]
pub struct HnswParams {
    /// Candidates kept while inserting (higher: a better graph, a slower build). Default 100.
    pub ef_construction: usize,
    /// Candidates kept while searching; a search returns at most this many. Default 100.
    pub ef_search: usize,
    /// The seed of the layer assignment.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            ef_construction: 100,
            ef_search: 100,
            seed: 0,
        }
    }
}

/// One vector in the HNSW graph; distance is 1 − cosine (vectors are unit length).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row(Vec<f32>);

impl Point for Row {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot(&self.0, &other.0)
    }
}

/// The dot product, in eight lanes so the compiler vectorizes it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `v` scaled to unit length (a zero vector stays zero).
fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[derive(Serialize, Deserialize)]
enum Store {
    /// Unit vectors, one row of `dim` per passage.
    Exact(Vec<f32>),
    /// The graph; each point's value is its passage id.
    Approximate(HnswMap<Row, u32>),
}

#[derive(Serialize, Deserialize)]
struct Saved {
    dim: u32,
    passages: Vec<String>,
    store: Store,
}

/// An embedding index over passages, searched exactly or through an HNSW graph.
pub struct EmbeddingIndex {
    embedder: Arc<dyn Embedder>,
    saved: Saved,
}

impl std::fmt::Debug for EmbeddingIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingIndex")
            .field("passages", &self.saved.passages.len())
            .field("dim", &self.saved.dim)
            .field("approximate", &self.is_approximate())
            .finish()
    }
}

impl EmbeddingIndex {
    /// Embeds `passages` (their positions are their ids) and builds an exact index.
    pub async fn build(embedder: impl Embedder, passages: Vec<String>) -> Result<Self> {
        Self::build_shared(Arc::new(embedder), passages).await
    }

    /// [`EmbeddingIndex::build`] with an already shared embedder.
    pub async fn build_shared(embedder: Arc<dyn Embedder>, passages: Vec<String>) -> Result<Self> {
        let mut vectors = Vec::with_capacity(passages.len());
        for chunk in passages.chunks(EMBED_CHUNK) {
            let got = embedder.embed(chunk).await?;
            if got.len() != chunk.len() {
                return Err(LmError::InvalidResponse(format!(
                    "the embedder returned {} vectors for {} texts",
                    got.len(),
                    chunk.len()
                ))
                .into());
            }
            vectors.extend(got);
        }
        Self::from_vectors_shared(embedder, passages, vectors)
    }

    /// An exact index from passages and their vectors (already computed by `embedder`'s model).
    /// Vectors are scaled to unit length; all must have one length.
    pub fn from_vectors(
        embedder: impl Embedder,
        passages: Vec<String>,
        vectors: Vec<Vec<f32>>,
    ) -> Result<Self> {
        Self::from_vectors_shared(Arc::new(embedder), passages, vectors)
    }

    /// [`EmbeddingIndex::from_vectors`] with an already shared embedder.
    pub fn from_vectors_shared(
        embedder: Arc<dyn Embedder>,
        passages: Vec<String>,
        vectors: Vec<Vec<f32>>,
    ) -> Result<Self> {
        let invalid = |m: String| crate::Error::Lm(LmError::InvalidResponse(m));
        if vectors.len() != passages.len() {
            return Err(invalid(format!(
                "{} vectors for {} passages",
                vectors.len(),
                passages.len()
            )));
        }
        let dim = vectors.first().map_or(0, Vec::len);
        if dim == 0 && !vectors.is_empty() {
            return Err(invalid("the vectors have no dimensions".into()));
        }
        let mut flat = Vec::with_capacity(dim * vectors.len());
        for (i, mut v) in vectors.into_iter().enumerate() {
            if v.len() != dim {
                return Err(invalid(format!(
                    "vector {i} has {} dimensions, the first has {dim}",
                    v.len()
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(invalid(format!("vector {i} holds a NaN or infinity")));
            }
            normalize(&mut v);
            flat.extend_from_slice(&v);
        }
        Ok(EmbeddingIndex {
            embedder,
            saved: Saved {
                dim: u32::try_from(dim).map_err(|_| invalid("vectors too long".into()))?,
                passages,
                store: Store::Exact(flat),
            },
        })
    }

    /// The same passages in an HNSW graph: searches visit a small part of the corpus, at the
    /// cost of sometimes missing a true neighbour. Building uses every core.
    pub fn approximate(self, params: HnswParams) -> Self {
        let EmbeddingIndex { embedder, saved } = self;
        let Saved {
            dim,
            passages,
            store,
        } = saved;
        let store = match store {
            Store::Exact(flat) => {
                let rows: Vec<Row> = flat
                    .chunks_exact(dim.max(1) as usize)
                    .map(|c| Row(c.to_vec()))
                    .collect();
                let ids: Vec<u32> = (0..rows.len() as u32).collect();
                let map = Builder::default()
                    .ef_construction(params.ef_construction.max(1))
                    .ef_search(params.ef_search.max(1))
                    .seed(params.seed)
                    .build(rows, ids);
                Store::Approximate(map)
            }
            approximate => approximate,
        };
        EmbeddingIndex {
            embedder,
            saved: Saved {
                dim,
                passages,
                store,
            },
        }
    }

    /// Whether searches go through the HNSW graph.
    pub fn is_approximate(&self) -> bool {
        matches!(self.saved.store, Store::Approximate(_))
    }

    /// How many passages it holds.
    pub fn len(&self) -> usize {
        self.saved.passages.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.saved.passages.is_empty()
    }

    /// The vectors' length.
    pub fn dim(&self) -> usize {
        self.saved.dim as usize
    }

    /// The stored unit vectors, by passage id.
    pub fn vectors(&self) -> Vec<Vec<f32>> {
        match &self.saved.store {
            Store::Exact(flat) => flat
                .chunks_exact(self.dim().max(1))
                .map(<[f32]>::to_vec)
                .collect(),
            Store::Approximate(map) => {
                let mut out = vec![Vec::new(); self.len()];
                for (pid, row) in map.iter() {
                    if let Some(&id) = map.values.get(pid.into_inner() as usize) {
                        out[id as usize] = row.0.clone();
                    }
                }
                out
            }
        }
    }

    /// The best `k` passages for a query vector (from the same embedding model), best first;
    /// the score is the cosine similarity. An approximate index returns at most its
    /// `ef_search` passages.
    pub fn search_vector(&self, query: &[f32], k: usize) -> Result<Vec<Passage>> {
        if query.len() != self.dim() && !self.is_empty() {
            return Err(LmError::InvalidResponse(format!(
                "the query vector has {} dimensions, the index {}",
                query.len(),
                self.dim()
            ))
            .into());
        }
        if query.iter().any(|x| !x.is_finite()) {
            return Err(LmError::InvalidResponse(
                "the query vector holds a NaN or infinity".into(),
            )
            .into());
        }
        let mut q = query.to_vec();
        normalize(&mut q);
        let hits: Vec<(u32, f32)> = match &self.saved.store {
            Store::Exact(flat) => top_k(flat, self.dim().max(1), &q, k),
            Store::Approximate(map) => {
                let mut search = Search::default();
                map.search(&Row(q), &mut search)
                    .take(k)
                    .map(|item| (*item.value, 1.0 - item.distance))
                    .collect()
            }
        };
        Ok(hits
            .into_iter()
            .filter_map(|(id, score)| {
                let text = self.saved.passages.get(id as usize)?.clone();
                Some(Passage {
                    id: id as usize,
                    text,
                    score,
                })
            })
            .collect())
    }

    /// Embeds `query` and returns the best `k` passages.
    pub async fn search(&self, query: &str, k: usize) -> Result<Vec<Passage>> {
        let texts = [query.to_string()];
        let vectors = self.embedder.embed(&texts).await?;
        let Some(v) = vectors.into_iter().next() else {
            return Err(LmError::InvalidResponse("the embedder returned no vector".into()).into());
        };
        self.search_vector(&v, k)
    }

    /// Writes the index to `path` through a temporary file and a rename.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let payload = postcard::to_allocvec(&self.saved)
            .map_err(|e| crate::Error::Serialize(e.to_string()))?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        crate::state::write_atomically(path.as_ref(), &bytes)?;
        Ok(())
    }

    /// Reads an index written by [`EmbeddingIndex::save`]; queries are embedded by `embedder`,
    /// which must be the model the passages were embedded with. A file that is not such an
    /// index, or was damaged, is a [`DataError::Index`].
    pub fn load(path: impl AsRef<Path>, embedder: impl Embedder) -> Result<Self> {
        Self::load_shared(path, Arc::new(embedder))
    }

    /// [`EmbeddingIndex::load`] with an already shared embedder.
    pub fn load_shared(path: impl AsRef<Path>, embedder: Arc<dyn Embedder>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::state::read_capped_bytes(path, MAX_INDEX_BYTES)?;
        let bad = |message: String| DataError::Index {
            path: path.to_path_buf(),
            message,
        };
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(
                bad("not an embedding index (its first bytes are not DSPYEMB1)".into()).into(),
            );
        };
        if rest.len() < 32 {
            return Err(bad("truncated: no checksum".into()).into());
        }
        let (sum, payload) = rest.split_at(32);
        if Sha256::digest(payload).as_slice() != sum {
            return Err(bad("damaged or truncated: the checksum does not match".into()).into());
        }
        let saved: Saved = postcard::from_bytes(payload).map_err(|e| bad(e.to_string()))?;
        if let Store::Approximate(_) = saved.store {
            let shape: shape::Saved =
                postcard::from_bytes(payload).map_err(|e| bad(e.to_string()))?;
            let shape::Store::Approximate(map) = &shape.store else {
                return Err(
                    bad("the graph's layout is not instant-distance 0.6.1's".into()).into(),
                );
            };
            check_graph(map, saved.passages.len()).map_err(bad)?;
        }
        check(&saved).map_err(bad)?;
        Ok(EmbeddingIndex { embedder, saved })
    }
}

/// The serialized layout of [`Saved`] with instant-distance 0.6.1's graph spelled out (its
/// fields are private), decoded first so that a crafted file whose checksum matches cannot
/// make a search index out of bounds.
mod shape {
    use serde::Deserialize;
    use serde_big_array::BigArray;

    /// A layer-zero node: 2M = 64 neighbour ids (`u32::MAX` ends the list).
    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Zero(#[serde(with = "BigArray")] pub(super) [u32; 64]);

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Graph {
        pub(super) _ef_search: usize,
        pub(super) points: Vec<Vec<f32>>,
        pub(super) zero: Vec<Zero>,
        /// Upper layers: M = 32 neighbour ids per node.
        pub(super) layers: Vec<Vec<[u32; 32]>>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Map {
        pub(super) hnsw: Graph,
        pub(super) values: Vec<u32>,
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) enum Store {
        Exact(#[allow(dead_code)] Vec<f32>),
        Approximate(Map),
    }

    #[derive(Deserialize)]
    #[cfg_attr(test, derive(serde::Serialize))]
    pub(super) struct Saved {
        pub(super) _dim: u32,
        pub(super) _passages: Vec<String>,
        pub(super) store: Store,
    }
}

/// Checks a graph's layout: every point has a layer-zero node and a passage id; each upper
/// layer is a non-empty prefix of the one below; every neighbour id is `u32::MAX` (none) or
/// within its layer.
fn check_graph(map: &shape::Map, n: usize) -> std::result::Result<(), String> {
    let g = &map.hnsw;
    let points = g.points.len();
    if g.zero.len() != points || map.values.len() != points || points != n {
        return Err(format!(
            "the graph has {points} points, {} nodes and {} passage ids for {n} passages",
            g.zero.len(),
            map.values.len()
        ));
    }
    let within =
        |ids: &[u32], len: usize| ids.iter().all(|&id| id == u32::MAX || (id as usize) < len);
    if !g.zero.iter().all(|node| within(&node.0, points)) {
        return Err("a layer-zero neighbour id is out of range".into());
    }
    let mut below = points;
    for layer in &g.layers {
        if layer.is_empty() || layer.len() > below {
            return Err("an upper layer is empty or larger than the layer below".into());
        }
        if !layer.iter().all(|node| within(node, layer.len())) {
            return Err("an upper-layer neighbour id is out of range".into());
        }
        below = layer.len();
    }
    Ok(())
}

/// Checks what a loaded index holds against itself.
fn check(saved: &Saved) -> std::result::Result<(), String> {
    let (n, dim) = (saved.passages.len(), saved.dim as usize);
    if dim == 0 && n > 0 {
        return Err("the vectors have no dimensions".into());
    }
    match &saved.store {
        Store::Exact(flat) => {
            if Some(flat.len()) != n.checked_mul(dim) {
                return Err(format!(
                    "{} numbers for {n} passages of {dim} dimensions",
                    flat.len()
                ));
            }
            if flat.iter().any(|x| !x.is_finite()) {
                return Err("a vector holds a NaN or infinity".into());
            }
        }
        Store::Approximate(map) => {
            if map.values.len() != n || map.values.iter().any(|&id| id as usize >= n) {
                return Err("the graph's passage ids do not match the passages".into());
            }
            if map.iter().any(|(_, row)| row.0.len() != dim) {
                return Err(format!("a vector does not have {dim} dimensions"));
            }
            if map
                .iter()
                .any(|(_, row)| row.0.iter().any(|x| !x.is_finite()))
            {
                return Err("a vector holds a NaN or infinity".into());
            }
        }
    }
    Ok(())
}

/// The `k` rows of `flat` most similar to `q` (ties: lower id first), best first.
fn top_k(flat: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut scored: Vec<(u32, f32)> = flat
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, row)| (i as u32, dot(row, q)))
        .collect();
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k == 0 {
        return Vec::new();
    }
    if scored.len() > k {
        scored.select_nth_unstable_by(k - 1, order);
        scored.truncate(k);
    }
    scored.sort_by(order);
    scored
}

impl Retriever for EmbeddingIndex {
    fn retrieve<'a>(&'a self, query: &'a str, k: usize) -> BoxFuture<'a, Result<Vec<Passage>>> {
        Box::pin(self.search(query, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bag-of-letters embedder: close texts share letters.
    struct Letters;

    fn letters(t: &str) -> Vec<f32> {
        let mut v = vec![0.0; 26];
        for c in t.to_lowercase().bytes().filter(u8::is_ascii_lowercase) {
            v[(c - b'a') as usize] += 1.0;
        }
        v
    }

    impl Embedder for Letters {
        fn embed<'a>(
            &'a self,
            texts: &'a [String],
        ) -> BoxFuture<'a, std::result::Result<Vec<Vec<f32>>, LmError>> {
            Box::pin(async move { Ok(texts.iter().map(|t| letters(t)).collect()) })
        }
    }

    fn corpus() -> Vec<String> {
        ["aaaa bbb", "zzzz yyy", "mmmm nnn", "aaab bbb"]
            .map(String::from)
            .to_vec()
    }

    #[tokio::test]
    async fn exact_and_approximate_rank_by_cosine() {
        let index = EmbeddingIndex::build(Letters, corpus()).await.unwrap();
        let hits = index.search("aaaa bbb", 2).await.unwrap();
        assert_eq!(hits.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 3]);
        assert!((hits[0].score - 1.0).abs() < 1e-5, "{hits:?}");
        assert_eq!(index.search("zy", 1).await.unwrap()[0].id, 1);
        assert!(index.search("zy", 0).await.unwrap().is_empty());
        assert_eq!(index.search("zy", 10).await.unwrap().len(), 4);

        let vectors = index.vectors();
        assert_eq!(vectors.len(), 4);
        let approx = index.approximate(HnswParams::default());
        assert!(approx.is_approximate());
        assert_eq!(approx.vectors(), vectors);
        let hits = approx.search("aaaa bbb", 2).await.unwrap();
        assert_eq!(hits.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(approx.search("mn", 1).await.unwrap()[0].text, "mmmm nnn");
    }

    #[tokio::test]
    async fn wrong_vectors_are_refused() {
        let two = vec![vec![1.0, 0.0], vec![0.0, 1.0, 0.0]];
        let e = EmbeddingIndex::from_vectors(Letters, vec!["a".into(), "b".into()], two);
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("vector 1 has 3 dimensions")
        );
        let nan = vec![vec![f32::NAN, 0.0]];
        let e = EmbeddingIndex::from_vectors(Letters, vec!["a".into()], nan);
        assert!(e.unwrap_err().to_string().contains("NaN"));
        let index = EmbeddingIndex::build(Letters, corpus()).await.unwrap();
        let e = index.search_vector(&[1.0, 2.0], 1).unwrap_err();
        assert!(e.to_string().contains("2 dimensions, the index 26"), "{e}");
    }

    #[tokio::test]
    async fn saves_and_loads_both_kinds_and_refuses_damaged_files() {
        let dir = std::env::temp_dir().join(format!("dspy-emb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exact = EmbeddingIndex::build(Letters, corpus()).await.unwrap();
        let path = dir.join("exact.idx");
        exact.save(&path).unwrap();
        let back = EmbeddingIndex::load(&path, Letters).unwrap();
        assert!(!back.is_approximate());
        assert_eq!(
            back.search("zy", 4).await.unwrap(),
            exact.search("zy", 4).await.unwrap()
        );

        let approx = exact.approximate(HnswParams::default());
        let apath = dir.join("approx.idx");
        approx.save(&apath).unwrap();
        let back = EmbeddingIndex::load(&apath, Letters).unwrap();
        assert!(back.is_approximate());
        assert_eq!(
            back.search("aaab", 2).await.unwrap(),
            approx.search("aaab", 2).await.unwrap()
        );

        let bytes = std::fs::read(&apath).unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("truncated", bytes[..bytes.len() / 2].to_vec(), "checksum"),
            (
                "flipped",
                {
                    let mut b = bytes.clone();
                    let last = b.len() - 1;
                    b[last] ^= 0x55;
                    b
                },
                "checksum",
            ),
            (
                "foreign",
                b"{\"format\":\"dspy-rs bm25 1\"}".to_vec(),
                "DSPYEMB1",
            ),
            ("short", b"DSPYEMB1abc".to_vec(), "no checksum"),
        ];
        for (name, content, want) in cases {
            let p = dir.join(name);
            std::fs::write(&p, content).unwrap();
            let e = EmbeddingIndex::load(&p, Letters).unwrap_err().to_string();
            assert!(
                e.contains("not a usable index") && e.contains(want),
                "{name}: {e}"
            );
        }
        // A payload with a valid checksum whose contents disagree with each other.
        let bad = Saved {
            dim: 3,
            passages: vec!["a".into()],
            store: Store::Exact(vec![1.0, 0.0]),
        };
        let payload = postcard::to_allocvec(&bad).unwrap();
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&Sha256::digest(&payload));
        b.extend_from_slice(&payload);
        let p = dir.join("inconsistent");
        std::fs::write(&p, b).unwrap();
        let e = EmbeddingIndex::load(&p, Letters).unwrap_err().to_string();
        assert!(
            e.contains("2 numbers for 1 passages of 3 dimensions"),
            "{e}"
        );

        // A graph whose checksum matches but whose neighbour ids point past its points.
        let write_graph = |name: &str, zero: Vec<[u32; 64]>, layers: Vec<Vec<[u32; 32]>>| {
            let crafted = shape::Saved {
                _dim: 2,
                _passages: vec!["a".into(), "b".into()],
                store: shape::Store::Approximate(shape::Map {
                    hnsw: shape::Graph {
                        _ef_search: 10,
                        points: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
                        zero: zero.into_iter().map(shape::Zero).collect(),
                        layers,
                    },
                    values: vec![0, 1],
                }),
            };
            let payload = postcard::to_allocvec(&crafted).unwrap();
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&Sha256::digest(&payload));
            b.extend_from_slice(&payload);
            let p = dir.join(name);
            std::fs::write(&p, b).unwrap();
            EmbeddingIndex::load(&p, Letters).map(|_| ())
        };
        let node = |ids: &[u32]| {
            let mut n = [u32::MAX; 64];
            n[..ids.len()].copy_from_slice(ids);
            n
        };
        let upper = |ids: &[u32]| {
            let mut n = [u32::MAX; 32];
            n[..ids.len()].copy_from_slice(ids);
            n
        };
        assert!(
            write_graph(
                "sound",
                vec![node(&[1]), node(&[0])],
                vec![vec![upper(&[])]]
            )
            .is_ok()
        );
        let cases = [
            (
                "far",
                vec![node(&[7]), node(&[0])],
                vec![],
                "layer-zero neighbour",
            ),
            (
                "upper",
                vec![node(&[1]), node(&[0])],
                vec![vec![upper(&[1])]],
                "upper-layer",
            ),
            (
                "empty",
                vec![node(&[1]), node(&[0])],
                vec![vec![]],
                "empty or larger",
            ),
            ("nodes", vec![node(&[1])], vec![], "2 points, 1 nodes"),
        ];
        for (name, zero, layers, want) in cases {
            let e = write_graph(name, zero, layers).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        let want: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), want);
    }
}
