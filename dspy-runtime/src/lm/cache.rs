//! The response cache: an in-memory LRU in front of a crash-safe store on disk (redb), keyed by
//! a stable hash of the request, with single-flight for identical concurrent requests; with the
//! `redis` feature, a Redis server behind them that many processes share (`cache_redis`).
//!
//! redb was chosen for the disk: pure Rust (no C build), one file, ACID transactions whose
//! commits survive a killed process (copy-on-write pages, checksummed roots, no recovery log to
//! corrupt), and a small, actively maintained dependency.

use super::{LmError, LmResponse, Usage};
use lru::LruCache;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::OnceCell;

/// A request's cache key: SHA-256 of its canonical form (never the API key or base URL).
pub type CacheKey = [u8; 32];

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("responses");
const ORDER: TableDefinition<u64, &[u8]> = TableDefinition::new("insertion_order");
const FORMAT: u8 = 1;

/// Responses waiting for the writer thread at most. When the disk falls this far behind, a new
/// response is kept in memory only (with a warning) rather than waiting: a caller never stalls
/// on a slow disk, and the queue's memory stays bounded.
const WRITE_QUEUE: usize = 1024;

/// Sizes of a cache.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Responses kept in memory.
    pub memory_entries: usize,
    /// Responses kept on disk; the oldest are evicted beyond this.
    pub disk_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            memory_entries: 10_000,
            disk_entries: 1_000_000,
        }
    }
}

/// A response as read back.
#[derive(Deserialize)]
struct Stored {
    outputs: Vec<String>,
    prompt_tokens: u64,
    completion_tokens: u64,
    #[serde(default)]
    tool_calls: Vec<Vec<super::ToolCall>>,
    #[serde(default)]
    reasoning: Vec<Option<String>>,
}

/// A response as written: [`Stored`]'s fields, borrowed rather than copied.
#[derive(Serialize)]
struct StoredRef<'a> {
    outputs: &'a [String],
    prompt_tokens: u64,
    completion_tokens: u64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [Vec<super::ToolCall>],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reasoning: &'a [Option<String>],
}

/// One fetch that identical concurrent requests wait on together.
type Flight = OnceCell<Result<LmResponse, LmError>>;

/// A response cache shared by every LM that uses it.
pub struct Cache {
    memory: Mutex<LruCache<CacheKey, Arc<LmResponse>>>,
    disk: Option<Disk>,
    inflight: Mutex<HashMap<CacheKey, Arc<Flight>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    #[cfg(feature = "redis")]
    remote: Option<Arc<super::cache_redis::Remote>>,
}

struct Disk {
    db: Arc<Database>,
    writer: Mutex<Option<mpsc::SyncSender<Write>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pending: Arc<AtomicU64>,
    /// Responses kept in memory only because the queue was full.
    dropped: AtomicU64,
}

