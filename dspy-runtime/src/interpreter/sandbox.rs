//! Starting CPython confined by the kernel: Landlock lets it read only the interpreter, its
//! standard library (without `ctypes`' native module) and the system's shared libraries, and
//! write nowhere; a seccomp filter kills it if it tries to start a process, open a socket,
//! signal or trace another process, or touch namespaces and mounts; rlimits bound its memory,
//! CPU time, file writes and descriptors. Everything the child runs between fork and exec is
//! prepared here first, so that it only makes system calls.

use super::InterpreterError;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

// Landlock (linux/landlock.h).
const SYS_LANDLOCK_CREATE_RULESET: libc::c_long = 444;
const SYS_LANDLOCK_ADD_RULE: libc::c_long = 445;
const SYS_LANDLOCK_RESTRICT_SELF: libc::c_long = 446;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_READ_FILE: u64 = 1 << 2;
const FS_READ_DIR: u64 = 1 << 3;
/// Net access rights (ABI 4): bind and connect on TCP.
const NET_ALL: u64 = 0b11;
/// Scopes (ABI 6): abstract unix sockets and signals to processes outside the sandbox.
const SCOPE_ALL: u64 = 0b11;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

// seccomp (linux/seccomp.h, linux/filter.h).
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

/// Killed on sight: starting processes, sockets, signalling or tracing others, namespaces,
/// mounts, and kernel interfaces a sandboxed program has no use for.
#[cfg(target_arch = "x86_64")]
const DENIED: &[u32] = &[
    56, 57, 58, 435, // clone, fork, vfork, clone3
    41, 53, // socket, socketpair
    62, 200, 234, 101, 310, 311, // kill, tkill, tgkill, ptrace, process_vm_readv/writev
    165, 166, 155, 161, 308, 272, // mount, umount2, pivot_root, chroot, setns, unshare
    321, 298, 323, 425, 250, 248,
    249, // bpf, perf_event_open, userfaultfd, io_uring_setup, keys
];
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;

#[cfg(target_arch = "aarch64")]
const DENIED: &[u32] = &[
    220, 435, // clone, clone3
    198, 199, // socket, socketpair
    129, 130, 131, 117, 270, 271, // kill, tkill, tgkill, ptrace, process_vm_readv/writev
    40, 39, 41, 51, 268, 97, // mount, umount2, pivot_root, chroot, setns, unshare
    280, 241, 282, 425, 219, 217,
    218, // bpf, perf_event_open, userfaultfd, io_uring_setup, keys
];
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// The seccomp program: the right architecture, no x32 calls, and none of [`DENIED`].
fn seccomp_program() -> Vec<libc::sock_filter> {
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
    let mut p = vec![
        stmt(BPF_LD_W_ABS, 4), // seccomp_data.arch
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, 0),              // seccomp_data.nr
        jump(BPF_JGE_K, 0x4000_0000, 0, 1), // x32 system calls
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
    ];
    for &nr in DENIED {
        p.push(jump(BPF_JEQ_K, nr, 0, 1));
        p.push(stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS));
    }
    p.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    p
}

/// The Landlock ABI the kernel offers (0: none).
fn landlock_abi() -> i64 {
    // SAFETY: the version query takes no pointer (NULL, size 0).
    let v = unsafe {
        libc::syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    v.max(0)
}

/// The filesystem rights Landlock handles at `abi` (all of them: what is not granted is
/// denied).
fn handled_fs(abi: i64) -> u64 {
    let mut all = (1u64 << 13) - 1; // ABI 1: execute .. make_sym
    if abi >= 2 {
        all |= 1 << 13; // refer
    }
    if abi >= 3 {
        all |= 1 << 14; // truncate
    }
    if abi >= 5 {
        all |= 1 << 15; // ioctl_dev
    }
    all
}

/// What a sandboxed CPython may read, and how to start it.
pub(crate) struct Sandbox {
    python: PathBuf,
    /// Paths (files or directories) and the rights granted beneath each.
    rules: Vec<(CString, u64)>,
    abi: i64,
    program: Vec<libc::sock_filter>,
}

/// Limits on one session's process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessLimits {
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
}

/// What `python` says about itself: its real executable, prefix, standard library and
/// native-module directory.
struct PythonPaths {
    executable: PathBuf,
    stdlib: PathBuf,
    dynload: PathBuf,
    libs: Vec<PathBuf>,
}

