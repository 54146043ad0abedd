//! The disk cache survives a process killed mid-write: a child process writes responses
//! continuously, reporting each committed one; it is killed with SIGKILL, the store is reopened
//! and every committed response is there, intact.

use dspy::lm::cache::cache_key;
use dspy::lm::{Cache, CacheConfig, LmResponse, Usage};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

const CHILD_DIR: &str = "DSPY_CRASH_CHILD_DIR";

fn response(i: u64) -> LmResponse {
    LmResponse {
        outputs: vec![format!(
            "response {i} {}",
            "x".repeat((i % 50) as usize * 40)
        )],
        usage: Usage {
            prompt_tokens: i,
            completion_tokens: 2 * i,
        },
        cache_hit: false,
        ..Default::default()
    }
}

fn key(i: u64) -> [u8; 32] {
    cache_key("crash/model", format!("request {i}").as_bytes(), None)
}

/// The child's work when run by `killed_writer_loses_no_committed_entry`; run alone, it checks
/// the same writes against a scratch directory.
#[test]
fn crash_child() {
    let (dir, forever) = match std::env::var(CHILD_DIR) {
        Ok(d) => (std::path::PathBuf::from(d), true),
        Err(_) => (tempfile::tempdir().unwrap().keep(), false),
    };
    let cache = Cache::open(&dir, CacheConfig::default()).unwrap();
    let mut i = 0u64;
    loop {
        // A burst of writes, then a flush: the kill can land inside any of them.
        for j in 0..8 {
            cache.put(key(i + j), &response(i + j));
        }
        cache.flush();
        println!("committed {}", i + 7);
        i += 8;
        if !forever && i >= 64 {
            break;
        }
    }
    cache.clear_memory();
    for k in 0..i {
        assert_eq!(
            cache.get(&key(k)),
            Some(LmResponse {
                cache_hit: true,
                ..response(k)
            })
        );
    }
}

#[test]
fn killed_writer_loses_no_committed_entry() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = crate::common::rerun(module_path!(), "crash_child")
            .arg("--test-threads=1")
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut committed = None;
        let target = 200 + round * 150;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("committed ") {
                let n: u64 = n.trim().parse().unwrap();
                committed = Some(n);
                if n >= target {
                    child.kill().unwrap(); // SIGKILL on Unix
                    break;
                }
            }
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child was killed, it did not finish");
        let committed = committed.expect("the child committed entries before it was killed");
        let cache = Cache::open(dir.path(), CacheConfig::default())
            .expect("the store reopens after SIGKILL");
        for i in 0..=committed {
            assert_eq!(
                cache.get(&key(i)),
                Some(LmResponse {
                    cache_hit: true,
                    ..response(i)
                }),
                "round {round}: entry {i} of {committed} committed entries"
            );
        }
    }
}
