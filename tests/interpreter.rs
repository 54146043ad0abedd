//! The sandboxed Python interpreter: state across executions, values, host functions,
//! SUBMIT, and hostile code, each ending in a typed error within its limit with the host
//! unharmed (an infinite loop, 10 GB, a fork bomb, reading /etc/passwd, writing a file, a
//! socket, os.system, ctypes, printing without end, deep recursion, killing the host).
#![cfg(target_os = "linux")]

use dspy::interpreter::{InterpreterError, Limits, PythonInterpreter};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn interpreter(time: Duration) -> PythonInterpreter {
    let limits = Limits {
        time,
        memory_bytes: 512 << 20,
        max_output_chars: 10_000,
        ..Limits::default()
    };
    PythonInterpreter::with_limits(limits).unwrap_or_else(|e| panic!("{e}"))
}

/// A host function that answers `"done"` after `ms` milliseconds.
fn slow(ms: u64) -> dspy::interpreter::HostFunction {
    Arc::new(move |_| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!("done"))
        })
    })
}

/// Runs `code` in a fresh session; the error, and how long it took.
async fn fails(code: &str) -> (InterpreterError, Duration) {
    let py = interpreter(Duration::from_secs(2));
    let started = Instant::now();
    let err = py.run(code).await.expect_err(code);
    (err, started.elapsed())
}

#[tokio::test]
async fn state_values_output_and_errors() {
    let py = interpreter(Duration::from_secs(10));
    let mut s = py.session().await.unwrap();
    let r = s.run("x = 2 + 3\nprint('x is', x)\nx * 10").await.unwrap();
    assert_eq!((r.stdout.as_str(), r.value), ("x is 5\n", Some(json!(50))));
    let r = s.run("x + 1").await.unwrap();
    assert_eq!(r.value, Some(json!(6)), "state persists");
    let r = s.run("{'a': [1, 2.5, None]}").await.unwrap();
    assert_eq!(r.value, Some(json!({"a": [1, 2.5, null]})));
    let r = s.run("object()").await.unwrap();
    assert!(
        r.value
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("<object object")
    );
    assert!(matches!(
        s.run("def f(:").await,
        Err(InterpreterError::Syntax { .. })
    ));
    match s.run("1 / 0").await {
        Err(InterpreterError::Exception {
            name, traceback, ..
        }) => {
            assert_eq!(name, "ZeroDivisionError");
            assert!(traceback.contains("line 1"), "{traceback}");
        }
        other => panic!("{other:?}"),
    }
    // The session survives the code's own errors.
    assert_eq!(s.run("x").await.unwrap().value, Some(json!(5)));
    let r = s.run("SUBMIT(answer=x, why='sum')").await.unwrap();
    assert_eq!(
        serde_json::Value::Object(r.submitted.unwrap()),
        json!({"answer": 5, "why": "sum"})
    );
}