fn python_paths(python: &Path) -> Result<PythonPaths, InterpreterError> {
    let script = "import sys, sysconfig, os\n\
        p = sysconfig.get_paths()\n\
        print(os.path.realpath(sys.executable))\n\
        print(os.path.realpath(p['stdlib']))\n\
        print(os.path.realpath(os.path.join(p['stdlib'], 'lib-dynload')))\n\
        print(os.path.realpath(sysconfig.get_config_var('LIBDIR') or ''))";
    let out = Command::new(python)
        .args(["-I", "-S", "-c", script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| {
            InterpreterError::Unavailable(format!(
                "cannot run {}: {e} (install python3, or set DSPY_PYTHON)",
                python.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    match (out.status.success(), lines.as_slice()) {
        (true, [exe, stdlib, dynload, libdir]) => Ok(PythonPaths {
            executable: exe.into(),
            stdlib: stdlib.into(),
            dynload: dynload.into(),
            libs: [*libdir]
                .into_iter()
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect(),
        }),
        _ => Err(InterpreterError::Unavailable(format!(
            "{} did not describe itself (is it CPython 3?)",
            python.display()
        ))),
    }
}

fn cstring(p: &Path) -> Result<CString, InterpreterError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| InterpreterError::Unavailable(format!("a NUL in {}", p.display())))
}

/// Native modules left unreadable: `ctypes` (calls into any C function).
fn forbidden_module(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"_ctypes")
}

impl Sandbox {
    /// Prepares the sandbox for `python` (a CPython 3 executable), or says which kernel
    /// feature is missing.
    pub(crate) fn prepare(python: &Path) -> Result<Sandbox, InterpreterError> {
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return Err(InterpreterError::Unavailable(
                "the sandbox supports x86_64 and aarch64 Linux".into(),
            ));
        }
        let abi = landlock_abi();
        if abi < 1 {
            return Err(InterpreterError::Unavailable(
                "the kernel has no Landlock (Linux 5.13+ with the landlock LSM enabled), so \
                 the interpreter cannot confine file access"
                    .into(),
            ));
        }
        let paths = python_paths(python)?;
        let read = FS_READ_FILE | FS_READ_DIR;
        let read_exec = read | FS_EXECUTE;
        let mut rules = vec![
            (cstring(&paths.executable)?, FS_READ_FILE | FS_EXECUTE),
            (
                cstring(Path::new("/dev/null"))?,
                FS_READ_FILE | FS_WRITE_FILE,
            ),
        ];
        // The system's shared libraries and the dynamic loader: the architecture's library
        // directories, never a directory that holds a Python (`/lib` is often `/usr/lib`,
        // where Debian's Python keeps its `ctypes`).
        let mut granted: Vec<PathBuf> = Vec::new();
        for dir in [
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/lib64",
            "/usr/lib64",
        ] {
            let Ok(dir) = std::fs::canonicalize(dir) else {
                continue;
            };
            let holds_python = paths.stdlib.starts_with(&dir)
                || std::fs::read_dir(&dir).is_ok_and(|entries| {
                    entries
                        .flatten()
                        .any(|e| e.file_name().as_bytes().starts_with(b"python"))
                });
            if !dir.is_dir() || granted.contains(&dir) {
                continue;
            }
            if holds_python {
                // Its libraries one by one, not what lies beneath.
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if e.path().is_file() {
                        rules.push((cstring(&e.path())?, read_exec));
                    }
                }
            } else {
                rules.push((cstring(&dir)?, read_exec));
            }
            granted.push(dir);
        }
        // The interpreter's own libraries (libpython for a shared build): the files only.
        for dir in &paths.libs {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_file() {
                        rules.push((cstring(&p)?, read_exec));
                    }
                }
            }
        }
        // The standard library, without site-packages, and its native modules but ctypes'.
        // Listing the standard library (imports look there), without reading all of it.
        rules.push((cstring(&paths.stdlib)?, FS_READ_DIR));
        let entries = std::fs::read_dir(&paths.stdlib).map_err(|e| {
            InterpreterError::Unavailable(format!("cannot list {}: {e}", paths.stdlib.display()))
        })?;
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "site-packages" || name == "dist-packages" || p == paths.dynload {
                continue;
            }
            rules.push((cstring(&p)?, read));
        }
        if let Ok(entries) = std::fs::read_dir(&paths.dynload) {
            rules.push((cstring(&paths.dynload)?, FS_READ_DIR));
            for e in entries.flatten() {
                if !forbidden_module(&e.file_name()) {
                    rules.push((cstring(&e.path())?, read_exec));
                }
            }
        }
        Ok(Sandbox {
            python: paths.executable,
            rules,
            abi,
            program: seccomp_program(),
        })
    }

    /// Starts `python -I -S -B -c <runner>` confined, with piped stdin and stdout.
    pub(crate) fn spawn(&self, runner: &str, limits: ProcessLimits) -> std::io::Result<Child> {
        let mut cmd = Command::new(&self.python);
        cmd.args(["-I", "-S", "-B", "-X", "utf8", "-c", runner])
            .env_clear()
            .env("LANG", "C.UTF-8")
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Python's own complaints (a start-up failure) show with DSPY_SANDBOX_STDERR=1.
            .stderr(match std::env::var_os("DSPY_SANDBOX_STDERR") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            });
        // Everything the child uses is built here, before the fork.
        let abi = self.abi;
        let attr = RulesetAttr {
            handled_access_fs: handled_fs(abi),
            handled_access_net: if abi >= 4 { NET_ALL } else { 0 },
            scoped: if abi >= 6 { SCOPE_ALL } else { 0 },
        };
        let attr_size = match abi {
            1..=3 => 8usize,
            4 | 5 => 16,
            _ => 24,
        };
        // Addresses, not pointers, so the closure may cross threads; `self` keeps them alive.
        let rules: Vec<(usize, u64)> = self
            .rules
            .iter()
            .map(|(p, access)| (p.as_ptr() as usize, *access & handled_fs(abi)))
            .collect();
        let fprog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        let fprog_addr = &fprog as *const libc::sock_fprog as usize;
        let rlimits = [
            (libc::RLIMIT_AS, limits.memory_bytes),
            (libc::RLIMIT_CPU, limits.cpu_seconds.max(1)),
            (libc::RLIMIT_FSIZE, 0),
            (libc::RLIMIT_NOFILE, 64),
            (libc::RLIMIT_CORE, 0),
        ];
        // SAFETY: the closure runs in the child between fork and exec. It allocates nothing
        // and makes only system calls on memory prepared above, which the fork copied.
        unsafe {
            cmd.pre_exec(move || {
                let fail = || Err(std::io::Error::last_os_error());
                for (resource, value) in rlimits {
                    let lim = libc::rlimit {
                        rlim_cur: value,
                        rlim_max: value,
                    };
                    if libc::setrlimit(resource, &lim) != 0 {
                        return fail();
                    }
                }
                // No PR_SET_PDEATHSIG: it fires when the spawning *thread* ends (a pool thread
                // does), not the host. An orphan ends at its next read of the closed pipe, or
                // at its CPU limit.
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return fail();
                }
                let ruleset = libc::syscall(
                    SYS_LANDLOCK_CREATE_RULESET,
                    &attr as *const RulesetAttr,
                    attr_size,
                    0u32,
                );
                if ruleset < 0 {
                    return fail();
                }
                let ruleset = ruleset as libc::c_int;
                for &(path, access) in &rules {
                    let fd =
                        libc::open(path as *const libc::c_char, libc::O_PATH | libc::O_CLOEXEC);
                    if fd < 0 {
                        continue; // gone since it was listed: nothing to grant
                    }
                    // A file takes file rights only.
                    let mut st: libc::stat = std::mem::zeroed();
                    let is_dir = libc::fstat(fd, &mut st) == 0
                        && (st.st_mode & libc::S_IFMT) == libc::S_IFDIR;
                    let allowed = match is_dir {
                        true => access,
                        false => access & (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | (1 << 14)),
                    };
                    let rule = PathBeneathAttr {
                        allowed_access: allowed,
                        parent_fd: fd,
                    };
                    let r = libc::syscall(
                        SYS_LANDLOCK_ADD_RULE,
                        ruleset,
                        LANDLOCK_RULE_PATH_BENEATH,
                        &rule as *const PathBeneathAttr,
                        0u32,
                    );
                    libc::close(fd);
                    if r != 0 {
                        return fail();
                    }
                }
                if libc::syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0u32) != 0 {
                    return fail();
                }
                libc::close(ruleset);
                let prog = fprog_addr as *const libc::sock_fprog;
                if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, prog) != 0 {
                    return fail();
                }
                Ok(())
            });
        }
        // `fprog` (which the child reads) lives until the spawn returns.
        let child = cmd.spawn();
        let _ = &fprog;
        child
    }
}
