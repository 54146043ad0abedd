//! What was sent and received: a bounded history per LM and a global one, printed like DSPy's
//! `inspect_history`.

use super::{Message, Usage};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// One LM call as recorded.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    /// When the call finished.
    pub timestamp: SystemTime,
    /// The model.
    pub model: String,
    /// What was sent.
    pub messages: Vec<Message>,
    /// What came back (one per completion).
    pub outputs: Vec<String>,
    /// Tokens spent (zero for a cache hit).
    pub usage: Usage,
    /// Cost in dollars, when the model has a price.
    pub cost: Option<f64>,
    /// Whether the response came from the cache.
    pub cache_hit: bool,
    /// Time from request to response.
    pub latency: Duration,
}

/// A bounded history of LM calls: at most `capacity` calls and [`History::MAX_BYTES`] of
/// text; the oldest go first.
#[derive(Debug)]
pub struct History {
    entries: Mutex<Entries>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Entries {
    /// Each call with its size in bytes (kept, so evicting a cold entry does not read it).
    calls: VecDeque<(usize, Arc<HistoryEntry>)>,
    /// Bytes of text (messages and outputs) held.
    bytes: usize,
}

impl HistoryEntry {
    /// Bytes of text it holds.
    fn size(&self) -> usize {
        self.messages.iter().map(|m| m.content.len()).sum::<usize>()
            + self.outputs.iter().map(String::len).sum::<usize>()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl History {
    /// Most bytes of text (messages and outputs) a history keeps: 64 MiB.
    pub const MAX_BYTES: usize = 64 << 20;

    /// A history keeping the last `capacity` calls (0 keeps none).
    pub fn new(capacity: usize) -> History {
        History {
            entries: Mutex::new(Entries::default()),
            capacity,
        }
    }

    /// The process-wide history every LM also records into.
    pub fn global() -> &'static History {
        static GLOBAL: std::sync::OnceLock<History> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| History::new(10_000))
    }

    pub(crate) fn record(&self, entry: Arc<HistoryEntry>) {
        if self.capacity == 0 {
            return;
        }
        let size = entry.size();
        if size > Self::MAX_BYTES {
            return;
        }
        // Freed outside the lock (usually one entry, so no list is allocated for it).
        let mut evicted: (Option<Arc<HistoryEntry>>, Vec<Arc<HistoryEntry>>) = (None, Vec::new());
        {
            let mut e = lock(&self.entries);
            while e.calls.len() >= self.capacity || e.bytes + size > Self::MAX_BYTES {
                let Some((old_size, old)) = e.calls.pop_front() else {
                    break;
                };
                e.bytes -= old_size;
                match evicted.0 {
                    None => evicted.0 = Some(old),
                    Some(_) => evicted.1.push(old),
                }
            }
            e.bytes += size;
            e.calls.push_back((size, entry));
        }
        drop(evicted);
    }

    /// The last `n` calls, oldest first.
    pub fn last(&self, n: usize) -> Vec<Arc<HistoryEntry>> {
        let e = lock(&self.entries);
        let calls = &e.calls;
        calls
            .iter()
            .skip(calls.len().saturating_sub(n))
            .map(|(_, c)| c)
            .cloned()
            .collect()
    }

    /// Most calls kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Calls recorded (up to the capacity).
    pub fn len(&self) -> usize {
        lock(&self.entries).calls.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every call.
    pub fn clear(&self) {
        *lock(&self.entries) = Entries::default();
    }

    /// The last `n` calls in DSPy's `inspect_history` layout (without colours).
    pub fn render(&self, n: usize) -> String {
        render_entries(&self.last(n))
    }
}

/// Prints the last `n` calls of the global history, as DSPy's `dspy.inspect_history(n)` does.
pub fn inspect_history(n: usize) {
    print!("{}", History::global().render(n));
}

/// DSPy's `pretty_print_history` layout.
pub fn render_entries(entries: &[Arc<HistoryEntry>]) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str("\n\n\n\n");
        out.push_str(&format!("[{}]\n\n", iso_timestamp(e.timestamp)));
        for m in &e.messages {
            let role = m.role.as_str();
            let mut chars = role.chars();
            let capital: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            out.push_str(&format!("{capital} message:\n\n"));
            out.push_str(m.content.trim());
            out.push_str("\n\n\n");
        }
        out.push_str("Response:\n\n");
        out.push_str(e.outputs.first().map(|s| s.trim()).unwrap_or(""));
        out.push_str("\n\n");
        if e.outputs.len() > 1 {
            out.push_str(&format!(
                " \t (and {} other completions)\n",
                e.outputs.len() - 1
            ));
        }
    }
    out.push_str("\n\n\n\n");
    out
}

/// `2026-11-25T07:13:59.089311` (UTC), as Python's `datetime.isoformat()` prints it.
pub(crate) fn iso_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Message;

    #[test]
    fn timestamps_like_python_isoformat() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_677_239_089_311);
        assert_eq!(iso_timestamp(t), "2026-11-26T07:13:59.089311");
        assert_eq!(
            iso_timestamp(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000"
        );
    }

    #[test]
    fn bounded() {
        let h = History::new(2);
        for i in 0..3 {
            h.record(Arc::new(HistoryEntry {
                timestamp: SystemTime::UNIX_EPOCH,
                model: "m".into(),
                messages: vec![Message::user(format!("{i}"))],
                outputs: vec![format!("r{i}")],
                usage: Usage::default(),
                cost: None,
                cache_hit: false,
                latency: Duration::ZERO,
            }));
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.last(5)[0].outputs[0], "r1");
    }

    #[test]
    fn bounded_by_bytes() {
        let h = History::new(1_000);
        let big = "x".repeat(History::MAX_BYTES / 3);
        for i in 0..5 {
            h.record(Arc::new(HistoryEntry {
                timestamp: SystemTime::UNIX_EPOCH,
                model: "m".into(),
                messages: vec![Message::user(big.clone())],
                outputs: vec![format!("r{i}")],
                usage: Usage::default(),
                cost: None,
                cache_hit: false,
                latency: Duration::ZERO,
            }));
        }
        assert_eq!(h.len(), 2, "only what fits in MAX_BYTES is kept");
        assert_eq!(h.last(1)[0].outputs[0], "r4");
        let e = lock(&h.entries);
        assert!(e.bytes <= History::MAX_BYTES);
    }
}
