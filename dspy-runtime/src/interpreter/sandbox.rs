//! Starting CPython confined by the kernel: Landlock lets it read only the interpreter, its
//! standard library (without `ctypes`' native module) and the system's shared libraries, and
//! write nowhere; a seccomp filter kills it if it tries to start a process, open a socket,
//! signal or trace another process, or touch namespaces and mounts; rlimits bound its memory,
//! CPU time, file writes and descriptors. Everything the child runs between fork and exec is
//! prepared here first, so that it only makes system calls.

use super::{Access, InterpreterError};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
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
/// Removing, making (directories and regular files only), renaming across directories and
/// truncating: the rights beneath a path the code may write.
const FS_CHANGE: u64 = (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 13) | (1 << 14);
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

// Capabilities (linux/capability.h, linux/securebits.h) and close_range.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// NOROOT, NO_SETUID_FIXUP, KEEP_CAPS (off) and NO_CAP_AMBIENT_RAISE, each locked.
const SECURE_ALL_LOCKED: libc::c_ulong = 0b1110_1111;
const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

// seccomp (linux/seccomp.h, linux/filter.h).
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

/// Killed on sight: starting processes, sockets, signalling or tracing others (directly or
/// through pidfds and queued signals), changing other processes' limits, priorities or
/// scheduling, namespaces and mounts, running code from memory, IPC that is not a path, the
/// clock, host names, modules, and kernel interfaces a sandboxed program has no use for.
const DENIED: &[libc::c_long] = &[
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_pidfd_getfd,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_kcmp,
    libc::SYS_setpriority,
    libc::SYS_sched_setparam,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_setattr,
    libc::SYS_ioprio_set,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_setns,
    libc::SYS_unshare,
    // Code loaded from memory or by descriptor (Landlock checks neither), System V and POSIX
    // message IPC (not paths, so not Landlock's), other processes' memory policy and robust
    // futex lists.
    libc::SYS_memfd_create,
    libc::SYS_memfd_secret,
    libc::SYS_execveat,
    libc::SYS_shmget,
    libc::SYS_shmat,
    libc::SYS_shmctl,
    libc::SYS_shmdt,
    libc::SYS_msgget,
    libc::SYS_msgsnd,
    libc::SYS_msgrcv,
    libc::SYS_msgctl,
    libc::SYS_semget,
    libc::SYS_semop,
    libc::SYS_semctl,
    libc::SYS_semtimedop,
    libc::SYS_mq_open,
    libc::SYS_mq_unlink,
    libc::SYS_mq_timedsend,
    libc::SYS_mq_timedreceive,
    libc::SYS_mq_notify,
    libc::SYS_mq_getsetattr,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    libc::SYS_get_robust_list,
    libc::SYS_open_by_handle_at,
    libc::SYS_fanotify_init,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_quotactl,
];

/// The same, for calls only x86_64 has.
#[cfg(target_arch = "x86_64")]
const DENIED_ARCH: &[libc::c_long] = &[
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_iopl,
    libc::SYS_ioperm,
];

/// Refused with `EPERM` (the code sees a `PermissionError` and goes on): file metadata (mode,
/// owner, times, xattrs: Landlock does not cover them) and truncation, which ordinary library
/// code attempts (`shutil.copy` sets the mode) on files it may write.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    452, // fchmodat2
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    463, // setxattrat
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
    466, // removexattrat
    libc::SYS_truncate,
    libc::SYS_ftruncate,
];

/// The same, for calls only x86_64 has.
#[cfg(target_arch = "x86_64")]
const REFUSED_ARCH: &[libc::c_long] = &[
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_lchown,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_futimesat,
];
#[cfg(target_arch = "aarch64")]
const REFUSED_ARCH: &[libc::c_long] = &[];
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;

#[cfg(target_arch = "aarch64")]
const DENIED_ARCH: &[libc::c_long] = &[];
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// `ioctl` commands killed: setting inode flags, and faking terminal input.
const DENIED_IOCTLS: [u32; 2] = [0x4008_6602, 0x5412]; // FS_IOC_SETFLAGS, TIOCSTI
/// `fcntl` commands killed: routing signals to another process.
const DENIED_FCNTLS: [u32; 3] = [8, 10, 15]; // F_SETOWN, F_SETSIG, F_SETOWN_EX

/// Where `seccomp_data` holds the low half of argument `i` (little-endian).
const fn arg_low(i: u32) -> u32 {
    16 + 8 * i
}

