//! Leading new prompt prefixes: while the first call with a prefix (every message but the last)
//! is in flight, later calls with the same prefix wait for it, so a server with a prompt cache
//! (llama-server's slots and host-memory cache, vLLM's prefix cache) prefills that prefix once
//! instead of once per concurrent call. Calls whose prefix has been served go straight on.

use super::Message;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

/// How many served prefixes are remembered (oldest forgotten first).
const REMEMBERED: usize = 4096;

/// The prefixes served and those whose first call is in flight.
#[derive(Default)]
pub(crate) struct PrefixGate {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    served: HashSet<u64>,
    order: VecDeque<u64>,
    /// A receiver per prefix whose first call is in flight; it ends when that call does.
    leading: HashMap<u64, watch::Receiver<()>>,
}

/// What a call does about its prefix.
enum Turn<'a> {
    /// Go on: the prefix was served, or the request has none.
    Go,
    /// Wait for the call leading this prefix.
    Wait(watch::Receiver<()>),
    /// Lead it: later calls wait until this guard drops.
    Lead(Leader<'a>),
}

/// The first call of a prefix. Dropping it lets the waiting calls look again: the prefix is
/// marked served when the call succeeded; otherwise (an error, or the call was dropped) the
/// next caller leads.
struct Leader<'a> {
    gate: &'a PrefixGate,
    key: u64,
    rx: watch::Receiver<()>,
    _done: watch::Sender<()>,
    served: bool,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut s = self.gate.lock();
        if s.leading
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.rx))
        {
            s.leading.remove(&self.key);
        }
        if self.served && s.served.insert(self.key) {
            s.order.push_back(self.key);
            if s.order.len() > REMEMBERED
                && let Some(old) = s.order.pop_front()
            {
                s.served.remove(&old);
            }
        }
    }
}

impl PrefixGate {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` (the request to the server) once its prefix may go.
    pub(crate) async fn run<T, E>(
        &self,
        model: &str,
        messages: &[Message],
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let Some(key) = prefix_key(model, messages) else {
            return call.await;
        };
        let mut leader = loop {
            match self.turn(key) {
                Turn::Go => break None,
                // Wakes when the leader's guard drops; then this call looks again: the prefix
                // is served, or this call leads in place of a leader that failed.
                Turn::Wait(mut rx) => {
                    let _ = rx.changed().await;
                }
                Turn::Lead(l) => break Some(l),
            }
        };
        let out = call.await;
        if let Some(l) = &mut leader {
            l.served = out.is_ok();
        }
        out
    }

    fn turn(&self, key: u64) -> Turn<'_> {
        let mut s = self.lock();
        if s.served.contains(&key) {
            return Turn::Go;
        }
        if let Some(rx) = s.leading.get(&key) {
            return Turn::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        s.leading.insert(key, rx.clone());
        Turn::Lead(Leader {
            gate: self,
            key,
            rx,
            _done: tx,
            served: false,
        })
    }
}

/// A hash of the model and every message but the last, or `None` for a lone message.
fn prefix_key(model: &str, messages: &[Message]) -> Option<u64> {
    let (_, prefix) = messages.split_last()?;
    if prefix.is_empty() {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    model.hash(&mut h);
    for m in prefix {
        m.role.as_str().hash(&mut h);
        m.content.as_ref().hash(&mut h);
    }
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(system: &str, user: &str) -> Vec<Message> {
        vec![
            Message::system(system.to_string()),
            Message::user(user.to_string()),
        ]
    }

    #[test]
    fn the_prefix_is_every_message_but_the_last() {
        let k = |s, u| prefix_key("m", &msgs(s, u));
        assert_eq!(k("sys", "a"), k("sys", "b"));
        assert_ne!(k("sys", "a"), k("other", "a"));
        assert_ne!(
            prefix_key("m", &msgs("sys", "a")),
            prefix_key("n", &msgs("sys", "a"))
        );
        assert_eq!(prefix_key("m", &[Message::user("alone".to_string())]), None);
    }

    #[tokio::test]
    async fn a_failed_or_dropped_leader_hands_the_lead_to_a_waiter() {
        use std::sync::Arc;
        use std::time::Duration;
        let gate = Arc::new(PrefixGate::default());
        let m = msgs("sys", "a");
        let key = prefix_key("m", &m).unwrap_or_default();
        // A leader that fails: the prefix is not served, and the next call leads.
        let r: Result<(), ()> = gate.run("m", &m, async { Err(()) }).await;
        assert!(r.is_err());
        assert!(matches!(gate.turn(key), Turn::Lead(_)));
        // A leader dropped while a call waits on it: the waiter leads and serves the prefix.
        let leading = gate.run("m", &m, std::future::pending::<Result<(), ()>>());
        let mut leading = Box::pin(leading);
        assert!(
            tokio::time::timeout(Duration::from_millis(10), &mut leading)
                .await
                .is_err()
        );
        let waiter = tokio::spawn({
            let (gate, m) = (gate.clone(), m.clone());
            async move { gate.run("m", &m, async { Ok::<_, ()>(7) }).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "it waits on the leader");
        drop(leading);
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(got, Ok(Ok(Ok(7)))), "{got:?}");
        assert!(matches!(gate.turn(key), Turn::Go));
        assert!(gate.lock().leading.is_empty(), "no entry left behind");
    }
}