impl Drop for Disk {
    /// Commits what is pending and closes the file before the cache goes away.
    fn drop(&mut self) {
        lock(&self.writer).take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Write {
    Put(CacheKey, Vec<u8>),
    Flush(mpsc::Sender<()>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

static GLOBAL: OnceLock<Arc<Cache>> = OnceLock::new();

/// Opens the process-wide default cache (see [`Cache::global`]).
fn open_global() -> Arc<Cache> {
    let local = match default_dir() {
        Some(dir) => Cache::open(&dir, CacheConfig::default()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "using a memory-only response cache");
            Cache::in_memory(CacheConfig::default())
        }),
        None => {
            tracing::warn!(
                "no cache directory (set DSPY_CACHE_DIR, XDG_CACHE_HOME or HOME); using a memory-only response cache"
            );
            Cache::in_memory(CacheConfig::default())
        }
    };
    Arc::new(shared_global(local))
}

/// With the `redis` feature and `DSPY_CACHE_REDIS` set (`redis://host:port/db`), the global
/// cache is shared through that server.
#[cfg_attr(not(feature = "redis"), allow(unused_mut))]
fn shared_global(mut local: Cache) -> Cache {
    #[cfg(feature = "redis")]
    if let Ok(url) = std::env::var("DSPY_CACHE_REDIS")
        && let Err(e) = local.set_redis(&url, None)
    {
        tracing::warn!(error = %e, "DSPY_CACHE_REDIS ignored; the response cache is local");
    }
    local
}

impl Cache {
    /// A cache in memory only.
    pub fn in_memory(config: CacheConfig) -> Cache {
        Cache {
            memory: Mutex::new(LruCache::new(
                NonZeroUsize::new(config.memory_entries.max(1)).unwrap_or(NonZeroUsize::MIN),
            )),
            disk: None,
            inflight: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            #[cfg(feature = "redis")]
            remote: None,
        }
    }

    /// Shares this cache through the Redis server at `url` (`redis://host:port/db`): an async
    /// lookup (every LM call's) that misses in memory and on disk asks Redis (the blocking
    /// [`Cache::get`] does not), and every new response is written there,
    /// so worker processes on many machines answer each other's calls. Entries expire after
    /// `ttl` if given. A Redis that is down or slow degrades to the local tiers with a warning;
    /// no call fails for it. Only the URL is checked here: the connection is made on first use.
    #[cfg(feature = "redis")]
    pub fn with_redis(
        mut self,
        url: &str,
        ttl: Option<std::time::Duration>,
    ) -> Result<Cache, LmError> {
        self.set_redis(url, ttl)?;
        Ok(self)
    }

    /// [`Cache::with_redis`] in place; on error the cache stays local.
    #[cfg(feature = "redis")]
    pub fn set_redis(
        &mut self,
        url: &str,
        ttl: Option<std::time::Duration>,
    ) -> Result<(), LmError> {
        let remote = super::cache_redis::Remote::new(url, "dspy-rs:v1:", ttl)
            .map_err(|e| LmError::Config(format!("bad Redis URL for the response cache: {e}")))?;
        self.remote = Some(Arc::new(remote));
        Ok(())
    }

    /// Lookups Redis answered, and Redis failures seen (`None` without a Redis tier).
    #[cfg(feature = "redis")]
    pub fn shared_counts(&self) -> Option<(u64, u64)> {
        self.remote.as_ref().map(|r| {
            (
                r.hits.load(Ordering::Relaxed),
                r.failures.load(Ordering::Relaxed),
            )
        })
    }

    /// A cache in memory backed by `dir/responses.redb`. A corrupt file is moved aside (with a
    /// warning) and a fresh one started. On unix a directory created here is private to the
    /// user (mode 0700; an existing one keeps its mode) and the file always is (0600).
    pub fn open(dir: impl AsRef<Path>, config: CacheConfig) -> Result<Cache, LmError> {
        let dir = dir.as_ref();
        create_private_dir(dir).map_err(|e| {
            LmError::Config(format!(
                "cannot create cache directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("responses.redb");
        let private_file = |path: &Path| {
            create_private_file(path).map_err(|e| {
                LmError::Config(format!("cannot create cache file {}: {e}", path.display()))
            })
        };
        private_file(&path)?;
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(e) if is_corrupt(&e) => {
                let aside = path.with_extension(format!("corrupt-{}", unix_millis()));
                tracing::warn!(path = %path.display(), error = %e, "cache file unreadable; moving it aside and starting afresh");
                std::fs::rename(&path, &aside).map_err(|e2| {
                    LmError::Config(format!(
                        "cache file {} is unreadable ({e}) and could not be moved aside: {e2}",
                        path.display()
                    ))
                })?;
                private_file(&path)?;
                Database::create(&path).map_err(|e| {
                    LmError::Config(format!("cannot create cache file {}: {e}", path.display()))
                })?
            }
            Err(e) => {
                return Err(LmError::Config(format!(
                    "cannot open cache file {}: {e}",
                    path.display()
                )));
            }
        };
        let db = Arc::new(db);
        init_tables(&db).map_err(|e| {
            LmError::Config(format!(
                "cannot initialise cache file {}: {e}",
                path.display()
            ))
        })?;
        let (tx, rx) = mpsc::sync_channel(WRITE_QUEUE);
        let pending = Arc::new(AtomicU64::new(0));
        let writer_db = db.clone();
        let writer_pending = pending.clone();
        let max = config.disk_entries.max(1);
        let thread = std::thread::Builder::new()
            .name("dspy-cache-writer".into())
            .spawn(move || writer(writer_db, rx, writer_pending, max))
            .map_err(|e| LmError::Config(format!("cannot start the cache writer: {e}")))?;
        let mut cache = Cache::in_memory(config);
        cache.disk = Some(Disk {
            db,
            writer: Mutex::new(Some(tx)),
            thread: Some(thread),
            pending,
            dropped: AtomicU64::new(0),
        });
        Ok(cache)
    }

    /// The process-wide default cache: `DSPY_CACHE_DIR`, else `$XDG_CACHE_HOME/dspy-rs`, else
    /// `~/.cache/dspy-rs`; memory only (with a warning) if none of these is set or the
    /// directory cannot be opened — never a shared temporary directory.
    pub fn global() -> Arc<Cache> {
        GLOBAL.get_or_init(open_global).clone()
    }

    /// [`Cache::global`] for async callers: the first open (which may read and check a large
    /// file) runs on tokio's blocking pool.
    pub(crate) async fn global_async() -> Arc<Cache> {
        if let Some(c) = GLOBAL.get() {
            return c.clone();
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(Cache::global).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot open the response cache; using memory only");
                Arc::new(Cache::in_memory(CacheConfig::default()))
            }),
            Err(_) => Cache::global(),
        }
    }

    /// A cached response, from memory or disk (read on this thread; async code in this crate
    /// reads the disk on tokio's blocking pool instead).
    pub fn get(&self, key: &CacheKey) -> Option<LmResponse> {
        if let Some(r) = self.in_memory_hit(key) {
            return Some(r);
        }
        let found = self.disk.as_ref().and_then(|d| read_disk(&d.db, key));
        self.found_on_disk(key, found)
    }

    /// [`Cache::get`] for async callers: a disk read runs on tokio's blocking pool, so a slow
    /// disk never holds up an async worker thread.
    async fn get_async(&self, key: &CacheKey) -> Option<LmResponse> {
        if let Some(r) = self.in_memory_hit(key) {
            return Some(r);
        }
        let found = match &self.disk {
            None => None,
            Some(d) => match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    let (db, k) = (d.db.clone(), *key);
                    rt.spawn_blocking(move || read_disk(&db, &k))
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "cache read failed; treating as a miss");
                            None
                        })
                }
                Err(_) => read_disk(&d.db, key),
            },
        };
        #[cfg(feature = "redis")]
        let found = match (found, &self.remote) {
            (None, Some(remote)) => {
                let shared = remote.get(key).await.and_then(|b| decode(&b, key));
                if let Some(r) = &shared {
                    // Kept on this machine's disk too, for the next process here.
                    self.write_disk(*key, encode(r));
                }
                shared
            }
            (found, _) => found,
        };
        self.found_on_disk(key, found)
    }

    fn in_memory_hit(&self, key: &CacheKey) -> Option<LmResponse> {
        let r = lock(&self.memory).get(key).map(|r| (**r).clone())?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(r)
    }

    /// Counts a disk lookup and keeps what it found in memory.
    fn found_on_disk(&self, key: &CacheKey, found: Option<LmResponse>) -> Option<LmResponse> {
        match &found {
            Some(r) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                lock(&self.memory).put(*key, Arc::new(r.clone()));
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
        }
        found
    }

    /// Stores a response (to disk in the background; see [`Cache::flush`]; and to Redis in
    /// the background when the cache is shared).
    pub fn put(&self, key: CacheKey, response: &LmResponse) {
        if let Some(bytes) = self.put_local(key, response) {
            self.share_later(key, bytes);
        }
    }

    /// Stores a response in memory and on disk; returns its encoding when the shared tier
    /// wants it too. A memory-only cache encodes nothing.
    fn put_local(&self, key: CacheKey, response: &LmResponse) -> Option<Vec<u8>> {
        lock(&self.memory).put(key, Arc::new(response.clone()));
        let shared = self.is_shared();
        if self.disk.is_none() && !shared {
            return None;
        }
        let bytes = encode(response);
        match (self.disk.is_some(), shared) {
            (true, true) => {
                self.write_disk(key, bytes.clone());
                Some(bytes)
            }
            (true, false) => {
                self.write_disk(key, bytes);
                None
            }
            (false, _) => Some(bytes),
        }
    }

    /// Whether responses also go to a shared tier (Redis).
    #[cfg(feature = "redis")]
    fn is_shared(&self) -> bool {
        self.remote.is_some()
    }

    /// Writes an encoded response to the shared tier, before returning.
    #[cfg(feature = "redis")]
    async fn share(&self, key: CacheKey, bytes: Vec<u8>) {
        if let Some(remote) = &self.remote {
            remote.set(&key, bytes).await;
        }
    }

    /// Writes an encoded response to the shared tier in the background.
    #[cfg(feature = "redis")]
    fn share_later(&self, key: CacheKey, bytes: Vec<u8>) {
        if let Some(remote) = &self.remote {
            remote.set_later(&key, bytes);
        }
    }

    #[cfg(not(feature = "redis"))]
    fn is_shared(&self) -> bool {
        false
    }

    #[cfg(not(feature = "redis"))]
    async fn share(&self, _key: CacheKey, _bytes: Vec<u8>) {}

    #[cfg(not(feature = "redis"))]
    fn share_later(&self, _key: CacheKey, _bytes: Vec<u8>) {}

    /// Queues an encoded response for the disk writer (kept in memory only, with a warning,
    /// when the writer is behind).
    fn write_disk(&self, key: CacheKey, bytes: Vec<u8>) {
        let Some(d) = &self.disk else {
            return;
        };
        d.pending.fetch_add(1, Ordering::Relaxed);
        let sent = lock(&d.writer)
            .as_ref()
            .map(|w| w.try_send(Write::Put(key, bytes)));
        match sent {
            Some(Ok(())) => {}
            Some(Err(mpsc::TrySendError::Full(_))) => {
                d.pending.fetch_sub(1, Ordering::Relaxed);
                let n = d.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::warn!(
                        kept_in_memory_only = n,
                        "the cache's disk writer is behind; response kept in memory only"
                    );
                }
            }
            Some(Err(mpsc::TrySendError::Disconnected(_))) | None => {
                d.pending.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!("cache writer has stopped; response kept in memory only");
            }
        }
    }

    /// Waits until every stored response is committed to disk.
    pub fn flush(&self) {
        if let Some(d) = &self.disk {
            let (tx, rx) = mpsc::channel();
            // Sent outside the lock: waiting for room in the queue must not block `put`.
            let writer = lock(&d.writer).clone();
            let sent = writer.is_some_and(|w| w.send(Write::Flush(tx)).is_ok());
            if sent {
                let _ = rx.recv();
            }
        }
    }

    /// Responses written but not yet committed.
    pub fn pending_writes(&self) -> u64 {
        self.disk
            .as_ref()
            .map_or(0, |d| d.pending.load(Ordering::Relaxed))
    }

    /// Lookups that found a response, and that did not.
    pub fn hit_counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Drops every response held in memory (the disk keeps them).
    pub fn clear_memory(&self) {
        lock(&self.memory).clear();
    }

    /// The cached response for `key`, or the result of `fetch`, which runs once however many
    /// callers ask for the same key at the same time. `true` when the response came from the
    /// cache or another caller's fetch.
    pub async fn get_or_fetch<F>(
        &self,
        key: CacheKey,
        fetch: F,
    ) -> (Result<LmResponse, LmError>, bool)
    where
        F: std::future::Future<Output = Result<LmResponse, LmError>>,
    {
        if let Some(hit) = self.get_async(&key).await {
            return (Ok(hit), true);
        }
        let cell = lock(&self.inflight)
            .entry(key)
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let ran = AtomicBool::new(false);
        let result = cell
            .get_or_init(|| async {
                // Another caller's fetch may have finished while this one read the disk.
                if let Some(r) = lock(&self.memory).peek(&key) {
                    return Ok((**r).clone());
                }
                ran.store(true, Ordering::Relaxed);
                let r = fetch.await;
                if let Ok(resp) = &r
                    && let Some(bytes) = self.put_local(key, resp)
                {
                    // Written before the call returns, so a process that ends right after
                    // has shared what it got.
                    self.share(key, bytes).await;
                }
                r
            })
            .await
            .clone();
        {
            let mut inflight = lock(&self.inflight);
            if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                inflight.remove(&key);
            }
        }
        (result, !ran.load(Ordering::Relaxed))
    }
}