/// The seccomp program: the right architecture, no x32 calls, none of [`DENIED`], `prlimit64`
/// on this process only, and no denied `ioctl` or `fcntl` command.
fn seccomp_program() -> Vec<libc::sock_filter> {
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code, k, jt, jf| libc::sock_filter { code, jt, jf, k };
    let allow = stmt(BPF_RET_K, SECCOMP_RET_ALLOW);
    let kill = stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS);
    let mut p = vec![
        stmt(BPF_LD_W_ABS, 4), // seccomp_data.arch
        jump(BPF_JEQ_K, AUDIT_ARCH, 1, 0),
        kill,
        stmt(BPF_LD_W_ABS, 0),              // seccomp_data.nr
        jump(BPF_JGE_K, 0x4000_0000, 0, 1), // x32 system calls
        kill,
    ];
    for &nr in DENIED.iter().chain(DENIED_ARCH) {
        p.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
        p.push(kill);
    }
    let refuse = stmt(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32);
    for &nr in REFUSED.iter().chain(REFUSED_ARCH) {
        p.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
        p.push(refuse);
    }
    // A call checked by its arguments: if `nr`, run `block` (which always returns).
    let mut special = |nr: libc::c_long, block: Vec<libc::sock_filter>| {
        p.push(jump(BPF_JEQ_K, nr as u32, 0, block.len() as u8));
        p.extend(block);
    };
    special(
        libc::SYS_prlimit64,
        vec![
            stmt(BPF_LD_W_ABS, arg_low(0)),
            jump(BPF_JEQ_K, 0, 0, 1),
            allow,
            kill,
        ],
    );
    let commands = |denied: &[u32]| {
        let n = denied.len() as u8;
        let mut b = vec![stmt(BPF_LD_W_ABS, arg_low(1))];
        for (i, &cmd) in denied.iter().enumerate() {
            b.push(jump(BPF_JEQ_K, cmd, n - i as u8, 0));
        }
        b.push(allow);
        b.push(kill);
        b
    };
    special(libc::SYS_ioctl, commands(&DENIED_IOCTLS));
    special(libc::SYS_fcntl, commands(&DENIED_FCNTLS));
    p.push(allow);
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

/// A path and the rights granted beneath it.
struct Rule {
    path: CString,
    rights: u64,
    /// The device and inode the path had when it was listed: a path the user listed is granted
    /// only while it is still that file (not a symbolic link swapped in since).
    pin: Pin,
}

/// A device and inode number, when a rule is pinned to them.
type Pin = Option<(u64, u64)>;

impl Rule {
    fn new(path: CString, rights: u64) -> Rule {
        Rule {
            path,
            rights,
            pin: None,
        }
    }
}

/// What a sandboxed CPython may read, and how to start it.
pub(crate) struct Sandbox {
    python: PathBuf,
    /// Paths (files or directories) and the rights granted beneath each.
    rules: Vec<Rule>,
    /// The host's environment variables passed on (by name).
    env: Vec<String>,
    /// The file-size limit: 0 unless the access lists a path to write.
    max_file_bytes: u64,
    abi: i64,
    program: Vec<libc::sock_filter>,
}

/// How many executions' worth of CPU time a session's process may use in all.
const CPU_EXECUTIONS: u64 = 100;