#[tokio::test]
async fn host_functions_are_called_with_json() {
    let py = interpreter(Duration::from_secs(10));
    let mut s = py.session().await.unwrap();
    s.define(
        "add",
        &["a", "b"],
        "Adds two numbers.",
        Arc::new(|args| {
            Box::pin(async move {
                match (args["a"].as_i64(), args["b"].as_i64()) {
                    (Some(a), Some(b)) => Ok(json!(a + b)),
                    _ => Err(format!("add wants two integers, got {args}")),
                }
            })
        }),
    )
    .await
    .unwrap();
    assert_eq!(s.run("add(2, b=3)").await.unwrap().value, Some(json!(5)));
    match s.run("add('x', 1)").await {
        Err(InterpreterError::Exception { name, message, .. }) => {
            assert_eq!(name, "HostError");
            assert!(message.contains("two integers"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A host function's time does not count against the time limit.
    s.define("slow", &[], "", slow(300)).await.unwrap();
    assert_eq!(s.run("slow()").await.unwrap().value, Some(json!("done")));
    assert!(
        s.define(
            "not a name",
            &[],
            "",
            Arc::new(|_| Box::pin(async { Ok(json!(1)) }))
        )
        .await
        .is_err()
    );
}

/// Host functions share one allowance per execution: a loop over a slow tool gets its calls
/// until the allowance is spent, then every call raises at once.
#[tokio::test]
async fn host_functions_share_one_time_allowance_per_execution() {
    let py = PythonInterpreter::with_limits(Limits {
        host_time: Duration::from_millis(500),
        ..Limits::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s = py.session().await.unwrap();
    s.define("slow", &[], "", slow(200)).await.unwrap();
    let code = "out = []\nfor _ in range(6):\n    try:\n        out.append(slow())\n    except HostError as e:\n        out.append(str(e))\nout";
    let started = Instant::now();
    let v = s.run(code).await.unwrap().value.unwrap_or_default();
    let took = started.elapsed();
    let out: Vec<String> = serde_json::from_value(v).unwrap();
    assert_eq!(&out[..2], ["done", "done"], "{out:?}");
    assert!(out[2].contains("ran out of the 500ms"), "{out:?}");
    assert!(
        out[3..]
            .iter()
            .all(|e| e.contains("in all in this execution")),
        "{out:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The next execution has its own allowance.
    assert_eq!(s.run("slow()").await.unwrap().value, Some(json!("done")));
}

#[tokio::test]
async fn an_infinite_loop_hits_the_time_limit() {
    let (err, took) = fails("while True:\n    pass").await;
    assert!(matches!(err, InterpreterError::TimeLimit(_)), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn ten_gigabytes_hit_the_memory_limit() {
    let (err, _) = fails("b = bytearray(10 * 1024**3)").await;
    assert!(matches!(err, InterpreterError::MemoryLimit { .. }), "{err}");
}

#[tokio::test]
async fn a_fork_bomb_is_stopped_at_the_first_fork() {
    let (err, took) = fails("import os\nwhile True:\n    os.fork()").await;
    assert!(matches!(err, InterpreterError::Forbidden(_)), "{err}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn files_outside_python_cannot_be_read_or_written() {
    let (err, _) = fails("open('/etc/passwd').read()").await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "PermissionError"),
        "{err}"
    );
    let target = std::env::temp_dir().join(format!("dspy-sandbox-{}", std::process::id()));
    let code = format!("open({:?}, 'w').write('x')", target.display().to_string());
    let (err, _) = fails(&code).await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "PermissionError"),
        "{err}"
    );
    assert!(!target.exists(), "nothing was written");
    let (err, _) = fails("import os\nos.listdir('/root')").await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "PermissionError"),
        "{err}"
    );
}

#[tokio::test]
async fn sockets_processes_and_signals_are_forbidden() {
    for code in [
        "import socket\nsocket.socket().connect(('127.0.0.1', 22))",
        "import os\nos.system('echo pwned')",
        "import subprocess\nsubprocess.run(['ls'])",
        "import os\nos.kill(os.getppid(), 9)",
    ] {
        let (err, _) = fails(code).await;
        assert!(
            matches!(err, InterpreterError::Forbidden(_)),
            "{code}: {err}"
        );
    }
}

#[tokio::test]
async fn ctypes_cannot_be_imported() {
    let (err, _) = fails("import ctypes").await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "ImportError" || name == "ModuleNotFoundError"),
        "{err}"
    );
}

#[tokio::test]
async fn printing_without_end_hits_the_output_limit() {
    let (err, _) = fails("while True:\n    print('x' * 1000)").await;
    match err {
        InterpreterError::OutputLimit { limit, stdout } => {
            assert_eq!(limit, 10_000);
            assert_eq!(stdout.len(), 10_000);
        }
        other => panic!("{other}"),
    }
    // A gigabyte at once: stopped by the output or the memory limit, never delivered.
    let (err, _) = fails("print('x' * 10**9)").await;
    assert!(
        matches!(
            err,
            InterpreterError::OutputLimit { .. } | InterpreterError::MemoryLimit { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn deep_recursion_is_an_error() {
    let (err, _) = fails("def f(n):\n    return f(n + 1)\nf(0)").await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "RecursionError"),
        "{err}"
    );
    // With Python's own guard lifted, the frames grow until a limit ends them, not the host.
    let (err, _) =
        fails("import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)")
            .await;
    assert!(
        matches!(
            err,
            InterpreterError::Crashed(_)
                | InterpreterError::MemoryLimit { .. }
                | InterpreterError::TimeLimit(_)
                | InterpreterError::Exception { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_dead_session_says_so_and_the_next_one_works() {
    let py = interpreter(Duration::from_secs(1));
    let mut s = py.session().await.unwrap();
    assert!(matches!(
        s.run("while True: pass").await,
        Err(InterpreterError::TimeLimit(_))
    ));
    assert!(matches!(
        s.run("1").await,
        Err(InterpreterError::Crashed(_))
    ));
    let mut fresh = py.session().await.unwrap();
    assert_eq!(fresh.run("1 + 1").await.unwrap().value, Some(json!(2)));
}

#[tokio::test]
async fn another_pythons_ctypes_is_out_of_reach_too() {
    // Debian's own Python keeps `_ctypes` under /usr/lib; the sandbox grants no directory
    // holding a Python, so a path trick finds nothing to load.
    let code = "import sys, glob\n\
        sys.path[:0] = glob.glob('/usr/lib/python3*/lib-dynload') + glob.glob('/usr/local/lib/python3*/lib-dynload')\n\
        import _ctypes";
    let (err, _) = fails(code).await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "ImportError" || name == "ModuleNotFoundError" || name == "PermissionError"),
        "{err}"
    );
}

#[tokio::test]
async fn a_session_outlives_the_thread_that_started_it() {
    // Processes start on blocking-pool threads, which end after idling; the process must not.
    let py = interpreter(Duration::from_secs(5));
    let mut s = py.session().await.unwrap();
    s.run("x = 1").await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(s.run("x + 1").await.unwrap().value, Some(json!(2)));
}

#[tokio::test]
async fn other_processes_limits_and_priorities_are_out_of_reach() {
    for code in [
        "import os, resource\nresource.prlimit(os.getppid(), resource.RLIMIT_CPU, (1, 1))",
        "import os\nos.setpriority(os.PRIO_PROCESS, os.getppid(), 19)",
        "import os\nos.sched_setaffinity(os.getppid(), {0})",
    ] {
        let (err, _) = fails(code).await;
        assert!(
            matches!(err, InterpreterError::Forbidden(_)),
            "{code}: {err}"
        );
    }
    // Its own limits it may lower, never raise (even when the host is root).
    let (err, _) = fails("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))").await;
    assert!(
        matches!(&err, InterpreterError::Exception { name, .. } if name == "ValueError" || name == "PermissionError"),
        "{err}"
    );
}

#[tokio::test]
async fn file_metadata_cannot_be_changed() {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!("dspy-sandbox-mode-{}", std::process::id()));
    std::fs::write(&path, "x").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = path.display().to_string();
    for code in [
        format!("import os\nos.chmod({p:?}, 0o777)"),
        format!("import os\nos.chown({p:?}, 65534, 65534)"),
        format!("import os\nos.utime({p:?}, (0, 0))"),
        format!("import os\nos.setxattr({p:?}, 'user.x', b'1')"),
    ] {
        let (err, _) = fails(&code).await;
        assert!(
            matches!(err, InterpreterError::Forbidden(_)),
            "{code}: {err}"
        );
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let _ = std::fs::remove_file(&path);
    assert_eq!(mode, 0o600, "the mode is unchanged");
}

#[tokio::test]
async fn the_code_cannot_hang_the_host_through_the_protocol() {
    // A call whose reply it never reads, then sleep: the watchdog still runs.
    let (err, took) = fails(
        "import __main__, time\n__main__._send({'op': 'call', 'name': 'x' * 200000, 'args': None})\ntime.sleep(1e9)",
    )
    .await;
    assert!(matches!(err, InterpreterError::TimeLimit(_)), "{err}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    // Its side of the channel closed, then a call: the process is ended, not waited for.
    let (err, took) = fails(
        "import __main__, time\n__main__._proto_in.close()\n__main__._send({'op': 'call', 'name': 'f', 'args': None})\ntime.sleep(1e9)",
    )
    .await;
    assert!(
        matches!(
            err,
            InterpreterError::Crashed(_) | InterpreterError::TimeLimit(_)
        ),
        "{err}"
    );
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[tokio::test]
async fn what_comes_back_is_cut_to_the_output_limit() {
    let (err, _) = fails("raise ValueError('x' * 30_000_000)").await;
    match err {
        InterpreterError::Exception {
            message, traceback, ..
        } => {
            assert!(
                message.len() < 11_000 && traceback.len() < 11_000,
                "{}",
                message.len()
            );
        }
        other => panic!("{other}"),
    }
    let py = interpreter(Duration::from_secs(5));
    let r = py.run("'y' * 5_000_000").await.unwrap();
    assert!(r.value.unwrap().as_str().unwrap().len() < 11_000);
    // A lone surrogate cannot break the channel.
    let r = py.run("'a\\ud800b'").await.unwrap();
    assert_eq!(r.value, Some(json!("a?b")));
}