/// Whether an open error means the file itself is bad (not, say, locked or unwritable).
fn is_corrupt(e: &redb::DatabaseError) -> bool {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
        | redb::DatabaseError::UpgradeRequired(_) => true,
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => {
            io.kind() == std::io::ErrorKind::InvalidData
        }
        _ => false,
    }
}

fn init_tables(db: &Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        tx.open_table(ENTRIES)?;
        tx.open_table(ORDER)?;
    }
    tx.commit()?;
    Ok(())
}

fn read_disk(db: &Database, key: &CacheKey) -> Option<LmResponse> {
    let read = || -> Result<Option<Vec<u8>>, redb::Error> {
        let tx = db.begin_read()?;
        let table = tx.open_table(ENTRIES)?;
        Ok(table.get(key.as_slice())?.map(|v| v.value().to_vec()))
    };
    let bytes = match read() {
        Ok(b) => b?,
        Err(e) => {
            tracing::warn!(error = %e, "cache read failed; treating as a miss");
            return None;
        }
    };
    // Value: 8-byte insertion sequence, then the encoded response.
    decode(bytes.get(8..).unwrap_or_default(), key)
}

/// A response as stored: the format byte, then JSON.
fn encode(response: &LmResponse) -> Vec<u8> {
    let stored = StoredRef {
        outputs: &response.outputs,
        prompt_tokens: response.usage.prompt_tokens,
        completion_tokens: response.usage.completion_tokens,
        tool_calls: &response.tool_calls,
        reasoning: &response.reasoning,
    };
    let mut bytes = vec![FORMAT];
    // Strings, numbers and serde-derived tool calls: serializing cannot fail.
    let _ = serde_json::to_writer(&mut bytes, &stored);
    bytes
}