/// Limits on one session's process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessLimits {
    pub memory_bytes: u64,
    /// CPU time of one execution.
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
    /// Prepares the sandbox for `python` (a CPython 3 executable) with what `access` lists,
    /// or says which kernel feature is missing (or which listed path does not exist).
    pub(crate) fn prepare(python: &Path, access: &Access) -> Result<Sandbox, InterpreterError> {
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
            Rule::new(cstring(&paths.executable)?, FS_READ_FILE | FS_EXECUTE),
            Rule::new(
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
                        rules.push(Rule::new(cstring(&e.path())?, read_exec));
                    }
                }
            } else {
                rules.push(Rule::new(cstring(&dir)?, read_exec));
            }
            granted.push(dir);
        }
        // The interpreter's own libraries (libpython for a shared build): the files only.
        for dir in &paths.libs {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_file() {
                        rules.push(Rule::new(cstring(&p)?, read_exec));
                    }
                }
            }
        }
        // The standard library, without site-packages, and its native modules but ctypes'.
        // Listing the standard library (imports look there), without reading all of it.
        rules.push(Rule::new(cstring(&paths.stdlib)?, FS_READ_DIR));
        let entries = std::fs::read_dir(&paths.stdlib).map_err(|e| {
            InterpreterError::Unavailable(format!("cannot list {}: {e}", paths.stdlib.display()))
        })?;
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "site-packages" || name == "dist-packages" || p == paths.dynload {
                continue;
            }
            rules.push(Rule::new(cstring(&p)?, read));
        }
        if let Ok(entries) = std::fs::read_dir(&paths.dynload) {
            rules.push(Rule::new(cstring(&paths.dynload)?, FS_READ_DIR));
            for e in entries.flatten() {
                if !forbidden_module(&e.file_name()) {
                    rules.push(Rule::new(cstring(&e.path())?, read_exec));
                }
            }
        }
        // What the access lists, each path as it really is (a symbolic link's target).
        let listed = access.read.iter().map(|p| (p, read)).chain(
            access
                .write
                .iter()
                .map(|p| (p, read | FS_WRITE_FILE | FS_CHANGE)),
        );
        for (path, rights) in listed {
            let unavailable = |e: std::io::Error| {
                InterpreterError::Unavailable(format!(
                    "cannot give the code access to {}: {e}",
                    path.display()
                ))
            };
            let real = std::fs::canonicalize(path).map_err(unavailable)?;
            let meta = std::fs::metadata(&real).map_err(unavailable)?;
            rules.push(Rule {
                path: cstring(&real)?,
                rights,
                pin: Some((meta.dev(), meta.ino())),
            });
        }
        Ok(Sandbox {
            python: paths.executable,
            rules,
            env: access.env.clone(),
            max_file_bytes: match access.write.is_empty() {
                true => 0,
                false => access.max_file_bytes,
            },
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
            .envs(
                self.env
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
            )
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
        let rules: Vec<(usize, u64, Pin)> = self
            .rules
            .iter()
            .map(|r| (r.path.as_ptr() as usize, r.rights & handled_fs(abi), r.pin))
            .collect();
        let fprog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        let fprog_addr = &fprog as *const libc::sock_fprog as usize;
        // (resource, soft, hard). The CPU soft limit is one execution's: the runner raises it
        // before each by as much, up to the hard limit, the session's.
        let cpu = limits.cpu_seconds.max(1);
        let rlimits = [
            (libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
            (libc::RLIMIT_CPU, cpu, cpu.saturating_mul(CPU_EXECUTIONS)),
            (libc::RLIMIT_FSIZE, self.max_file_bytes, self.max_file_bytes),
            (libc::RLIMIT_NOFILE, 64, 64),
            (libc::RLIMIT_CORE, 0, 0),
        ];
        // SAFETY: the closure runs in the child between fork and exec. It allocates nothing
        // and makes only system calls on memory prepared above, which the fork copied.
        unsafe {
            cmd.pre_exec(move || {
                let fail = || Err(std::io::Error::last_os_error());
                for (resource, soft, hard) in rlimits {
                    let lim = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(resource, &lim) != 0 {
                        return fail();
                    }
                }
                // No PR_SET_PDEATHSIG: it fires when the spawning *thread* ends (a pool thread
                // does), not the host. An orphan ends at its next read of the closed pipe, or
                // at its CPU limit.
                // Descriptors the host inherited stay out of the child.
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC);
                // Every capability goes (a root host's child would have them all), for good:
                // root regains none at exec, and none can be raised again.
                libc::prctl(libc::PR_SET_SECUREBITS, SECURE_ALL_LOCKED);
                for cap in 0..64 {
                    libc::prctl(libc::PR_CAPBSET_DROP, cap);
                }
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_CLEAR_ALL,
                    0,
                    0,
                    0,
                );
                let header = CapHeader {
                    version: LINUX_CAPABILITY_VERSION_3,
                    pid: 0,
                };
                let data = [CapData::default(); 2];
                if libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) != 0
                {
                    return fail();
                }
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
                for &(path, access, pin) in &rules {
                    let fd =
                        libc::open(path as *const libc::c_char, libc::O_PATH | libc::O_CLOEXEC);
                    if fd < 0 {
                        continue; // gone since it was listed: nothing to grant
                    }
                    // A file takes file rights only.
                    let mut st: libc::stat = std::mem::zeroed();
                    let stat_ok = libc::fstat(fd, &mut st) == 0;
                    // A listed path that is no longer the file it was: nothing to grant.
                    if let Some((dev, ino)) = pin
                        && (!stat_ok || st.st_dev as u64 != dev || st.st_ino as u64 != ino)
                    {
                        libc::close(fd);
                        continue;
                    }
                    let is_dir = stat_ok && (st.st_mode & libc::S_IFMT) == libc::S_IFDIR;
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
