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
enum Turn {
    /// Go on: the prefix was served, or the request has none.
    Go,
    /// Wait for the call leading this prefix.
    Wait(watch::Receiver<()>),
    /// Lead it: later calls wait until this guard drops.
    Lead(Leader),
}

/// The first call of a prefix; dropping it (the call ended, well or not) lets the others go.
struct Leader {
    key: u64,
    _done: watch::Sender<()>,
}

impl PrefixGate {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` (the request to the server) once its prefix may go.
    pub(crate) async fn run<T>(
        &self,
        model: &str,
        messages: &[Message],
        call: impl Future<Output = T>,
    ) -> T {
        let Some(key) = prefix_key(model, messages) else {
            return call.await;
        };
        match self.turn(key) {
            Turn::Go => call.await,
            Turn::Wait(mut rx) => {
                // Ends when the leader's sender drops; the prefix is then cached (or the
                // leader failed, and this call goes on regardless).
                let _ = rx.changed().await;
                call.await
            }
            Turn::Lead(leader) => {
                let out = call.await;
                self.finish(leader);
                out
            }
        }
    }

    fn turn(&self, key: u64) -> Turn {
        let mut s = self.lock();
        if s.served.contains(&key) {
            return Turn::Go;
        }
        // A closed channel is a leader whose call was dropped before it ended: this call leads.
        if let Some(rx) = s.leading.get(&key)
            && rx.has_changed().is_ok()
        {
            return Turn::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        s.leading.insert(key, rx);
        Turn::Lead(Leader { key, _done: tx })
    }

    fn finish(&self, leader: Leader) {
        let mut s = self.lock();
        s.leading.remove(&leader.key);
        if s.served.insert(leader.key) {
            s.order.push_back(leader.key);
            if s.order.len() > REMEMBERED
                && let Some(old) = s.order.pop_front()
            {
                s.served.remove(&old);
            }
        }
        drop(s);
        drop(leader);
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
    async fn a_cancelled_leader_hands_the_lead_on() {
        let gate = PrefixGate::default();
        let m = msgs("sys", "a");
        // The first call leads, and is dropped before it ends.
        {
            let lead = gate.run("m", &m, std::future::pending::<()>());
            let timeout = tokio::time::timeout(std::time::Duration::from_millis(10), lead);
            assert!(timeout.await.is_err());
        }
        // The next call leads instead of waiting on it, and its end serves the prefix.
        let key = prefix_key("m", &m).unwrap_or_default();
        assert!(matches!(gate.turn(key), Turn::Lead(_)));
        gate.run("m", &m, async {}).await;
        assert!(matches!(gate.turn(key), Turn::Go));
    }
}
