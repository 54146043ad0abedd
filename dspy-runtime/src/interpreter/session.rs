//! One sandboxed CPython process and the line protocol with its runner: executions, host
//! function calls made from the code, and a watchdog that kills the process when an execution
//! outlives its time limit (time spent in host functions does not count).

use super::sandbox::{ProcessLimits, Sandbox};
use super::{Execution, HostFunction, InterpreterError, Limits, Value};
use serde_json::{Map, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most bytes of one protocol line read from the child (the runner cuts what an execution
/// returns to its output limit; a longer line is a child misbehaving).
const MAX_LINE: usize = 16 << 20;

/// When the running execution must end (none while idle or in a host function), and whether
/// the watchdog ended one.
#[derive(Default)]
struct Watch {
    deadline: Option<Instant>,
    killed: bool,
    done: bool,
}

/// A live process.
pub(crate) struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    watch: Arc<Mutex<Watch>>,
    /// The limits it was started with (what a death is explained by).
    limits: Limits,
}

fn lock(w: &Mutex<Watch>) -> std::sync::MutexGuard<'_, Watch> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

impl Process {
    /// Starts a process and waits for its runner's greeting.
    pub(crate) fn start(
        sandbox: &Sandbox,
        runner: &str,
        limits: &Limits,
    ) -> Result<Process, InterpreterError> {
        let mut child = sandbox
            .spawn(
                runner,
                ProcessLimits {
                    memory_bytes: limits.memory_bytes,
                    // A backstop under the watchdog (CPU time can only trail wall time), per
                    // execution: the runner grants as much again before each.
                    cpu_seconds: limits.time.as_secs() + 2,
                },
            )
            .map_err(|e| InterpreterError::Unavailable(format!("cannot start Python: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(InterpreterError::Unavailable("no pipes to Python".into()));
        };
        let watch = Arc::new(Mutex::new(Watch::default()));
        let pid = child.id() as libc::pid_t;
        let w = watch.clone();
        std::thread::Builder::new()
            .name("dspy-python-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(5));
                    let mut g = lock(&w);
                    if g.done {
                        return;
                    }
                    if g.deadline.is_some_and(|d| Instant::now() >= d) {
                        g.killed = true;
                        g.deadline = None;
                        // SAFETY: signalling our own child, which has not been reaped: its
                        // pid is still its own until `wait`.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            })
            .map_err(|e| InterpreterError::Unavailable(format!("no watchdog thread: {e}")))?;
        let mut p = Process {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            watch,
            limits: *limits,
        };
        // Start-up gets the execution time limit too.
        lock(&p.watch).deadline = Some(Instant::now() + limits.time.max(Duration::from_secs(5)));
        let hello = p.read(limits)?;
        lock(&p.watch).deadline = None;
        match hello.get("op").and_then(Value::as_str) {
            Some("ready") => Ok(p),
            _ => Err(InterpreterError::Crashed(format!(
                "the runner did not start: {hello}"
            ))),
        }
    }

    fn send(&mut self, msg: &Value) -> Result<(), InterpreterError> {
        let mut line = msg.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|_| self.died())
    }

    /// The next protocol line, or why the process ended.
    fn read(&mut self, limits: &Limits) -> Result<Value, InterpreterError> {
        let mut line = Vec::new();
        let n = std::io::Read::take(&mut self.stdout, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|_| self.died())?;
        if n == 0 {
            return Err(self.died_with(limits));
        }
        if line.len() > MAX_LINE {
            self.kill();
            return Err(InterpreterError::Crashed(
                "the process wrote an overlong protocol line".into(),
            ));
        }
        serde_json::from_slice(&line).map_err(|_| {
            self.kill();
            InterpreterError::Crashed(
                "the process wrote something other than the protocol (the code wrote to the \
                 runner's channel)"
                    .into(),
            )
        })
    }

    fn kill(&mut self) {
        {
            let mut g = lock(&self.watch);
            g.done = true;
            g.deadline = None;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Arms the watchdog for `time` from now (`None`: disarms it).
    fn arm(&self, time: Option<Duration>) {
        lock(&self.watch).deadline = time.map(|t| Instant::now() + t);
    }

    fn died(&mut self) -> InterpreterError {
        let limits = self.limits;
        self.died_with(&limits)
    }

    /// Why the process ended: the watchdog's time limit, a forbidden system call (seccomp's
    /// SIGSYS), the CPU limit, or a crash.
    fn died_with(&mut self, limits: &Limits) -> InterpreterError {
        // The watchdog stops before the child is reaped (its pid may then be reused), and a
        // child that closed its pipe but lives is killed rather than waited for.
        let killed = {
            let mut g = lock(&self.watch);
            g.done = true;
            g.deadline = None;
            g.killed
        };
        let status = match self.child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                let _ = self.child.kill();
                self.child.wait().ok()
            }
        };
        let signal = status.and_then(|s| s.signal());
        match signal {
            _ if killed => InterpreterError::TimeLimit(limits.time),
            Some(libc::SIGSYS) => InterpreterError::Forbidden(
                "the code made a forbidden system call (starting a process, opening a socket, \
                 signalling or tracing another process, changing namespaces, or running code \
                 from memory), and the sandbox ended it"
                    .into(),
            ),
            Some(libc::SIGXCPU) => InterpreterError::TimeLimit(limits.time),
            Some(libc::SIGSEGV) => InterpreterError::Crashed(
                "Python crashed (a segmentation fault, e.g. a C stack overflow)".into(),
            ),
            Some(s) => InterpreterError::Crashed(format!("Python was ended by signal {s}")),
            None => InterpreterError::Crashed(format!(
                "Python exited ({})",
                status.map_or_else(|| "unknown status".into(), |s| s.to_string())
            )),
        }
    }

    /// Defines host functions (callable from the code by name).
    pub(crate) fn define(
        &mut self,
        functions: &[(String, Vec<String>, String)],
        limits: &Limits,
    ) -> Result<(), InterpreterError> {
        let defs: Vec<Value> = functions
            .iter()
            .map(|(name, params, doc)| json!({"name": name, "params": params, "doc": doc}))
            .collect();
        self.arm(Some(limits.time));
        let r = self
            .send(&json!({"op": "define", "functions": defs}))
            .and_then(|()| self.read(limits));
        self.arm(None);
        r.map(drop)
    }

    /// Sets variables in the code's namespace (JSON values).
    pub(crate) fn set(
        &mut self,
        values: &Map<String, Value>,
        limits: &Limits,
    ) -> Result<(), InterpreterError> {
        self.arm(Some(limits.time));
        let r = self
            .send(&json!({"op": "set", "values": values}))
            .and_then(|()| self.read(limits));
        self.arm(None);
        r.map(drop)
    }

    /// Runs `code`, serving its host function calls with `functions` on `runtime`.
    pub(crate) fn execute(
        &mut self,
        code: &str,
        limits: &Limits,
        functions: &HashMap<String, HostFunction>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Execution, InterpreterError> {
        // The watchdog runs over everything but the host functions themselves: sending the
        // code, the code, and sending each function's reply.
        let started = Instant::now();
        let mut in_host = Duration::ZERO;
        let rearm = |p: &Self, in_host: Duration| {
            let used = started.elapsed().saturating_sub(in_host);
            p.arm(Some(limits.time.saturating_sub(used)));
        };
        rearm(self, in_host);
        let sent = self.send(&json!({
            "op": "exec",
            "code": code,
            "max_output": limits.max_output_chars,
            "cpu": limits.time.as_secs() + 2,
        }));
        let result = sent.and_then(|()| loop {
            let msg = self.read(limits)?;
            match msg.get("op").and_then(Value::as_str) {
                Some("call") => {
                    let name = msg.get("name").and_then(Value::as_str).unwrap_or("");
                    let args = msg.get("args").cloned().unwrap_or(Value::Null);
                    self.arm(None);
                    let host_started = Instant::now();
                    let left = limits.host_time.saturating_sub(in_host);
                    let reply = match functions.get(name) {
                        Some(_) if left.is_zero() => json!({"op": "raise", "message": format!(
                            "host functions took {:?} in all in this execution, the limit",
                            limits.host_time)}),
                        Some(f) => {
                            let allowed = limits.host_call_time.min(left);
                            let call = tokio::time::timeout(allowed, f(args));
                            match runtime.block_on(call) {
                                Ok(Ok(value)) => json!({"op": "return", "value": value}),
                                Ok(Err(message)) => json!({"op": "raise", "message": message}),
                                Err(_) if allowed < limits.host_call_time => json!({"op": "raise",
                                    "message": format!("{name} ran out of the {:?} host functions \
                                        may take in all in one execution", limits.host_time)}),
                                Err(_) => json!({"op": "raise", "message": format!(
                                    "{name} took longer than {:?}", limits.host_call_time)}),
                            }
                        }
                        None => {
                            let shown: String = name.chars().take(80).collect();
                            json!({"op": "raise", "message": format!("no host function {shown}")})
                        }
                    };
                    in_host += host_started.elapsed();
                    rearm(self, in_host);
                    self.send(&reply)?;
                }
                Some("done") => break Ok(msg),
                _ => {
                    self.kill();
                    let shown: String = msg.to_string().chars().take(200).collect();
                    break Err(InterpreterError::Crashed(format!(
                        "unexpected message from the runner: {shown}"
                    )));
                }
            }
        });
        self.arm(None);
        let msg = result?;
        Execution::from_reply(&msg, limits)
    }
}
impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
