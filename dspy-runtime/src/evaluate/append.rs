//! The append file of an evaluation: lines written and flushed by a thread of its own, so a
//! slow disk never blocks the async threads; the first write error stops the evaluation.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Where finished outcomes go, one JSON line each.
pub(super) struct AppendFile {
    lines: mpsc::Sender<String>,
    error: Arc<Mutex<Option<String>>>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl AppendFile {
    /// Opens (creates) `path` for appending, off the async threads.
    pub(super) async fn open(path: &Path) -> Result<AppendFile> {
        let owned = path.to_path_buf();
        let file = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&owned)
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?
        .map_err(|e| io_error(path, e))?;
        let (lines, rx) = mpsc::channel::<String>();
        let (finished, done) = tokio::sync::oneshot::channel();
        let error = Arc::new(Mutex::new(None));
        let slot = error.clone();
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("dspy-evaluate-append".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                for line in rx {
                    let written = writeln!(out, "{line}").and_then(|()| out.flush());
                    if let Err(e) = written {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(format!("{shown}: {e}"));
                        break;
                    }
                }
                let _ = finished.send(());
            })
            .map_err(Error::Io)?;
        Ok(AppendFile { lines, error, done })
    }

    /// Queues one line.
    pub(super) fn send(&self, line: String) {
        // The writer only stops after an error, which `failed` reports.
        let _ = self.lines.send(line);
    }

    /// The write error, once one happened.
    pub(super) fn failed(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until every queued line is written; the write error if one happened.
    pub(super) async fn finish(self) -> Result<()> {
        let AppendFile { lines, error, done } = self;
        drop(lines);
        let _ = done.await;
        let failed = error.lock().unwrap_or_else(|p| p.into_inner()).take();
        match failed {
            Some(e) => Err(Error::Io(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}