/// A stored response, or `None` (with a warning) for a corrupt or foreign entry.
fn decode(bytes: &[u8], key: &CacheKey) -> Option<LmResponse> {
    let decoded = bytes
        .split_first()
        .filter(|(format, _)| **format == FORMAT)
        .and_then(|(_, json)| serde_json::from_slice::<Stored>(json).ok());
    match decoded {
        Some(s) => Some(LmResponse {
            outputs: s.outputs,
            usage: Usage {
                prompt_tokens: s.prompt_tokens,
                completion_tokens: s.completion_tokens,
            },
            cache_hit: true,
            tool_calls: s.tool_calls,
            reasoning: s.reasoning,
        }),
        None => {
            tracing::warn!(key = %hex(key), "corrupt cache entry; treating as a miss");
            None
        }
    }
}

/// The writer thread: commits puts in batches (one fsync per batch), evicting the oldest
/// entries beyond `max`.
fn writer(db: Arc<Database>, rx: mpsc::Receiver<Write>, pending: Arc<AtomicU64>, max: u64) {
    let mut seq = next_seq(&db);
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(w) = next.take() {
            match w {
                Write::Put(k, v) => batch.push((k, v)),
                Write::Flush(done) => flushes.push(done),
            }
            if batch.len() < 512 {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            if let Err(e) = commit(&db, &batch, &mut seq, max) {
                tracing::warn!(error = %e, entries = n, "cache write failed; responses kept in memory only");
            }
            pending.fetch_sub(n, Ordering::Relaxed);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn next_seq(db: &Database) -> u64 {
    let read = || -> Result<u64, redb::Error> {
        let tx = db.begin_read()?;
        let order = tx.open_table(ORDER)?;
        Ok(order.last()?.map(|(k, _)| k.value() + 1).unwrap_or(0))
    };
    read().unwrap_or(0)
}

fn commit(
    db: &Database,
    batch: &[(CacheKey, Vec<u8>)],
    seq: &mut u64,
    max: u64,
) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        let mut entries = tx.open_table(ENTRIES)?;
        let mut order = tx.open_table(ORDER)?;
        for (key, value) in batch {
            let mut stored = Vec::with_capacity(8 + value.len());
            stored.extend_from_slice(&seq.to_be_bytes());
            stored.extend_from_slice(value);
            if let Some(old) = entries.insert(key.as_slice(), stored.as_slice())? {
                let old_seq = old
                    .value()
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes);
                drop(old);
                if let Some(s) = old_seq {
                    order.remove(s)?;
                }
            }
            order.insert(*seq, key.as_slice())?;
            *seq += 1;
        }
        while entries.len()? > max {
            let Some((_, oldest)) = order.pop_first()? else {
                break;
            };
            let k = oldest.value().to_vec();
            drop(oldest);
            entries.remove(k.as_slice())?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn default_dir() -> Option<PathBuf> {
    default_dir_from(|name| std::env::var_os(name))
}

/// `DSPY_CACHE_DIR`, else `$XDG_CACHE_HOME/dspy-rs` (absolute, as the XDG spec requires), else
/// `$HOME/.cache/dspy-rs`; `None` when none is set (no shared temporary directory instead).
fn default_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("DSPY_CACHE_DIR") {
        return Some(dir);
    }
    let base = set("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| home.join(".cache")))?;
    Some(base.join("dspy-rs"))
}

/// Creates `dir` and its missing parents, private to the user on unix (0700).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the cache file if missing, and on unix makes it private to the user (0600), through
/// the opened handle.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0
            && let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(0o600))
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the cache file private (mode 0600)");
        }
    }
    drop(file);
    Ok(())
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Lower-case hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The cache key of a request body for `model` (the body must not hold the API key).
pub fn cache_key(model: &str, body: &[u8], rollout_id: Option<u64>) -> CacheKey {
    let mut h = Sha256::new();
    h.update(b"dspy-rs/1\0");
    h.update(model.as_bytes());
    h.update(b"\0");
    h.update(body);
    h.update(b"\0");
    if let Some(r) = rollout_id {
        h.update(r.to_be_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(text: &str) -> LmResponse {
        LmResponse {
            outputs: vec![text.to_string()],
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
            },
            cache_hit: false,
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
        }
    }

    #[test]
    fn memory_and_disk_round_trip() {
        let dir = std::env::temp_dir().join(format!("dspy-cache-test-{}", unix_millis()));
        let k = cache_key("m", b"body", None);
        {
            let c = Cache::open(&dir, CacheConfig::default()).unwrap();
            assert!(c.get(&k).is_none());
            c.put(k, &resp("a"));
            c.flush();
            assert_eq!(c.get(&k).unwrap().outputs, ["a"]);
        }
        let reopened = Cache::open(&dir, CacheConfig::default()).unwrap();
        assert_eq!(reopened.get(&k).unwrap().usage.completion_tokens, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn oldest_entries_are_evicted_beyond_the_limit() {
        let dir = std::env::temp_dir().join(format!("dspy-cache-evict-{}", unix_millis()));
        let c = Cache::open(
            &dir,
            CacheConfig {
                memory_entries: 1,
                disk_entries: 3,
            },
        )
        .unwrap();
        let keys: Vec<CacheKey> = (0..5)
            .map(|i| cache_key("m", format!("{i}").as_bytes(), None))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            c.put(*k, &resp(&i.to_string()));
            c.flush();
        }
        c.clear_memory();
        assert!(c.get(&keys[0]).is_none() && c.get(&keys[1]).is_none());
        assert_eq!(c.get(&keys[4]).unwrap().outputs, ["4"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn test_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "dspy-cache-{name}-{}-{}",
            std::process::id(),
            unix_millis()
        ))
    }

    /// With the disk stalled (a write transaction held), puts never block: once the queue is
    /// full the rest stay in memory only, and the queue never holds more than its bound.
    #[test]
    fn a_stalled_disk_bounds_the_write_queue() {
        let dir = test_dir("stalled");
        let c = Cache::open(&dir, CacheConfig::default()).unwrap();
        let disk = c.disk.as_ref().unwrap();
        let stall = disk.db.begin_write().unwrap();
        let keys: Vec<CacheKey> = (0..3 * WRITE_QUEUE)
            .map(|i| cache_key("m", format!("{i}").as_bytes(), None))
            .collect();
        let started = std::time::Instant::now();
        for (i, k) in keys.iter().enumerate() {
            c.put(*k, &resp(&i.to_string()));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // The writer took at most one batch (512) before stalling; the queue holds the rest.
        assert!(
            c.pending_writes() <= (WRITE_QUEUE + 512) as u64,
            "{}",
            c.pending_writes()
        );
        assert!(disk.dropped.load(Ordering::Relaxed) >= WRITE_QUEUE as u64 - 512);
        assert!(keys.iter().all(|k| c.get(k).is_some()), "all in memory");
        drop(stall);
        c.flush();
        assert_eq!(c.pending_writes(), 0);
        c.clear_memory();
        assert!(c.get(&keys[0]).is_some(), "the first ones reached the disk");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = test_dir("modes");
        let dir = root.join("nested").join("cache");
        drop(Cache::open(&dir, CacheConfig::default()).unwrap());
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("responses.redb");
        assert_eq!(mode(&file), 0o600);
        // A file left readable by others (an older version, a umask) is made private.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Cache::open(&dir, CacheConfig::default()).unwrap());
        assert_eq!(mode(&file), 0o600);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_default_directory_never_falls_back_to_tmp() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(default_dir_from(env(&[])), None);
        assert_eq!(default_dir_from(env(&[("HOME", "")])), None);
        assert_eq!(
            default_dir_from(env(&[("XDG_CACHE_HOME", "relative/dir")])),
            None,
            "a relative XDG_CACHE_HOME is ignored, as the spec says"
        );
        assert_eq!(
            default_dir_from(env(&[("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.cache/dspy-rs"))
        );
        assert_eq!(
            default_dir_from(env(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")])),
            Some(PathBuf::from("/xdg/dspy-rs"))
        );
        assert_eq!(
            default_dir_from(env(&[("HOME", "/home/u"), ("DSPY_CACHE_DIR", "/c")])),
            Some(PathBuf::from("/c"))
        );
    }

    #[tokio::test]
    async fn async_lookups_find_what_is_on_disk() {
        let dir = test_dir("async");
        let c = Cache::open(&dir, CacheConfig::default()).unwrap();
        let k = cache_key("m", b"body", None);
        c.put(k, &resp("a"));
        c.flush();
        c.clear_memory();
        let (r, hit) = c
            .get_or_fetch(k, async { Err(LmError::Other("not called".into())) })
            .await;
        assert!(hit);
        assert_eq!(r.unwrap().outputs, ["a"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keys_differ_by_model_body_and_rollout() {
        let a = cache_key("m", b"x", None);
        assert_ne!(a, cache_key("n", b"x", None));
        assert_ne!(a, cache_key("m", b"y", None));
        assert_ne!(a, cache_key("m", b"x", Some(1)));
        assert_eq!(a, cache_key("m", b"x", None));
    }
}

#[cfg(test)]
mod corrupt_tests {
    use super::*;

    #[test]
    fn a_corrupt_entry_is_a_miss_not_a_crash() {
        let dir = std::env::temp_dir().join(format!("dspy-cache-corrupt-{}", unix_millis()));
        let c = Cache::open(&dir, CacheConfig::default()).unwrap();
        let k = cache_key("m", b"b", None);
        let db = &c.disk.as_ref().unwrap().db;
        let tx = db.begin_write().unwrap();
        tx.open_table(ENTRIES)
            .unwrap()
            .insert(k.as_slice(), b"\0\0\0\0\0\0\0\0\x01{not json".as_slice())
            .unwrap();
        tx.commit().unwrap();
        assert!(c.get(&k).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = std::env::temp_dir().join(format!("dspy-cache-badfile-{}", unix_millis()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("responses.redb"),
            b"this is not a database at all, just bytes",
        )
        .unwrap();
        let c = Cache::open(&dir, CacheConfig::default()).unwrap();
        let k = cache_key("m", b"b", None);
        c.put(
            k,
            &LmResponse {
                outputs: vec!["x".into()],
                ..Default::default()
            },
        );
        c.flush();
        assert!(c.get(&k).is_some());
        let aside = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("corrupt")
            })
            .count();
        assert_eq!(aside, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
