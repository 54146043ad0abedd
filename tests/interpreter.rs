//! The sandboxed Python interpreter: state across executions, values, host functions,
//! SUBMIT, and hostile code, each ending in a typed error within its limit with the host
//! unharmed (an infinite loop, 10 GB, a fork bomb, reading /etc/passwd, writing a file, a
//! socket, os.system, ctypes, printing without end, deep recursion, killing the host), and
//! what an `Access` lists (paths, environment variables, hosts through `http_get`) and no more.
#![cfg(target_os = "linux")]

use dspy::interpreter::{Access, InterpreterError, Limits, PythonInterpreter};
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
    // A gigabyte in megabyte prints: cut at the limit, what came before it kept.
    let (err, _) = fails("for _ in range(1000):\n    print('y' * 10**6)").await;
    match err {
        InterpreterError::OutputLimit { stdout, .. } => {
            assert_eq!(stdout, "y".repeat(10_000));
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
        // Refused (not fatal: library code tries it on files it may write).
        let (err, _) = fails(&code).await;
        assert!(
            matches!(&err, InterpreterError::Exception { name, .. } if name == "PermissionError"),
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

/// A one-shot HTTP server on 127.0.0.1 that answers every request with `status` and `body`
/// (and `location`, if given); its address.
async fn http_server(status: &'static str, body: &'static str, location: Option<String>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let location = location
                .as_ref()
                .map(|l| format!("Location: {l}\r\n"))
                .unwrap_or_default();
            let reply = format!(
                "HTTP/1.1 {status}\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    addr
}

fn with_access(access: Access) -> PythonInterpreter {
    let limits = Limits {
        time: Duration::from_secs(10),
        memory_bytes: 512 << 20,
        ..Limits::default()
    };
    PythonInterpreter::with_access(limits, access).unwrap_or_else(|e| panic!("{e}"))
}

fn permission_denied(r: Result<dspy::interpreter::Execution, InterpreterError>) {
    match r {
        Err(InterpreterError::Exception { name, .. }) if name == "PermissionError" => {}
        other => panic!("expected a PermissionError, got {other:?}"),
    }
}

#[tokio::test]
async fn the_environment_is_empty_unless_a_variable_is_allowed() {
    let py = interpreter(Duration::from_secs(5));
    let r = py.run("import os\nsorted(os.environ)").await.unwrap();
    assert_eq!(r.value, Some(json!(["LANG"])));
    let path = std::env::var("PATH").expect("the test needs PATH set");
    let py = with_access(Access::default().env("PATH").env("DSPY_NOT_SET_ANYWHERE"));
    let r = py
        .run("import os\n[sorted(os.environ), os.environ['PATH']]")
        .await
        .unwrap();
    assert_eq!(r.value, Some(json!([["LANG", "PATH"], path])));
}

#[tokio::test]
async fn an_allowed_path_is_read_and_written_and_nothing_else() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in.txt"), "forty-two").unwrap();
    let out = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (d, o, x) = (
        data.path().display().to_string(),
        out.path().display().to_string(),
        other.path().display().to_string(),
    );

    // Not listed: neither readable nor writable.
    let py = interpreter(Duration::from_secs(5));
    permission_denied(py.run(&format!("open({d:?} + '/in.txt').read()")).await);

    let py = with_access(
        Access::default()
            .read(data.path())
            .write(out.path())
            .max_file_bytes(1000),
    );
    let r = py
        .run(&format!("open({d:?} + '/in.txt').read()"))
        .await
        .unwrap();
    assert_eq!(r.value, Some(json!("forty-two")));
    // Read-only stays read-only.
    permission_denied(py.run(&format!("open({d:?} + '/new.txt', 'w')")).await);
    // Beneath the writable path: make a directory, write, rename, remove.
    let code = format!(
        "import os\nos.makedirs({o:?} + '/sub')\n\
         open({o:?} + '/sub/a.txt', 'w').write('hello')\n\
         os.rename({o:?} + '/sub/a.txt', {o:?} + '/b.txt')\n\
         open({o:?} + '/gone.txt', 'w').write('x')\nos.remove({o:?} + '/gone.txt')\n\
         sorted(os.listdir({o:?}))"
    );
    let r = py.run(&code).await.unwrap();
    assert_eq!(r.value, Some(json!(["b.txt", "sub"])));
    assert_eq!(
        std::fs::read_to_string(out.path().join("b.txt")).unwrap(),
        "hello"
    );
    // A file past the size limit fails; the limit holds.
    let r = py
        .run(&format!(
            "with open({o:?} + '/big.txt', 'w') as f:\n    f.write('x' * 5000)"
        ))
        .await;
    assert!(
        matches!(&r, Err(InterpreterError::Exception { name, .. }) if name == "OSError"),
        "{r:?}"
    );
    assert!(std::fs::metadata(out.path().join("big.txt")).unwrap().len() <= 1000);
    // No links, special files or metadata changes there either; a copy works.
    for code in [
        format!("import os\nos.symlink('/etc/passwd', {o:?} + '/l')"),
        format!("import os\nos.mkfifo({o:?} + '/f')"),
        format!("import os\nos.chmod({o:?} + '/b.txt', 0o777)"),
    ] {
        permission_denied(py.run(&code).await);
    }
    // A hard link to a read-only file: refused (Landlock says EXDEV, "cross-device").
    let r = py
        .run(&format!(
            "import os\nos.link({d:?} + '/in.txt', {o:?} + '/h')"
        ))
        .await;
    assert!(
        matches!(&r, Err(InterpreterError::Exception { name, .. }) if name == "PermissionError" || name == "OSError"),
        "{r:?}"
    );
    assert!(!out.path().join("h").exists());
    let r = py
        .run(&format!(
            "import shutil\nshutil.copyfile({d:?} + '/in.txt', {o:?} + '/copy.txt')\nopen({o:?} + '/copy.txt').read()"
        ))
        .await
        .unwrap();
    assert_eq!(r.value, Some(json!("forty-two")));
    // Elsewhere: still nothing.
    permission_denied(py.run(&format!("open({x:?} + '/c.txt', 'w')")).await);
    permission_denied(py.run("open('/etc/passwd').read()").await);
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_missing_allowed_path_is_a_clear_error() {
    let missing = std::env::temp_dir().join("dspy-no-such-dir-for-the-sandbox");
    let err = PythonInterpreter::with_access(Limits::default(), Access::default().read(&missing))
        .expect_err("a missing path");
    assert!(
        matches!(&err, InterpreterError::Unavailable(m) if m.contains("dspy-no-such-dir")),
        "{err}"
    );
}

#[tokio::test]
async fn http_get_reaches_allowed_hosts_only() {
    let ok = http_server("200 OK", "hello from the host", None).await;
    let other = http_server("200 OK", "secret", None).await;
    let redirect = http_server("302 Found", "", Some(format!("http://{other}/x"))).await;
    let missing = http_server("404 Not Found", "no such page", None).await;

    // Without hosts there is no http_get, and sockets stay forbidden.
    let py = interpreter(Duration::from_secs(5));
    let r = py.run(&format!("http_get('http://{ok}/')")).await;
    assert!(
        matches!(&r, Err(InterpreterError::Exception { name, .. }) if name == "NameError"),
        "{r:?}"
    );

    let py = with_access(Access::default().host(&ok).host(&redirect).host(&missing));
    let mut s = py.session().await.unwrap();
    let r = s
        .run(&format!("http_get('http://{ok}/page')"))
        .await
        .unwrap();
    assert_eq!(r.value, Some(json!("hello from the host")));
    for (url, says) in [
        (format!("http://{other}/"), "is not allowed"),
        (format!("http://{redirect}/"), "does not allow"),
        (format!("http://{missing}/"), "404"),
        ("file:///etc/passwd".to_string(), "is not allowed"),
    ] {
        let r = s
            .run(&format!(
                "m = None\ntry:\n    http_get({url:?})\nexcept HostError as e:\n    m = str(e)\nm"
            ))
            .await
            .unwrap();
        let message = r.value.clone().unwrap_or_else(|| panic!("{url}: {r:?}"));
        let message = message.as_str().unwrap_or_default().to_string();
        assert!(message.contains(says), "{url}: {message}");
    }
    // A response over the limit is refused, not cut.
    let small = with_access(Access::default().host(&ok).max_response_bytes(5));
    let r = small.run(&format!("http_get('http://{ok}/')")).await;
    assert!(
        matches!(&r, Err(InterpreterError::Exception { name, message, .. }) if name == "HostError" && message.contains("over 5 bytes")),
        "{r:?}"
    );
    // The code itself still cannot open a socket.
    let r = s
        .run(&format!(
            "import socket\nsocket.create_connection(('127.0.0.1', {}))",
            ok.rsplit(':').next().unwrap()
        ))
        .await;
    assert!(matches!(r, Err(InterpreterError::Forbidden(_))), "{r:?}");
}

#[tokio::test]
async fn output_the_code_forges_is_cut_by_the_host_too() {
    // The code writes a reply of its own past the runner's cut: the host still holds the limit.
    let (err, _) = fails(
        "import __main__, time\n__main__._send({'op': 'done', 'stdout': 'é' * 50_000, 'error': None, 'value': None})\ntime.sleep(1e9)",
    )
    .await;
    match err {
        InterpreterError::OutputLimit { limit, stdout } => {
            assert_eq!((limit, stdout.chars().count()), (10_000, 10_000));
        }
        other => panic!("{other}"),
    }
    // A forged value and forged outputs are cut too.
    let py = interpreter(Duration::from_secs(5));
    let r = py
        .run("import __main__, time\n__main__._send({'op': 'done', 'stdout': '', 'error': None, 'value': {'json': ['é' * 30_000]}, 'submitted': {'a': {'repr': 'x' * 30_000}}})\ntime.sleep(1e9)")
        .await
        .unwrap();
    let value = r.value.unwrap_or_default();
    assert!(
        value.as_str().is_some_and(|v| v.chars().count() == 10_000),
        "{}",
        value.to_string().len()
    );
    let submitted = r.submitted.unwrap_or_default();
    assert_eq!(submitted["a"].as_str().map(|a| a.len()), Some(10_000));
}

#[tokio::test]
async fn code_cannot_run_from_memory_or_by_descriptor() {
    for code in [
        "import os\nos.memfd_create('x')",
        "import os, sys\nfd = os.open(sys.executable, os.O_RDONLY)\nos.execve(fd, ['python3', '-c', 'print(1)'], {})",
    ] {
        let (err, _) = fails(code).await;
        assert!(
            matches!(err, InterpreterError::Forbidden(_)),
            "{code}: {err}"
        );
    }
}

#[tokio::test]
async fn a_listed_path_swapped_for_a_link_is_not_granted() {
    let root = tempfile::tempdir().unwrap();
    let (listed, elsewhere) = (root.path().join("listed"), root.path().join("elsewhere"));
    std::fs::create_dir(&listed).unwrap();
    std::fs::create_dir(&elsewhere).unwrap();
    let python = std::env::var_os("DSPY_PYTHON").unwrap_or_else(|| "python3".into());
    // No warm spares: each session starts its process (and reads its rules) when asked.
    let py = PythonInterpreter::build_with_access(
        python,
        Limits::default(),
        Access::default().write(&listed),
        0,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let l = listed.display().to_string();
    let write = format!("open({l:?} + '/x.txt', 'w').write('1')");
    assert_eq!(py.run(&write).await.unwrap().value, Some(json!(1)));
    // The listed directory is moved away and a link to another one put in its place.
    std::fs::rename(&listed, root.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &listed).unwrap();
    permission_denied(py.run(&write).await);
    assert!(!elsewhere.join("x.txt").exists());
}
