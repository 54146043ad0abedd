//! What code in the sandbox may reach beyond Python's standard library: nothing, unless a
//! path, an environment variable or a host is listed here (DSPy's `enable_read_paths`,
//! `enable_write_paths`, `enable_env_vars` and `enable_network_access`).

use std::path::PathBuf;

/// Paths, environment variables and hosts the code may use; [`Access::default`] allows none.
///
/// ```
/// use dspy_runtime::interpreter::Access;
/// let access = Access::default()
///     .read("/srv/data")          // read beneath it
///     .write("/tmp/scratch")      // create, write and remove files beneath it
///     .env("HOME")                // the host's value, copied at start-up
///     .host("api.example.com");   // `http_get(url)` may fetch from it
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Access {
    pub(crate) read: Vec<PathBuf>,
    pub(crate) write: Vec<PathBuf>,
    pub(crate) env: Vec<String>,
    pub(crate) hosts: Vec<String>,
    pub(crate) max_file_bytes: u64,
    pub(crate) max_response_bytes: usize,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            read: Vec::new(),
            write: Vec::new(),
            env: Vec::new(),
            hosts: Vec::new(),
            max_file_bytes: 64 << 20,
            max_response_bytes: 8 << 20,
        }
    }
}

impl Access {
    /// Lets the code read `path` (a file, or everything beneath a directory).
    pub fn read(mut self, path: impl Into<PathBuf>) -> Self {
        self.read.push(path.into());
        self
    }

    /// Lets the code read, create, write, rename and remove files and directories beneath
    /// `path` (or write the file `path`); each file at most [`Access::max_file_bytes`].
    pub fn write(mut self, path: impl Into<PathBuf>) -> Self {
        self.write.push(path.into());
        self
    }

    /// Passes the host's environment variable `name` to the code (its value when each process
    /// starts, if set); the code sees no other variable but `LANG`.
    pub fn env(mut self, name: impl Into<String>) -> Self {
        self.env.push(name.into());
        self
    }

    /// Lets the code fetch `http(s)://host/…` on the scheme's default port (or, given as
    /// `host:port`, on that port) with the `http_get(url)` function every session then has;
    /// a redirect to a host not listed is refused. Sockets stay closed to the code itself: the
    /// host makes the request. A name is matched as written, not by the address it resolves
    /// to.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// The largest file the code may write, in bytes (default 64 MiB; the kernel's file-size
    /// limit, so a larger write fails with `OSError`).
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// The largest response body `http_get` returns, in bytes (default 8 MiB; a larger one is
    /// a `HostError`).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Whether `url`'s scheme is http(s) and its host (or host and port) is listed.
    pub(crate) fn allows_url(&self, url: &reqwest::Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        // `port()` is None for the scheme's default port (the URL parser drops it).
        let explicit = url.port_or_known_default().map(|p| format!("{host}:{p}"));
        matches!(url.scheme(), "http" | "https")
            && self.hosts.iter().any(|h| {
                (*h == host && url.port().is_none()) || explicit.as_deref() == Some(h.as_str())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn only_listed_hosts_and_ports_over_http_are_allowed() {
        let a = Access::default().host("Example.com").host("127.0.0.1:8080");
        assert!(a.allows_url(&url("https://example.com/x")));
        assert!(a.allows_url(&url("http://EXAMPLE.com:80/x")));
        assert!(!a.allows_url(&url("http://example.com:6379/x")));
        assert!(!a.allows_url(&url("http://example.com@evil.org/")));
        assert!(a.allows_url(&url("http://evil.org@example.com/")));
        assert!(a.allows_url(&url("http://127.0.0.1:8080/")));
        assert!(!a.allows_url(&url("http://127.0.0.1:8081/")));
        assert!(!a.allows_url(&url("http://127.0.0.1/")));
        assert!(!a.allows_url(&url("https://example.com.evil.org/")));
        assert!(!a.allows_url(&url("ftp://example.com/")));
        assert!(!a.allows_url(&url("file:///etc/passwd")));
        assert!(!Access::default().allows_url(&url("https://example.com/")));
    }
}
