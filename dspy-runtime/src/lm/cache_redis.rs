//! The response cache's shared tier: a Redis server that many worker processes (on many
//! machines) read and write, behind each process's memory and disk tiers.
//!
//! A Redis that is down or slow never fails a call: a lookup that errs or takes longer than its
//! timeout is a miss, a write is dropped, and the tier is skipped for a pause (with one warning
//! per outage) before it is tried again.
//!
//! The `redis` crate is the well-kept client (async on tokio, a connection manager that
//! reconnects).

use super::cache::CacheKey;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long one Redis command may take before it counts as a failure.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How long the tier is skipped after a failure.
const PAUSE: Duration = Duration::from_secs(2);

/// A Redis server as a cache tier.
pub(super) struct Remote {
    client: redis::Client,
    /// What keys are prefixed with, so several caches can share a server.
    prefix: String,
    /// Entries expire after this many seconds (none: Redis's own eviction policy decides).
    ttl: Option<u64>,
    /// The connection once made (it reconnects by itself).
    conn: OnceLock<ConnectionManager>,
    /// Held while a connection is being made.
    connecting: tokio::sync::Mutex<()>,
    down_until: Mutex<Option<Instant>>,
    warned: AtomicBool,
    /// Lookups answered from Redis, and failures seen.
    pub hits: AtomicU64,
    pub failures: AtomicU64,
}

impl Remote {
    /// Checks the URL (`redis://host:port/db`); connects on first use.
    pub fn new(
        url: &str,
        prefix: &str,
        ttl: Option<Duration>,
    ) -> Result<Remote, redis::RedisError> {
        Ok(Remote {
            client: redis::Client::open(url)?,
            prefix: prefix.to_string(),
            ttl: ttl.map(|t| t.as_secs().max(1)),
            conn: OnceLock::new(),
            connecting: tokio::sync::Mutex::new(()),
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    fn key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, super::cache::hex(key))
    }

    fn paused(&self) -> bool {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match *down {
            Some(t) if t > Instant::now() => true,
            Some(_) => {
                *down = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, what: &str, e: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + PAUSE);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "the shared response cache (Redis) failed to {what}; using the local cache until it answers again");
        }
    }

    fn answered(&self) {
        if self.warned.swap(false, Ordering::Relaxed) {
            tracing::info!("the shared response cache (Redis) answers again");
        }
    }

    /// A connection, made on first use; `None` while another caller is making it (that call
    /// is a miss rather than a wait in line). A failed connect pauses the tier before the gate
    /// is let go, so callers behind it skip Redis at once.
    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(c) = self.conn.get() {
            return Some(c.clone());
        }
        let Ok(_gate) = self.connecting.try_lock() else {
            return None;
        };
        if let Some(c) = self.conn.get() {
            return Some(c.clone());
        }
        if self.paused() {
            return None;
        }
        let made = match tokio::time::timeout(TIMEOUT, ConnectionManager::new(self.client.clone()))
            .await
        {
            Ok(Ok(made)) => made,
            Ok(Err(e)) => {
                self.failed("connect", &e);
                return None;
            }
            Err(_) => {
                self.failed("connect", &format!("no connection within {TIMEOUT:?}"));
                return None;
            }
        };
        Some(self.conn.get_or_init(|| made).clone())
    }

    /// Runs `cmd`; a failure or a timeout pauses the tier (the connection manager reconnects
    /// by itself once Redis answers again).
    async fn run<T: redis::FromRedisValue>(&self, what: &str, cmd: redis::Cmd) -> Option<T> {
        if self.paused() {
            return None;
        }
        let mut conn = self.connection().await?;
        match tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.answered();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(what, &e);
                None
            }
            Err(_) => {
                self.failed(what, &format!("no answer within {TIMEOUT:?}"));
                None
            }
        }
    }

    /// The stored bytes of `key`, if Redis has them and answers in time.
    pub async fn get(&self, key: &CacheKey) -> Option<Vec<u8>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        let found: Option<Vec<u8>> = self.run("read", cmd).await.flatten();
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Stores `bytes` under `key` (given up on if Redis fails or is slow).
    pub async fn set(&self, key: &CacheKey, bytes: Vec<u8>) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(bytes);
        if let Some(ttl) = self.ttl {
            cmd.arg("EX").arg(ttl);
        }
        let _: Option<()> = self.run("write", cmd).await;
    }

    /// [`Remote::set`] in the background, for callers outside async code (dropped without a
    /// runtime).
    pub fn set_later(self: &Arc<Self>, key: &CacheKey, bytes: Vec<u8>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (remote, key) = (self.clone(), *key);
        rt.spawn(async move { remote.set(&key, bytes).await });
    }
}
